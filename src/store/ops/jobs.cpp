#include "store/ops/jobs.hpp"

#include <algorithm>
#include <memory>
#include <tuple>
#include <utility>

#include "common/hex.hpp"
#include "common/sha256.hpp"
#include "protocol/dispatch.hpp"
#include "protocol/job_types.hpp"
#include "store/ops/batch_reads.hpp"
#include "store/ops/dependencies.hpp"
#include "store/ops/rollouts.hpp"
#include "store/ops/rows.hpp"
#include "store/ops/schedules.hpp"

namespace orb::store::ops {

using protocol::Event;
using protocol::EventType;
using protocol::Job;
using protocol::JobStatus;
using protocol::Run;
using protocol::RunStatus;

namespace {

// An operation reached an agent the batch did not lock for it: a bug in the store's
// declarations, answered as a retryable store error rather than changing it unguarded.
Error NotLocked(const std::string& agent_id) {
  return MakeError(Errc::kStore, "store: agent " + agent_id + " was not locked for this write",
                   true);
}

// The jobs of the request that first used `key`, when it is known: nullopt when it is not,
// idempotency_conflict when the fingerprint differs.
std::optional<Expected<CreatedJobs>> FindIdempotent(Connection& db, const std::string& key,
                                                    const std::string& fingerprint) {
  Query q(db, "SELECT fingerprint, job_id, batch_id FROM idempotency_keys WHERE key = ?");
  q.Bind(1, key);
  if (!q.Step()) return std::nullopt;
  if (q.Text(0) != fingerprint) {
    return Expected<CreatedJobs>(Fail(
        Errc::kIdempotencyConflict, "idempotencyKey " + key + " was used for a different request"));
  }
  CreatedJobs created;
  created.existing = true;
  created.batch_id = q.OptText(2);
  const std::optional<std::string> job_id = q.OptText(1);
  if (job_id) {
    if (auto job = LoadJob(db, *job_id)) created.jobs.push_back(*std::move(job));
  } else if (created.batch_id) {
    static const std::string sql =
        "SELECT " + JobColumns() + " FROM jobs WHERE batch_id = ? ORDER BY id";
    Query jobs(db, sql);
    jobs.Bind(1, *created.batch_id);
    while (jobs.Step())
      created.jobs.push_back(ReadJob(jobs));
  }
  FillDependencies(db, created.jobs);
  FillSchedules(db, created.jobs);
  return Expected<CreatedJobs>(std::move(created));
}

// The first agent of `specs` that is not enrolled, if any. Agents the batch's locking found
// need no second look.
std::optional<std::string> MissingAgent(WriteContext& ctx, const std::vector<JobSpec>& specs) {
  std::vector<std::string> ids;
  for (const JobSpec& spec : specs) {
    if (!ctx.KnownAgent(spec.agent_id)) ids.push_back(spec.agent_id);
  }
  if (ids.empty()) return std::nullopt;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<std::string> found;
  if (ids.size() == 1) {
    Query q(ctx.db(), "SELECT id FROM agents WHERE id = ?");
    q.Bind(1, ids[0]);
    while (q.Step())
      found.push_back(q.Text(0));
  } else {
    Query q(ctx.db(), "SELECT id FROM agents WHERE " + ctx.db().dialect().in_list("id", 1));
    q.BindList(1, ids);
    while (q.Step())
      found.push_back(q.Text(0));
    std::sort(found.begin(), found.end());
  }
  for (const JobSpec& spec : specs) {
    if (ctx.KnownAgent(spec.agent_id)) continue;
    if (!std::binary_search(found.begin(), found.end(), spec.agent_id)) return spec.agent_id;
  }
  return std::nullopt;
}

// `deps_waiting`: how many of its dependencies are not COMPLETED (it waits while > 0).
void InsertJob(Connection& db, const Job& job, bool queued, WallTime now, int deps_waiting) {
  Query q(db,
          "INSERT INTO jobs (id, agent_id, type, instance_id, server_id, payload_json, status, "
          "priority, exclusive, max_attempts, retry_backoff_seconds, timeout_seconds, "
          "not_before_ms, idempotency_key, batch_id, queued_at_ms, created_at_ms, updated_at_ms, "
          "last_error_json, deps_waiting, rollout_id) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
          "?17, ?18, ?19, ?20)");
  q.Bind(1, job.id)
      .Bind(2, job.agent_id)
      .Bind(3, job.type)
      .Bind(4, job.instance_id)
      .Bind(5, job.server_id)
      .Bind(6, job.payload_json)
      .Bind(7, protocol::ToString(job.status))
      .Bind(8, job.priority)
      .Bind(9, job.exclusive)
      .Bind(10, job.max_attempts)
      .Bind(11, job.retry_backoff_seconds)
      .Bind(12, job.timeout_seconds)
      .Bind(13, OptMillis(job.not_before))
      .Bind(14, job.idempotency_key)
      .Bind(15, job.batch_id)
      .Bind(16, queued ? std::optional<std::int64_t>(Millis(now)) : std::nullopt)
      .Bind(17, Millis(now))
      .Bind(18, RunErrorJson(job.last_error))
      .Bind(19, deps_waiting)
      .Bind(20, job.rollout_id);
  q.Defer();
}

}  // namespace

// ---- writes ----

Expected<CreatedJobs> CreateJobs(WriteContext& ctx, const CreateJobsCommand& command,
                                 const std::string& fingerprint, WallTime now) {
  if (command.idempotency_key) {
    if (auto known = FindIdempotent(ctx.db(), *command.idempotency_key, fingerprint)) {
      return *std::move(known);
    }
  }
  if (auto missing = MissingAgent(ctx, command.jobs)) {
    return Fail(Errc::kNotFound, "agent " + *missing + " is not enrolled");
  }
  for (const JobSpec& spec : command.jobs) {
    if (!ctx.Locked(spec.agent_id)) return Fail(NotLocked(spec.agent_id));
  }
  // Before any write: an unknown dependency changes nothing, and dependencies of agents the batch
  // did not lock make it run again with them (their status must not change before the commit).
  auto dependencies = LoadDependencies(ctx, command.jobs);
  if (!dependencies) return Fail(dependencies.error());
  CreatedJobs created;
  if (command.batch) created.batch_id = ctx.NextId();
  for (const JobSpec& spec : command.jobs) {
    Job job;
    job.id = ctx.NextId();
    job.agent_id = spec.agent_id;
    job.type = spec.type;
    job.instance_id = spec.instance_id;
    job.server_id = spec.server_id;
    job.payload_json = spec.payload_json;
    job.status = JobStatus::kCreated;
    job.priority = spec.priority;
    job.exclusive = spec.exclusive;
    job.max_attempts = spec.max_attempts;
    job.retry_backoff_seconds = spec.retry_backoff_seconds;
    job.timeout_seconds = spec.timeout_seconds;
    job.not_before = spec.not_before;
    job.idempotency_key = command.idempotency_key;
    job.batch_id = created.batch_id;
    job.created_at = now;
    job.updated_at = now;
    job.depends_on = spec.depends_on;
    job.rollout_id = spec.rollout_id;
    created.jobs.push_back(std::move(job));
  }
  if (command.idempotency_key) {
    // The key first: a concurrent request with the same key (another connection or replica)
    // waits here for the first one's commit and then answers with its jobs.
    Query q(ctx.db(),
            "INSERT INTO idempotency_keys (key, fingerprint, job_id, batch_id, created_at_ms) "
            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING");
    q.Bind(1, *command.idempotency_key)
        .Bind(2, fingerprint)
        .Bind(3, command.batch ? std::nullopt : std::optional<std::string>(created.jobs[0].id))
        .Bind(4, created.batch_id)
        .Bind(5, Millis(now));
    q.Run();
    if (q.Changes() == 0) {
      if (auto known = FindIdempotent(ctx.db(), *command.idempotency_key, fingerprint)) {
        return *std::move(known);
      }
      return Fail(Errc::kStore, "store: idempotency key conflict without a stored key", true);
    }
  }
  for (std::size_t i = 0; i < created.jobs.size(); ++i) {
    Job& job = created.jobs[i];
    const bool spec_any_end = command.jobs[i].depends_on_any_end;
    const DependencyState deps = StateOf(job.depends_on, *dependencies);
    const Job as_created = job;
    if (deps.failed) {
      // A dependency already FAILED or CANCELLED: created and cancelled at once.
      const EventType cancelled = Advance(job, protocol::JobEvent::kDependencyFailed);
      job.last_error = DependencyFailedError(*deps.failed, *deps.failed_status);
      InsertJob(ctx.db(), job, false, now, 0);
      RecordDependencies(ctx, job.id, job.depends_on, spec_any_end);
      ctx.Emit(MakeJobEvent(EventType::kJobCreated, as_created, now));
      protocol::Event event = MakeJobEvent(cancelled, job, now);
      event.error = job.last_error;
      event.message = job.last_error->message;
      ctx.Emit(std::move(event));
      continue;
    }
    job.waiting_for = deps.waiting_for;
    const bool queued = deps.waiting_for.empty() && !(job.not_before && *job.not_before > now);
    std::optional<EventType> queued_event;
    if (queued) queued_event = Advance(job, protocol::JobEvent::kPromote);
    InsertJob(ctx.db(), job, queued, now, static_cast<int>(deps.waiting_for.size()));
    if (!job.depends_on.empty()) RecordDependencies(ctx, job.id, job.depends_on, spec_any_end);
    ctx.Emit(MakeJobEvent(EventType::kJobCreated, as_created, now));
    if (queued) {
      ctx.Emit(MakeJobEvent(*queued_event, job, now));
      ctx.Touch(job.agent_id);
    }
  }
  return created;
}

Expected<CancelResult> CancelJob(WriteContext& ctx, const std::string& id, WallTime now) {
  std::optional<Job> job = LoadJob(ctx.db(), id);
  if (!job) return Fail(Errc::kNotFound, "job " + id + " not found");
  if (!ctx.Locked(job->agent_id)) return Fail(NotLocked(job->agent_id));
  switch (job->status) {
    case JobStatus::kCreated:
    case JobStatus::kQueued: {
      FillDependencies(ctx.db(), *job);
      FillSchedules(ctx.db(), *job);
      const EventType type = Advance(*job, protocol::JobEvent::kCancelQueued);
      job->updated_at = now;
      job->waiting_for.clear();
      if (!job->depends_on.empty()) ClearDepsWaiting(ctx, job->id);
      SaveJob(ctx.db(), *job);
      ctx.Emit(MakeJobEvent(type, *job, now));
      ctx.Touch(job->agent_id);
      // The jobs waiting for this one are cancelled with it, down the chain; those of agents the
      // batch did not lock make it run again with them (MoreAgentsNeeded).
      OnJobEnded(ctx, *job, now);
      return CancelResult{*std::move(job), CancelOutcome::kCancelled};
    }
    case JobStatus::kRunning: {
      const protocol::JobTypeInfo* info = protocol::FindJobType(job->type);
      if (info != nullptr && !info->cancellable) {
        return Fail(Errc::kNotCancellable, std::string(info->not_cancellable_reason));
      }
      if (!job->cancel_requested) {
        const EventType type = Advance(*job, protocol::JobEvent::kRequestCancel);
        job->cancel_requested = true;
        job->updated_at = now;
        SaveJob(ctx.db(), *job);
        ctx.Emit(MakeJobEvent(type, *job, now));
        ctx.Touch(job->agent_id);
      }
      return CancelResult{*std::move(job), CancelOutcome::kRequested};
    }
    case JobStatus::kCompleted:
    case JobStatus::kFailed:
    case JobStatus::kCancelled: break;
  }
  return Fail(Errc::kInvalidState,
              "job " + id + " is " + std::string(protocol::ToString(job->status)));
}

Expected<Job> RetryJob(WriteContext& ctx, const std::string& id, WallTime now) {
  std::optional<Job> job = LoadJob(ctx.db(), id);
  if (!job) return Fail(Errc::kNotFound, "job " + id + " not found");
  if (job->status != JobStatus::kFailed && job->status != JobStatus::kCancelled) {
    return Fail(Errc::kInvalidState, "job " + id + " is " +
                                         std::string(protocol::ToString(job->status)) +
                                         "; only FAILED or CANCELLED jobs can be retried");
  }
  if (!ctx.Locked(job->agent_id)) return Fail(NotLocked(job->agent_id));
  // A retry would run it without what it depends on (docs/protocol.md "Job dependencies").
  if (job->last_error && job->last_error->code == kDependencyFailedCode) {
    return Fail(Errc::kInvalidState, "job " + id +
                                         " was cancelled because a dependency did not complete (" +
                                         job->last_error->message + "); it cannot be retried");
  }
  if (auto unfinished = UnfinishedDependency(ctx.db(), id)) {
    return Fail(Errc::kInvalidState, "job " + id + " depends on job " + *unfinished +
                                         ", which is not COMPLETED; it cannot be retried yet");
  }
  FillDependencies(ctx.db(), *job);
  FillSchedules(ctx.db(), *job);
  const EventType type = Advance(*job, protocol::JobEvent::kManualRetry);
  if (job->rollout_id) ReopenRolloutHost(ctx.db(), *job->rollout_id, job->id);
  job->cancel_requested = false;
  job->not_before.reset();
  job->updated_at = now;
  SaveJob(ctx.db(), *job, Millis(now));
  ctx.Emit(MakeJobEvent(type, *job, now));
  ctx.Emit(MakeJobEvent(EventType::kJobQueued, *job, now));
  ctx.Touch(job->agent_id);
  return *std::move(job);
}

namespace {
const std::string& DueJobsSql() {
  static const std::string sql = "SELECT " + JobColumns() +
                                 " FROM jobs WHERE status = 'CREATED' AND not_before_ms <= ? AND "
                                 "deps_waiting = 0 ORDER BY not_before_ms, id LIMIT ?";
  return sql;
}
}  // namespace

Expected<int> PromoteDue(WriteContext& ctx, WallTime now) {
  std::vector<Job> due;
  {
    Query q(ctx.db(), DueJobsSql());
    q.Bind(1, Millis(now)).Bind(2, kTimeBatch);
    while (q.Step())
      due.push_back(ReadJob(q));
  }
  int promoted = 0;
  for (Job& job : due) {
    // Another agent's job became due since the batch was declared: the next call takes it.
    if (!ctx.Locked(job.agent_id)) continue;
    const EventType type = Advance(job, protocol::JobEvent::kPromote);
    job.updated_at = now;
    // Queued "when notBefore was reached", so the order does not depend on timer lag.
    SaveJob(ctx.db(), job, OptMillis(job.not_before).value_or(Millis(now)));
    ctx.Emit(MakeJobEvent(type, job, now));
    ctx.Touch(job.agent_id);
    ++promoted;
  }
  return promoted;
}

Expected<std::optional<Dispatched>> DispatchNext(WriteContext& ctx, const std::string& id,
                                                 WallTime now, int lease_seconds) {
  using Value = std::optional<Dispatched>;
  if (!ctx.Locked(id)) return Fail(NotLocked(id));
  // The agent with its running jobs, and the head of its queue in dispatch order: read ahead
  // with the batch's other operations (ops/batch_reads.hpp), or here, two statements in one round
  // trip on PostgreSQL. The rule only looks at the jobs ahead of the one it picks, and the head
  // is usually the one; when it is not, the queue is read in growing prefixes of 8, 64, ...
  // (whole rows: the picked one needs no second lookup).
  std::optional<AgentForDispatch> agent;
  if (ctx.reads() != nullptr) agent = ctx.reads()->TakeAgent(id);
  if (!agent) agent = ReadAgentForDispatch(ctx.db(), id);
  if (!agent) return Fail(Errc::kNotFound, "agent " + id + " not found");
  if (agent->revoked) return Fail(Errc::kForbidden, "agent " + id + " is revoked");
  const protocol::AgentCapacity& capacity = agent->capacity;
  const std::vector<protocol::RunningJob>& running = agent->running;
  if (capacity.max_parallel <= 0 ||
      running.size() >= static_cast<std::size_t>(capacity.max_parallel)) {
    return Value{};
  }
  static const std::string kQueueSql = "SELECT " + JobColumns() +
                                       ", queued_at_ms FROM jobs WHERE agent_id = ? AND status = "
                                       "'QUEUED' ORDER BY priority DESC, queued_at_ms ASC, id ASC "
                                       "LIMIT ?";
  const auto candidate = [](const Job& row, std::int64_t queued_at_ms) {
    return protocol::DispatchCandidate{row.id,
                                       row.type,
                                       row.priority,
                                       queued_at_ms,
                                       protocol::LocksFor(row.type, row.server_id, row.instance_id),
                                       row.exclusive};
  };
  std::optional<Job> job;
  for (int prefix = 1;; prefix *= 8) {
    std::vector<Job> rows;
    std::vector<protocol::DispatchCandidate> queued;
    if (prefix == 1) {
      if (agent->head) {
        queued.push_back(candidate(*agent->head, agent->head_queued_at_ms));
        rows.push_back(std::move(*agent->head));
      }
    } else {
      Query q(ctx.db(), kQueueSql);
      q.Bind(1, id).Bind(2, prefix);
      while (q.Step()) {
        Job row = ReadJob(q);
        queued.push_back(candidate(row, q.Int64(kJobColumnCount)));
        rows.push_back(std::move(row));
      }
    }
    if (auto index = protocol::PickNext(queued, running, capacity)) {
      job = std::move(rows[*index]);
      break;
    }
    if (queued.size() < static_cast<std::size_t>(prefix)) break;
  }
  if (!job) return Value{};

  Dispatched dispatched;
  Run& run = dispatched.run;
  run.id = ctx.NextId();
  run.job_id = job->id;
  run.attempt = job->attempts + 1;
  run.status = RunStatus::kRunning;
  run.started_at = now;
  {
    Query q(ctx.db(),
            "INSERT INTO runs (id, job_id, agent_id, attempt, status, started_at_ms, "
            "lease_expires_ms) VALUES (?1, ?2, ?3, ?4, 'RUNNING', ?5, ?6)");
    q.Bind(1, run.id)
        .Bind(2, run.job_id)
        .Bind(3, id)
        .Bind(4, run.attempt)
        .Bind(5, Millis(now))
        .Bind(6, Millis(now + std::chrono::seconds(lease_seconds)));
    q.Defer();
  }
  const EventType type = Advance(*job, protocol::JobEvent::kDispatch);
  job->attempts = run.attempt;
  job->current_run_id = run.id;
  job->cancel_requested = false;
  job->last_error.reset();
  job->result_json.reset();
  job->updated_at = now;
  SaveJob(ctx.db(), *job);
  ctx.Emit(MakeJobEvent(type, *job, now));
  ctx.Touch(id);

  protocol::JobExecution& execution = dispatched.execution;
  execution.job_id = job->id;
  execution.run_id = run.id;
  execution.attempt = run.attempt;
  execution.type = job->type;
  execution.instance_id = job->instance_id;
  execution.server_id = job->server_id;
  execution.payload_json = job->payload_json;
  execution.timeout_seconds = job->timeout_seconds;
  const protocol::JobTypeInfo* info = protocol::FindJobType(job->type);
  execution.cancellable = info == nullptr || info->cancellable;
  execution.lease_seconds = lease_seconds;
  execution.created_at = job->created_at;
  return Value(std::move(dispatched));
}

// ---- reads ----

Expected<protocol::JobDetail> GetJob(sql::Connection& db, std::string_view job_id) {
  auto job = LoadJob(db, job_id);
  if (!job) return Fail(Errc::kNotFound, "job " + std::string(job_id) + " not found");
  protocol::JobDetail detail;
  detail.job = *std::move(job);
  FillDependencies(db, detail.job);
  FillSchedules(db, detail.job);
  detail.runs = LoadRuns(db, job_id);
  return detail;
}

protocol::JobList ListJobs(sql::Connection& db, const JobFilter& filter, int limit,
                           const std::optional<std::string>& after_id) {
  const int page = std::clamp(limit, 1, kMaxListLimit);
  // Only the filters that are set appear in the SQL, so the database can use an index for them;
  // the few distinct texts each get a cached statement.
  std::string sql = "SELECT " + JobColumns() + " FROM jobs WHERE 1 = 1";
  std::vector<std::string> values;
  auto add = [&](const char* column, const std::optional<std::string>& value) {
    if (!value) return;
    sql += std::string(" AND ") + column + " = ?" + std::to_string(values.size() + 1);
    values.push_back(*value);
  };
  add("agent_id", filter.agent_id);
  if (filter.status) add("status", std::string(protocol::ToString(*filter.status)));
  add("type", filter.type);
  add("instance_id", filter.instance_id);
  add("batch_id", filter.batch_id);
  if (filter.rollout_id) {
    // Through the rollout's hosts (their primary key), not an index on jobs (decision 0003).
    sql += " AND id IN (SELECT job_id FROM rollout_hosts WHERE rollout_id = ?" +
           std::to_string(values.size() + 1) + ")";
    values.push_back(*filter.rollout_id);
  }
  if (filter.schedule_id) {
    sql += " AND id IN (SELECT job_id FROM job_schedules WHERE schedule_id = ?" +
           std::to_string(values.size() + 1) + ")";
    values.push_back(*filter.schedule_id);
  }
  if (after_id) {
    sql += " AND id < ?" + std::to_string(values.size() + 1);
    values.push_back(*after_id);
  }
  sql += " ORDER BY id DESC LIMIT ?" + std::to_string(values.size() + 1);
  Query q(db, sql);
  int index = 1;
  for (const std::string& value : values)
    q.Bind(index++, value);
  q.Bind(index, page + 1);
  protocol::JobList list;
  while (q.Step())
    list.jobs.push_back(ReadJob(q));
  if (list.jobs.size() > static_cast<std::size_t>(page)) {
    list.jobs.pop_back();
    list.next_cursor = EncodeCursor(list.jobs.back().id);
  }
  FillDependencies(db, list.jobs);
  FillSchedules(db, list.jobs);
  return list;
}

std::vector<JobCount> CountJobs(sql::Connection& db) {
  std::vector<JobCount> counts;
  Query q(db, "SELECT type, status, COUNT(*) FROM jobs GROUP BY type, status");
  while (q.Step()) {
    auto status = protocol::JobStatusFromString(q.Text(1));
    if (!status) sql::Corrupt("job status " + q.Text(1));
    counts.push_back({q.Text(0), *status, q.Int64(2)});
  }
  std::sort(counts.begin(), counts.end(), [](const JobCount& a, const JobCount& b) {
    return std::tie(a.type, a.status) < std::tie(b.type, b.status);
  });
  return counts;
}

std::optional<WallTime> NextWakeTime(sql::Connection& db) {
  std::optional<std::int64_t> earliest;
  auto consider = [&](std::string_view sql) {
    Query q(db, sql);
    if (q.Step() && !q.IsNull(0)) {
      earliest = earliest ? std::min(*earliest, q.Int64(0)) : q.Int64(0);
    }
  };
  consider("SELECT MIN(lease_expires_ms) FROM runs WHERE status = 'RUNNING'");
  consider("SELECT MIN(not_before_ms) FROM jobs WHERE status = 'CREATED' AND deps_waiting = 0");
  return OptWall(earliest);
}

std::optional<std::string> JobAgent(sql::Connection& db, std::string_view job_id) {
  Query q(db, "SELECT agent_id FROM jobs WHERE id = ?");
  q.Bind(1, job_id);
  if (!q.Step()) return std::nullopt;
  return q.Text(0);
}

std::vector<std::string> AgentsWithDueJobs(sql::Connection& db, WallTime now) {
  std::vector<std::string> agents;
  Query q(db, DueJobsSql());
  q.Bind(1, Millis(now)).Bind(2, kTimeBatch);
  while (q.Step())
    agents.push_back(q.Text(1));
  return agents;
}

// ---- helpers ----

std::string DeriveFingerprint(const CreateJobsCommand& command) {
  std::string text = command.batch ? "batch;" : "single;";
  auto add = [&text](std::string_view field) {
    text += std::to_string(field.size());
    text += ':';
    text += field;
  };
  auto add_opt = [&](const std::optional<std::string>& field) {
    field ? add(*field) : void(text += '-');
  };
  for (const JobSpec& spec : command.jobs) {
    add(spec.agent_id);
    add(spec.type);
    add_opt(spec.instance_id);
    add_opt(spec.server_id);
    add(spec.payload_json);
    for (int number : {spec.priority, static_cast<int>(spec.exclusive), spec.max_attempts,
                       spec.retry_backoff_seconds, spec.timeout_seconds}) {
      add(std::to_string(number));
    }
    add(spec.not_before ? std::to_string(Millis(*spec.not_before)) : "-");
    add(std::to_string(spec.depends_on.size()));
    for (const std::string& dependency : spec.depends_on)
      add(dependency);
  }
  return "sha256:" + Sha256Hex(text);
}

std::string EncodeCursor(std::string_view id) {
  return "c" + HexEncode(id);
}

std::optional<std::string> DecodeCursor(std::string_view cursor) {
  if (cursor.size() < 3 || cursor[0] != 'c') return std::nullopt;
  return HexDecode(cursor.substr(1));
}

}  // namespace orb::store::ops
