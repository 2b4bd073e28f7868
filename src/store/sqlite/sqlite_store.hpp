#pragma once

// The SQLite Store (store.hpp): one database file in fleet-cmdr's data dir, in WAL mode.
//
// Writes: every mutating call becomes an operation on a queue drained by one writer thread,
// which runs as many queued operations as there are (up to max_batch) in ONE transaction
// (BEGIN IMMEDIATE ... COMMIT: group commit), each inside its own SAVEPOINT so an operation that
// fails rolls back alone. The COMMIT itself does not wait for the disk (synchronous=NORMAL); a
// second thread, the syncer, fdatasyncs the WAL once for every batch committed since its last
// sync and only then hands the batches' results to their callers, in commit order. So a call
// still returns only when its change is on disk (a 2xx means "on disk", also across a power
// loss), while the writer already runs the next batch (docs/decisions/0003). Until the sync,
// another connection's read may see a change that a power loss would take back; nobody has been
// told it happened. If the COMMIT fails, every operation of the batch fails with kStore
// (retryable) and none of them happened. If an fdatasync fails, what the disk holds is unknown:
// the batches it covered fail with kStore and so does every later write (reads go on); a restart
// recovers from the disk.
// Reads: a pool of read-only connections, each read in its own read transaction (a consistent
// snapshot); WAL readers never wait for the writer.
// Several processes on one file: BEGIN IMMEDIATE plus busy_timeout serialize them, so the
// dispatch rule stays atomic; still, one fleet-cmdr per SQLite file is the supported setup
// (several replicas use PostgreSQL).
// Migrations: store/migrations/sqlite_migrations.hpp, applied at Open.
// The operations themselves are the shared ones of store/ops, run by the shared group commit of
// store/engine/batch.hpp: this class is the connection machinery (writer, syncer, readers), the
// event counter (in memory, on the writer thread) and the artifacts (files, file_artifacts.hpp).
// The asynchronous calls complete on the syncer thread after the sync; the on_queues_committed
// listener runs there too, once per committed batch, before the batch's callers hear back.
// Thread-safety: all public methods are thread-safe.

#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

#include "store/engine/sql_store.hpp"
#include "store/store.hpp"

namespace orb::store {

inline constexpr std::string_view kSqliteFileName = "fleet-cmdr.db";

struct SqliteStoreOptions {
  std::filesystem::path data_dir;  // created if missing; the database is <data_dir>/fleet-cmdr.db
  int max_batch = 512;             // operations committed together at most
  // Makes the WAL durable: fdatasync when empty. A seam for tests (a failing disk); 0 or -1 with
  // errno, as fdatasync.
  std::function<int(int fd)> sync_wal = nullptr;
};

class SqliteStore final : public engine::SqlStore {
 public:
  // Opens or creates the database and applies the migrations it lacks. Errors: kStore when the
  // file cannot be opened or migrated (retryable when busy or I/O), kStore non-retryable when the
  // database has a schema newer than this build knows ("upgrade fleet-cmdr").
  static Expected<std::unique_ptr<SqliteStore>> Open(const SqliteStoreOptions& options,
                                                     StoreDeps deps);
  ~SqliteStore() override;  // finishes queued writes, then closes

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

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
  void EventsPruned(sql::Connection& db, std::int64_t through) override;

 private:
  class Impl;
  SqliteStore(StoreDeps deps, std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orb::store
