#include "store/ops/rollouts.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "orchestration/rollout.hpp"
#include "orchestration/validate.hpp"
#include "protocol/job_types.hpp"
#include "protocol/rollout_codec.hpp"
#include "store/ops/agents.hpp"
#include "store/ops/jobs.hpp"
#include "store/ops/rows.hpp"

namespace orb::store::ops {

using orchestration::HostState;
using orchestration::RolloutStatus;
using protocol::Event;
using protocol::EventType;
using protocol::JobStatus;
using protocol::Rollout;

namespace {

constexpr std::string_view kRolloutColumns =
    "id, name, status, target_json, job_json, policy_json, host_order, phase, counts_json, "
    "cancel_running, wake_ms, created_at_ms, updated_at_ms, settled_completed, settled_failed, "
    "settled_cancelled, settled_skipped, abort_reason";

template <class T>
T ParseColumn(Expected<T> parsed, const std::string& what) {
  if (!parsed) sql::Corrupt("rollout " + what + ": " + parsed.error().message);
  return *std::move(parsed);
}

struct RolloutRow {
  Rollout rollout;
  std::optional<std::int64_t> wake_ms;
  // The hosts final and counted (rollout_hosts.outcome set): only the four final counts.
  orchestration::RolloutCounts settled;
};

RolloutRow ReadRolloutRow(const Query& q) {
  RolloutRow row;
  Rollout& r = row.rollout;
  r.id = q.Text(0);
  r.name = q.Text(1);
  r.status = q.Text(2);
  r.target = ParseColumn(protocol::ParseHostTarget(q.Text(3)), "target");
  r.job = ParseColumn(protocol::ParseRolloutJob(q.Text(4)), "job");
  r.policy = ParseColumn(protocol::ParseRolloutPolicy(q.Text(5)), "policy");
  r.order = q.Text(6);
  r.phase = q.Int(7);
  r.counts = ParseColumn(protocol::ParseRolloutCounts(q.Text(8)), "counts");
  r.cancel_running = q.Bool(9);
  row.wake_ms = q.OptInt64(10);
  r.created_at = Wall(q.Int64(11));
  r.updated_at = Wall(q.Int64(12));
  row.settled.completed = q.Int64(13);
  row.settled.failed = q.Int64(14);
  row.settled.cancelled = q.Int64(15);
  row.settled.skipped = q.Int64(16);
  r.abort_reason = q.OptText(17);
  return row;
}

std::optional<RolloutRow> LoadRollout(Connection& db, std::string_view id, bool for_update) {
  const std::string sql = "SELECT " + std::string(kRolloutColumns) + " FROM rollouts WHERE id = ?" +
                          (for_update ? std::string(db.dialect().for_update) : std::string());
  Query q(db, sql);
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  return ReadRolloutRow(q);
}

Error NotFound(std::string_view id) {
  return MakeError(Errc::kNotFound, "rollout " + std::string(id) + " not found");
}

RolloutStatus StatusOf(const Rollout& rollout) {
  auto status = orchestration::RolloutStatusFromString(rollout.status);
  if (!status) sql::Corrupt("rollout status " + rollout.status);
  return *status;
}

orchestration::RolloutPolicy ToPolicy(const protocol::RolloutPolicySpec& spec) {
  orchestration::RolloutPolicy policy;
  policy.max_in_flight = {spec.max_in_flight, spec.max_in_flight_percent};
  for (const auto& phase : spec.phases)
    policy.phases.push_back({phase.percent, phase.start_at});
  if (spec.abort)
    policy.abort = orchestration::AbortPolicy{spec.abort->failed_percent, spec.abort->min_finished};
  policy.host_timeout_seconds = spec.host_timeout_seconds;
  policy.max_per_minute = spec.max_per_minute;
  return policy;
}

protocol::RolloutCounts ToCounts(const orchestration::RolloutCounts& c) {
  return {c.total,     c.pending, c.waiting,   c.queued, c.running,
          c.completed, c.failed,  c.cancelled, c.skipped};
}

Event MakeRolloutEvent(EventType type, const Rollout& rollout, WallTime now) {
  Event event;
  event.type = type;
  event.timestamp = now;
  event.rollout_id = rollout.id;
  event.status = rollout.status;
  event.message = rollout.name;
  event.counts = rollout.counts;
  return event;
}

// What one AdvanceRollout does, decided from the hosts and the time.
struct Plan {
  orchestration::RolloutDecision decision;
  // The hosts the decision saw; their states are updated as the plan is applied.
  orchestration::RolloutWindow window;
  std::vector<std::size_t> skip;    // timed out or unenrolled: cancel the job if any, skip
  std::vector<std::size_t> cancel;  // abort: cancel the job (queued, waiting; running ones too
                                    // with cancelRunning)
  std::vector<std::size_t> start;   // create their job
  std::optional<RolloutStatus> new_status;
  bool more = false;  // more to do than one call's bound
  // The whole rollout's counts, from the window's states as they are now.
  orchestration::RolloutCounts Counts() const {
    return orchestration::WholeCounts(window, orchestration::CountHosts(window.open));
  }
  std::vector<std::string> Agents(const std::vector<HostRow>& hosts) const {
    std::set<std::string> agents;
    for (const auto* list : {&skip, &cancel, &start})
      for (std::size_t i : *list)
        agents.insert(hosts[i].agent_id);
    return {agents.begin(), agents.end()};
  }
};

Plan MakePlan(const RolloutRow& row, const AdvanceHosts& read, WallTime now) {
  const Rollout& rollout = row.rollout;
  const std::vector<HostRow>& hosts = read.listed;
  Plan plan;
  plan.window.total = rollout.counts.total;
  plan.window.settled = row.settled;
  plan.window.in_flight = read.in_flight;
  plan.window.recent_starts = read.recent_starts;
  for (const HostRow& host : hosts) {
    plan.window.positions.push_back(host.position);
    plan.window.open.push_back(ToHost(host));
  }
  const std::int64_t settled =
      row.settled.completed + row.settled.failed + row.settled.cancelled + row.settled.skipped;
  plan.window.unlisted_pending = std::max<std::int64_t>(
      0, plan.window.total - settled - static_cast<std::int64_t>(hosts.size()) -
             read.in_flight.Total());
  std::vector<orchestration::RolloutHost>& states = plan.window.open;
  const RolloutStatus status = StatusOf(rollout);
  plan.decision = orchestration::DecideRollout(ToPolicy(rollout.policy), plan.window, status, now);
  const auto& d = plan.decision;
  std::size_t budget = kRolloutBatch;
  const auto take = [&](const std::vector<std::size_t>& from, std::vector<std::size_t>& to) {
    for (std::size_t i : from) {
      if (budget == 0) {
        plan.more = true;
        return;
      }
      to.push_back(i);
      --budget;
    }
  };
  take(d.unenrolled, plan.skip);
  take(d.timed_out, plan.skip);
  if (d.abort) {
    plan.new_status = RolloutStatus::kAborted;
    take(d.cancel_on_abort, plan.cancel);
    // The waiting and queued hosts only counted are cancelled by the next calls.
    if (read.in_flight.waiting + read.in_flight.queued > 0) plan.more = true;
  } else if (status == RolloutStatus::kAborted) {
    // The rest of an abort: the jobs that have not started (and with cancelRunning the running
    // ones not asked to stop yet), a bounded number per call; the read listed one more than
    // a call takes of each, so `more` is set by `take` when there are more.
    std::vector<std::size_t> left;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      const HostState state = states[i].state;
      const bool unstarted = state == HostState::kWaiting || state == HostState::kQueued;
      const bool running =
          state == HostState::kRunning && rollout.cancel_running && !hosts[i].cancel_asked;
      if (unstarted || running) left.push_back(i);
    }
    take(left, plan.cancel);
  } else {
    if (d.complete) plan.new_status = RolloutStatus::kCompleted;
    take(d.start, plan.start);
  }
  // Pending hosts skipped (unenrolled) leave the window; the next call reads the ones after them.
  if (!plan.skip.empty() && plan.window.unlisted_pending > 0) plan.more = true;
  return plan;
}

// The plan of an advance, with the hosts it read. When it aborts, the waiting and queued hosts
// it only counted are read (the first ones) and the plan made again, so that the abort cancels
// them at once, within one call's bound.
struct Planned {
  AdvanceHosts read;
  Plan plan;
};

Planned PlanFor(Connection& db, const RolloutRow& row, WallTime now) {
  Planned planned{LoadAdvanceHosts(db, row.rollout, StatusOf(row.rollout), now, kRolloutBatch + 1),
                  {}};
  AdvanceHosts& read = planned.read;
  planned.plan = MakePlan(row, read, now);
  if (planned.plan.decision.abort && read.in_flight.waiting + read.in_flight.queued > 0) {
    std::vector<HostRow> unstarted;
    ReadHosts(db, HostRead::kUnstarted, row.rollout.id, kRolloutBatch + 1, unstarted);
    Uncount(read.in_flight, unstarted);
    read.listed.insert(read.listed.end(), std::make_move_iterator(unstarted.begin()),
                       std::make_move_iterator(unstarted.end()));
    std::sort(read.listed.begin(), read.listed.end(),
              [](const HostRow& a, const HostRow& b) { return a.position < b.position; });
    planned.plan = MakePlan(row, read, now);
  }
  return planned;
}

// Cancels the job of host `row` if it is not final (a running one is asked to stop). A job of a
// type that cannot be cancelled runs on; the host is given up all the same.
Status CancelHostJob(WriteContext& ctx, const HostRow& row, WallTime now) {
  if (!row.job_id || !row.job_status || protocol::IsFinal(*row.job_status)) return Ok();
  auto cancelled = CancelJob(ctx, *row.job_id, now);
  if (!cancelled && cancelled.error().code != Errc::kNotCancellable &&
      cancelled.error().code != Errc::kInvalidState) {
    return Fail(cancelled.error());
  }
  return Ok();
}

// The job a host of `rollout` gets: the template with the type's defaults.
JobSpec HostJob(const Rollout& rollout, const std::string& agent_id) {
  const protocol::JobTemplate& job = rollout.job;
  JobSpec spec;
  spec.agent_id = agent_id;
  spec.type = job.type;
  spec.instance_id = job.instance_id;
  spec.server_id = job.server_id;
  spec.payload_json = job.payload_json;
  spec.priority = job.priority.value_or(0);
  spec.exclusive = job.exclusive.value_or(false);
  spec.max_attempts = job.max_attempts.value_or(protocol::DefaultMaxAttempts(job.type));
  spec.retry_backoff_seconds = job.retry_backoff_seconds.value_or(10);
  spec.timeout_seconds = job.timeout_seconds.value_or(protocol::DefaultTimeoutSeconds(job.type));
  spec.rollout_id = rollout.id;
  return spec;
}

void SaveSettled(Connection& db, const std::string& id,
                 const orchestration::RolloutCounts& settled) {
  Query q(db,
          "UPDATE rollouts SET settled_completed = ?1, settled_failed = ?2, settled_cancelled = "
          "?3, settled_skipped = ?4 WHERE id = ?5");
  q.Bind(1, settled.completed)
      .Bind(2, settled.failed)
      .Bind(3, settled.cancelled)
      .Bind(4, settled.skipped)
      .Bind(5, id);
  q.Defer();
}

void SaveRollout(Connection& db, const Rollout& rollout, std::optional<WallTime> wake) {
  Query q(db,
          "UPDATE rollouts SET status = ?1, phase = ?2, counts_json = ?3, cancel_running = ?4, "
          "wake_ms = ?5, updated_at_ms = ?6, abort_reason = ?8 WHERE id = ?7");
  q.Bind(1, rollout.status)
      .Bind(2, rollout.phase)
      .Bind(3, protocol::ToJson(rollout.counts))
      .Bind(4, rollout.cancel_running)
      .Bind(5, OptMillis(wake))
      .Bind(6, Millis(rollout.updated_at))
      .Bind(7, rollout.id)
      .Bind(8, rollout.abort_reason);
  q.Defer();
}

// The agents `target` names now: enrolled (not revoked) ones, by id. invalid_request naming the
// field when an agentIds entry is not one, or when nothing matches.
Expected<std::vector<std::string>> ResolveTarget(Connection& db,
                                                 const protocol::HostTarget& target) {
  const std::vector<LiveAgent> live = LiveAgents(db);
  if (target.selector) {
    std::vector<std::string> hosts = ResolveHosts(target, live);
    if (hosts.empty()) {
      return Fail(
          InvalidField("target.selector", "matches no enrolled agent; nothing to roll out"));
    }
    return hosts;
  }
  std::vector<std::string> hosts;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < target.agent_ids.size(); ++i) {
    const std::string& id = target.agent_ids[i];
    const std::string field = "target.agentIds[" + std::to_string(i) + "]";
    if (!IsLive(live, id)) {
      return Fail(InvalidField(field, "agent " + id + " is not enrolled"));
    }
    if (seen.insert(id).second) hosts.push_back(id);
  }
  std::sort(hosts.begin(), hosts.end());
  if (hosts.empty()) return Fail(InvalidField("target", "matches no enrolled agent"));
  return hosts;
}

std::optional<Expected<CreatedRollout>> FindIdempotentRollout(Connection& db,
                                                              const std::string& key,
                                                              const std::string& fingerprint) {
  Query q(db, "SELECT id, fingerprint FROM rollouts WHERE idempotency_key = ?");
  q.Bind(1, key);
  if (!q.Step()) return std::nullopt;
  if (q.Text(1) != fingerprint) {
    return Expected<CreatedRollout>(Fail(
        Errc::kIdempotencyConflict, "idempotencyKey " + key + " was used for a different request"));
  }
  const std::string id = q.Text(0);
  auto row = LoadRollout(db, id, false);
  if (!row) return Expected<CreatedRollout>(Fail(NotFound(id)));
  return Expected<CreatedRollout>(CreatedRollout{std::move(row->rollout), true});
}

// Moves a RUNNING or PAUSED rollout to `to` (checked by `allowed`), with its event.
Expected<Rollout> ChangeStatus(WriteContext& ctx, const std::string& id, WallTime now,
                               std::initializer_list<RolloutStatus> allowed, RolloutStatus to,
                               EventType type, std::string_view verb, bool cancel_running = false) {
  auto row = LoadRollout(ctx.db(), id, true);
  if (!row) return Fail(NotFound(id));
  Rollout& rollout = row->rollout;
  const RolloutStatus status = StatusOf(rollout);
  // Aborted without cancelRunning, and now asked to stop the running ones too: the abort stands
  // (with its reason) and gains it; the advances that follow ask the running jobs to stop.
  const bool adds_cancel_running = to == RolloutStatus::kAborted && cancel_running &&
                                   status == RolloutStatus::kAborted && !rollout.cancel_running;
  if (!adds_cancel_running && std::find(allowed.begin(), allowed.end(), status) == allowed.end()) {
    return Fail(Errc::kInvalidState, "rollout " + id + " is " + rollout.status + "; cannot " +
                                         std::string(verb) + " it");
  }
  rollout.status = std::string(orchestration::ToString(to));
  rollout.cancel_running = cancel_running;
  if (to == RolloutStatus::kAborted && !adds_cancel_running) {
    rollout.abort_reason = "an operator aborted it";
  }
  rollout.updated_at = now;
  // Advance at once: a resume starts hosts, an abort cancels jobs.
  SaveRollout(ctx.db(), rollout, now);
  ctx.Emit(MakeRolloutEvent(type, rollout, now));
  return rollout;
}

}  // namespace

// ---- writes ----

Expected<CreatedRollout> CreateRollout(WriteContext& ctx, const CreateRolloutCommand& command,
                                       const std::string& fingerprint, WallTime now) {
  const protocol::CreateRolloutRequest& request = command.request;
  if (auto valid = orchestration::ValidateRolloutPolicy(ToPolicy(request.policy)); !valid) {
    return Fail(valid.error());
  }
  if (request.idempotency_key) {
    if (auto known = FindIdempotentRollout(ctx.db(), *request.idempotency_key, fingerprint)) {
      return *std::move(known);
    }
  }
  auto hosts = ResolveTarget(ctx.db(), request.target);
  if (!hosts) return Fail(hosts.error());
  if (request.order == "random") {
    // Fisher-Yates with the store's randomness (StoreDeps::unit_random).
    for (std::size_t i = hosts->size(); i > 1; --i) {
      const auto j =
          std::min(static_cast<std::size_t>(ctx.Random() * static_cast<double>(i)), i - 1);
      std::swap((*hosts)[i - 1], (*hosts)[j]);
    }
  }
  Rollout rollout;
  rollout.id = ctx.NextId();
  rollout.name = request.name;
  rollout.status = std::string(orchestration::ToString(RolloutStatus::kRunning));
  rollout.created_at = now;
  rollout.updated_at = now;
  rollout.target = request.target;
  rollout.job = request.job;
  rollout.policy = request.policy;
  rollout.order = request.order;
  rollout.counts.total = static_cast<std::int64_t>(hosts->size());
  rollout.counts.pending = rollout.counts.total;
  {
    // The key with the row: a concurrent request with the same key waits for this commit, then
    // finds this rollout.
    Query q(ctx.db(),
            "INSERT INTO rollouts (id, name, status, target_json, job_json, policy_json, "
            "host_order, phase, counts_json, cancel_running, wake_ms, idempotency_key, "
            "fingerprint, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, "
            "?8, 0, ?9, ?10, ?11, ?12, ?12) ON CONFLICT DO NOTHING");
    q.Bind(1, rollout.id)
        .Bind(2, rollout.name)
        .Bind(3, rollout.status)
        .Bind(4, protocol::ToJson(rollout.target))
        .Bind(5, protocol::ToJson(rollout.job))
        .Bind(6, protocol::ToJson(rollout.policy))
        .Bind(7, rollout.order)
        .Bind(8, protocol::ToJson(rollout.counts))
        .Bind(9, Millis(now))
        .Bind(10, request.idempotency_key)
        .Bind(11, request.idempotency_key ? std::optional<std::string>(fingerprint) : std::nullopt)
        .Bind(12, Millis(now));
    q.Run();
    if (q.Changes() == 0) {
      if (request.idempotency_key) {
        if (auto known = FindIdempotentRollout(ctx.db(), *request.idempotency_key, fingerprint)) {
          return *std::move(known);
        }
      }
      return Fail(Errc::kStore, "store: rollout insert conflict", true);
    }
  }
  for (std::size_t i = 0; i < hosts->size(); ++i) {
    Query q(ctx.db(),
            "INSERT INTO rollout_hosts (rollout_id, position, agent_id) VALUES (?1, ?2, ?3)");
    q.Bind(1, rollout.id).Bind(2, static_cast<std::int64_t>(i)).Bind(3, (*hosts)[i]);
    q.Defer();
  }
  ctx.Emit(MakeRolloutEvent(EventType::kRolloutCreated, rollout, now));
  return CreatedRollout{std::move(rollout), false};
}

Expected<Rollout> PauseRollout(WriteContext& ctx, const std::string& id, WallTime now) {
  return ChangeStatus(ctx, id, now, {RolloutStatus::kRunning}, RolloutStatus::kPaused,
                      EventType::kRolloutPaused, "pause");
}

Expected<Rollout> ResumeRollout(WriteContext& ctx, const std::string& id, WallTime now) {
  return ChangeStatus(ctx, id, now, {RolloutStatus::kPaused}, RolloutStatus::kRunning,
                      EventType::kRolloutResumed, "resume");
}

Expected<Rollout> AbortRollout(WriteContext& ctx, const std::string& id, bool cancel_running,
                               WallTime now) {
  return ChangeStatus(ctx, id, now, {RolloutStatus::kRunning, RolloutStatus::kPaused},
                      RolloutStatus::kAborted, EventType::kRolloutAborted, "abort", cancel_running);
}

Expected<RolloutAdvance> AdvanceRollout(WriteContext& ctx, const std::string& id, WallTime now) {
  auto row = LoadRollout(ctx.db(), id, true);
  if (!row) return Fail(NotFound(id));
  Rollout& rollout = row->rollout;
  Planned planned = PlanFor(ctx.db(), *row, now);
  const std::vector<HostRow>& hosts = planned.read.listed;
  Plan& plan = planned.plan;
  std::vector<orchestration::RolloutHost>& states = plan.window.open;
  // Every agent whose jobs this call changes must be locked before anything is written.
  ctx.RequireLocked(plan.Agents(hosts));

  for (std::size_t i : plan.skip) {
    if (auto cancelled = CancelHostJob(ctx, hosts[i], now); !cancelled) {
      return Fail(cancelled.error());
    }
    // Final at once: settled with its skip.
    Query q(ctx.db(),
            "UPDATE rollout_hosts SET skipped = 1, outcome = 'skipped' WHERE rollout_id = ?1 AND "
            "position = ?2");
    q.Bind(1, id).Bind(2, hosts[i].position);
    q.Defer();
    states[i].state = HostState::kSkipped;
  }
  for (std::size_t i : plan.cancel) {
    if (auto cancelled = CancelHostJob(ctx, hosts[i], now); !cancelled) {
      return Fail(cancelled.error());
    }
    // A queued or waiting job is CANCELLED now; a running one stops later (its end counts), and
    // is not asked again.
    if (states[i].state != HostState::kRunning) {
      states[i].state = HostState::kCancelled;
    } else {
      Query q(ctx.db(),
              "UPDATE rollout_hosts SET cancel_asked = 1 WHERE rollout_id = ?1 AND position = ?2");
      q.Bind(1, id).Bind(2, hosts[i].position);
      q.Defer();
    }
  }
  if (!plan.start.empty()) {
    CreateJobsCommand create;
    for (std::size_t i : plan.start)
      create.jobs.push_back(HostJob(rollout, hosts[i].agent_id));
    auto created = CreateJobs(ctx, create, "", now);
    if (!created) return Fail(created.error());
    for (std::size_t k = 0; k < plan.start.size(); ++k) {
      const std::size_t i = plan.start[k];
      const protocol::Job& job = created->jobs[k];
      Query q(ctx.db(),
              "UPDATE rollout_hosts SET job_id = ?1, started_ms = ?2 WHERE rollout_id = ?3 AND "
              "position = ?4");
      q.Bind(1, job.id).Bind(2, Millis(now)).Bind(3, id).Bind(4, hosts[i].position);
      q.Defer();
      states[i].state = job.status == JobStatus::kQueued ? HostState::kQueued : HostState::kWaiting;
    }
  }

  const std::string old_status = rollout.status;
  const protocol::RolloutCounts old_counts = rollout.counts;
  const int old_phase = rollout.phase;
  if (plan.new_status) rollout.status = std::string(orchestration::ToString(*plan.new_status));
  if (plan.decision.abort) rollout.abort_reason = plan.decision.abort_reason;
  rollout.counts = ToCounts(plan.Counts());
  // Hosts that were final when read are settled: counted in the rollout's row and not read by the
  // next advance (docs/decisions/0026). Those skipped now were settled above.
  orchestration::RolloutCounts settled = row->settled;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const HostState was = ToHost(hosts[i]).state;
    if (!orchestration::IsFinal(was)) continue;
    Query q(ctx.db(),
            "UPDATE rollout_hosts SET outcome = ?1 WHERE rollout_id = ?2 AND position = ?3");
    q.Bind(1, orchestration::ToString(was)).Bind(2, id).Bind(3, hosts[i].position);
    q.Defer();
    orchestration::Count(settled, was);
  }
  settled.skipped += static_cast<std::int64_t>(plan.skip.size());  // not final when read
  if (settled != row->settled) SaveSettled(ctx.db(), id, settled);
  rollout.phase = static_cast<int>(plan.decision.phase);
  const bool changed =
      rollout.status != old_status || rollout.counts != old_counts || rollout.phase != old_phase;
  if (changed) rollout.updated_at = now;
  RolloutAdvance advance;
  advance.more = plan.more;
  const RolloutStatus status = StatusOf(rollout);
  if (plan.more) {
    advance.wake_at = now;
  } else if (status == RolloutStatus::kRunning || status == RolloutStatus::kPaused) {
    advance.wake_at = plan.decision.wake_at;
    // The decision saw the hosts started now as pending: their timeout is a wake time too.
    if (!plan.start.empty() && rollout.policy.host_timeout_seconds) {
      const WallTime timeout = now + std::chrono::seconds(*rollout.policy.host_timeout_seconds);
      if (!advance.wake_at || timeout < *advance.wake_at) advance.wake_at = timeout;
    }
  }
  if (changed || OptMillis(advance.wake_at) != row->wake_ms) {
    SaveRollout(ctx.db(), rollout, advance.wake_at);
  }
  if (rollout.status != old_status) {
    ctx.Emit(MakeRolloutEvent(status == RolloutStatus::kAborted ? EventType::kRolloutAborted
                                                                : EventType::kRolloutCompleted,
                              rollout, now));
  } else if (rollout.counts != old_counts) {
    ctx.Emit(MakeRolloutEvent(EventType::kRolloutProgress, rollout, now));
  }
  advance.rollout = std::move(rollout);
  return advance;
}

void ReopenRolloutHost(sql::Connection& db, const std::string& rollout_id,
                       const std::string& job_id) {
  std::optional<std::string> outcome;
  std::int64_t position = 0;
  {
    Query q(db,
            "SELECT position, outcome FROM rollout_hosts WHERE rollout_id = ?1 AND job_id = ?2 AND "
            "outcome IS NOT NULL AND skipped = 0");
    q.Bind(1, rollout_id).Bind(2, job_id);
    if (!q.Step()) return;
    position = q.Int64(0);
    outcome = q.Text(1);
  }
  const auto state = orchestration::HostStateFromString(*outcome);
  if (!state) sql::Corrupt("rollout host outcome " + *outcome);
  std::string column;
  switch (*state) {
    case HostState::kCompleted: column = "settled_completed"; break;
    case HostState::kFailed: column = "settled_failed"; break;
    case HostState::kCancelled: column = "settled_cancelled"; break;
    default: sql::Corrupt("rollout host outcome " + *outcome);
  }
  {
    Query q(db, "UPDATE rollout_hosts SET outcome = NULL WHERE rollout_id = ?1 AND position = ?2");
    q.Bind(1, rollout_id).Bind(2, position);
    q.Defer();
  }
  Query q(db, "UPDATE rollouts SET " + column + " = " + column + " - 1 WHERE id = ?1");
  q.Bind(1, rollout_id);
  q.Defer();
}

// ---- reads ----

Expected<std::vector<std::string>> PlanAdvance(sql::Connection& db, const std::string& id,
                                               WallTime now) {
  auto row = LoadRollout(db, id, false);
  if (!row) return Fail(NotFound(id));
  const Planned planned = PlanFor(db, *row, now);
  return planned.plan.Agents(planned.read.listed);
}

Expected<Rollout> GetRollout(sql::Connection& db, std::string_view id) {
  auto row = LoadRollout(db, id, false);
  if (!row) return Fail(NotFound(id));
  return std::move(row->rollout);
}

Expected<protocol::RolloutList> ListRollouts(sql::Connection& db, const RolloutFilter& filter,
                                             int limit, const std::optional<std::string>& cursor) {
  std::optional<std::string> after_id;
  if (cursor) {
    after_id = DecodeCursor(*cursor);
    if (!after_id) return Fail(InvalidField("cursor", "not a cursor of this list"));
  }
  if (filter.status && !orchestration::RolloutStatusFromString(*filter.status)) {
    return Fail(InvalidField("status", "must be one of RUNNING, PAUSED, COMPLETED, ABORTED"));
  }
  const int page = std::clamp(limit, 1, kMaxListLimit);
  std::string sql = "SELECT " + std::string(kRolloutColumns) + " FROM rollouts WHERE 1 = 1";
  std::vector<std::string> values;
  if (filter.status) {
    values.push_back(*filter.status);
    sql += " AND status = ?" + std::to_string(values.size());
  }
  if (after_id) {
    values.push_back(*after_id);
    sql += " AND id < ?" + std::to_string(values.size());
  }
  sql += " ORDER BY id DESC LIMIT ?" + std::to_string(values.size() + 1);
  Query q(db, sql);
  int index = 1;
  for (const std::string& value : values)
    q.Bind(index++, value);
  q.Bind(index, page + 1);
  protocol::RolloutList list;
  while (q.Step())
    list.rollouts.push_back(ReadRolloutRow(q).rollout);
  if (static_cast<int>(list.rollouts.size()) > page) {
    list.rollouts.resize(page);
    list.next_cursor = EncodeCursor(list.rollouts.back().id);
  }
  return list;
}

Expected<protocol::RolloutHostList> ListRolloutHosts(sql::Connection& db, std::string_view id,
                                                     const std::optional<std::string>& status,
                                                     int limit,
                                                     const std::optional<std::string>& cursor) {
  std::optional<HostState> wanted;
  if (status) {
    wanted = orchestration::HostStateFromString(*status);
    if (!wanted) {
      const std::string problem =
          "must be one of pending, waiting, queued, running, completed, failed, cancelled, "
          "skipped";
      return Fail(InvalidField("status", problem));
    }
  }
  int after = -1;
  if (cursor) {
    const auto decoded = DecodeCursor(*cursor);
    bool ok =
        decoded && !decoded->empty() && decoded->size() < 10 &&
        std::all_of(decoded->begin(), decoded->end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) return Fail(InvalidField("cursor", "not a cursor of this list"));
    after = std::stoi(*decoded);
  }
  if (!LoadRollout(db, id, false)) return Fail(NotFound(id));
  const int page = std::clamp(limit, 1, kMaxListLimit);
  protocol::RolloutHostList list;
  for (const HostRow& row : LoadHosts(db, id, after)) {
    const HostState state = ToHost(row).state;
    if (wanted && state != *wanted) continue;
    if (static_cast<int>(list.hosts.size()) == page) {
      // One more matches: the next page starts after the last one shown.
      list.next_cursor = EncodeCursor(std::to_string(after));
      break;
    }
    list.hosts.push_back({row.agent_id, row.job_id, std::string(orchestration::ToString(state))});
    after = row.position;
  }
  return list;
}

std::vector<std::string> RolloutsDue(sql::Connection& db, std::optional<WallTime> now) {
  std::vector<std::string> ids;
  if (now) {
    Query q(db, "SELECT id FROM rollouts WHERE wake_ms <= ?1 ORDER BY id");
    q.Bind(1, Millis(*now));
    while (q.Step())
      ids.push_back(q.Text(0));
  } else {
    Query q(db,
            "SELECT id FROM rollouts WHERE status IN ('RUNNING', 'PAUSED') OR wake_ms IS NOT NULL "
            "ORDER BY id");
    while (q.Step())
      ids.push_back(q.Text(0));
  }
  return ids;
}

}  // namespace orb::store::ops
