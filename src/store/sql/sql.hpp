#pragma once

// The database seam of the store: what the shared operations (store/ops) need from a SQL
// database. SQLite (store/sqlite/sqlite_db.*) and PostgreSQL (store/postgres/pg_connection.*)
// implement it; everything else in the store is written once over it.
//
// SQL text uses `?` or `?N` placeholders (SQLite's syntax); PostgreSQL rewrites them to `$N`.
// The SQL the operations run is the common subset of both databases (ON CONFLICT, RETURNING,
// partial indexes, integer times and flags); what differs is in Dialect.
//
// Statements may be *deferred*: run without waiting for their outcome. SQLite runs them at once;
// PostgreSQL sends them down its pipeline and reads their results with the next statement that
// waits (or Sync), so a transition's writes cost no round trip of their own. A failure of a
// deferred statement is reported by that later call, as a SqlError with deferred() set.
// Reads may be *sent* ahead (Statement::Send) and stepped later: PostgreSQL then reads the
// results of several statements in one round trip. SQLite executes a sent statement at its first
// Step, so nothing that changes what it reads (or ends the transaction) may come in between.
//
// Errors: failures throw SqlError. It never leaves the store: the engine (store/engine) catches
// it at the boundary of each operation or batch and turns it into Errc::kStore (ToError), which
// keeps the many-statement operations readable without an Expected after every line.
// Thread-safety: a Connection and its Statements are used by one thread at a time.

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace orb::store::sql {

// What kind of failure a SqlError is, which decides what the engine does with it.
enum class Failure {
  kOther,       // a bug or damage (constraint, syntax, corrupt row): not retryable
  kRetryable,   // busy, I/O, disk full, out of resources: the caller may try again later
  kConflict,    // serialization failure, deadlock, lock timeout: re-run the transaction now
  kConnection,  // the connection is gone; a new one may work (retryable for the caller)
};

class SqlError : public std::runtime_error {
 public:
  SqlError(Failure failure, const std::string& message, bool deferred = false)
      : std::runtime_error(message), failure_(failure), deferred_(deferred) {}
  Failure failure() const { return failure_; }
  // True when the failing statement was a deferred one, reported by a later call: which
  // operation ran it is not known.
  bool deferred() const { return deferred_; }

 private:
  Failure failure_;
  bool deferred_;
};

// Errc::kStore with the message; retryable unless the failure is kOther.
Error ToError(const SqlError& error);

// A row that cannot be decoded is damage to the database, reported like a database failure.
[[noreturn]] void Corrupt(const std::string& what);

// What differs between the databases in the SQL of the shared operations.
struct Dialect {
  // Appended to a SELECT whose rows the transaction will change: " FOR UPDATE" on PostgreSQL,
  // nothing on SQLite (one writer at a time).
  std::string_view for_update;
  // `column IN <the list bound to parameter ?param>` (Statement::BindTextList).
  std::string (*in_list)(std::string_view column, int param) = nullptr;
  // After a table in FROM: " INDEXED BY <index>" on SQLite, nothing on PostgreSQL. For partial
  // indexes that SQLite's planner, without ANALYZE, passes over for a wider one that reads far
  // more rows (docs/decisions/0028); PostgreSQL's planner chooses by its statistics.
  std::string (*indexed_by)(std::string_view index) = nullptr;
};

// A prepared statement of one Connection, executed once per Query (below).
class Statement {
 public:
  virtual ~Statement() = default;
  virtual void BindInt64(int index, std::int64_t value) = 0;
  virtual void BindText(int index, std::string_view value) = 0;
  virtual void BindNull(int index) = 0;
  // A list of texts as one parameter, for Dialect::in_list.
  virtual void BindTextList(int index, std::span<const std::string> values) = 0;
  // Executes on the first call; then true while there is a row.
  virtual bool Step() = 0;
  // Executes without waiting for the outcome (see the header comment); no rows.
  virtual void Defer() = 0;
  // Starts the execution whose rows Step reads later (see the header comment).
  virtual void Send() = 0;
  // Rows inserted, updated or deleted by the execution (once Step returned false).
  virtual std::int64_t Changes() const = 0;
  virtual bool IsNull(int column) const = 0;
  virtual std::int64_t Int64(int column) const = 0;  // also booleans: 1 or 0
  virtual std::string Text(int column) const = 0;
  // Ends the execution and clears the bindings, ready for the next one.
  virtual void Reset() = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;
  // The cached prepared statement for `sql` (prepared on first use).
  virtual Statement& Prepare(std::string_view sql) = 0;
  // Runs one statement without parameters or rows (BEGIN, SAVEPOINT ...) and waits for it.
  virtual void Exec(std::string_view sql) = 0;
  // The same, deferred.
  virtual void ExecDeferred(std::string_view sql) = 0;
  // Waits for every deferred statement; throws the first failure among them.
  virtual void Sync() = 0;
  // How many statements may have changed rows since the connection opened: each deferred one
  // and each waited one that changed rows. An operation that failed without moving it left the
  // transaction as it found it.
  virtual std::uint64_t writes() const = 0;
  // False when no transaction is open (the database may end one by itself after an I/O error).
  virtual bool InTransaction() const = 0;
  virtual const Dialect& dialect() const = 0;
};

// One execution of a cached statement; resets it on destruction.
//   Query q(db, "SELECT id FROM jobs WHERE agent_id = ?");
//   q.Bind(1, agent_id);
//   while (q.Step()) ids.push_back(q.Text(0));
class Query {
 public:
  Query(Connection& connection, std::string_view sql) : stmt_(connection.Prepare(sql)) {}
  ~Query() { stmt_.Reset(); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Bind(int index, std::int64_t value) {
    stmt_.BindInt64(index, value);
    return *this;
  }
  Query& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Query& Bind(int index, bool value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Query& Bind(int index, std::string_view value) {
    stmt_.BindText(index, value);
    return *this;
  }
  Query& Bind(int index, const std::string& value) { return Bind(index, std::string_view(value)); }
  Query& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Query& BindNull(int index) {
    stmt_.BindNull(index);
    return *this;
  }
  template <class T>
  Query& Bind(int index, const std::optional<T>& value) {
    return value ? Bind(index, *value) : BindNull(index);
  }
  Query& BindList(int index, std::span<const std::string> values) {
    stmt_.BindTextList(index, values);
    return *this;
  }

  // True while there is a row; false when done.
  bool Step() { return stmt_.Step(); }
  // Steps to completion (statements without rows) and waits for it.
  void Run() {
    while (Step()) {
    }
  }
  // Runs it without waiting for the outcome (Connection's header comment).
  void Defer() { stmt_.Defer(); }
  // Sends it now; Step reads its rows later (the header comment of Connection).
  void Send() { stmt_.Send(); }
  std::int64_t Changes() const { return stmt_.Changes(); }

  bool IsNull(int column) const { return stmt_.IsNull(column); }
  std::int64_t Int64(int column) const { return stmt_.Int64(column); }
  int Int(int column) const { return static_cast<int>(stmt_.Int64(column)); }
  bool Bool(int column) const { return stmt_.Int64(column) != 0; }
  std::string Text(int column) const { return stmt_.Text(column); }
  std::optional<std::string> OptText(int column) const {
    if (IsNull(column)) return std::nullopt;
    return Text(column);
  }
  std::optional<std::int64_t> OptInt64(int column) const {
    if (IsNull(column)) return std::nullopt;
    return Int64(column);
  }

 private:
  Statement& stmt_;
};

}  // namespace orb::store::sql
