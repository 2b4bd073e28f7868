#include "store/ops/runs.hpp"

#include <algorithm>
#include <utility>

#include "protocol/job_retry.hpp"
#include "store/ops/batch_reads.hpp"
#include "store/ops/dependencies.hpp"
#include "store/ops/jobs.hpp"

namespace orb::store::ops {

using protocol::Event;
using protocol::EventType;
using protocol::Job;
using protocol::JobStatus;
using protocol::RunError;
using protocol::RunStatus;

Job FailRun(WriteContext& ctx, RunAndJob current, RunError error, protocol::JobEvent step,
            WallTime now) {
  RunRow& row = current.row;
  Job& job = current.job;
  row.run.status = RunStatus::kFailed;
  row.run.finished_at = now;
  row.run.error = error;
  SaveRunFinal(ctx.db(), row);

  if (job.status != JobStatus::kRunning || job.current_run_id != row.run.id) return job;
  job.last_error = error;
  job.result_json.reset();
  job.updated_at = now;
  const bool retry = error.retryable && job.attempts < job.max_attempts && !job.cancel_requested;
  // A run lost (no agent reported its end) of a job whose cancel was requested: the job will not
  // run again, as asked, so it ends CANCELLED, not FAILED (an operator's cancel is no failure, in
  // a rollout's abort rule either). A failure the agent reported stays a failure.
  const bool lost =
      step == protocol::JobEvent::kLeaseExpired || step == protocol::JobEvent::kAgentRestarted;
  if (lost && job.cancel_requested) step = protocol::JobEvent::kLostAfterCancel;

  Event failed = MakeJobEvent(Advance(job, step), job, now);
  failed.attempt = row.run.attempt;
  failed.error = error;
  failed.message = error.message;

  if (!retry) {
    SaveJob(ctx.db(), job);
    ctx.Emit(std::move(failed));
    ctx.Touch(job.agent_id);
    if (current.has_dependents) OnJobEnded(ctx, job, now);
    return job;
  }
  const auto delay =
      protocol::JobRetryDelay(job.retry_backoff_seconds, row.run.attempt, ctx.Random());
  const EventType retried_type = Advance(job, protocol::JobEvent::kAutoRetry);
  job.not_before = now + delay;
  SaveJob(ctx.db(), job);
  ctx.Emit(std::move(failed));
  Event retried = MakeJobEvent(retried_type, job, now);
  retried.message = "automatic retry " + std::to_string(job.attempts + 1) + " of " +
                    std::to_string(job.max_attempts) + " at " + FormatTimestamp(*job.not_before);
  ctx.Emit(std::move(retried));
  ctx.Touch(job.agent_id);
  return job;
}

namespace {

// Completes or cancels the RUNNING run with `final_update` and moves the job the same way.
Job EndRun(WriteContext& ctx, RunAndJob current, const protocol::FinalUpdate& final_update,
           WallTime now) {
  if (final_update.status == RunStatus::kFailed) {
    RunError error = final_update.error.value_or(
        RunError{"unknown", "the agent reported a failure without an error", {}, false});
    return FailRun(ctx, std::move(current), std::move(error), protocol::JobEvent::kFail, now);
  }
  RunRow& row = current.row;
  Job& job = current.job;
  row.run.status = final_update.status;
  row.run.finished_at = now;
  row.run.result_json = final_update.result_json;
  row.run.error = final_update.error;
  SaveRunFinal(ctx.db(), row);

  if (job.status != JobStatus::kRunning || job.current_run_id != row.run.id) return job;
  const protocol::JobEvent step = final_update.status == RunStatus::kCompleted
                                      ? protocol::JobEvent::kComplete
                                      : protocol::JobEvent::kCancelRunning;
  const EventType type = Advance(job, step);
  job.result_json = final_update.result_json;
  job.last_error = final_update.error;
  job.updated_at = now;
  SaveJob(ctx.db(), job);
  Event event = MakeJobEvent(type, job, now);
  event.attempt = row.run.attempt;
  event.error = final_update.error;
  ctx.Emit(std::move(event));
  ctx.Touch(job.agent_id);
  // Jobs without dependents (has_dependents, read with the job) cost nothing more here.
  if (current.has_dependents) OnJobEnded(ctx, job, now);
  return job;
}

const std::string& ExpiredSql() {
  static const std::string sql = "SELECT " + RunAndJobColumns() +
                                 " FROM runs r JOIN jobs j ON j.id = r.job_id "
                                 "WHERE r.status = 'RUNNING' AND r.lease_expires_ms <= ? "
                                 "ORDER BY r.lease_expires_ms LIMIT ?";
  return sql;
}

}  // namespace

Expected<protocol::UpdatesResponse> ApplyUpdates(WriteContext& ctx, const std::string& agent,
                                                 const std::string& id,
                                                 const protocol::UpdatesRequest& request,
                                                 WallTime now, int lease_seconds,
                                                 const protocol::LogCap& log_cap) {
  std::optional<RunAndJob> current;
  if (ctx.reads() != nullptr) current = ctx.reads()->TakeRun(id);
  if (!current) current = LoadRunAndJob(ctx.db(), id);
  if (!current) return Fail(Errc::kNotFound, "run " + id + " not found");
  RunRow& row = current->row;
  const Job& job = current->job;
  if (row.agent_id != agent) {
    return Fail(Errc::kForbidden, "run " + id + " belongs to another agent");
  }
  if (!ctx.Locked(agent)) {
    return Fail(Errc::kStore, "store: agent " + agent + " was not locked for this write", true);
  }

  protocol::UpdatesResponse response;
  response.acked_update_seq = row.acked_update_seq;
  response.acked_log_seq = row.acked_log_seq;

  if (row.run.status != RunStatus::kRunning) {
    // A resend of a batch that was fully applied before the run ended is answered as before.
    const bool empty = request.updates.empty() && request.logs.empty() && !request.final_update;
    const bool all_acked =
        std::all_of(request.updates.begin(), request.updates.end(),
                    [&](const auto& u) { return u.seq <= row.acked_update_seq; }) &&
        std::all_of(request.logs.begin(), request.logs.end(),
                    [&](const auto& l) { return l.seq <= row.acked_log_seq; }) &&
        (!request.final_update || request.final_update->seq <= row.acked_update_seq);
    if (empty || !all_acked) {
      return Fail(
          Errc::kRunNotActive,
          "run " + id + " is " + std::string(protocol::ToString(row.run.status)) + "; stop it");
    }
    response.cancel_requested = job.cancel_requested;
    return response;
  }

  std::vector<protocol::ProgressUpdate> updates = request.updates;
  std::stable_sort(updates.begin(), updates.end(),
                   [](const auto& a, const auto& b) { return a.seq < b.seq; });
  for (const protocol::ProgressUpdate& update : updates) {
    if (update.seq <= response.acked_update_seq) continue;
    response.acked_update_seq = update.seq;
    if (update.percent) row.run.percent = std::clamp(*update.percent, 0, 100);
    if (update.message) {
      row.run.message = update.message;
    } else if (update.step) {
      row.run.message = update.step;
    }
    Event event = MakeJobEvent(EventType::kJobProgress, job, now);
    event.timestamp = update.timestamp;
    event.run_id = id;
    event.attempt = row.run.attempt;
    event.percent =
        update.percent ? std::optional<int>(std::clamp(*update.percent, 0, 100)) : std::nullopt;
    event.message = update.message ? update.message : update.step;
    ctx.Emit(std::move(event));
  }
  // New lines in seq order, each once, so that the counters count each line once and the stored
  // lines are a prefix of the run's log: once one line did not fit, none after it is stored.
  std::vector<const protocol::LogLine*> lines;
  lines.reserve(request.logs.size());
  for (const protocol::LogLine& line : request.logs) {
    if (line.seq > row.acked_log_seq) lines.push_back(&line);
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](const auto* a, const auto* b) { return a->seq < b->seq; });
  for (const protocol::LogLine* next : lines) {
    const protocol::LogLine& line = *next;
    if (line.seq <= response.acked_log_seq) continue;  // a repeat within the batch
    response.acked_log_seq = line.seq;
    const auto bytes = static_cast<std::int64_t>(line.message.size());
    const bool fits = row.run.logs_dropped == 0 &&
                      (log_cap.max_lines <= 0 || row.log_lines < log_cap.max_lines) &&
                      (log_cap.max_bytes <= 0 || row.log_bytes + bytes <= log_cap.max_bytes);
    if (!fits) {
      ++row.run.logs_dropped;
      continue;
    }
    ++row.log_lines;
    row.log_bytes += bytes;
    Query q(ctx.db(),
            "INSERT INTO job_logs (run_id, seq, job_id, ts_ms, level, message) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING");
    q.Bind(1, id)
        .Bind(2, line.seq)
        .Bind(3, job.id)
        .Bind(4, Millis(line.timestamp))
        .Bind(5, line.level)
        .Bind(6, line.message);
    q.Defer();
  }
  const bool ends = request.final_update && request.final_update->seq > response.acked_update_seq;
  if (ends) {
    response.acked_update_seq = request.final_update->seq;
    row.acked_update_seq = response.acked_update_seq;
    row.acked_log_seq = response.acked_log_seq;
    // One write ends the run with everything this batch brought.
    response.cancel_requested =
        EndRun(ctx, *std::move(current), *request.final_update, now).cancel_requested;
    return response;
  }
  {
    Query q(ctx.db(),
            "UPDATE runs SET percent = ?1, message = ?2, acked_update_seq = ?3, "
            "acked_log_seq = ?4, lease_expires_ms = ?5, log_lines = ?6, log_bytes = ?7, "
            "logs_dropped = ?8 WHERE id = ?9");
    q.Bind(1, row.run.percent)
        .Bind(2, row.run.message)
        .Bind(3, response.acked_update_seq)
        .Bind(4, response.acked_log_seq)
        .Bind(5, Millis(now + std::chrono::seconds(lease_seconds)))
        .Bind(6, row.log_lines)
        .Bind(7, row.log_bytes)
        .Bind(8, row.run.logs_dropped)
        .Bind(9, id);
    q.Defer();
  }
  response.cancel_requested = job.cancel_requested;
  return response;
}

Expected<int> ExpireLeases(WriteContext& ctx, WallTime now) {
  std::vector<RunAndJob> expired;
  {
    Query q(ctx.db(), ExpiredSql());
    q.Bind(1, Millis(now)).Bind(2, kTimeBatch);
    while (q.Step())
      expired.push_back(ReadRunAndJob(q));
  }
  int failed = 0;
  for (RunAndJob& current : expired) {
    // A run whose lease expired since the batch was declared: the next call takes it.
    if (!ctx.Locked(current.row.agent_id)) continue;
    FailRun(ctx, std::move(current),
            RunError{std::string(ToString(Errc::kAgentLost)),
                     "no update from the agent within the lease",
                     {},
                     true},
            protocol::JobEvent::kLeaseExpired, now);
    ++failed;
  }
  return failed;
}

std::vector<std::string> AgentsWithExpiredLeases(sql::Connection& db, WallTime now) {
  std::vector<std::string> agents;
  Query q(db, ExpiredSql());
  q.Bind(1, Millis(now)).Bind(2, kTimeBatch);
  while (q.Step())
    agents.push_back(q.Text(10));  // runs.agent_id
  return agents;
}

}  // namespace orb::store::ops
