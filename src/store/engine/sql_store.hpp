#pragma once

// The Store contract implemented once over the database seam: every call of store.hpp becomes an
// operation body of store/ops run in a batch (writes, store/engine/batch.hpp) or a read on a
// reader connection. SqliteStore and PostgresStore derive from it and provide only their
// connection machinery: how operations reach a writer and its group commit (Submit), reads
// (Read), what the highest event seq is, and artifacts.
//
// Writes declare the agents whose rows their batch locks (engine/batch.hpp). Calls that find
// their agents through the data (cancel and retry by job id, the timers) read them first on a
// reader connection, then declare them; the body checks again under the lock and leaves what it
// was not declared for to the next call.
// Thread-safety: all public methods are thread-safe (the subclasses' machinery is).

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/engine/batch.hpp"
#include "store/ops/agents.hpp"
#include "store/sql/sql.hpp"
#include "store/store.hpp"

namespace orb::store::engine {

class SqlStore : public Store {
 public:
  ~SqlStore() override = default;
  SqlStore(const SqlStore&) = delete;
  SqlStore& operator=(const SqlStore&) = delete;

  Expected<Mutation<TokenRecord>> CreateToken(TokenRecord token) final;
  Expected<TokenRecord> FindTokenByHash(std::string_view token_hash) final;
  Expected<std::vector<TokenRecord>> ListTokens() final;
  Expected<Mutation<Unit>> RevokeToken(std::string_view token_id, WallTime now) final;
  Expected<bool> HasAdminToken() final;
  Expected<Mutation<bool>> CreateFirstAdminToken(TokenRecord token) final;
  Expected<TokenChanges> TokenChangesSince(std::int64_t version) final;

  Expected<Mutation<protocol::AgentInfo>> EnrollAgent(std::string_view agent_id,
                                                      const protocol::Labels& labels,
                                                      TokenRecord token, WallTime now) final;
  Expected<Mutation<Unit>> RevokeAgent(std::string_view agent_id, WallTime now) final;
  Expected<protocol::AgentInfo> GetAgent(std::string_view agent_id) final;
  Expected<std::vector<protocol::AgentInfo>> ListAgents(const AgentFilter& filter) final;
  Expected<Mutation<HelloResult>> RecordHello(std::string_view agent_id,
                                              const protocol::HelloRequest& hello,
                                              WallTime now) final;
  Status TouchAgents(std::span<const AgentSeen> seen) final;
  Expected<Mutation<bool>> MarkAgentOnline(std::string_view agent_id, WallTime now) final;
  Expected<Mutation<int>> MarkAgentsOffline(WallTime now, WallTime seen_before) final;
  Expected<Mutation<bool>> SetAgentHealth(std::string_view agent_id,
                                          const protocol::AgentStatusReport& report,
                                          WallTime now) final;

  Expected<Mutation<CreatedJobs>> CreateJobs(const CreateJobsCommand& command, WallTime now) final;
  Expected<protocol::JobDetail> GetJob(std::string_view job_id) final;
  Expected<protocol::JobList> ListJobs(const JobFilter& filter, int limit,
                                       const std::optional<std::string>& cursor) final;
  Expected<Mutation<CancelResult>> CancelJob(std::string_view job_id, WallTime now) final;
  Expected<Mutation<protocol::Job>> RetryJob(std::string_view job_id, WallTime now) final;

  Expected<Mutation<std::optional<Dispatched>>> DispatchNext(std::string_view agent_id,
                                                             WallTime now, int lease_seconds) final;
  Expected<Mutation<protocol::UpdatesResponse>> ApplyUpdates(
      std::string_view agent_id, std::string_view run_id, const protocol::UpdatesRequest& request,
      WallTime now, int lease_seconds) final;

  void CreateJobsAsync(CreateJobsCommand command, WallTime now, Completion<CreatedJobs> done) final;
  void DispatchNextAsync(std::string agent_id, WallTime now, int lease_seconds,
                         Completion<std::optional<Dispatched>> done) final;
  void ApplyUpdatesAsync(std::string agent_id, std::string run_id, protocol::UpdatesRequest request,
                         WallTime now, int lease_seconds,
                         Completion<protocol::UpdatesResponse> done) final;

  Expected<Mutation<int>> ExpireLeases(WallTime now) final;
  Expected<Mutation<int>> PromoteDue(WallTime now) final;
  Expected<std::optional<WallTime>> NextWakeTime() final;

  Expected<protocol::NotifyResponse> AgentQueueState(std::string_view agent_id) final;
  Expected<std::vector<JobCount>> CountJobs() final;
  Expected<protocol::StatsHistory> ReadHistory(WallTime now, int minutes) final;

  Expected<Mutation<Unit>> AppendEvents(std::vector<protocol::Event> events) final;
  Expected<std::vector<protocol::Event>> ReadEvents(std::int64_t after_seq, int limit,
                                                    const EventFilter& filter) final;
  Expected<std::vector<protocol::Event>> JobEvents(std::string_view job_id) final;
  Expected<std::int64_t> LastEventSeq() final;
  Expected<std::int64_t> OldestEventSeq() final;
  Expected<std::int64_t> PruneEvents(std::int64_t keep_last) final;

  Expected<std::int64_t> PruneEventsBefore(WallTime before, int limit) final;
  Expected<std::int64_t> PruneJobs(WallTime finished_before, int limit) final;
  Expected<std::int64_t> PruneIdempotencyKeys(WallTime created_before, int limit) final;

  Expected<std::vector<ArtifactEntry>> ListArtifacts() final;
  Status DeleteArtifact(std::string_view sha256) final;
  Expected<int> PruneArtifacts(WallTime created_before, int limit) final;

  Expected<Leadership> TryLeadership(std::string_view name, std::string_view holder, WallTime now,
                                     std::chrono::milliseconds ttl) final;
  Status ReleaseLeadership(std::string_view name, std::string_view holder) final;

  Expected<protocol::JobLogs> ReadLogs(const LogQuery& query) final;

  Expected<Mutation<CreatedRollout>> CreateRollout(const CreateRolloutCommand& command,
                                                   WallTime now) final;
  Expected<protocol::Rollout> GetRollout(std::string_view id) final;
  Expected<protocol::RolloutList> ListRollouts(const RolloutFilter& filter, int limit,
                                               const std::optional<std::string>& cursor) final;
  Expected<protocol::RolloutHostList> ListRolloutHosts(
      std::string_view id, const std::optional<std::string>& status, int limit,
      const std::optional<std::string>& cursor) final;
  Expected<Mutation<protocol::Rollout>> PauseRollout(std::string_view id, WallTime now) final;
  Expected<Mutation<protocol::Rollout>> ResumeRollout(std::string_view id, WallTime now) final;
  Expected<Mutation<protocol::Rollout>> AbortRollout(std::string_view id, bool cancel_running,
                                                     WallTime now) final;
  Expected<Mutation<RolloutAdvance>> AdvanceRollout(std::string_view id, WallTime now) final;
  Expected<std::vector<std::string>> RolloutsDue(std::optional<WallTime> now) final;
  Expected<Mutation<protocol::Schedule>> CreateSchedule(const protocol::ScheduleRequest& request,
                                                        WallTime now) final;
  Expected<protocol::Schedule> GetSchedule(std::string_view schedule_id, WallTime now) final;
  Expected<protocol::ScheduleList> ListSchedules(int limit,
                                                 const std::optional<std::string>& cursor,
                                                 WallTime now) final;
  Expected<Mutation<protocol::Schedule>> UpdateSchedule(std::string_view schedule_id,
                                                        const protocol::ScheduleRequest& patch,
                                                        WallTime now) final;
  Expected<Mutation<Unit>> DeleteSchedule(std::string_view schedule_id, WallTime now) final;
  Expected<Mutation<ScheduleFireResult>> FireSchedule(std::string_view schedule_id,
                                                      WallTime fire_time, WallTime now) final;
  Expected<Mutation<ScheduleTick>> FireDueSchedules(WallTime now, const FireSink& on_fire) final;
  Expected<Mutation<bool>> PutInventory(std::string_view agent_id,
                                        const protocol::HostInventory& inventory,
                                        WallTime now) final;
  Expected<protocol::HostInventory> GetInventory(std::string_view agent_id) final;

 protected:
  explicit SqlStore(StoreDeps deps) : deps_(std::move(deps)) {}
  const StoreDeps& deps() const { return deps_; }

  // Queues `op` for a batch. It finishes exactly once: after its batch's commit (or failure), or
  // at once when the store cannot take it (closing, broken).
  virtual void Submit(OpPtr op) = 0;
  // Runs `body` in one read transaction (a consistent snapshot) on a reader connection;
  // sql::SqlError and other exceptions thrown by `body` come back as the Error.
  virtual Status Read(const std::function<void(sql::Connection&)>& body) = 0;
  // The highest event seq ever given out, read with `db` (a reader or the writer in a batch).
  virtual std::int64_t LastSeq(sql::Connection& db) = 0;
  // Every stored artifact (files on SQLite, rows on PostgreSQL), in any order.
  virtual Expected<std::vector<ArtifactStat>> StoredArtifacts() = 0;
  // Deletes the stored artifact (a valid sha256); not_found when it is not stored.
  virtual Status RemoveArtifact(const std::string& sha256) = 0;
  // In the transaction of PruneEvents, after deleting the events with seq <= `through`.
  virtual void EventsPruned(sql::Connection& db, std::int64_t through) {
    (void)db;
    (void)through;
  }

 private:
  template <class T>
  void WriteAsync(std::vector<std::string> agents, Rank rank, Lane lane,
                  typename TypedOp<T>::Body body, Completion<T> done, ops::ReadHint hint = {});
  template <class T>
  Expected<Mutation<T>> Write(std::vector<std::string> agents, Rank rank, Lane lane,
                              typename TypedOp<T>::Body body);
  template <class T, class F>
  Expected<T> ReadAs(F&& body);
  // An operator's fire (FireSchedule) that this instance claims and finishes: while it exists,
  // the timer's pass over unfinished fires leaves that fire alone.
  class RunningFire {
   public:
    RunningFire(SqlStore& store, std::string schedule_id, WallTime fire_time);
    ~RunningFire();
    RunningFire(const RunningFire&) = delete;
    RunningFire& operator=(const RunningFire&) = delete;

   private:
    SqlStore& store_;
    std::pair<std::string, WallTime> key_;
  };
  bool FireRunning(const std::string& schedule_id, WallTime fire_time);

  // The live agents and their labels (ops::LiveAgents), on a reader: what a fire resolves its
  // target against.
  Expected<std::vector<ops::LiveAgent>> ReadLiveAgents();
  // Creates the chains of a claimed fire's `hosts`, kFireBatchHosts per transaction, adding the
  // jobs to `result` and each commit's events and agents to `events` and `touched`.
  Status FinishFire(Lane lane, const std::string& schedule_id, WallTime fire_time,
                    const std::vector<std::string>& hosts, WallTime now, ScheduleFireResult& result,
                    std::vector<protocol::Event>& events, std::vector<std::string>& touched);

  StoreDeps deps_;
  std::mutex running_fires_mutex_;
  std::set<std::pair<std::string, WallTime>> running_fires_;  // by RunningFire
};

}  // namespace orb::store::engine
