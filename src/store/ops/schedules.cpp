#include "store/ops/schedules.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "orchestration/due_fire.hpp"
#include "orchestration/fire_times.hpp"
#include "orchestration/validate.hpp"
#include "protocol/job_types.hpp"
#include "protocol/payloads/payloads.hpp"
#include "protocol/validate_job.hpp"
#include "store/ops/agents.hpp"
#include "store/ops/jobs.hpp"
#include "store/ops/rows.hpp"

namespace orb::store::ops {

using protocol::Event;
using protocol::EventType;
using protocol::Job;
using protocol::Schedule;
using protocol::ScheduleRequest;

namespace {

// Finished fires kept per schedule (ClaimFire).
constexpr int kKeptFires = 100;

constexpr std::string_view kScheduleColumns =
    "id, name, cron, time_zone, target_json, steps_json, overlap, catch_up, enabled, "
    "considered_ms, created_at_ms, updated_at_ms";

// A schedule's row: the wire schedule and its last considered instant.
struct ScheduleRow {
  Schedule schedule;
  WallTime considered{};
};

ScheduleRow ReadSchedule(const Query& q) {
  ScheduleRow row;
  Schedule& s = row.schedule;
  s.id = q.Text(0);
  s.name = q.Text(1);
  s.cron = q.Text(2);
  s.time_zone = q.Text(3);
  auto target = protocol::ParseHostTarget(q.Text(4));
  if (!target) sql::Corrupt("schedule target " + q.Text(4));
  s.target = *std::move(target);
  auto steps = protocol::ParseStepsJson(q.Text(5));
  if (!steps) sql::Corrupt("schedule steps " + q.Text(5));
  s.steps = *std::move(steps);
  s.overlap = q.Text(6);
  s.catch_up = q.Text(7);
  s.enabled = q.Bool(8);
  row.considered = Wall(q.Int64(9));
  s.created_at = Wall(q.Int64(10));
  s.updated_at = Wall(q.Int64(11));
  return row;
}

std::optional<ScheduleRow> LoadSchedule(Connection& db, std::string_view id, bool for_update) {
  const std::string sql = "SELECT " + std::string(kScheduleColumns) +
                          " FROM schedules WHERE id = ?" +
                          std::string(for_update ? db.dialect().for_update : "");
  Query q(db, sql);
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  return ReadSchedule(q);
}

std::vector<std::string> Split(const std::string& joined) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start < joined.size()) {
    std::size_t comma = joined.find(',', start);
    if (comma == std::string::npos) comma = joined.size();
    if (comma > start) parts.push_back(joined.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string joined;
  for (const std::string& part : parts) {
    if (!joined.empty()) joined += ',';
    joined += part;
  }
  return joined;
}

orchestration::ScheduleFields FieldsOf(const Schedule& s) {
  orchestration::ScheduleFields fields;
  fields.cron = s.cron;
  fields.time_zone = s.time_zone;
  fields.overlap = s.overlap;
  fields.catch_up = s.catch_up;
  fields.step_count = s.steps.size();
  return fields;
}

void FillNextFires(Schedule& s, WallTime now) {
  s.next_fires.clear();
  if (!s.enabled) return;
  auto valid = orchestration::ValidateSchedule(FieldsOf(s));
  if (!valid) return;
  s.next_fires =
      orchestration::NextFireTimes(valid->cron, valid->zone, now, protocol::kScheduleNextFires);
}

void FillLastFires(Connection& db, Schedule& s) {
  Query q(db,
          "SELECT fire_time_ms, job_count, job_ids FROM schedule_fires WHERE schedule_id = ? "
          "ORDER BY fire_time_ms DESC LIMIT ?");
  q.Bind(1, s.id).Bind(2, static_cast<int>(protocol::kScheduleLastFires));
  s.last_fires.clear();
  while (q.Step())
    s.last_fires.push_back({Wall(q.Int64(0)), q.Int(1), Split(q.Text(2))});
}

// lastFires of a list: each schedule's newest fire only, for all of them in one statement (by
// the primary key (schedule_id, fire_time_ms): one index probe per schedule).
void FillNewestFires(Connection& db, std::vector<Schedule>& schedules) {
  if (schedules.empty()) return;
  std::vector<std::string> ids;
  for (const Schedule& s : schedules)
    ids.push_back(s.id);
  Query q(db,
          "SELECT f.schedule_id, f.fire_time_ms, f.job_count, f.job_ids FROM schedule_fires f "
          "WHERE " +
              db.dialect().in_list("f.schedule_id", 1) +
              " AND f.fire_time_ms = (SELECT MAX(n.fire_time_ms) FROM schedule_fires n "
              "WHERE n.schedule_id = f.schedule_id)");
  q.BindList(1, ids);
  std::map<std::string, protocol::ScheduleFire> newest;
  while (q.Step())
    newest[q.Text(0)] = {Wall(q.Int64(1)), q.Int(2), Split(q.Text(3))};
  for (Schedule& s : schedules) {
    s.last_fires.clear();
    if (auto it = newest.find(s.id); it != newest.end()) s.last_fires.push_back(it->second);
  }
}

Event ScheduleEvent(EventType type, const Schedule& s, WallTime now) {
  Event event;
  event.type = type;
  event.timestamp = now;
  event.schedule_id = s.id;
  event.message = s.name;
  return event;
}

void SaveSchedule(Connection& db, const Schedule& s, WallTime considered) {
  Query q(db,
          "UPDATE schedules SET name = ?1, cron = ?2, time_zone = ?3, target_json = ?4, "
          "steps_json = ?5, overlap = ?6, catch_up = ?7, enabled = ?8, considered_ms = ?9, "
          "updated_at_ms = ?10 WHERE id = ?11");
  q.Bind(1, s.name)
      .Bind(2, s.cron)
      .Bind(3, s.time_zone)
      .Bind(4, protocol::ToJson(s.target))
      .Bind(5, protocol::StepsJson(s.steps))
      .Bind(6, s.overlap)
      .Bind(7, s.catch_up)
      .Bind(8, s.enabled)
      .Bind(9, Millis(considered))
      .Bind(10, Millis(s.updated_at))
      .Bind(11, s.id);
  q.Defer();
}

bool IsLiveAgent(Connection& db, const std::string& agent_id) {
  Query q(db, "SELECT 1 FROM agents WHERE id = ? AND revoked_at_ms IS NULL");
  q.Bind(1, agent_id);
  return q.Step();
}

JobSpec StepSpec(const protocol::JobTemplate& step, const std::string& agent_id) {
  JobSpec spec;
  spec.agent_id = agent_id;
  spec.type = step.type;
  spec.instance_id = step.instance_id;
  spec.server_id = step.server_id;
  spec.payload_json = step.payload_json;
  spec.priority = step.priority.value_or(0);
  spec.exclusive = step.exclusive.value_or(false);
  spec.max_attempts = step.max_attempts.value_or(protocol::DefaultMaxAttempts(step.type));
  spec.retry_backoff_seconds = step.retry_backoff_seconds.value_or(10);
  spec.timeout_seconds = step.timeout_seconds.value_or(protocol::DefaultTimeoutSeconds(step.type));
  return spec;
}

bool IsFinal(const std::string& status) {
  return status == "COMPLETED" || status == "FAILED" || status == "CANCELLED";
}

// Claims (schedule, fire_time) and stores the hosts as pending. False when it was claimed before.
bool ClaimFire(WriteContext& ctx, const Schedule& s, WallTime fire_time,
               const std::vector<std::string>& hosts, WallTime now) {
  Query q(ctx.db(),
          "INSERT INTO schedule_fires (schedule_id, fire_time_ms, fired_at_ms, pending_agents) "
          "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (schedule_id, fire_time_ms) DO NOTHING");
  q.Bind(1, s.id).Bind(2, Millis(fire_time)).Bind(3, Millis(now)).Bind(4, Join(hosts));
  q.Run();
  if (q.Changes() == 0) return false;
  // Only the newest kKeptFires finished fires are kept (lastFires shows 10): an every-second
  // schedule would otherwise add 86,400 rows a day. A forgotten fire time cannot fire again: the
  // timer never fires at or before the schedule's last considered instant, and a fire by hand
  // takes the current time.
  Query prune(ctx.db(),
              "DELETE FROM schedule_fires WHERE schedule_id = ?1 AND pending_agents = '' AND "
              "fire_time_ms < (SELECT fire_time_ms FROM schedule_fires WHERE schedule_id = ?1 "
              "ORDER BY fire_time_ms DESC LIMIT 1 OFFSET ?2)");
  prune.Bind(1, s.id).Bind(2, kKeptFires - 1);
  prune.Defer();
  return true;
}

Event FiredEvent(const std::string& schedule_id, WallTime fire_time, int job_count,
                 std::vector<std::string> job_ids, WallTime now) {
  Event event;
  event.type = EventType::kScheduleFired;
  event.timestamp = now;
  event.schedule_id = schedule_id;
  event.fire_time = fire_time;
  event.message = std::to_string(job_count) + " jobs";
  event.job_ids = std::move(job_ids);
  return event;
}

}  // namespace

Status ValidateScheduleDefinition(const Schedule& schedule) {
  std::vector<FieldProblem> problems;
  Errc code = Errc::kInvalidRequest;
  bool schedule_problem = false;
  auto valid = orchestration::ValidateSchedule(FieldsOf(schedule));
  if (!valid) {
    if (valid.error().code != Errc::kInvalidRequest) return Fail(valid.error());
    schedule_problem = true;
    if (valid.error().details.empty()) {
      problems.push_back({"cron", valid.error().message});
    } else {
      problems = valid.error().details;
    }
  }
  if (!schedule.target.agent_ids.empty() && schedule.target.selector) {
    schedule_problem = true;
    problems.push_back({"target.agentIds", "must not be given together with selector"});
  }
  for (std::size_t i = 0; i < schedule.steps.size(); ++i) {
    Status step =
        protocol::ValidateCreateJob(protocol::ToCreateJobRequest(schedule.steps[i], "host"));
    if (step) continue;
    const std::string prefix = "steps[" + std::to_string(i) + "]";
    if (!schedule_problem && code == Errc::kInvalidRequest) code = step.error().code;
    if (step.error().details.empty()) problems.push_back({prefix, step.error().message});
    for (const FieldProblem& problem : step.error().details)
      problems.push_back({prefix + "." + problem.field, problem.problem});
  }
  if (problems.empty()) return Ok();
  if (schedule_problem) code = Errc::kInvalidRequest;
  return Fail(protocol::ProblemsError(code, std::move(problems)));
}

Expected<Schedule> CreateSchedule(WriteContext& ctx, const ScheduleRequest& request, WallTime now) {
  Schedule s;
  s.name = request.name.value_or("");
  s.cron = request.cron.value_or("");
  s.time_zone = request.time_zone.value_or(std::string(orchestration::kDefaultTimeZone));
  if (request.target) s.target = *request.target;
  if (request.steps) s.steps = *request.steps;
  s.overlap = request.overlap.value_or("skip");
  s.catch_up = request.catch_up.value_or("none");
  s.enabled = request.enabled.value_or(true);
  if (Status valid = ValidateScheduleDefinition(s); !valid) return Fail(valid.error());
  s.id = ctx.NextId();
  s.created_at = now;
  s.updated_at = now;
  Query q(ctx.db(), "INSERT INTO schedules (" + std::string(kScheduleColumns) +
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  q.Bind(1, s.id)
      .Bind(2, s.name)
      .Bind(3, s.cron)
      .Bind(4, s.time_zone)
      .Bind(5, protocol::ToJson(s.target))
      .Bind(6, protocol::StepsJson(s.steps))
      .Bind(7, s.overlap)
      .Bind(8, s.catch_up)
      .Bind(9, s.enabled)
      .Bind(10, Millis(now))
      .Bind(11, Millis(now))
      .Bind(12, Millis(now));
  q.Defer();
  ctx.Emit(ScheduleEvent(EventType::kScheduleCreated, s, now));
  FillNextFires(s, now);
  return s;
}

Expected<Schedule> UpdateSchedule(WriteContext& ctx, const std::string& schedule_id,
                                  const ScheduleRequest& patch, WallTime now) {
  auto row = LoadSchedule(ctx.db(), schedule_id, true);
  if (!row) return Fail(Errc::kNotFound, "schedule " + schedule_id + " not found");
  Schedule s = row->schedule;
  if (patch.name) s.name = *patch.name;
  if (patch.cron) s.cron = *patch.cron;
  if (patch.time_zone) s.time_zone = *patch.time_zone;
  if (patch.target) s.target = *patch.target;
  if (patch.steps) s.steps = *patch.steps;
  if (patch.overlap) s.overlap = *patch.overlap;
  if (patch.catch_up) s.catch_up = *patch.catch_up;
  if (patch.enabled) s.enabled = *patch.enabled;
  if (Status valid = ValidateScheduleDefinition(s); !valid) return Fail(valid.error());
  // A new cron, zone or an enabling starts the schedule afresh: fires before `now` are neither due
  // nor missed (DecideDueFire's `last`).
  const bool restart = s.cron != row->schedule.cron || s.time_zone != row->schedule.time_zone ||
                       s.enabled != row->schedule.enabled;
  s.updated_at = now;
  SaveSchedule(ctx.db(), s, restart ? std::max(now, row->considered) : row->considered);
  ctx.Emit(ScheduleEvent(EventType::kScheduleUpdated, s, now));
  FillNextFires(s, now);
  FillLastFires(ctx.db(), s);
  return s;
}

Expected<Unit> DeleteSchedule(WriteContext& ctx, const std::string& schedule_id, WallTime now) {
  auto row = LoadSchedule(ctx.db(), schedule_id, true);
  if (!row) return Fail(Errc::kNotFound, "schedule " + schedule_id + " not found");
  for (const char* sql :
       {"DELETE FROM schedules WHERE id = ?", "DELETE FROM schedule_fires WHERE schedule_id = ?",
        "DELETE FROM schedule_hosts WHERE schedule_id = ?"}) {
    Query q(ctx.db(), sql);
    q.Bind(1, schedule_id);
    q.Defer();
  }
  ctx.Emit(ScheduleEvent(EventType::kScheduleDeleted, row->schedule, now));
  return Unit{};
}

Expected<std::optional<FireBegun>> BeginFire(WriteContext& ctx, const std::string& schedule_id,
                                             WallTime fire_time, WallTime now, bool due_only,
                                             int* skipped, const std::vector<LiveAgent>& live) {
  auto row = LoadSchedule(ctx.db(), schedule_id, true);
  if (!row) {
    if (due_only) return std::optional<FireBegun>();
    return Fail(Errc::kNotFound, "schedule " + schedule_id + " not found");
  }
  const Schedule& s = row->schedule;
  if (due_only) {
    if (!s.enabled) return std::optional<FireBegun>();
    auto valid = orchestration::ValidateSchedule(FieldsOf(s));
    if (!valid) return std::optional<FireBegun>();
    // The decision, taken with this transaction's view of the last considered instant (the row
    // is locked on PostgreSQL; SQLite has one writer): two replicas never both see a fire due.
    const orchestration::DueFire due = orchestration::DecideDueFire(
        valid->cron, valid->zone, row->considered, valid->catch_up, now);
    WallTime considered = row->considered;
    if (due.skipped_through) {
      considered = std::max(considered, *due.skipped_through);
      if (skipped != nullptr) ++*skipped;
    }
    if (due.fire) considered = std::max(considered, *due.fire);
    if (considered != row->considered) {
      Query q(ctx.db(), "UPDATE schedules SET considered_ms = ?1 WHERE id = ?2");
      q.Bind(1, Millis(considered)).Bind(2, s.id);
      q.Defer();
    }
    if (!due.fire) return std::optional<FireBegun>();
    fire_time = *due.fire;
  }
  FireBegun begun;
  begun.result.schedule_id = s.id;
  begun.result.fire_time = fire_time;
  std::vector<std::string> hosts = ResolveHosts(s.target, live);
  if (!ClaimFire(ctx, s, fire_time, hosts, now)) {
    begun.result.existing = true;
    return std::optional<FireBegun>(std::move(begun));
  }
  if (hosts.empty()) {
    // A fire that finds no host is recorded with no jobs.
    ctx.Emit(FiredEvent(s.id, fire_time, 0, {}, now));
  }
  begun.hosts = std::move(hosts);
  return std::optional<FireBegun>(std::move(begun));
}

Expected<std::vector<Job>> ContinueFire(WriteContext& ctx, const std::string& schedule_id,
                                        WallTime fire_time, const std::vector<std::string>& hosts,
                                        WallTime now) {
  std::vector<Job> created;
  std::vector<std::string> pending;
  int job_count = 0;
  std::vector<std::string> job_ids;
  {
    Query q(ctx.db(),
            "SELECT pending_agents, job_count, job_ids FROM schedule_fires WHERE "
            "schedule_id = ?1 AND fire_time_ms = ?2" +
                std::string(ctx.db().dialect().for_update));
    q.Bind(1, schedule_id).Bind(2, Millis(fire_time));
    if (!q.Step()) return created;  // the schedule was deleted: the fire stops
    pending = Split(q.Text(0));
    job_count = q.Int(1);
    job_ids = Split(q.Text(2));
  }
  auto row = LoadSchedule(ctx.db(), schedule_id, false);
  if (!row) return created;
  const Schedule& s = row->schedule;
  const bool queue = s.overlap == "queue";
  std::set<std::string> todo;
  for (const std::string& host : hosts) {
    if (std::find(pending.begin(), pending.end(), host) != pending.end() && ctx.Locked(host)) {
      todo.insert(host);
    }
  }
  if (todo.empty()) return created;
  for (const std::string& host : pending) {
    if (todo.count(host) == 0 || !IsLiveAgent(ctx.db(), host)) continue;
    // The host's previous chain: its last job, and whether that has ended.
    std::optional<std::string> previous;
    {
      Query q(ctx.db(),
              "SELECT h.last_job_id, j.status FROM schedule_hosts h LEFT JOIN jobs j ON "
              "j.id = h.last_job_id WHERE h.schedule_id = ?1 AND h.agent_id = ?2");
      q.Bind(1, schedule_id).Bind(2, host);
      if (q.Step() && !q.IsNull(1) && !IsFinal(q.Text(1))) previous = q.Text(0);
    }
    if (previous && !queue) continue;  // overlap "skip"
    std::optional<std::string> before = previous;
    for (const protocol::JobTemplate& step : s.steps) {
      CreateJobsCommand command;
      JobSpec spec = StepSpec(step, host);
      if (before) spec.depends_on.push_back(*before);
      // The first step of a queued chain waits for any end of the previous chain.
      spec.depends_on_any_end = before && before == previous;
      command.jobs.push_back(std::move(spec));
      auto jobs = CreateJobs(ctx, command, "", now);
      if (!jobs) return Fail(jobs.error());
      Job job = std::move(jobs->jobs.front());
      job.schedule_id = schedule_id;
      job.fire_time = fire_time;
      Query mark(
          ctx.db(),
          "INSERT INTO job_schedules (job_id, schedule_id, fire_time_ms) VALUES (?1, ?2, ?3)");
      mark.Bind(1, job.id).Bind(2, schedule_id).Bind(3, Millis(fire_time));
      mark.Defer();
      before = job.id;
      ++job_count;
      if (job_ids.size() < protocol::kScheduleFireJobIds) job_ids.push_back(job.id);
      created.push_back(std::move(job));
    }
    if (before && before != previous) {
      Query q(
          ctx.db(),
          "INSERT INTO schedule_hosts (schedule_id, agent_id, last_job_id) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (schedule_id, agent_id) DO UPDATE SET last_job_id = excluded.last_job_id");
      q.Bind(1, schedule_id).Bind(2, host).Bind(3, *before);
      q.Defer();
    }
  }
  std::vector<std::string> remaining;
  for (const std::string& host : pending) {
    if (todo.count(host) == 0) remaining.push_back(host);
  }
  Query q(ctx.db(),
          "UPDATE schedule_fires SET pending_agents = ?1, job_count = ?2, job_ids = ?3 WHERE "
          "schedule_id = ?4 AND fire_time_ms = ?5");
  q.Bind(1, Join(remaining))
      .Bind(2, job_count)
      .Bind(3, Join(job_ids))
      .Bind(4, schedule_id)
      .Bind(5, Millis(fire_time));
  q.Defer();
  if (remaining.empty()) ctx.Emit(FiredEvent(schedule_id, fire_time, job_count, job_ids, now));
  return created;
}

void FillSchedules(Connection& db, std::vector<Job>& jobs) {
  if (jobs.empty()) return;
  std::vector<std::string> ids;
  for (const Job& job : jobs)
    ids.push_back(job.id);
  Query q(db, "SELECT job_id, schedule_id, fire_time_ms FROM job_schedules WHERE " +
                  db.dialect().in_list("job_id", 1));
  q.BindList(1, ids);
  std::map<std::string, std::pair<std::string, WallTime>> found;
  while (q.Step())
    found.emplace(q.Text(0), std::make_pair(q.Text(1), Wall(q.Int64(2))));
  if (found.empty()) return;
  for (Job& job : jobs) {
    auto it = found.find(job.id);
    if (it == found.end()) continue;
    job.schedule_id = it->second.first;
    job.fire_time = it->second.second;
  }
}

void FillSchedules(Connection& db, Job& job) {
  std::vector<Job> one{std::move(job)};
  FillSchedules(db, one);
  job = std::move(one.front());
}

Expected<Schedule> GetSchedule(Connection& db, std::string_view schedule_id, WallTime now) {
  auto row = LoadSchedule(db, schedule_id, false);
  if (!row) return Fail(Errc::kNotFound, "schedule " + std::string(schedule_id) + " not found");
  Schedule s = std::move(row->schedule);
  FillNextFires(s, now);
  FillLastFires(db, s);
  return s;
}

protocol::ScheduleList ListSchedules(Connection& db, int limit,
                                     const std::optional<std::string>& after_id, WallTime now) {
  const int page = std::clamp(limit, 1, kMaxListLimit);
  std::string sql = "SELECT " + std::string(kScheduleColumns) + " FROM schedules";
  if (after_id) sql += " WHERE id > ?2";
  sql += " ORDER BY id LIMIT ?1";
  Query q(db, sql);
  q.Bind(1, page + 1);
  if (after_id) q.Bind(2, *after_id);
  protocol::ScheduleList list;
  while (q.Step())
    list.schedules.push_back(ReadSchedule(q).schedule);
  if (static_cast<int>(list.schedules.size()) > page) {
    list.schedules.resize(page);
    list.next_cursor = EncodeCursor(list.schedules.back().id);
  }
  for (Schedule& s : list.schedules)
    FillNextFires(s, now);
  FillNewestFires(db, list.schedules);
  return list;
}

std::vector<ScheduleClock> EnabledSchedules(Connection& db) {
  Query q(db,
          "SELECT id, cron, time_zone, catch_up, considered_ms FROM schedules WHERE enabled = 1 "
          "ORDER BY id");
  std::vector<ScheduleClock> schedules;
  while (q.Step())
    schedules.push_back({q.Text(0), q.Text(1), q.Text(2), q.Text(3), Wall(q.Int64(4))});
  return schedules;
}

std::vector<PendingFire> PendingFires(Connection& db) {
  Query q(db,
          "SELECT schedule_id, fire_time_ms, pending_agents FROM schedule_fires WHERE "
          "pending_agents <> '' ORDER BY fired_at_ms");
  std::vector<PendingFire> fires;
  while (q.Step())
    fires.push_back({q.Text(0), Wall(q.Int64(1)), Split(q.Text(2))});
  return fires;
}

}  // namespace orb::store::ops
