#pragma once

// The PostgreSQL Store (store.hpp): one database that several fleet-cmdr replicas share, all
// serving. The operations are the shared ones of store/ops, run by the shared group commit of
// store/engine/batch.hpp; this class is the connection machinery (docs/decisions/0011, 0012).
//
// Writes: `writers` connections, each with its own queue and thread doing group commit: the
// operations waiting on one connection run in ONE transaction and share its commit (the batch
// locks its operations' agents' rows first, in id order). An operation goes to the writer its
// first agent hashes to, so one agent's operations of this instance never contend across its
// connections, except interactive ones, which have a writer of their own (interactive_writer);
// operations of different connections (or replicas) on the same agent wait for each other's row
// locks, exactly as replicas do. Statements are pipelined: the writes of a
// transition are sent without waiting, and each operation costs only the round trips of the
// reads it decides on (docs/decisions/0014 has the statements and round trips per operation).
// The last statement of a commit that carries events takes the event counter row, numbers and
// stores the events and sends one NOTIFY (channel kEventsChannel, payload "<last seq>
// <instance id>") with the commit; so seqs follow commit order across replicas
// (docs/decisions/0012). A local mutex keeps this instance's commits and their
// on_queues_committed calls in one order. Deadlocks, serialization failures and lock timeouts
// re-run the batch; the asynchronous calls complete on the writer thread after the COMMIT
// (synchronous_commit decides what durable means; PostgreSQL's default waits for the WAL flush).
// Reads: a pool of connections, each read one REPEATABLE READ READ ONLY transaction.
// Foreign commits: with StoreDeps::on_foreign_commit set, a LISTEN connection on its own thread
// hands other instances' notifications to it (and the current last seq after each (re)connect).
// Connection loss: the call in flight fails with a retryable kStore (a COMMIT in flight may or
// may not have happened); broken connections are replaced by new ones on the next call. After a
// failed connect, calls fail at once for `reconnect_pause` (a read or write made while the
// database is down fails fast) and then try again.
// Migrations: store/migrations/postgres_migrations.hpp, applied at Open under
// pg_advisory_lock(kMigrationLock).
// Artifacts: 1 MiB bytea chunks (docs/decisions/0013), on a pooled connection.
// Thread-safety: all public methods are thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/engine/sql_store.hpp"
#include "store/store.hpp"

namespace orb::store {

inline constexpr std::string_view kEventsChannel = "orb_events";
inline constexpr std::int64_t kMigrationLock = 0x6f72622d73746f72;  // "orb-stor"

struct PostgresStoreOptions {
  int writers = 2;  // writer connections, each with its own group commit
  // One more writer connection for the interactive lane (engine::Lane: operators' and the UI's
  // writes, tokens, the lease), so that they never queue behind a batch of the fleet's calls or
  // the timers' work (docs/decisions/0014, "A writer for people").
  bool interactive_writer = true;
  int max_batch = 256;   // operations committed together at most, per writer
  int idle_readers = 8;  // pooled idle read connections at most
  // Names this store instance in its notifications; empty: a random one.
  std::string instance_id{};
  // After a connection attempt failed, calls fail at once for this long before trying again.
  std::chrono::milliseconds reconnect_pause{500};
  // How long a call waits for PostgreSQL's answer before it fails (retryable) and its connection
  // is replaced: a server that hangs, or a network that holds the packets, would otherwise keep
  // the call, and every call queued behind it, forever. As long as TCP gives an unacknowledged
  // packet (tcp_user_timeout). Row locks held by a stopped replica last kIdleInTransactionTimeout.
  std::chrono::milliseconds response_timeout{15'000};
};

// What a store sent to PostgreSQL so far (benchmarks, and later metrics).
struct PostgresStoreStats {
  std::uint64_t operations = 0;    // write operations run in batches
  std::uint64_t batches = 0;       // batches (each one commit, or one failure)
  std::uint64_t transactions = 0;  // transactions they took (conflicts and exact re-runs add)
  std::uint64_t write_statements = 0;
  std::uint64_t write_round_trips = 0;
  std::uint64_t read_statements = 0;  // reads and artifacts
  std::uint64_t read_round_trips = 0;
  // Commits that carried events, and the time from sending their last statement (which takes the
  // event counter row) to the COMMIT's answer: how long each held that row.
  std::uint64_t event_commits = 0;
  std::uint64_t event_commit_micros = 0;
};

class PostgresStore final : public engine::SqlStore {
 public:
  // Connects to `url` (postgresql://user@host:port/db, or a libpq key=value string), applies the
  // migrations the database lacks (once, under an advisory lock) and starts the writers and the
  // listener. Errors: kStore retryable when the database cannot be reached; kStore non-retryable
  // when its schema is newer than this build knows ("the database has schema version N, newer
  // than the M this fleet-cmdr knows; upgrade fleet-cmdr") or a migration fails.
  static Expected<std::unique_ptr<PostgresStore>> Open(const std::string& url,
                                                       const PostgresStoreOptions& options,
                                                       StoreDeps deps);
  ~PostgresStore() override;  // finishes queued writes, then closes

  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  const std::string& instance_id() const;
  PostgresStoreStats stats() const;

  Expected<bool> PutArtifact(std::string_view sha256, std::uint64_t size,
                             const ArtifactSource& read) override;
  Expected<ArtifactStat> StatArtifact(std::string_view sha256) override;
  Status ReadArtifact(std::string_view sha256, std::uint64_t offset, std::uint64_t length,
                      const ArtifactSink& write) override;

 protected:
  void Submit(engine::OpPtr op) override;
  Status Read(const std::function<void(sql::Connection&)>& body) override;
  std::int64_t LastSeq(sql::Connection& db) override;
  Expected<std::vector<ArtifactStat>> StoredArtifacts() override;
  Status RemoveArtifact(const std::string& sha256) override;

 private:
  class Impl;
  explicit PostgresStore(StoreDeps deps);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orb::store
