#pragma once

// PostgreSQL behind the store's database seam (store/sql/sql.hpp), on libpq. Internal to
// src/store/postgres/.
//
// A connection runs in libpq's pipeline mode: statements are sent without waiting, and results
// are read only when a caller needs one (Step of a statement, Exec, Sync). Every such wait sends
// a Sync first and reads the results of everything sent before it, in order: a deferred
// statement costs no round trip, and the failure of one is reported by the next wait (SqlError
// with deferred()). A wait always reads through its Sync, so nothing is left in flight after it,
// also when it throws.
// Statements are prepared once per connection (named s1, s2, ...; the PREPARE travels in the
// same pipeline as the first execution). `?` and `?N` placeholders become `$N`; a list
// parameter (BindTextList) is a text[] literal for `= ANY($N::text[])`. Results come as text;
// booleans read as 1/0.
//
// Errors: SqlError by SQLSTATE: deadlock (40P01), serialization failure (40001) and lock timeout
// (55P03) are kConflict; a lost connection (class 08, admin shutdown 57P01–57P03, or libpq
// reporting the connection bad) is kConnection, after which the connection is broken() and must
// be replaced; insufficient resources (53), system errors (58) are kRetryable.
// A connection given a response timeout waits that long at most for the server's answer to what
// it sent (a server that hangs, or a network that holds the packets without resetting the
// connection, is noticed by TCP only when nothing is acknowledged: behind a proxy, or with the
// server stopped, never). Then the connection is broken (kConnection) and must be replaced; what it
// had sent may still run, as with any connection lost before its answer.
// Thread-safety: one thread at a time.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/sql/sql.hpp"

struct pg_conn;
struct pg_result;

namespace orb::store::postgres {

class PgStatement;

// What a connection sends and waits for, added up over connections (PostgresStore::stats).
struct PgCounters {
  std::atomic<std::uint64_t> statements{0};   // executions sent, waited for or deferred
  std::atomic<std::uint64_t> round_trips{0};  // waits for results (one Sync each)
};

// A parameter of ExecBinary: text, bytes (binary), or NULL.
struct PgParam {
  std::string_view value;
  bool binary = false;
  bool null = false;
};

// One result of ExecBinary, owned.
class PgResult {
 public:
  explicit PgResult(pg_result* result) : result_(result) {}
  ~PgResult();
  PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  PgResult& operator=(PgResult&&) = delete;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int rows() const;
  bool IsNull(int row, int column) const;
  // The value's bytes (binary results: as stored; text results: the text).
  std::string_view Value(int row, int column) const;
  std::int64_t Int64(int row, int column) const;  // a text result
  std::int64_t Changes() const;

 private:
  pg_result* result_;
};

class PgConnection final : public sql::Connection {
 public:
  // How long the server keeps a session that sits idle inside a transaction (see the constructor).
  static constexpr std::chrono::milliseconds kIdleInTransactionTimeout{5000};

  // Connects to `url` (a postgresql:// URI or a key=value string; its own settings win over the
  // store's defaults: connect_timeout 5 s, TCP keepalives). `pipeline`: statements are pipelined
  // as described above (false for the LISTEN connection). Throws SqlError (kConnection) with
  // libpq's message. `response_timeout`: how long a wait for results may take (zero: no limit; for
  // migrations, which may build an index over a big table, and wait for each other's lock).
  PgConnection(const std::string& url, bool pipeline, PgCounters* counters = nullptr,
               std::chrono::milliseconds response_timeout = {});
  ~PgConnection() override;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  sql::Statement& Prepare(std::string_view sql) override;
  void Exec(std::string_view sql) override;
  void ExecDeferred(std::string_view sql) override;
  void Sync() override;
  std::uint64_t writes() const override { return writes_; }
  // Sends what is buffered (deferred statements) to the server now, without waiting for
  // anything: the server runs them; their results are read by the next wait.
  void Flush();
  bool InTransaction() const override;
  const sql::Dialect& dialect() const override;

  // The prepared statement itself, for what only PostgreSQL does (PgStatement::Send).
  PgStatement& PrepareStatement(std::string_view sql);
  // Runs one or more statements without parameters, outside the pipeline (migrations, LISTEN).
  // Waits; nothing may be in flight.
  void ExecScript(std::string_view sql);
  // Runs one statement with parameters that may be binary (bytea), waiting for it; `binary_result`
  // returns the columns in binary form. Nothing may be in flight.
  PgResult ExecBinary(std::string_view sql, std::span<const PgParam> params, bool binary_result);

  // Sends DISCARD PLANS (deferred, inside a transaction: in a pipeline it would open one) when
  // the connection's cached plans are kPlanLifetime old at `now`. A prepared statement keeps the
  // generic plan PostgreSQL made for it until the table's statistics change, and autovacuum
  // analyzes a table up to a minute (autovacuum_naptime) after it grew: a plan made while `jobs`
  // was nearly empty (a young database, a fleet's first rollout) scans the whole table for each
  // dispatch until then. Replanned, a statement sees the tables' current sizes.
  void RefreshPlansIfDue(std::chrono::steady_clock::time_point now);
  static constexpr std::chrono::milliseconds kPlanLifetime{2000};

  // False once the connection was lost: replace it.
  bool broken() const { return broken_; }
  // Reads what has arrived on the socket without blocking, and says whether the server is still
  // there: false (and broken()) when it closed the connection meanwhile, as a server does that
  // stops, restarts or is failed over from. For a connection idle between calls, so that a call
  // goes to a new connection instead of failing on the dead one. A server that vanished without
  // closing anything is not seen here (the response timeout ends such calls).
  bool PeerStillThere();
  // Broken because the server did not answer within the response timeout.
  bool timed_out() const { return timed_out_; }
  pg_conn* handle() const { return conn_; }
  // Reads what arrived on the socket without blocking (LISTEN); throws when the connection is
  // lost. Then each waiting notification's payload, oldest first.
  std::vector<std::string> TakeNotifications(std::string_view channel);
  int socket() const;

 private:
  friend class PgStatement;

  struct Pending {
    enum Kind { kDeferred, kWaited, kPrepare, kSync } kind;
    PgStatement* statement = nullptr;  // kWaited: where the result goes; kPrepare: whose
    std::uint64_t ticket = 0;          // kWaited: which execution of `statement`
  };

  // Sends a prepared execution of `statement` (preparing it first when needed).
  void Send(PgStatement& statement, bool waited);
  // Sends a Sync and reads every result up to it; throws the first failure.
  void Wait();
  // Blocks until the next PQgetResult will not block: reads what the server sends, until
  // `deadline` (none with no response timeout); then the connection is broken.
  void AwaitResult(std::chrono::steady_clock::time_point deadline);
  // The time a wait that begins now must end by.
  std::chrono::steady_clock::time_point Deadline() const;
  // PQexec's result, waited for with the response timeout: the first failure, else the last
  // result. Outside the pipeline (the query was sent with PQsendQuery*).
  pg_result* TakeLastResult();
  [[noreturn]] void ThrowConnection(std::string_view what);
  sql::SqlError ErrorOf(pg_result* result, bool deferred);

  pg_conn* conn_ = nullptr;
  bool pipeline_;
  PgCounters* counters_;
  std::chrono::milliseconds response_timeout_;
  bool broken_ = false;
  bool timed_out_ = false;
  std::chrono::steady_clock::time_point plans_since_ = std::chrono::steady_clock::now();
  std::uint64_t writes_ = 0;
  int next_statement_ = 0;
  std::uint64_t next_ticket_ = 0;
  std::map<std::string, std::unique_ptr<PgStatement>, std::less<>> statements_;
  std::deque<Pending> pending_;
};

class PgStatement final : public sql::Statement {
 public:
  PgStatement(PgConnection& connection, std::string name, std::string sql, int params);
  ~PgStatement() override;

  void BindInt64(int index, std::int64_t value) override;
  void BindText(int index, std::string_view value) override;
  void BindNull(int index) override;
  void BindTextList(int index, std::span<const std::string> values) override;
  bool Step() override;
  void Defer() override;
  std::int64_t Changes() const override;
  bool IsNull(int column) const override;
  std::int64_t Int64(int column) const override;
  std::string Text(int column) const override;
  void Reset() override;
  // Sends the execution without waiting; the next Step reads its result (a Sync and every result
  // before it). What travels in the same pipeline in between (ExecDeferred) is sent with it.
  void Send() override;

 private:
  friend class PgConnection;
  void Bind(int index, std::optional<std::string> value);

  PgConnection& connection_;
  std::string name_;
  std::string sql_;  // with $N placeholders
  int param_count_;
  bool prepared_ = false;
  std::vector<std::optional<std::string>> params_;
  bool sent_ = false;
  bool done_ = false;         // the result arrived
  std::uint64_t ticket_ = 0;  // of the execution waited for
  pg_result* result_ = nullptr;
  int row_ = -1;
};

// `sql` with `?`/`?N` placeholders as `$N`, and how many parameters it has.
std::pair<std::string, int> RewritePlaceholders(std::string_view sql);
// A text[] literal: {"a","b\"c"}.
std::string TextArrayLiteral(std::span<const std::string> values);

}  // namespace orb::store::postgres
