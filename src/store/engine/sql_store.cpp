#include "store/engine/sql_store.hpp"

#include <algorithm>
#include <exception>
#include <future>
#include <tuple>

#include "orchestration/due_fire.hpp"
#include "orchestration/fire_times.hpp"
#include "orchestration/validate.hpp"
#include "protocol/codec.hpp"
#include "protocol/rollout_codec.hpp"
#include "store/engine/artifacts.hpp"
#include "store/ops/agents.hpp"
#include "store/ops/events.hpp"
#include "store/ops/history.hpp"
#include "store/ops/inventory.hpp"
#include "store/ops/jobs.hpp"
#include "store/ops/retention.hpp"
#include "store/ops/rollouts.hpp"
#include "store/ops/runs.hpp"
#include "store/ops/schedules.hpp"

namespace orb::store::engine {

using protocol::Event;
using protocol::Job;
using protocol::RunStatus;

namespace {

// Agents whose heartbeats one transaction of TouchAgents writes at most.
constexpr std::size_t kTouchBatch = 200;

// Waits for an asynchronous call: `start(done)` starts it.
template <class T, class Start>
Expected<Mutation<T>> Await(Start&& start) {
  std::promise<Expected<Mutation<T>>> promise;
  auto future = promise.get_future();
  start([&promise](Expected<Mutation<T>> result) { promise.set_value(std::move(result)); });
  return future.get();
}

std::vector<std::string> Unique(std::vector<std::string> agents) {
  std::sort(agents.begin(), agents.end());
  agents.erase(std::unique(agents.begin(), agents.end()), agents.end());
  return agents;
}

}  // namespace

template <class T>
void SqlStore::WriteAsync(std::vector<std::string> agents, Rank rank, Lane lane,
                          typename TypedOp<T>::Body body, Completion<T> done, ops::ReadHint hint) {
  Submit(std::make_shared<TypedOp<T>>(Unique(std::move(agents)), rank, lane, std::move(body),
                                      std::move(done), std::move(hint)));
}

template <class T>
Expected<Mutation<T>> SqlStore::Write(std::vector<std::string> agents, Rank rank, Lane lane,
                                      typename TypedOp<T>::Body body) {
  return Await<T>([&](Completion<T> done) {
    WriteAsync<T>(std::move(agents), rank, lane, std::move(body), std::move(done));
  });
}

template <class T, class F>
Expected<T> SqlStore::ReadAs(F&& body) {
  std::optional<Expected<T>> result;
  Status status = Read([&](sql::Connection& db) { result.emplace(body(db)); });
  if (!status) return Fail(std::move(status.error()));
  if (!result) return Fail(Errc::kInternal, "store: read did not run");
  return std::move(*result);
}

// ---- Tokens ----

Expected<Mutation<TokenRecord>> SqlStore::CreateToken(TokenRecord token) {
  return Write<TokenRecord>(
      {}, Rank::kTokens, Lane::kInteractive,
      [token = std::move(token)](ops::WriteContext& ctx) { return ops::CreateToken(ctx, token); });
}

Expected<TokenRecord> SqlStore::FindTokenByHash(std::string_view token_hash) {
  return ReadAs<TokenRecord>(
      [&](sql::Connection& db) { return ops::FindTokenByHash(db, token_hash); });
}

Expected<std::vector<TokenRecord>> SqlStore::ListTokens() {
  return ReadAs<std::vector<TokenRecord>>([](sql::Connection& db) { return ops::ListTokens(db); });
}

Expected<Mutation<Unit>> SqlStore::RevokeToken(std::string_view token_id, WallTime now) {
  return Write<Unit>({}, Rank::kTokens, Lane::kInteractive,
                     [id = std::string(token_id), now](ops::WriteContext& ctx) {
                       return ops::RevokeToken(ctx, id, now);
                     });
}

Expected<bool> SqlStore::HasAdminToken() {
  return ReadAs<bool>([](sql::Connection& db) { return ops::HasAdminToken(db); });
}

Expected<Mutation<bool>> SqlStore::CreateFirstAdminToken(TokenRecord token) {
  return Write<bool>({}, Rank::kTokens, Lane::kInteractive,
                     [token = std::move(token)](ops::WriteContext& ctx) {
                       return ops::CreateFirstAdminToken(ctx, token);
                     });
}

Expected<TokenChanges> SqlStore::TokenChangesSince(std::int64_t version) {
  return ReadAs<TokenChanges>(
      [&](sql::Connection& db) { return ops::TokenChangesSince(db, version); });
}

// ---- Agents ----

Expected<Mutation<protocol::AgentInfo>> SqlStore::EnrollAgent(std::string_view agent_id,
                                                              const protocol::Labels& labels,
                                                              TokenRecord token, WallTime now) {
  std::string id(agent_id);
  return Write<protocol::AgentInfo>(
      {id}, Rank::kTokens, Lane::kInteractive,
      [id, labels_json = protocol::ToJson(labels), token = std::move(token),
       now](ops::WriteContext& ctx) { return ops::EnrollAgent(ctx, id, labels_json, token, now); });
}

Expected<Mutation<Unit>> SqlStore::RevokeAgent(std::string_view agent_id, WallTime now) {
  std::string id(agent_id);
  return Write<Unit>({id}, Rank::kTokens, Lane::kInteractive,
                     [id, now](ops::WriteContext& ctx) { return ops::RevokeAgent(ctx, id, now); });
}

Expected<protocol::AgentInfo> SqlStore::GetAgent(std::string_view agent_id) {
  return ReadAs<protocol::AgentInfo>(
      [&](sql::Connection& db) { return ops::GetAgent(db, agent_id); });
}

Expected<std::vector<protocol::AgentInfo>> SqlStore::ListAgents(const AgentFilter& filter) {
  return ReadAs<std::vector<protocol::AgentInfo>>(
      [&](sql::Connection& db) { return ops::ListAgents(db, filter); });
}

Expected<Mutation<HelloResult>> SqlStore::RecordHello(std::string_view agent_id,
                                                      const protocol::HelloRequest& hello,
                                                      WallTime now) {
  std::string id(agent_id);
  return Write<HelloResult>(
      {id}, Rank::kPlain, Lane::kAgents,
      [id, hello, now](ops::WriteContext& ctx) { return ops::RecordHello(ctx, id, hello, now); });
}

Status SqlStore::TouchAgents(std::span<const AgentSeen> seen) {
  // In transactions of kTouchBatch agents: a flush of 10,000 agents' heartbeats in one would hold
  // the writer for ~170 ms, and every call behind it would wait that long.
  for (std::size_t first = 0; first < seen.size(); first += kTouchBatch) {
    const auto part = seen.subspan(first, std::min(kTouchBatch, seen.size() - first));
    std::vector<AgentSeen> copy(part.begin(), part.end());
    std::vector<std::string> agents;
    for (const AgentSeen& agent : copy)
      agents.push_back(agent.agent_id);
    auto written = Write<Unit>(
        std::move(agents), Rank::kPlain, Lane::kBackground,
        [copy = std::move(copy)](ops::WriteContext& ctx) { return ops::TouchAgents(ctx, copy); });
    if (!written) return Fail(written.error());
  }
  return Ok();
}

Expected<Mutation<bool>> SqlStore::MarkAgentOnline(std::string_view agent_id, WallTime now) {
  std::string id(agent_id);
  return Write<bool>({id}, Rank::kPlain, Lane::kAgents, [id, now](ops::WriteContext& ctx) {
    return ops::MarkAgentOnline(ctx, id, now);
  });
}

Expected<Mutation<bool>> SqlStore::SetAgentHealth(std::string_view agent_id,
                                                  const protocol::AgentStatusReport& report,
                                                  WallTime now) {
  std::string id(agent_id);
  return Write<bool>({id}, Rank::kPlain, Lane::kAgents, [id, report, now](ops::WriteContext& ctx) {
    return ops::SetAgentHealth(ctx, id, report, now);
  });
}

Expected<Mutation<int>> SqlStore::MarkAgentsOffline(WallTime now, WallTime seen_before) {
  auto gone = ReadAs<std::vector<std::string>>(
      [&](sql::Connection& db) { return ops::AgentsGoneOffline(db, seen_before); });
  if (!gone) return Fail(gone.error());
  if (gone->empty()) return Mutation<int>{0, {}, {}};
  return Write<int>(*std::move(gone), Rank::kPlain, Lane::kBackground,
                    [now, seen_before](ops::WriteContext& ctx) {
                      return ops::MarkAgentsOffline(ctx, now, seen_before);
                    });
}

// ---- Host inventory (docs/decisions/0024) ----

Expected<Mutation<bool>> SqlStore::PutInventory(std::string_view agent_id,
                                                const protocol::HostInventory& inventory,
                                                WallTime now) {
  std::string id(agent_id);
  return Write<bool>({id}, Rank::kPlain, Lane::kAgents,
                     [id, inventory, now](ops::WriteContext& ctx) {
                       return ops::PutInventory(ctx, id, inventory, now);
                     });
}

Expected<protocol::HostInventory> SqlStore::GetInventory(std::string_view agent_id) {
  return ReadAs<protocol::HostInventory>(
      [&](sql::Connection& db) { return ops::GetInventory(db, agent_id); });
}

// ---- Jobs ----

Expected<Mutation<CreatedJobs>> SqlStore::CreateJobs(const CreateJobsCommand& command,
                                                     WallTime now) {
  return Await<CreatedJobs>(
      [&](Completion<CreatedJobs> done) { CreateJobsAsync(command, now, std::move(done)); });
}

void SqlStore::CreateJobsAsync(CreateJobsCommand command, WallTime now,
                               Completion<CreatedJobs> done) {
  if (!command.batch && command.jobs.size() != 1) {
    return done(
        MakeError(Errc::kInvalidRequest, "a request without a selector creates exactly one job"));
  }
  std::string fingerprint = command.request_fingerprint;
  if (fingerprint.empty() && command.idempotency_key) fingerprint = ops::DeriveFingerprint(command);
  std::vector<std::string> agents;
  for (const JobSpec& spec : command.jobs)
    agents.push_back(spec.agent_id);
  WriteAsync<CreatedJobs>(
      std::move(agents), Rank::kPlain, Lane::kInteractive,
      [command = std::move(command), fingerprint = std::move(fingerprint),
       now](ops::WriteContext& ctx) { return ops::CreateJobs(ctx, command, fingerprint, now); },
      std::move(done));
}

Expected<protocol::JobDetail> SqlStore::GetJob(std::string_view job_id) {
  return ReadAs<protocol::JobDetail>([&](sql::Connection& db) { return ops::GetJob(db, job_id); });
}

Expected<protocol::JobList> SqlStore::ListJobs(const JobFilter& filter, int limit,
                                               const std::optional<std::string>& cursor) {
  std::optional<std::string> after_id;
  if (cursor) {
    after_id = ops::DecodeCursor(*cursor);
    if (!after_id) return Fail(InvalidField("cursor", "not a cursor of this list"));
  }
  return ReadAs<protocol::JobList>(
      [&](sql::Connection& db) { return ops::ListJobs(db, filter, limit, after_id); });
}

Expected<Mutation<CancelResult>> SqlStore::CancelJob(std::string_view job_id, WallTime now) {
  std::string id(job_id);
  auto agent = ReadAs<std::optional<std::string>>(
      [&](sql::Connection& db) { return ops::JobAgent(db, id); });
  if (!agent) return Fail(agent.error());
  if (!*agent) return Fail(Errc::kNotFound, "job " + id + " not found");
  return Write<CancelResult>(
      {**agent}, Rank::kPlain, Lane::kInteractive,
      [id, now](ops::WriteContext& ctx) { return ops::CancelJob(ctx, id, now); });
}

Expected<Mutation<Job>> SqlStore::RetryJob(std::string_view job_id, WallTime now) {
  std::string id(job_id);
  auto agent = ReadAs<std::optional<std::string>>(
      [&](sql::Connection& db) { return ops::JobAgent(db, id); });
  if (!agent) return Fail(agent.error());
  if (!*agent) return Fail(Errc::kNotFound, "job " + id + " not found");
  return Write<Job>({**agent}, Rank::kPlain, Lane::kInteractive,
                    [id, now](ops::WriteContext& ctx) { return ops::RetryJob(ctx, id, now); });
}

// ---- Dispatch and updates ----

Expected<Mutation<std::optional<Dispatched>>> SqlStore::DispatchNext(std::string_view agent_id,
                                                                     WallTime now,
                                                                     int lease_seconds) {
  using Value = std::optional<Dispatched>;
  return Await<Value>([&](Completion<Value> done) {
    DispatchNextAsync(std::string(agent_id), now, lease_seconds, std::move(done));
  });
}

void SqlStore::DispatchNextAsync(std::string agent_id, WallTime now, int lease_seconds,
                                 Completion<std::optional<Dispatched>> done) {
  std::vector<std::string> agents{agent_id};
  ops::ReadHint hint{ops::ReadHint::Kind::kDispatch, agent_id};
  WriteAsync<std::optional<Dispatched>>(
      std::move(agents), Rank::kPlain, Lane::kAgents,
      [id = std::move(agent_id), now, lease_seconds](ops::WriteContext& ctx) {
        return ops::DispatchNext(ctx, id, now, lease_seconds);
      },
      std::move(done), std::move(hint));
}

Expected<Mutation<protocol::UpdatesResponse>> SqlStore::ApplyUpdates(
    std::string_view agent_id, std::string_view run_id, const protocol::UpdatesRequest& request,
    WallTime now, int lease_seconds) {
  return Await<protocol::UpdatesResponse>([&](Completion<protocol::UpdatesResponse> done) {
    ApplyUpdatesAsync(std::string(agent_id), std::string(run_id), request, now, lease_seconds,
                      std::move(done));
  });
}

void SqlStore::ApplyUpdatesAsync(std::string agent_id, std::string run_id,
                                 protocol::UpdatesRequest request, WallTime now, int lease_seconds,
                                 Completion<protocol::UpdatesResponse> done) {
  if (request.final_update && request.final_update->status == RunStatus::kRunning) {
    return done(
        MakeError(Errc::kInvalidRequest, "final.status: must be COMPLETED, FAILED or CANCELLED"));
  }
  std::vector<std::string> agents{agent_id};
  ops::ReadHint hint{ops::ReadHint::Kind::kRun, run_id};
  WriteAsync<protocol::UpdatesResponse>(
      std::move(agents), Rank::kPlain, Lane::kAgents,
      [agent = std::move(agent_id), id = std::move(run_id), request = std::move(request), now,
       lease_seconds, cap = deps().run_log_cap](ops::WriteContext& ctx) {
        return ops::ApplyUpdates(ctx, agent, id, request, now, lease_seconds, cap);
      },
      std::move(done), std::move(hint));
}

// ---- Time ----

Expected<Mutation<int>> SqlStore::ExpireLeases(WallTime now) {
  auto agents = ReadAs<std::vector<std::string>>(
      [&](sql::Connection& db) { return ops::AgentsWithExpiredLeases(db, now); });
  if (!agents) return Fail(agents.error());
  if (agents->empty()) return Mutation<int>{0, {}, {}};
  return Write<int>(*std::move(agents), Rank::kPlain, Lane::kBackground,
                    [now](ops::WriteContext& ctx) { return ops::ExpireLeases(ctx, now); });
}

Expected<Mutation<int>> SqlStore::PromoteDue(WallTime now) {
  auto agents = ReadAs<std::vector<std::string>>(
      [&](sql::Connection& db) { return ops::AgentsWithDueJobs(db, now); });
  if (!agents) return Fail(agents.error());
  if (agents->empty()) return Mutation<int>{0, {}, {}};
  return Write<int>(*std::move(agents), Rank::kPlain, Lane::kBackground,
                    [now](ops::WriteContext& ctx) { return ops::PromoteDue(ctx, now); });
}

Expected<std::optional<WallTime>> SqlStore::NextWakeTime() {
  return ReadAs<std::optional<WallTime>>([](sql::Connection& db) { return ops::NextWakeTime(db); });
}

// ---- Notify and metrics ----

Expected<protocol::NotifyResponse> SqlStore::AgentQueueState(std::string_view agent_id) {
  return ReadAs<protocol::NotifyResponse>(
      [&](sql::Connection& db) { return ops::AgentQueueState(db, agent_id); });
}

Expected<std::vector<JobCount>> SqlStore::CountJobs() {
  return ReadAs<std::vector<JobCount>>([](sql::Connection& db) { return ops::CountJobs(db); });
}

Expected<protocol::StatsHistory> SqlStore::ReadHistory(WallTime now, int minutes) {
  return ReadAs<protocol::StatsHistory>(
      [now, minutes](sql::Connection& db) { return ops::ReadHistory(db, now, minutes); });
}

// ---- Events ----

Expected<Mutation<Unit>> SqlStore::AppendEvents(std::vector<Event> events) {
  return Write<Unit>({}, Rank::kPlain, Lane::kAgents,
                     [events = std::move(events)](ops::WriteContext& ctx) {
                       return ops::AppendEvents(ctx, events);
                     });
}

Expected<std::vector<Event>> SqlStore::ReadEvents(std::int64_t after_seq, int limit,
                                                  const EventFilter& filter) {
  return ReadAs<std::vector<Event>>(
      [&](sql::Connection& db) { return ops::ReadEvents(db, after_seq, limit, filter); });
}

Expected<std::vector<Event>> SqlStore::JobEvents(std::string_view job_id) {
  return ReadAs<std::vector<Event>>(
      [&](sql::Connection& db) { return ops::JobEvents(db, job_id); });
}

Expected<std::int64_t> SqlStore::LastEventSeq() {
  return ReadAs<std::int64_t>([this](sql::Connection& db) { return LastSeq(db); });
}

Expected<std::int64_t> SqlStore::OldestEventSeq() {
  return ReadAs<std::int64_t>(
      [this](sql::Connection& db) { return ops::OldestEventSeq(db, LastSeq(db)); });
}

Expected<std::int64_t> SqlStore::PruneEvents(std::int64_t keep_last) {
  auto pruned = Write<std::int64_t>(
      {}, Rank::kPlain, Lane::kBackground, [this, keep_last](ops::WriteContext& ctx) {
        const std::int64_t last = LastSeq(ctx.db());
        auto deleted = ops::PruneEvents(ctx, keep_last, last);
        // Should this have deleted the newest event, the store still knows which seqs were used.
        if (deleted) EventsPruned(ctx.db(), last - std::max<std::int64_t>(keep_last, 0));
        return deleted;
      });
  if (!pruned) return Fail(pruned.error());
  return pruned->value;
}

// ---- Retention (docs/decisions/0018) ----

Expected<std::int64_t> SqlStore::PruneEventsBefore(WallTime before, int limit) {
  auto pruned =
      Write<std::int64_t>({}, Rank::kPlain, Lane::kBackground,
                          [this, before, limit](ops::WriteContext& ctx) -> Expected<std::int64_t> {
                            auto deleted = ops::PruneEventsBefore(ctx, before, std::max(limit, 1));
                            if (!deleted) return Fail(deleted.error());
                            if (deleted->through > 0) EventsPruned(ctx.db(), deleted->through);
                            return deleted->deleted;
                          });
  if (!pruned) return Fail(pruned.error());
  return pruned->value;
}

Expected<std::int64_t> SqlStore::PruneJobs(WallTime finished_before, int limit) {
  auto jobs = ReadAs<std::vector<ops::PrunableJob>>([&](sql::Connection& db) {
    return ops::PrunableJobs(db, finished_before, std::max(limit, 1));
  });
  if (!jobs) return Fail(jobs.error());
  if (jobs->empty()) return 0;
  std::vector<std::string> agents;
  for (const ops::PrunableJob& job : *jobs)
    agents.push_back(job.agent_id);
  // The jobs' agents are locked (docs/decisions/0011): a retry of one of these jobs through
  // another replica waits for this transaction, or this one sees the job unfinished.
  auto pruned =
      Write<std::int64_t>(std::move(agents), Rank::kPlain, Lane::kBackground,
                          [jobs = *std::move(jobs), finished_before](ops::WriteContext& ctx) {
                            return ops::PruneJobs(ctx, jobs, finished_before);
                          });
  if (!pruned) return Fail(pruned.error());
  return pruned->value;
}

Expected<std::int64_t> SqlStore::PruneIdempotencyKeys(WallTime created_before, int limit) {
  auto pruned = Write<std::int64_t>(
      {}, Rank::kPlain, Lane::kBackground, [created_before, limit](ops::WriteContext& ctx) {
        return ops::PruneIdempotencyKeys(ctx, created_before, std::max(limit, 1));
      });
  if (!pruned) return Fail(pruned.error());
  return pruned->value;
}

Expected<std::vector<ArtifactEntry>> SqlStore::ListArtifacts() {
  auto stored = StoredArtifacts();
  if (!stored) return Fail(stored.error());
  auto references = ReadAs<ops::ArtifactReferences>(
      [](sql::Connection& db) { return ops::UnfinishedArtifactReferences(db); });
  if (!references) return Fail(references.error());
  std::vector<ArtifactEntry> entries;
  for (ArtifactStat& stat : *stored) {
    const auto found = references->jobs.find(stat.sha256);
    const int count = found == references->jobs.end() ? 0 : found->second;
    entries.push_back({std::move(stat), count});
  }
  std::sort(entries.begin(), entries.end(), [](const ArtifactEntry& a, const ArtifactEntry& b) {
    return std::tie(a.stat.created_at, a.stat.sha256) < std::tie(b.stat.created_at, b.stat.sha256);
  });
  return entries;
}

Status SqlStore::DeleteArtifact(std::string_view sha256) {
  if (auto valid = CheckArtifactName(sha256); !valid) return valid;
  const std::string sha(sha256);
  auto references = ReadAs<ops::ArtifactReferences>(
      [](sql::Connection& db) { return ops::UnfinishedArtifactReferences(db); });
  if (!references) return Fail(references.error());
  if (const auto found = references->jobs.find(sha); found != references->jobs.end()) {
    return Fail(Errc::kInvalidState, "artifact " + sha + " is named by " +
                                         std::to_string(found->second) + " unfinished job" +
                                         (found->second == 1 ? "" : "s") + " (job " +
                                         references->sample[sha] + "); it is kept");
  }
  return RemoveArtifact(sha);
}

Expected<int> SqlStore::PruneArtifacts(WallTime created_before, int limit) {
  auto entries = ListArtifacts();
  if (!entries) return Fail(entries.error());
  int removed = 0;
  for (const ArtifactEntry& entry : *entries) {
    if (removed >= limit) break;
    if (entry.unfinished_jobs > 0 || entry.stat.created_at >= created_before) continue;
    // Looked at again just before: a job created since the listing may name it now.
    Status deleted = DeleteArtifact(entry.stat.sha256);
    if (deleted) {
      ++removed;
    } else if (deleted.error().code != Errc::kNotFound &&
               deleted.error().code != Errc::kInvalidState) {
      return Fail(deleted.error());
    }
  }
  return removed;
}

// ---- Leader lease ----

Expected<Leadership> SqlStore::TryLeadership(std::string_view name, std::string_view holder,
                                             WallTime now, std::chrono::milliseconds ttl) {
  auto taken = Write<Leadership>(
      {}, Rank::kLeases, Lane::kInteractive,
      [name = std::string(name), holder = std::string(holder), now, ttl](ops::WriteContext& ctx) {
        return ops::TryLeadership(ctx, name, holder, now, ttl);
      });
  if (!taken) return Fail(taken.error());
  return taken->value;
}

Status SqlStore::ReleaseLeadership(std::string_view name, std::string_view holder) {
  auto released =
      Write<Unit>({}, Rank::kLeases, Lane::kInteractive,
                  [name = std::string(name), holder = std::string(holder)](ops::WriteContext& ctx) {
                    return ops::ReleaseLeadership(ctx, name, holder);
                  });
  if (!released) return Fail(released.error());
  return Ok();
}

// ---- Rollouts (docs/decisions/0021) ----

Expected<Mutation<CreatedRollout>> SqlStore::CreateRollout(const CreateRolloutCommand& command,
                                                           WallTime now) {
  std::string fingerprint = command.request_fingerprint;
  if (fingerprint.empty()) fingerprint = protocol::ToJson(command.request);
  // No agent is locked: creating a rollout writes no job (AdvanceRollout starts the hosts).
  return Write<CreatedRollout>({}, Rank::kPlain, Lane::kInteractive,
                               [command, fingerprint, now](ops::WriteContext& ctx) {
                                 return ops::CreateRollout(ctx, command, fingerprint, now);
                               });
}

Expected<protocol::Rollout> SqlStore::GetRollout(std::string_view id) {
  return ReadAs<protocol::Rollout>([&](sql::Connection& db) { return ops::GetRollout(db, id); });
}

Expected<protocol::RolloutList> SqlStore::ListRollouts(const RolloutFilter& filter, int limit,
                                                       const std::optional<std::string>& cursor) {
  return ReadAs<protocol::RolloutList>(
      [&](sql::Connection& db) { return ops::ListRollouts(db, filter, limit, cursor); });
}

Expected<protocol::RolloutHostList> SqlStore::ListRolloutHosts(
    std::string_view id, const std::optional<std::string>& status, int limit,
    const std::optional<std::string>& cursor) {
  return ReadAs<protocol::RolloutHostList>(
      [&](sql::Connection& db) { return ops::ListRolloutHosts(db, id, status, limit, cursor); });
}

Expected<Mutation<protocol::Rollout>> SqlStore::PauseRollout(std::string_view id, WallTime now) {
  return Write<protocol::Rollout>({}, Rank::kPlain, Lane::kInteractive,
                                  [id = std::string(id), now](ops::WriteContext& ctx) {
                                    return ops::PauseRollout(ctx, id, now);
                                  });
}

Expected<Mutation<protocol::Rollout>> SqlStore::ResumeRollout(std::string_view id, WallTime now) {
  return Write<protocol::Rollout>({}, Rank::kPlain, Lane::kInteractive,
                                  [id = std::string(id), now](ops::WriteContext& ctx) {
                                    return ops::ResumeRollout(ctx, id, now);
                                  });
}

Expected<Mutation<protocol::Rollout>> SqlStore::AbortRollout(std::string_view id,
                                                             bool cancel_running, WallTime now) {
  return Write<protocol::Rollout>(
      {}, Rank::kPlain, Lane::kInteractive,
      [id = std::string(id), cancel_running, now](ops::WriteContext& ctx) {
        return ops::AbortRollout(ctx, id, cancel_running, now);
      });
}

Expected<Mutation<RolloutAdvance>> SqlStore::AdvanceRollout(std::string_view id, WallTime now) {
  std::string rollout(id);
  // The agents the decision names as things stand; the body decides again under their locks
  // and asks for more (MoreAgentsNeeded) should it name others by then.
  auto agents = ReadAs<std::vector<std::string>>(
      [&](sql::Connection& db) { return ops::PlanAdvance(db, rollout, now); });
  if (!agents) return Fail(agents.error());
  return Write<RolloutAdvance>(
      *std::move(agents), Rank::kPlain, Lane::kBackground,
      [rollout, now](ops::WriteContext& ctx) { return ops::AdvanceRollout(ctx, rollout, now); });
}

Expected<std::vector<std::string>> SqlStore::RolloutsDue(std::optional<WallTime> now) {
  return ReadAs<std::vector<std::string>>(
      [&](sql::Connection& db) { return ops::RolloutsDue(db, now); });
}

// ---- Logs ----

Expected<protocol::JobLogs> SqlStore::ReadLogs(const LogQuery& query) {
  return ReadAs<protocol::JobLogs>(
      [&](sql::Connection& db) { return ops::ReadLogs(db, query, deps().run_log_cap); });
}

// ---- Schedules ----

namespace {

// Adds a commit's events and agents to those of a call made of several commits.
template <class T>
void Collect(Mutation<T>& mutation, std::vector<Event>& events, std::vector<std::string>& touched) {
  events.insert(events.end(), std::make_move_iterator(mutation.events.begin()),
                std::make_move_iterator(mutation.events.end()));
  touched.insert(touched.end(), mutation.touched_agents.begin(), mutation.touched_agents.end());
}

// Fire times are kept in milliseconds.
WallTime ToMillis(WallTime time) {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(time);
}

// At most this many fires of one schedule per timer pass (an expression firing every second
// after a slow pass); the next pass goes on.
constexpr int kMaxFiresPerPass = 10;

}  // namespace

SqlStore::RunningFire::RunningFire(SqlStore& store, std::string schedule_id, WallTime fire_time)
    : store_(store), key_(std::move(schedule_id), ToMillis(fire_time)) {
  const std::lock_guard lock(store_.running_fires_mutex_);
  store_.running_fires_.insert(key_);
}

SqlStore::RunningFire::~RunningFire() {
  const std::lock_guard lock(store_.running_fires_mutex_);
  store_.running_fires_.erase(key_);
}

bool SqlStore::FireRunning(const std::string& schedule_id, WallTime fire_time) {
  const std::lock_guard lock(running_fires_mutex_);
  return running_fires_.contains({schedule_id, ToMillis(fire_time)});
}

Expected<std::vector<ops::LiveAgent>> SqlStore::ReadLiveAgents() {
  return ReadAs<std::vector<ops::LiveAgent>>(
      [](sql::Connection& db) { return ops::LiveAgents(db); });
}

Expected<Mutation<protocol::Schedule>> SqlStore::CreateSchedule(
    const protocol::ScheduleRequest& request, WallTime now) {
  return Write<protocol::Schedule>(
      {}, Rank::kPlain, Lane::kInteractive,
      [request, now](ops::WriteContext& ctx) { return ops::CreateSchedule(ctx, request, now); });
}

Expected<protocol::Schedule> SqlStore::GetSchedule(std::string_view schedule_id, WallTime now) {
  return ReadAs<protocol::Schedule>(
      [&](sql::Connection& db) { return ops::GetSchedule(db, schedule_id, now); });
}

Expected<protocol::ScheduleList> SqlStore::ListSchedules(int limit,
                                                         const std::optional<std::string>& cursor,
                                                         WallTime now) {
  std::optional<std::string> after;
  if (cursor) {
    after = ops::DecodeCursor(*cursor);
    if (!after) return Fail(InvalidField("cursor", "not a cursor of this list"));
  }
  return ReadAs<protocol::ScheduleList>(
      [&](sql::Connection& db) { return ops::ListSchedules(db, limit, after, now); });
}

Expected<Mutation<protocol::Schedule>> SqlStore::UpdateSchedule(
    std::string_view schedule_id, const protocol::ScheduleRequest& patch, WallTime now) {
  return Write<protocol::Schedule>(
      {}, Rank::kPlain, Lane::kInteractive,
      [id = std::string(schedule_id), patch, now](ops::WriteContext& ctx) {
        return ops::UpdateSchedule(ctx, id, patch, now);
      });
}

Expected<Mutation<Unit>> SqlStore::DeleteSchedule(std::string_view schedule_id, WallTime now) {
  return Write<Unit>({}, Rank::kPlain, Lane::kInteractive,
                     [id = std::string(schedule_id), now](ops::WriteContext& ctx) {
                       return ops::DeleteSchedule(ctx, id, now);
                     });
}

Status SqlStore::FinishFire(Lane lane, const std::string& schedule_id, WallTime fire_time,
                            const std::vector<std::string>& hosts, WallTime now,
                            ScheduleFireResult& result, std::vector<Event>& events,
                            std::vector<std::string>& touched) {
  for (std::size_t first = 0; first < hosts.size(); first += kFireBatchHosts) {
    const std::size_t last = std::min(hosts.size(), first + kFireBatchHosts);
    std::vector<std::string> chunk(hosts.begin() + static_cast<std::ptrdiff_t>(first),
                                   hosts.begin() + static_cast<std::ptrdiff_t>(last));
    auto created = Write<std::vector<Job>>(
        chunk, Rank::kPlain, lane, [schedule_id, fire_time, chunk, now](ops::WriteContext& ctx) {
          return ops::ContinueFire(ctx, schedule_id, fire_time, chunk, now);
        });
    if (!created) return Fail(created.error());
    Collect(*created, events, touched);
    result.jobs.insert(result.jobs.end(), std::make_move_iterator(created->value.begin()),
                       std::make_move_iterator(created->value.end()));
  }
  return Ok();
}

Expected<Mutation<ScheduleFireResult>> SqlStore::FireSchedule(std::string_view schedule_id,
                                                              WallTime fire_time, WallTime now) {
  const WallTime at = ToMillis(fire_time);
  // Claimed below and finished here: the timer's pass over unfinished fires must not finish it
  // meanwhile, or this answer would lack the jobs the timer made.
  const RunningFire running(*this, std::string(schedule_id), at);
  auto live = ReadLiveAgents();
  if (!live) return Fail(live.error());
  auto begun = Write<std::optional<ops::FireBegun>>(
      {}, Rank::kPlain, Lane::kInteractive,
      [id = std::string(schedule_id), at, now, &live](ops::WriteContext& ctx) {
        return ops::BeginFire(ctx, id, at, now, false, nullptr, *live);
      });
  if (!begun) return Fail(begun.error());
  Mutation<ScheduleFireResult> fired;
  Collect(*begun, fired.events, fired.touched_agents);
  if (!begun->value) return Fail(Errc::kInternal, "store: the fire was not claimed");
  fired.value = std::move(begun->value->result);
  if (!fired.value.existing) {
    Status finished =
        FinishFire(Lane::kInteractive, fired.value.schedule_id, at, begun->value->hosts, now,
                   fired.value, fired.events, fired.touched_agents);
    if (!finished) return Fail(finished.error());
  }
  fired.touched_agents = Unique(std::move(fired.touched_agents));
  return fired;
}

Expected<Mutation<ScheduleTick>> SqlStore::FireDueSchedules(WallTime now, const FireSink& on_fire) {
  auto clocks = ReadAs<std::vector<ops::ScheduleClock>>(
      [](sql::Connection& db) { return ops::EnabledSchedules(db); });
  if (!clocks) return Fail(clocks.error());
  Mutation<ScheduleTick> tick;
  // The agents and their labels, read once for the pass (on a reader, when the first schedule
  // is due) and not in each fire's transaction: the hosts are those of the pass's start.
  std::optional<std::vector<ops::LiveAgent>> live;
  // What one fire committed: handed on at once when asked, else kept for the caller.
  std::vector<Event> fire_events;
  const auto hand_on = [&] {
    if (on_fire && !fire_events.empty()) {
      on_fire(std::move(fire_events));
    } else {
      tick.events.insert(tick.events.end(), std::make_move_iterator(fire_events.begin()),
                         std::make_move_iterator(fire_events.end()));
    }
    fire_events.clear();
  };
  for (ops::ScheduleClock& clock : *clocks) {
    orchestration::ScheduleFields fields;
    fields.cron = clock.cron;
    fields.time_zone = clock.time_zone;
    fields.catch_up = clock.catch_up;
    auto valid = orchestration::ValidateSchedule(fields);
    if (!valid) continue;  // stored schedules were validated; a zone gone from tzdata stops it
    for (int round = 0; round < kMaxFiresPerPass; ++round) {
      // A first look without a transaction; BeginFire decides again inside one.
      const orchestration::DueFire due = orchestration::DecideDueFire(
          valid->cron, valid->zone, clock.considered, valid->catch_up, now);
      if (!due.fire && !due.skipped_through) break;
      if (!live) {
        auto read = ReadLiveAgents();
        if (!read) return Fail(read.error());
        live = *std::move(read);
      }
      auto skipped = std::make_shared<int>(0);
      auto begun = Write<std::optional<ops::FireBegun>>(
          {}, Rank::kPlain, Lane::kBackground,
          [id = clock.id, now, skipped, &live](ops::WriteContext& ctx) {
            *skipped = 0;
            return ops::BeginFire(ctx, id, WallTime{}, now, true, skipped.get(), *live);
          });
      if (!begun) return Fail(begun.error());
      Collect(*begun, fire_events, tick.touched_agents);
      tick.value.skipped += *skipped;
      if (!begun->value) {
        hand_on();
        break;
      }
      ScheduleFireResult result = std::move(begun->value->result);
      clock.considered = std::max(clock.considered, result.fire_time);
      if (result.existing) {  // another instance took it
        hand_on();
        break;
      }
      Status finished =
          FinishFire(Lane::kBackground, clock.id, result.fire_time, begun->value->hosts, now,
                     result, fire_events, tick.touched_agents);
      hand_on();
      if (!finished) return Fail(finished.error());
      tick.value.fires.push_back(std::move(result));
    }
    auto next = orchestration::NextFireTime(valid->cron, valid->zone, now);
    if (next && (!tick.value.next_wake || *next < *tick.value.next_wake)) {
      tick.value.next_wake = next;
    }
  }
  // Fires another instance claimed and did not finish (it died between two batches).
  auto pending = ReadAs<std::vector<ops::PendingFire>>(
      [](sql::Connection& db) { return ops::PendingFires(db); });
  if (!pending) return Fail(pending.error());
  for (const ops::PendingFire& fire : *pending) {
    if (FireRunning(fire.schedule_id, fire.fire_time)) continue;  // an operator's, going on
    ScheduleFireResult result;
    result.schedule_id = fire.schedule_id;
    result.fire_time = fire.fire_time;
    Status finished = FinishFire(Lane::kBackground, fire.schedule_id, fire.fire_time, fire.hosts,
                                 now, result, fire_events, tick.touched_agents);
    hand_on();
    if (!finished) return Fail(finished.error());
    if (!result.jobs.empty()) tick.value.fires.push_back(std::move(result));
  }
  tick.touched_agents = Unique(std::move(tick.touched_agents));
  return tick;
}

}  // namespace orb::store::engine
