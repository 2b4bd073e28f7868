#include "store/ops/rows.hpp"

#include <array>
#include <utility>

#include "protocol/codec.hpp"
#include "protocol/rollout_codec.hpp"
#include "protocol/schedules.hpp"

namespace orb::store::ops {

using protocol::Event;
using protocol::Job;
using protocol::JobStatus;
using protocol::Run;
using protocol::RunError;
using protocol::RunStatus;
using sql::Corrupt;

std::int64_t Millis(WallTime time) {
  return ToUnixMillis(time);
}
WallTime Wall(std::int64_t millis) {
  return FromUnixMillis(millis);
}
std::optional<WallTime> OptWall(const std::optional<std::int64_t>& millis) {
  if (!millis) return std::nullopt;
  return Wall(*millis);
}
std::optional<std::int64_t> OptMillis(const std::optional<WallTime>& time) {
  if (!time) return std::nullopt;
  return Millis(*time);
}

protocol::Labels ParseLabels(const std::string& text) {
  auto labels = protocol::FromJson<protocol::Labels>(text);
  if (!labels) Corrupt("labels: " + labels.error().message);
  return *std::move(labels);
}

protocol::Labels AgentLabels(const std::string& given_json, const std::string& declared_json) {
  protocol::Labels labels = ParseLabels(given_json);
  for (auto& [key, value] : ParseLabels(declared_json))
    labels[key] = std::move(value);
  return labels;
}

std::optional<RunError> ParseRunError(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  auto error = protocol::FromJson<RunError>(*text);
  if (!error) Corrupt("run error: " + error.error().message);
  return *std::move(error);
}

std::optional<std::string> CountsJson(const std::optional<protocol::RolloutCounts>& counts) {
  if (!counts) return std::nullopt;
  return protocol::ToJson(*counts);
}

std::optional<std::string> RunErrorJson(const std::optional<RunError>& error) {
  if (!error) return std::nullopt;
  return protocol::ToJson(*error);
}

std::string JoinTypes(const std::vector<std::string>& types) {
  std::string joined;
  for (const auto& type : types) {
    if (!joined.empty()) joined += ',';
    joined += type;
  }
  return joined;
}

std::vector<std::string> SplitTypes(const std::string& joined) {
  std::vector<std::string> types;
  std::size_t start = 0;
  while (start < joined.size()) {
    std::size_t end = joined.find(',', start);
    if (end == std::string::npos) end = joined.size();
    if (end > start) types.push_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return types;
}

namespace {

JobStatus ParseJobStatus(const std::string& text) {
  auto status = protocol::JobStatusFromString(text);
  if (!status) Corrupt("job status " + text);
  return *status;
}

RunStatus ParseRunStatus(const std::string& text) {
  auto status = protocol::RunStatusFromString(text);
  if (!status) Corrupt("run status " + text);
  return *status;
}

template <std::size_t N>
std::string Prefixed(const std::array<std::string_view, N>& columns, std::string_view prefix) {
  std::string text;
  for (const std::string_view column : columns) {
    if (!text.empty()) text += ", ";
    text += prefix;
    text += column;
  }
  return text;
}

constexpr std::array<std::string_view, kJobColumnCount> kJobColumns{"id",
                                                                    "agent_id",
                                                                    "type",
                                                                    "instance_id",
                                                                    "server_id",
                                                                    "payload_json",
                                                                    "status",
                                                                    "priority",
                                                                    "exclusive",
                                                                    "max_attempts",
                                                                    "retry_backoff_seconds",
                                                                    "timeout_seconds",
                                                                    "not_before_ms",
                                                                    "idempotency_key",
                                                                    "batch_id",
                                                                    "attempts",
                                                                    "cancel_requested",
                                                                    "current_run_id",
                                                                    "last_error_json",
                                                                    "result_json",
                                                                    "created_at_ms",
                                                                    "updated_at_ms",
                                                                    "rollout_id"};

constexpr std::array<std::string_view, kRunColumnCount> kRunColumns{"id",
                                                                    "job_id",
                                                                    "attempt",
                                                                    "status",
                                                                    "started_at_ms",
                                                                    "finished_at_ms",
                                                                    "percent",
                                                                    "message",
                                                                    "result_json",
                                                                    "error_json",
                                                                    "agent_id",
                                                                    "acked_update_seq",
                                                                    "acked_log_seq",
                                                                    "log_lines",
                                                                    "log_bytes",
                                                                    "logs_dropped"};

}  // namespace

// ---- jobs ----

std::string JobColumns(std::string_view prefix) {
  return Prefixed(kJobColumns, prefix);
}

Job ReadJob(const Query& q, int first) {
  const int f = first;
  Job job;
  job.id = q.Text(f + 0);
  job.agent_id = q.Text(f + 1);
  job.type = q.Text(f + 2);
  job.instance_id = q.OptText(f + 3);
  job.server_id = q.OptText(f + 4);
  job.payload_json = q.Text(f + 5);
  job.status = ParseJobStatus(q.Text(f + 6));
  job.priority = q.Int(f + 7);
  job.exclusive = q.Bool(f + 8);
  job.max_attempts = q.Int(f + 9);
  job.retry_backoff_seconds = q.Int(f + 10);
  job.timeout_seconds = q.Int(f + 11);
  job.not_before = OptWall(q.OptInt64(f + 12));
  job.idempotency_key = q.OptText(f + 13);
  job.batch_id = q.OptText(f + 14);
  job.attempts = q.Int(f + 15);
  job.cancel_requested = q.Bool(f + 16);
  job.current_run_id = q.OptText(f + 17);
  job.last_error = ParseRunError(q.OptText(f + 18));
  job.result_json = q.OptText(f + 19);
  job.created_at = Wall(q.Int64(f + 20));
  job.updated_at = Wall(q.Int64(f + 21));
  job.rollout_id = q.OptText(f + 22);
  return job;
}

std::optional<Job> LoadJob(Connection& db, std::string_view job_id) {
  static const std::string sql = "SELECT " + JobColumns() + " FROM jobs WHERE id = ?";
  Query q(db, sql);
  q.Bind(1, job_id);
  if (!q.Step()) return std::nullopt;
  return ReadJob(q);
}

void SaveJob(Connection& db, const Job& job, std::optional<std::int64_t> queued_at) {
  Query q(db,
          "UPDATE jobs SET status = ?1, not_before_ms = ?2, attempts = ?3, cancel_requested = ?4, "
          "current_run_id = ?5, last_error_json = ?6, result_json = ?7, updated_at_ms = ?8, "
          "queued_at_ms = COALESCE(?9, queued_at_ms) WHERE id = ?10");
  q.Bind(1, protocol::ToString(job.status))
      .Bind(2, OptMillis(job.not_before))
      .Bind(3, job.attempts)
      .Bind(4, job.cancel_requested)
      .Bind(5, job.current_run_id)
      .Bind(6, RunErrorJson(job.last_error))
      .Bind(7, job.result_json)
      .Bind(8, Millis(job.updated_at))
      .Bind(9, queued_at)
      .Bind(10, job.id);
  q.Defer();
}

// ---- runs ----

std::string RunColumns(std::string_view prefix) {
  return Prefixed(kRunColumns, prefix);
}

RunRow ReadRun(const Query& q, int first) {
  const int f = first;
  RunRow row;
  row.run.id = q.Text(f + 0);
  row.run.job_id = q.Text(f + 1);
  row.run.attempt = q.Int(f + 2);
  row.run.status = ParseRunStatus(q.Text(f + 3));
  row.run.started_at = Wall(q.Int64(f + 4));
  row.run.finished_at = OptWall(q.OptInt64(f + 5));
  if (!q.IsNull(f + 6)) row.run.percent = q.Int(f + 6);
  row.run.message = q.OptText(f + 7);
  row.run.result_json = q.OptText(f + 8);
  row.run.error = ParseRunError(q.OptText(f + 9));
  row.agent_id = q.Text(f + 10);
  row.acked_update_seq = q.Int64(f + 11);
  row.acked_log_seq = q.Int64(f + 12);
  row.log_lines = q.Int64(f + 13);
  row.log_bytes = q.Int64(f + 14);
  row.run.logs_dropped = q.Int64(f + 15);
  return row;
}

std::vector<Run> LoadRuns(Connection& db, std::string_view job_id) {
  static const std::string sql =
      "SELECT " + RunColumns() + " FROM runs WHERE job_id = ? ORDER BY attempt";
  Query q(db, sql);
  q.Bind(1, job_id);
  std::vector<Run> runs;
  while (q.Step())
    runs.push_back(ReadRun(q).run);
  return runs;
}

std::string RunAndJobColumns() {
  return RunColumns("r.") + ", " + JobColumns("j.") + ", j.has_dependents";
}

RunAndJob ReadRunAndJob(const Query& q) {
  return RunAndJob{ReadRun(q), ReadJob(q, kRunColumnCount),
                   q.Bool(kRunColumnCount + kJobColumnCount)};
}

std::optional<RunAndJob> LoadRunAndJob(Connection& db, std::string_view run_id) {
  static const std::string sql =
      "SELECT " + RunAndJobColumns() + " FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.id = ?";
  Query q(db, sql);
  q.Bind(1, run_id);
  if (!q.Step()) return std::nullopt;
  return ReadRunAndJob(q);
}

void SaveRunFinal(Connection& db, const RunRow& row) {
  Query q(db,
          "UPDATE runs SET status = ?1, finished_at_ms = ?2, result_json = ?3, error_json = ?4, "
          "percent = ?5, message = ?6, acked_update_seq = ?7, acked_log_seq = ?8, "
          "log_lines = ?9, log_bytes = ?10, logs_dropped = ?11, lease_expires_ms = NULL "
          "WHERE id = ?12");
  q.Bind(1, protocol::ToString(row.run.status))
      .Bind(2, OptMillis(row.run.finished_at))
      .Bind(3, row.run.result_json)
      .Bind(4, RunErrorJson(row.run.error))
      .Bind(5, row.run.percent)
      .Bind(6, row.run.message)
      .Bind(7, row.acked_update_seq)
      .Bind(8, row.acked_log_seq)
      .Bind(9, row.log_lines)
      .Bind(10, row.log_bytes)
      .Bind(11, row.run.logs_dropped)
      .Bind(12, row.run.id);
  q.Defer();
}

// ---- events ----

std::string_view EventColumns() {
  return "seq, type, ts_ms, job_id, run_id, agent_id, instance_id, job_type, status, percent, "
         "message, attempt, error_json, rollout_id, counts_json, extra_json";
}

Event ReadEvent(const Query& q) {
  Event event;
  event.seq = q.Int64(0);
  auto type = protocol::EventTypeFromString(q.Text(1));
  if (!type) Corrupt("event type " + q.Text(1));
  event.type = *type;
  event.timestamp = Wall(q.Int64(2));
  event.job_id = q.OptText(3);
  event.run_id = q.OptText(4);
  event.agent_id = q.OptText(5);
  event.instance_id = q.OptText(6);
  event.job_type = q.OptText(7);
  event.status = q.OptText(8);
  if (!q.IsNull(9)) event.percent = q.Int(9);
  event.message = q.OptText(10);
  if (!q.IsNull(11)) event.attempt = q.Int(11);
  event.error = ParseRunError(q.OptText(12));
  event.rollout_id = q.OptText(13);
  if (auto counts = q.OptText(14)) {
    auto parsed = protocol::ParseRolloutCounts(*counts);
    if (!parsed) Corrupt("event counts " + *counts);
    event.counts = *parsed;
  }
  if (!q.IsNull(15)) protocol::ApplyEventExtra(q.Text(15), event);
  return event;
}

// ---- agents ----

std::string_view AgentColumns() {
  return "id, labels_json, declared_labels_json, revoked_at_ms, agent_version, job_types, "
         "max_parallel, last_seen_ms, health_json";
}

protocol::AgentInfo ReadAgent(const Query& q) {
  protocol::AgentInfo info;
  info.agent_id = q.Text(0);
  info.labels = AgentLabels(q.Text(1), q.Text(2));
  info.revoked = !q.IsNull(3);
  info.agent_version = q.OptText(4);
  info.job_types = SplitTypes(q.Text(5));
  info.max_parallel = q.Int(6);
  info.last_seen_at = OptWall(q.OptInt64(7));
  if (auto health = q.OptText(8)) {
    if (auto report = protocol::FromJson<protocol::AgentStatusReport>(*health)) {
      info.health = *std::move(report);
    }
  }
  return info;
}

std::optional<protocol::AgentInfo> LoadAgent(Connection& db, std::string_view agent_id) {
  static const std::string sql =
      "SELECT " + std::string(AgentColumns()) + " FROM agents WHERE id = ?";
  Query q(db, sql);
  q.Bind(1, agent_id);
  if (!q.Step()) return std::nullopt;
  protocol::AgentInfo info = ReadAgent(q);
  // A job is RUNNING exactly while its current run is (jobs_running).
  Query runs(db,
             "SELECT current_run_id FROM jobs WHERE agent_id = ? AND status = 'RUNNING' "
             "ORDER BY current_run_id");
  runs.Bind(1, agent_id);
  while (runs.Step())
    info.running_runs.push_back(runs.Text(0));
  return info;
}

// ---- tokens ----

std::string_view TokenColumns() {
  return "id, name, role, agent_id, token_hash, created_at_ms, revoked_at_ms";
}

TokenRecord ReadToken(const Query& q) {
  TokenRecord token;
  token.id = q.Text(0);
  token.name = q.Text(1);
  auto role = protocol::RoleFromString(q.Text(2));
  if (!role) Corrupt("token role " + q.Text(2));
  token.role = *role;
  token.agent_id = q.OptText(3);
  token.token_hash = q.Text(4);
  token.created_at = Wall(q.Int64(5));
  token.revoked_at = OptWall(q.OptInt64(6));
  return token;
}

void BumpTokensVersion(Connection& db) {
  Query(db, "UPDATE store_meta SET value = value + 1 WHERE key = 'tokens_version'").Defer();
}

bool InsertToken(Connection& db, const TokenRecord& token) {
  BumpTokensVersion(db);
  Query q(db,
          "INSERT INTO tokens (id, name, role, agent_id, token_hash, created_at_ms, revoked_at_ms, "
          "change_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
          "(SELECT value FROM store_meta WHERE key = 'tokens_version')) ON CONFLICT DO NOTHING");
  q.Bind(1, token.id)
      .Bind(2, token.name)
      .Bind(3, protocol::ToString(token.role))
      .Bind(4, token.agent_id)
      .Bind(5, token.token_hash)
      .Bind(6, Millis(token.created_at))
      .Bind(7, OptMillis(token.revoked_at));
  q.Run();
  return q.Changes() > 0;
}

}  // namespace orb::store::ops
