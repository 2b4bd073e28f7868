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
// The asynchronous calls complete on the syncer thread after the sync; the on_queues_committed
// listener runs there too, once per committed batch, before the batch's callers hear back.
// Thread-safety: all public methods are thread-safe.

#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

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

class SqliteStore final : public Store {
 public:
  // Opens or creates the database and applies the migrations it lacks. Errors: kStore when the
  // file cannot be opened or migrated (retryable when busy or I/O), kStore non-retryable when the
  // database has a schema newer than this build knows ("upgrade fleet-cmdr").
  static Expected<std::unique_ptr<SqliteStore>> Open(const SqliteStoreOptions& options,
                                                     StoreDeps deps);
  ~SqliteStore() override;  // finishes queued writes, then closes

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Expected<Mutation<TokenRecord>> CreateToken(TokenRecord token) override;
  Expected<TokenRecord> FindTokenByHash(std::string_view token_hash) override;
  Expected<std::vector<TokenRecord>> ListTokens() override;
  Expected<Mutation<Unit>> RevokeToken(std::string_view token_id, WallTime now) override;
  Expected<bool> HasAdminToken() override;

  Expected<Mutation<protocol::AgentInfo>> EnrollAgent(std::string_view agent_id,
                                                      const protocol::Labels& labels,
                                                      TokenRecord token, WallTime now) override;
  Expected<Mutation<Unit>> RevokeAgent(std::string_view agent_id, WallTime now) override;
  Expected<protocol::AgentInfo> GetAgent(std::string_view agent_id) override;
  Expected<std::vector<protocol::AgentInfo>> ListAgents(const AgentFilter& filter) override;
  Expected<Mutation<HelloResult>> RecordHello(std::string_view agent_id,
                                              const protocol::HelloRequest& hello,
                                              WallTime now) override;
  Status TouchAgents(std::span<const AgentSeen> seen) override;

  Expected<Mutation<CreatedJobs>> CreateJobs(const CreateJobsCommand& command,
                                             WallTime now) override;
  Expected<protocol::JobDetail> GetJob(std::string_view job_id) override;
  Expected<protocol::JobList> ListJobs(const JobFilter& filter, int limit,
                                       const std::optional<std::string>& cursor) override;
  Expected<Mutation<CancelResult>> CancelJob(std::string_view job_id, WallTime now) override;
  Expected<Mutation<protocol::Job>> RetryJob(std::string_view job_id, WallTime now) override;

  Expected<Mutation<std::optional<Dispatched>>> DispatchNext(std::string_view agent_id,
                                                             WallTime now,
                                                             int lease_seconds) override;
  Expected<Mutation<protocol::UpdatesResponse>> ApplyUpdates(
      std::string_view agent_id, std::string_view run_id, const protocol::UpdatesRequest& request,
      WallTime now, int lease_seconds) override;

  void CreateJobsAsync(CreateJobsCommand command, WallTime now,
                       Completion<CreatedJobs> done) override;
  void DispatchNextAsync(std::string agent_id, WallTime now, int lease_seconds,
                         Completion<std::optional<Dispatched>> done) override;
  void ApplyUpdatesAsync(std::string agent_id, std::string run_id, protocol::UpdatesRequest request,
                         WallTime now, int lease_seconds,
                         Completion<protocol::UpdatesResponse> done) override;

  Expected<Mutation<int>> ExpireLeases(WallTime now) override;
  Expected<Mutation<int>> PromoteDue(WallTime now) override;
  Expected<std::optional<WallTime>> NextWakeTime() override;

  Expected<protocol::NotifyResponse> AgentQueueState(std::string_view agent_id) override;
  Expected<std::vector<JobCount>> CountJobs() override;

  Expected<Mutation<Unit>> AppendEvents(std::vector<protocol::Event> events) override;
  Expected<std::vector<protocol::Event>> ReadEvents(std::int64_t after_seq, int limit,
                                                    const EventFilter& filter) override;
  Expected<std::vector<protocol::Event>> JobEvents(std::string_view job_id) override;
  Expected<std::int64_t> LastEventSeq() override;
  Expected<std::int64_t> OldestEventSeq() override;
  Expected<std::int64_t> PruneEvents(std::int64_t keep_last) override;

  Expected<protocol::JobLogs> ReadLogs(const LogQuery& query) override;

 private:
  class Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orb::store
