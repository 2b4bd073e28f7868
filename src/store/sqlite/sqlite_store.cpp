#include "store/sqlite/sqlite_store.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "common/hex.hpp"
#include "common/random.hpp"
#include "common/sha256.hpp"
#include "protocol/codec.hpp"
#include "protocol/dispatch.hpp"
#include "protocol/job_retry.hpp"
#include "protocol/job_types.hpp"
#include "protocol/lifecycle.hpp"
#include "store/migrations/sqlite_migrations.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace orb::store {
namespace {

using protocol::Event;
using protocol::EventType;
using protocol::Job;
using protocol::JobStatus;
using protocol::Run;
using protocol::RunError;
using protocol::RunStatus;
using sqlite::Connection;
using sqlite::Query;
using sqlite::SqliteError;

// A row that cannot be decoded is damage to the database, reported like any SQLite failure.
[[noreturn]] void Corrupt(const std::string& what) {
  throw SqliteError(11 /* SQLITE_CORRUPT */, "store: corrupt row: " + what);
}

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

// ---- JSON columns (through protocol/codec.hpp) ----

protocol::Labels ParseLabels(const std::string& text) {
  auto labels = protocol::FromJson<protocol::Labels>(text);
  if (!labels) Corrupt("labels: " + labels.error().message);
  return *std::move(labels);
}

std::optional<RunError> ParseRunError(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  auto error = protocol::FromJson<RunError>(*text);
  if (!error) Corrupt("run error: " + error.error().message);
  return *std::move(error);
}

std::optional<std::string> RunErrorJson(const std::optional<RunError>& error) {
  if (!error) return std::nullopt;
  return protocol::ToJson(*error);
}

// Job types are names of [A-Z_]: stored comma-separated, no JSON needed.
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

// The fallback request fingerprint: every field of every spec, length-prefixed so no two
// different commands give the same text.
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
  }
  return "sha256:" + Sha256Hex(text);
}

// Cursors are the hex of the last id shown: opaque to clients, stable under inserts because
// ids grow with creation time and the list is ordered by id.
std::string EncodeCursor(std::string_view id) {
  return "c" + HexEncode(id);
}

std::optional<std::string> DecodeCursor(std::string_view cursor) {
  if (cursor.size() < 3 || cursor[0] != 'c') return std::nullopt;
  return HexDecode(cursor.substr(1));
}

// ---- Rows ----

constexpr std::string_view kJobColumns =
    "id, agent_id, type, instance_id, server_id, payload_json, status, priority, exclusive, "
    "max_attempts, retry_backoff_seconds, timeout_seconds, not_before_ms, idempotency_key, "
    "batch_id, attempts, cancel_requested, current_run_id, last_error_json, result_json, "
    "created_at_ms, updated_at_ms";

constexpr int kJobColumnCount = 22;  // the first column after kJobColumns

Job ReadJob(const Query& q) {
  Job job;
  job.id = q.Text(0);
  job.agent_id = q.Text(1);
  job.type = q.Text(2);
  job.instance_id = q.OptText(3);
  job.server_id = q.OptText(4);
  job.payload_json = q.Text(5);
  job.status = ParseJobStatus(q.Text(6));
  job.priority = q.Int(7);
  job.exclusive = q.Bool(8);
  job.max_attempts = q.Int(9);
  job.retry_backoff_seconds = q.Int(10);
  job.timeout_seconds = q.Int(11);
  job.not_before = OptWall(q.OptInt64(12));
  job.idempotency_key = q.OptText(13);
  job.batch_id = q.OptText(14);
  job.attempts = q.Int(15);
  job.cancel_requested = q.Bool(16);
  job.current_run_id = q.OptText(17);
  job.last_error = ParseRunError(q.OptText(18));
  job.result_json = q.OptText(19);
  job.created_at = Wall(q.Int64(20));
  job.updated_at = Wall(q.Int64(21));
  return job;
}

const std::string& SelectJobById() {
  static const std::string sql = "SELECT " + std::string(kJobColumns) + " FROM jobs WHERE id = ?";
  return sql;
}

std::optional<Job> LoadJob(Connection& db, std::string_view job_id) {
  Query q(db, SelectJobById());
  q.Bind(1, job_id);
  if (!q.Step()) return std::nullopt;
  return ReadJob(q);
}

std::vector<Job> LoadJobs(Connection& db, std::string_view where, std::string_view value) {
  Query q(db, "SELECT " + std::string(kJobColumns) + " FROM jobs WHERE " + std::string(where) +
                  " ORDER BY id");
  q.Bind(1, value);
  std::vector<Job> jobs;
  while (q.Step())
    jobs.push_back(ReadJob(q));
  return jobs;
}

// Writes the mutable columns of `job` back; `queued_at` is set when the job becomes QUEUED.
void SaveJob(Connection& db, const Job& job, std::optional<std::int64_t> queued_at = {}) {
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
  q.Run();
}

// A run with the columns the store needs beyond protocol::Run.
struct RunRow {
  Run run;
  std::string agent_id;
  std::int64_t acked_update_seq = 0;
  std::int64_t acked_log_seq = 0;
};

constexpr std::string_view kRunColumns =
    "id, job_id, attempt, status, started_at_ms, finished_at_ms, percent, message, result_json, "
    "error_json, agent_id, acked_update_seq, acked_log_seq";

RunRow ReadRun(const Query& q) {
  RunRow row;
  row.run.id = q.Text(0);
  row.run.job_id = q.Text(1);
  row.run.attempt = q.Int(2);
  row.run.status = ParseRunStatus(q.Text(3));
  row.run.started_at = Wall(q.Int64(4));
  row.run.finished_at = OptWall(q.OptInt64(5));
  if (!q.IsNull(6)) row.run.percent = q.Int(6);
  row.run.message = q.OptText(7);
  row.run.result_json = q.OptText(8);
  row.run.error = ParseRunError(q.OptText(9));
  row.agent_id = q.Text(10);
  row.acked_update_seq = q.Int64(11);
  row.acked_log_seq = q.Int64(12);
  return row;
}

// Ends a run's row: its final status and what the batch that ended it acknowledged, in one write.
void SaveRunFinal(Connection& db, const RunRow& row) {
  Query q(db,
          "UPDATE runs SET status = ?1, finished_at_ms = ?2, result_json = ?3, error_json = ?4, "
          "percent = ?5, message = ?6, acked_update_seq = ?7, acked_log_seq = ?8, "
          "lease_expires_ms = NULL WHERE id = ?9");
  q.Bind(1, protocol::ToString(row.run.status))
      .Bind(2, OptMillis(row.run.finished_at))
      .Bind(3, row.run.result_json)
      .Bind(4, RunErrorJson(row.run.error))
      .Bind(5, row.run.percent)
      .Bind(6, row.run.message)
      .Bind(7, row.acked_update_seq)
      .Bind(8, row.acked_log_seq)
      .Bind(9, row.run.id);
  q.Run();
}

std::optional<RunRow> LoadRun(Connection& db, std::string_view run_id) {
  Query q(db, "SELECT " + std::string(kRunColumns) + " FROM runs WHERE id = ?");
  q.Bind(1, run_id);
  if (!q.Step()) return std::nullopt;
  return ReadRun(q);
}

std::vector<Run> LoadRuns(Connection& db, std::string_view job_id) {
  Query q(db,
          "SELECT " + std::string(kRunColumns) + " FROM runs WHERE job_id = ? ORDER BY attempt");
  q.Bind(1, job_id);
  std::vector<Run> runs;
  while (q.Step())
    runs.push_back(ReadRun(q).run);
  return runs;
}

// Ends a run: status, finish time, result or error; the lease is gone.
constexpr std::string_view kEventColumns =
    "seq, type, ts_ms, job_id, run_id, agent_id, instance_id, job_type, status, percent, message, "
    "attempt, error_json";

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
  return event;
}

constexpr std::string_view kAgentColumns =
    "id, labels_json, declared_labels_json, revoked_at_ms, agent_version, job_types, "
    "max_parallel, last_seen_ms";

protocol::AgentInfo ReadAgent(const Query& q) {
  protocol::AgentInfo info;
  info.agent_id = q.Text(0);
  info.labels = ParseLabels(q.Text(1));
  for (auto& [key, value] : ParseLabels(q.Text(2)))
    info.labels[key] = value;
  info.revoked = !q.IsNull(3);
  info.agent_version = q.OptText(4);
  info.job_types = SplitTypes(q.Text(5));
  info.max_parallel = q.Int(6);
  info.last_seen_at = OptWall(q.OptInt64(7));
  return info;
}

std::optional<protocol::AgentInfo> LoadAgent(Connection& db, std::string_view agent_id) {
  Query q(db, "SELECT " + std::string(kAgentColumns) + " FROM agents WHERE id = ?");
  q.Bind(1, agent_id);
  if (!q.Step()) return std::nullopt;
  protocol::AgentInfo info = ReadAgent(q);
  // A job is RUNNING exactly while its current run is (jobs_running, migration 3).
  Query runs(db,
             "SELECT current_run_id FROM jobs WHERE agent_id = ? AND status = 'RUNNING' "
             "ORDER BY current_run_id");
  runs.Bind(1, agent_id);
  while (runs.Step())
    info.running_runs.push_back(runs.Text(0));
  return info;
}

constexpr std::string_view kTokenColumns =
    "id, name, role, agent_id, token_hash, created_at_ms, revoked_at_ms";

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

void InsertToken(Connection& db, const TokenRecord& token) {
  Query q(db,
          "INSERT INTO tokens (id, name, role, agent_id, token_hash, created_at_ms, revoked_at_ms) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  q.Bind(1, token.id)
      .Bind(2, token.name)
      .Bind(3, protocol::ToString(token.role))
      .Bind(4, token.agent_id)
      .Bind(5, token.token_hash)
      .Bind(6, Millis(token.created_at))
      .Bind(7, OptMillis(token.revoked_at));
  q.Run();
}

Status CheckTokenFree(Connection& db, const TokenRecord& token) {
  Query q(db, "SELECT 1 FROM tokens WHERE id = ?1 OR token_hash = ?2");
  q.Bind(1, token.id).Bind(2, token.token_hash);
  if (q.Step()) return Fail(Errc::kAlreadyExists, "a token with this id or hash exists");
  return Ok();
}

// ---- The context of one write operation ----

class WriteContext {
 public:
  // `next_event_seq`: the writer's event counter (Impl); Emit takes from it.
  WriteContext(Connection& db, const StoreDeps& deps, std::int64_t& next_event_seq)
      : db_(db), deps_(deps), next_event_seq_(next_event_seq) {}

  Connection& db() { return db_; }
  std::string NextId() { return deps_.ids->Next(); }
  double Random() const { return deps_.unit_random ? deps_.unit_random() : RandomUnit(); }

  // Stores `event`, assigning its global seq.
  void Emit(Event event) {
    event.seq = next_event_seq_;
    Query q(db_,
            "INSERT INTO events (type, ts_ms, job_id, run_id, agent_id, instance_id, job_type, "
            "status, percent, message, attempt, error_json, seq) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    q.Bind(1, protocol::ToString(event.type))
        .Bind(2, Millis(event.timestamp))
        .Bind(3, event.job_id)
        .Bind(4, event.run_id)
        .Bind(5, event.agent_id)
        .Bind(6, event.instance_id)
        .Bind(7, event.job_type)
        .Bind(8, event.status)
        .Bind(9, event.percent)
        .Bind(10, event.message)
        .Bind(11, event.attempt)
        .Bind(12, RunErrorJson(event.error))
        .Bind(13, event.seq);
    q.Run();
    ++next_event_seq_;
    events_.push_back(std::move(event));
  }

  void Touch(const std::string& agent_id) { touched_.insert(agent_id); }

  std::vector<Event> TakeEvents() { return std::move(events_); }
  std::vector<std::string> TakeTouched() {
    return std::vector<std::string>(touched_.begin(), touched_.end());
  }

 private:
  Connection& db_;
  const StoreDeps& deps_;
  std::int64_t& next_event_seq_;
  std::vector<Event> events_;
  std::set<std::string> touched_;
};

// Moves job.status along the lifecycle table (protocol/lifecycle.hpp) and returns the §6 event
// type that announces the step. Callers check the status first (answering invalid_state to
// clients), so a missing row is a bug in the store, reported as kInternal.
EventType Advance(Job& job, protocol::JobEvent step) {
  const protocol::JobTransition* row = protocol::FindTransition(job.status, step);
  if (row == nullptr) {
    throw std::logic_error("lifecycle: cannot " + std::string(protocol::ToString(step)) + " job " +
                           job.id + " in status " + std::string(protocol::ToString(job.status)));
  }
  job.status = row->to;
  return row->published;
}

// An event about `job` in its current state.
Event MakeJobEvent(EventType type, const Job& job, WallTime now) {
  Event event;
  event.type = type;
  event.timestamp = now;
  event.job_id = job.id;
  event.run_id = job.current_run_id;
  event.agent_id = job.agent_id;
  event.instance_id = job.instance_id;
  event.job_type = job.type;
  event.status = std::string(protocol::ToString(job.status));
  if (job.attempts > 0) event.attempt = job.attempts;
  return event;
}

// Fails the RUNNING run `row` and moves its job on: an automatic retry (CREATED with backoff)
// when the error is retryable, attempts remain and no cancel was asked for, else FAILED.
// `step` is kFail, kLeaseExpired or kAgentRestarted.
// Fails the RUNNING run `row` and moves its job (automatic retry rule). Value: the job as it is now.
Job FailRun(WriteContext& ctx, RunRow row, RunError error, protocol::JobEvent step, WallTime now) {
  row.run.status = RunStatus::kFailed;
  row.run.finished_at = now;
  row.run.error = error;
  SaveRunFinal(ctx.db(), row);

  std::optional<Job> job = LoadJob(ctx.db(), row.run.job_id);
  if (!job) Corrupt("run " + row.run.id + " without its job");
  if (job->status != JobStatus::kRunning || job->current_run_id != row.run.id) return *job;
  job->last_error = error;
  job->result_json.reset();
  job->updated_at = now;
  const bool retry = error.retryable && job->attempts < job->max_attempts && !job->cancel_requested;

  Event failed = MakeJobEvent(Advance(*job, step), *job, now);
  failed.attempt = row.run.attempt;
  failed.error = error;
  failed.message = error.message;

  if (!retry) {
    SaveJob(ctx.db(), *job);
    ctx.Emit(std::move(failed));
    ctx.Touch(job->agent_id);
    return *job;
  }
  const auto delay =
      protocol::JobRetryDelay(job->retry_backoff_seconds, row.run.attempt, ctx.Random());
  const EventType retried_type = Advance(*job, protocol::JobEvent::kAutoRetry);
  job->not_before = now + delay;
  SaveJob(ctx.db(), *job);
  ctx.Emit(std::move(failed));
  Event retried = MakeJobEvent(retried_type, *job, now);
  retried.message = "automatic retry " + std::to_string(job->attempts + 1) + " of " +
                    std::to_string(job->max_attempts) + " at " + FormatTimestamp(*job->not_before);
  ctx.Emit(std::move(retried));
  ctx.Touch(job->agent_id);
  return *job;
}

// Completes or cancels the RUNNING run `row` with `final` and moves the job the same way.
Job EndRun(WriteContext& ctx, RunRow row, const protocol::FinalUpdate& final_update, WallTime now) {
  if (final_update.status == RunStatus::kFailed) {
    RunError error = final_update.error.value_or(
        RunError{"unknown", "the agent reported a failure without an error", {}, false});
    return FailRun(ctx, std::move(row), std::move(error), protocol::JobEvent::kFail, now);
  }
  row.run.status = final_update.status;
  row.run.finished_at = now;
  row.run.result_json = final_update.result_json;
  row.run.error = final_update.error;
  SaveRunFinal(ctx.db(), row);

  std::optional<Job> job = LoadJob(ctx.db(), row.run.job_id);
  if (!job) Corrupt("run " + row.run.id + " without its job");
  if (job->status != JobStatus::kRunning || job->current_run_id != row.run.id) return *job;
  const protocol::JobEvent step = final_update.status == RunStatus::kCompleted
                                      ? protocol::JobEvent::kComplete
                                      : protocol::JobEvent::kCancelRunning;
  const EventType type = Advance(*job, step);
  job->result_json = final_update.result_json;
  job->last_error = final_update.error;
  job->updated_at = now;
  SaveJob(ctx.db(), *job);
  Event event = MakeJobEvent(type, *job, now);
  event.attempt = row.run.attempt;
  event.error = final_update.error;
  ctx.Emit(std::move(event));
  ctx.Touch(job->agent_id);
  return *job;
}

// ---- Group commit ----

class PendingOp {
 public:
  virtual ~PendingOp() = default;
  // Runs the operation inside the open transaction; false when it failed (and must be undone).
  virtual bool Run(Connection& db, const StoreDeps& deps, std::int64_t& next_event_seq) = 0;
  // The agents whose queues this operation changed (after a successful Run).
  virtual const std::vector<std::string>& Touched() const = 0;
  // After the COMMIT: hands the result (or `failure`, when the batch did not commit) to the caller.
  virtual void Finish(const std::optional<Error>& failure) = 0;
};

// The highest event seq handed out so far: the newest event's, or the floor that pruning and
// migration 4 left (store_meta 'events_seq_floor') when that is higher.
std::int64_t ReadLastSeq(Connection& db) {
  Query q(db,
          "SELECT MAX(COALESCE((SELECT MAX(seq) FROM events), 0), "
          "COALESCE((SELECT value FROM store_meta WHERE key = 'events_seq_floor'), 0))");
  return q.Step() ? q.Int64(0) : 0;
}

// An agent's notify state, read with `db` (a read or the writer's transaction).
protocol::NotifyResponse ReadAgentQueue(Connection& db, std::string_view agent_id) {
  protocol::NotifyResponse state;
  {
    // Kept by triggers (migration 2): O(1), where counting the queue was O(its length).
    Query q(db, "SELECT queued_jobs FROM agents WHERE id = ?");
    q.Bind(1, agent_id);
    if (q.Step()) state.pending = q.Int(0);
  }
  Query q(db,
          "SELECT current_run_id FROM jobs WHERE agent_id = ? AND status = 'RUNNING' "
          "AND cancel_requested = 1 ORDER BY current_run_id");
  q.Bind(1, agent_id);
  while (q.Step())
    state.cancel.push_back(q.Text(0));
  return state;
}

template <class T>
class TypedOp final : public PendingOp {
 public:
  using Body = std::function<Expected<T>(WriteContext&)>;
  TypedOp(Body body, Completion<T> done) : body_(std::move(body)), done_(std::move(done)) {}

  bool Run(Connection& db, const StoreDeps& deps, std::int64_t& next_event_seq) override {
    WriteContext ctx(db, deps, next_event_seq);
    try {
      result_.emplace(body_(ctx));
      if (*result_) {
        events_ = ctx.TakeEvents();
        touched_ = ctx.TakeTouched();
      }
    } catch (const SqliteError& error) {
      result_.emplace(sqlite::ToError(error));
    } catch (const std::exception& error) {
      result_.emplace(MakeError(Errc::kInternal, std::string("store: ") + error.what()));
    }
    return static_cast<bool>(*result_);
  }

  const std::vector<std::string>& Touched() const override { return touched_; }

  void Finish(const std::optional<Error>& failure) override {
    if (failure) {
      done_(*failure);
    } else if (!result_) {
      done_(MakeError(Errc::kInternal, "store: operation did not run"));
    } else if (!*result_) {
      done_(result_->error());
    } else {
      done_(Mutation<T>{std::move(**result_), std::move(events_), std::move(touched_)});
    }
  }

 private:
  Body body_;
  Completion<T> done_;
  std::optional<Expected<T>> result_;
  std::vector<Event> events_;
  std::vector<std::string> touched_;
};

// Waits for an asynchronous call: `start(done)` starts it.
template <class T, class Start>
Expected<Mutation<T>> Await(Start&& start) {
  std::promise<Expected<Mutation<T>>> promise;
  auto future = promise.get_future();
  start([&promise](Expected<Mutation<T>> result) { promise.set_value(std::move(result)); });
  return future.get();
}

Status Migrate(Connection& db) {
  const auto migrations = SqliteMigrations();
  const int known = migrations.empty() ? 0 : migrations.back().version;
  Query(db, "BEGIN IMMEDIATE").Run();
  try {
    db.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
    int current = 0;
    {
      Query q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (q.Step()) current = q.Int(0);
    }
    if (current > known) {
      Query(db, "ROLLBACK").Run();
      return Fail(Errc::kStore, "store: the database has schema version " +
                                    std::to_string(current) + ", newer than the " +
                                    std::to_string(known) +
                                    " this fleet-cmdr knows; upgrade fleet-cmdr");
    }
    for (const Migration& migration : migrations) {
      if (migration.version <= current) continue;
      db.Exec(migration.sql);
      Query q(db, "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)");
      q.Bind(1, migration.version)
          .Bind(2, migration.name)
          .Bind(3, Millis(std::chrono::system_clock::now()));
      q.Run();
    }
    Query(db, "COMMIT").Run();
  } catch (const SqliteError&) {
    if (!db.InAutocommit()) db.Exec("ROLLBACK");
    throw;
  }
  return Ok();
}

}  // namespace

// ---- Impl: connections, the writer thread, the reader pool ----

class SqliteStore::Impl {
 public:
  // `wal_fd`: the WAL file, opened by Open; the syncer makes commits durable with it.
  Impl(std::filesystem::path file, SqliteStoreOptions options, StoreDeps deps,
       std::unique_ptr<Connection> writer, int wal_fd)
      : file_(std::move(file)),
        options_(std::move(options)),
        deps_(std::move(deps)),
        writer_db_(std::move(writer)),
        next_event_seq_(ReadLastSeq(*writer_db_) + 1),
        wal_fd_(wal_fd) {
    // Named, so that top -H and perf tell the store's threads apart.
    syncer_thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "store-sync");
      SyncerLoop();
    });
    writer_thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "store-writer");
      WriterLoop();
    });
  }

  ~Impl() {
    {
      const std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    writer_thread_.join();  // it has handed every batch to the syncer
    {
      const std::lock_guard lock(synced_mutex_);
      syncer_stopping_ = true;
    }
    synced_cv_.notify_all();
    syncer_thread_.join();
    ::close(wal_fd_);
  }

  // Runs `body` on the writer thread within the current group transaction; `done` gets the
  // result after the COMMIT, on the writer thread.
  template <class T>
  void WriteAsync(typename TypedOp<T>::Body body, Completion<T> done) {
    {
      const std::lock_guard lock(queue_mutex_);
      if (!stopping_ && !broken_.load()) {
        queue_.push_back(std::make_shared<TypedOp<T>>(std::move(body), std::move(done)));
        queue_cv_.notify_one();
        return;
      }
    }
    done(broken_.load() ? MakeError(Errc::kStore,
                                    "store: a write did not reach the disk; restart "
                                    "fleet-cmdr to recover from disk")
                        : MakeError(Errc::kUnavailable, "store: closing"));
  }

  template <class T>
  Expected<Mutation<T>> Write(typename TypedOp<T>::Body body) {
    return Await<T>([&](Completion<T> done) { WriteAsync<T>(std::move(body), std::move(done)); });
  }

  // Runs `body(connection)` in a read transaction on a pooled read-only connection.
  template <class F>
  auto Read(F&& body) -> decltype(body(std::declval<Connection&>())) {
    std::unique_ptr<Connection> db;
    try {
      db = AcquireReader();
      Query(*db, "BEGIN").Run();
      auto result = body(*db);
      Query(*db, "COMMIT").Run();
      ReleaseReader(std::move(db));
      return result;
    } catch (const SqliteError& error) {
      return sqlite::ToError(error);
    } catch (const std::exception& error) {
      return MakeError(Errc::kInternal, std::string("store: ") + error.what());
    }
    // A connection that failed mid-read is dropped (closing it ends its transaction).
  }

 private:
  std::unique_ptr<Connection> AcquireReader() {
    {
      const std::lock_guard lock(readers_mutex_);
      if (!readers_.empty()) {
        auto db = std::move(readers_.back());
        readers_.pop_back();
        return db;
      }
    }
    return std::make_unique<Connection>(file_, false, true);
  }

  void ReleaseReader(std::unique_ptr<Connection> db) {
    constexpr std::size_t kMaxIdleReaders = 8;
    const std::lock_guard lock(readers_mutex_);
    if (readers_.size() < kMaxIdleReaders) readers_.push_back(std::move(db));
  }

  void WriterLoop() {
    for (;;) {
      std::vector<std::shared_ptr<PendingOp>> batch;
      {
        std::unique_lock lock(queue_mutex_);
        queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        const std::size_t take =
            std::min(queue_.size(), static_cast<std::size_t>(std::max(1, options_.max_batch)));
        batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
      }
      RunBatch(std::move(batch));
    }
  }

  // One transaction for the whole batch; one SAVEPOINT per operation. The COMMIT does not wait
  // for the disk (the writer connection runs with synchronous=NORMAL): the batch goes to the
  // syncer, which makes it durable while this thread runs the next batch.
  void RunBatch(std::vector<std::shared_ptr<PendingOp>> batch) {
    Connection& db = *writer_db_;
    Committed committed;
    // Event seqs an operation (or the batch) took and then rolled back are handed out again, so
    // that committed seqs stay dense.
    const std::int64_t batch_seq = next_event_seq_;
    try {
      Query(db, "BEGIN IMMEDIATE").Run();
      std::set<std::string> touched;
      for (const auto& op : batch) {
        const std::int64_t op_seq = next_event_seq_;
        Query(db, "SAVEPOINT op").Run();
        const bool ok = op->Run(db, deps_, next_event_seq_);
        if (db.InAutocommit()) {
          // SQLite rolled the whole transaction back (I/O error, disk full): nothing of this
          // batch was kept, so every operation in it fails.
          throw SqliteError(10 /* SQLITE_IOERR */, "store: transaction rolled back by SQLite");
        }
        if (!ok) {
          Query(db, "ROLLBACK TO op").Run();
          next_event_seq_ = op_seq;
        }
        Query(db, "RELEASE op").Run();
        if (ok) touched.insert(op->Touched().begin(), op->Touched().end());
      }
      // What the batch left in each touched queue, read once per agent inside the transaction.
      if (deps_.on_queues_committed) {
        for (const auto& agent : touched)
          committed.queues.push_back({agent, ReadAgentQueue(db, agent)});
      }
      Query(db, "COMMIT").Run();
    } catch (const SqliteError& error) {
      committed.failure = sqlite::ToError(error);
      committed.queues.clear();
      next_event_seq_ = batch_seq;
      try {
        if (!db.InAutocommit()) db.Exec("ROLLBACK");
      } catch (const SqliteError&) {
        // The failure above is what the callers need to know; SQLite ends the transaction anyway.
      }
    }
    committed.ops = std::move(batch);
    {
      const std::lock_guard lock(synced_mutex_);
      committed_.push_back(std::move(committed));
    }
    synced_cv_.notify_one();
  }

  // Group commit's second half: one fdatasync of the WAL for every batch committed since the
  // last one, then the batches' listeners and callers, in commit order. A commit that SQLite made
  // but that did not reach the disk is not acknowledged: a failed fdatasync fails its batches
  // and every later write, since what the disk holds is no longer known (the page cache may
  // have dropped the dirty pages; retrying the fsync would report success for lost data).
  void SyncerLoop() {
    for (;;) {
      std::vector<Committed> ready;
      {
        std::unique_lock lock(synced_mutex_);
        synced_cv_.wait(lock, [this] { return syncer_stopping_ || !committed_.empty(); });
        if (committed_.empty()) return;  // stopping, nothing left
        ready.assign(std::make_move_iterator(committed_.begin()),
                     std::make_move_iterator(committed_.end()));
        committed_.clear();
      }
      const bool any_commit =
          std::any_of(ready.begin(), ready.end(), [](const Committed& c) { return !c.failure; });
      if (any_commit && !sync_failure_) {
        const int rc = options_.sync_wal ? options_.sync_wal(wal_fd_) : ::fdatasync(wal_fd_);
        if (rc != 0) {
          const int err = errno;
          sync_failure_ = MakeError(
              Errc::kStore, std::string("store: fdatasync of the WAL failed (") +
                                std::strerror(err) + "); restart fleet-cmdr to recover from disk");
          broken_.store(true);
        }
      }
      for (Committed& batch : ready) {
        if (!batch.failure && sync_failure_) batch.failure = *sync_failure_;
        if (!batch.failure && !batch.queues.empty()) {
          deps_.on_queues_committed(std::move(batch.queues));
        }
        for (const auto& op : batch.ops)
          op->Finish(batch.failure);
      }
    }
  }

  // A batch that the writer committed (or failed) and the syncer has yet to deliver.
  struct Committed {
    std::vector<std::shared_ptr<PendingOp>> ops;
    std::vector<AgentQueue> queues;
    std::optional<Error> failure;
  };

  std::filesystem::path file_;
  SqliteStoreOptions options_;
  StoreDeps deps_;
  std::unique_ptr<Connection> writer_db_;
  std::int64_t next_event_seq_;  // writer thread only: the seq of the next event

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::shared_ptr<PendingOp>> queue_;
  bool stopping_ = false;
  std::thread writer_thread_;

  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Connection>> readers_;

  // The syncer: batches committed by the writer, waiting for their fdatasync.
  int wal_fd_;
  std::mutex synced_mutex_;
  std::condition_variable synced_cv_;
  std::deque<Committed> committed_;
  bool syncer_stopping_ = false;
  std::optional<Error> sync_failure_;  // syncer thread only
  std::atomic<bool> broken_{false};    // a sync failed: no further writes are accepted
  std::thread syncer_thread_;
};

// ---- Open ----

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

Expected<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteStoreOptions& options,
                                                         StoreDeps deps) {
  if (deps.ids == nullptr) return Fail(Errc::kInternal, "store: no id generator");
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return Fail(Errc::kStore,
                "store: cannot create data dir " + options.data_dir.string() + ": " + ec.message());
  }
  const std::filesystem::path file = options.data_dir / kSqliteFileName;
  try {
    auto writer = std::make_unique<Connection>(file, true, false);
    {
      Query q(*writer, "PRAGMA journal_mode = WAL");
      if (!q.Step() || q.Text(0) != "wal") {
        return Fail(Errc::kStore, "store: cannot switch " + file.string() + " to WAL mode");
      }
    }
    if (auto migrated = Migrate(*writer); !migrated) return Fail(migrated.error());
    // From here on the syncer fdatasyncs the WAL before any write is acknowledged, so the
    // writer's COMMIT need not (docs/decisions/0003). In WAL mode NORMAL still syncs the WAL
    // before a checkpoint copies it and the database after, so the file stays consistent.
    writer->Exec("PRAGMA synchronous = NORMAL;");
    const std::string wal = file.string() + "-wal";
    const int wal_fd = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd < 0) {
      return Fail(Errc::kStore, "store: cannot open " + wal + ": " + std::strerror(errno));
    }
    auto impl = std::make_unique<Impl>(file, options, std::move(deps), std::move(writer), wal_fd);
    return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
  } catch (const SqliteError& error) {
    return Fail(sqlite::ToError(error).WithContext("opening " + file.string()));
  }
}

// ---- Tokens ----

Expected<Mutation<TokenRecord>> SqliteStore::CreateToken(TokenRecord token) {
  return impl_->Write<TokenRecord>(
      [token = std::move(token)](WriteContext& ctx) -> Expected<TokenRecord> {
        if (auto free = CheckTokenFree(ctx.db(), token); !free) return Fail(free.error());
        InsertToken(ctx.db(), token);
        return token;
      });
}

Expected<TokenRecord> SqliteStore::FindTokenByHash(std::string_view token_hash) {
  return impl_->Read([&](Connection& db) -> Expected<TokenRecord> {
    Query q(db, "SELECT " + std::string(kTokenColumns) +
                    " FROM tokens WHERE token_hash = ? AND revoked_at_ms IS NULL");
    q.Bind(1, token_hash);
    if (!q.Step()) return Fail(Errc::kNotFound, "no such token");
    return ReadToken(q);
  });
}

Expected<std::vector<TokenRecord>> SqliteStore::ListTokens() {
  return impl_->Read([&](Connection& db) -> Expected<std::vector<TokenRecord>> {
    Query q(db, "SELECT " + std::string(kTokenColumns) + " FROM tokens ORDER BY created_at_ms, id");
    std::vector<TokenRecord> tokens;
    while (q.Step())
      tokens.push_back(ReadToken(q));
    return tokens;
  });
}

Expected<Mutation<Unit>> SqliteStore::RevokeToken(std::string_view token_id, WallTime now) {
  return impl_->Write<Unit>([id = std::string(token_id), now](WriteContext& ctx) -> Expected<Unit> {
    Query q(ctx.db(),
            "UPDATE tokens SET revoked_at_ms = COALESCE(revoked_at_ms, ?1) WHERE id = ?2");
    q.Bind(1, Millis(now)).Bind(2, id);
    q.Run();
    if (ctx.db().Changes() == 0) return Fail(Errc::kNotFound, "token " + id + " not found");
    return Unit{};
  });
}

Expected<bool> SqliteStore::HasAdminToken() {
  return impl_->Read([&](Connection& db) -> Expected<bool> {
    Query q(db, "SELECT 1 FROM tokens WHERE role = 'admin' AND revoked_at_ms IS NULL LIMIT 1");
    return q.Step();
  });
}

// ---- Agents ----

Expected<Mutation<protocol::AgentInfo>> SqliteStore::EnrollAgent(std::string_view agent_id,
                                                                 const protocol::Labels& labels,
                                                                 TokenRecord token, WallTime now) {
  return impl_->Write<protocol::AgentInfo>(
      [id = std::string(agent_id), labels_json = protocol::ToJson(labels), token = std::move(token),
       now](WriteContext& ctx) mutable -> Expected<protocol::AgentInfo> {
        std::optional<bool> revoked;
        {
          Query q(ctx.db(), "SELECT revoked_at_ms IS NOT NULL FROM agents WHERE id = ?");
          q.Bind(1, id);
          if (q.Step()) revoked = q.Bool(0);
        }
        if (revoked && !*revoked) return Fail(Errc::kAlreadyExists, "agent " + id + " exists");
        token.role = protocol::Role::kAgent;
        token.agent_id = id;
        if (auto free = CheckTokenFree(ctx.db(), token); !free) return Fail(free.error());
        if (revoked) {
          Query q(ctx.db(),
                  "UPDATE agents SET labels_json = ?1, declared_labels_json = '{}', "
                  "enrolled_at_ms = ?2, revoked_at_ms = NULL WHERE id = ?3");
          q.Bind(1, labels_json).Bind(2, Millis(now)).Bind(3, id);
          q.Run();
        } else {
          Query q(ctx.db(),
                  "INSERT INTO agents (id, labels_json, enrolled_at_ms) VALUES (?1, ?2, ?3)");
          q.Bind(1, id).Bind(2, labels_json).Bind(3, Millis(now));
          q.Run();
        }
        InsertToken(ctx.db(), token);
        Event event;
        event.type = EventType::kAgentEnrolled;
        event.timestamp = now;
        event.agent_id = id;
        ctx.Emit(std::move(event));
        auto info = LoadAgent(ctx.db(), id);
        if (!info) Corrupt("agent " + id + " vanished");
        return *std::move(info);
      });
}

Expected<Mutation<Unit>> SqliteStore::RevokeAgent(std::string_view agent_id, WallTime now) {
  return impl_->Write<Unit>([id = std::string(agent_id), now](WriteContext& ctx) -> Expected<Unit> {
    Query q(ctx.db(),
            "UPDATE agents SET revoked_at_ms = COALESCE(revoked_at_ms, ?1) WHERE id = ?2");
    q.Bind(1, Millis(now)).Bind(2, id);
    q.Run();
    if (ctx.db().Changes() == 0) return Fail(Errc::kNotFound, "agent " + id + " not found");
    Query tokens(
        ctx.db(),
        "UPDATE tokens SET revoked_at_ms = COALESCE(revoked_at_ms, ?1) WHERE agent_id = ?2");
    tokens.Bind(1, Millis(now)).Bind(2, id);
    tokens.Run();
    ctx.Touch(id);
    return Unit{};
  });
}

Expected<protocol::AgentInfo> SqliteStore::GetAgent(std::string_view agent_id) {
  return impl_->Read([&](Connection& db) -> Expected<protocol::AgentInfo> {
    auto info = LoadAgent(db, agent_id);
    if (!info) return Fail(Errc::kNotFound, "agent " + std::string(agent_id) + " not found");
    return *std::move(info);
  });
}

Expected<std::vector<protocol::AgentInfo>> SqliteStore::ListAgents(const AgentFilter& filter) {
  return impl_->Read([&](Connection& db) -> Expected<std::vector<protocol::AgentInfo>> {
    std::vector<protocol::AgentInfo> agents;
    {
      Query q(db, "SELECT " + std::string(kAgentColumns) + " FROM agents ORDER BY id");
      while (q.Step()) {
        protocol::AgentInfo info = ReadAgent(q);
        if (info.revoked && !filter.include_revoked) continue;
        const bool matches =
            std::all_of(filter.labels.begin(), filter.labels.end(), [&info](const auto& pair) {
              auto it = info.labels.find(pair.first);
              return it != info.labels.end() && it->second == pair.second;
            });
        if (matches) agents.push_back(std::move(info));
      }
    }
    Query runs(db,
               "SELECT agent_id, current_run_id FROM jobs WHERE status = 'RUNNING' "
               "ORDER BY agent_id, current_run_id");
    while (runs.Step()) {
      const std::string owner = runs.Text(0);
      auto it = std::lower_bound(
          agents.begin(), agents.end(), owner,
          [](const protocol::AgentInfo& a, const std::string& id) { return a.agent_id < id; });
      if (it != agents.end() && it->agent_id == owner) it->running_runs.push_back(runs.Text(1));
    }
    return agents;
  });
}

Expected<Mutation<HelloResult>> SqliteStore::RecordHello(std::string_view agent_id,
                                                         const protocol::HelloRequest& hello,
                                                         WallTime now) {
  return impl_->Write<HelloResult>(
      [id = std::string(agent_id), hello, now](WriteContext& ctx) -> Expected<HelloResult> {
        {
          Query q(ctx.db(), "SELECT revoked_at_ms IS NOT NULL FROM agents WHERE id = ?");
          q.Bind(1, id);
          if (!q.Step()) return Fail(Errc::kNotFound, "agent " + id + " not found");
          if (q.Bool(0)) return Fail(Errc::kForbidden, "agent " + id + " is revoked");
        }
        {
          Query q(ctx.db(),
                  "UPDATE agents SET agent_version = ?1, job_types = ?2, max_parallel = ?3, "
                  "declared_labels_json = ?4, hello_at_ms = ?5, "
                  "last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?5) WHERE id = ?6");
          q.Bind(1, hello.agent_version)
              .Bind(2, JoinTypes(hello.job_types))
              .Bind(3, hello.max_parallel)
              .Bind(4, protocol::ToJson(hello.labels))
              .Bind(5, Millis(now))
              .Bind(6, id);
          q.Run();
        }
        HelloResult result;
        for (const protocol::InterruptedRun& interrupted : hello.interrupted_runs) {
          std::optional<RunRow> row = LoadRun(ctx.db(), interrupted.run_id);
          if (!row || row->agent_id != id || row->run.status != RunStatus::kRunning) continue;
          FailRun(ctx, std::move(*row),
                  RunError{std::string(ToString(Errc::kAgentRestarted)),
                           "the agent restarted while the run was in progress",
                           {},
                           true},
                  protocol::JobEvent::kAgentRestarted, now);
          result.failed_runs.push_back(interrupted.run_id);
        }
        ctx.Touch(id);
        return result;
      });
}

Status SqliteStore::TouchAgents(std::span<const AgentSeen> seen) {
  std::vector<AgentSeen> copy(seen.begin(), seen.end());
  auto written = impl_->Write<Unit>([copy = std::move(copy)](WriteContext& ctx) -> Expected<Unit> {
    for (const AgentSeen& agent : copy) {
      Query q(ctx.db(),
              "UPDATE agents SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?1) WHERE id = ?2");
      q.Bind(1, Millis(agent.seen_at)).Bind(2, agent.agent_id);
      q.Run();
    }
    return Unit{};
  });
  if (!written) return Fail(written.error());
  return Ok();
}

// ---- Jobs ----

Expected<Mutation<CreatedJobs>> SqliteStore::CreateJobs(const CreateJobsCommand& command,
                                                        WallTime now) {
  return Await<CreatedJobs>(
      [&](Completion<CreatedJobs> done) { CreateJobsAsync(command, now, std::move(done)); });
}

void SqliteStore::CreateJobsAsync(CreateJobsCommand command, WallTime now,
                                  Completion<CreatedJobs> done) {
  if (!command.batch && command.jobs.size() != 1) {
    return done(
        MakeError(Errc::kInvalidRequest, "a request without a selector creates exactly one job"));
  }
  std::string fingerprint = command.request_fingerprint;
  if (fingerprint.empty() && command.idempotency_key) fingerprint = DeriveFingerprint(command);
  impl_->WriteAsync<CreatedJobs>(
      [command = std::move(command), fingerprint = std::move(fingerprint),
       now](WriteContext& ctx) -> Expected<CreatedJobs> {
        CreatedJobs created;
        if (command.idempotency_key) {
          Query q(ctx.db(),
                  "SELECT fingerprint, job_id, batch_id FROM idempotency_keys WHERE key = ?");
          q.Bind(1, *command.idempotency_key);
          if (q.Step()) {
            if (q.Text(0) != fingerprint) {
              return Fail(Errc::kIdempotencyConflict, "idempotencyKey " + *command.idempotency_key +
                                                          " was used for a different request");
            }
            created.existing = true;
            created.batch_id = q.OptText(2);
            if (auto job_id = q.OptText(1)) {
              if (auto job = LoadJob(ctx.db(), *job_id)) created.jobs.push_back(*std::move(job));
            } else if (created.batch_id) {
              created.jobs = LoadJobs(ctx.db(), "batch_id = ?", *created.batch_id);
            }
            return created;
          }
        }
        for (const JobSpec& spec : command.jobs) {
          Query q(ctx.db(), "SELECT 1 FROM agents WHERE id = ?");
          q.Bind(1, spec.agent_id);
          if (!q.Step())
            return Fail(Errc::kNotFound, "agent " + spec.agent_id + " is not enrolled");
        }
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
          const bool queued = !(spec.not_before && *spec.not_before > now);
          std::optional<EventType> queued_event;
          if (queued) queued_event = Advance(job, protocol::JobEvent::kPromote);
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
          Query q(
              ctx.db(),
              "INSERT INTO jobs (id, agent_id, type, instance_id, server_id, payload_json, status, "
              "priority, exclusive, max_attempts, retry_backoff_seconds, timeout_seconds, "
              "not_before_ms, idempotency_key, batch_id, queued_at_ms, created_at_ms, "
              "updated_at_ms) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
              "?17)");
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
              .Bind(17, Millis(now));
          q.Run();
          Job as_created = job;
          as_created.status = JobStatus::kCreated;
          ctx.Emit(MakeJobEvent(EventType::kJobCreated, as_created, now));
          if (queued) {
            ctx.Emit(MakeJobEvent(*queued_event, job, now));
            ctx.Touch(job.agent_id);
          }
          created.jobs.push_back(std::move(job));
        }
        if (command.idempotency_key) {
          Query q(
              ctx.db(),
              "INSERT INTO idempotency_keys (key, fingerprint, job_id, batch_id, created_at_ms) "
              "VALUES (?1, ?2, ?3, ?4, ?5)");
          q.Bind(1, *command.idempotency_key)
              .Bind(2, fingerprint)
              .Bind(3,
                    command.batch ? std::nullopt : std::optional<std::string>(created.jobs[0].id))
              .Bind(4, created.batch_id)
              .Bind(5, Millis(now));
          q.Run();
        }
        return created;
      },
      std::move(done));
}

Expected<protocol::JobDetail> SqliteStore::GetJob(std::string_view job_id) {
  return impl_->Read([&](Connection& db) -> Expected<protocol::JobDetail> {
    auto job = LoadJob(db, job_id);
    if (!job) return Fail(Errc::kNotFound, "job " + std::string(job_id) + " not found");
    protocol::JobDetail detail;
    detail.job = *std::move(job);
    detail.runs = LoadRuns(db, job_id);
    return detail;
  });
}

Expected<protocol::JobList> SqliteStore::ListJobs(const JobFilter& filter, int limit,
                                                  const std::optional<std::string>& cursor) {
  std::optional<std::string> after_id;
  if (cursor) {
    after_id = DecodeCursor(*cursor);
    if (!after_id) return Fail(Errc::kInvalidRequest, "cursor: not a cursor of this list");
  }
  const int page = std::clamp(limit, 1, kMaxListLimit);
  // Only the filters that are set appear in the SQL, so SQLite can use an index for them; the
  // few distinct texts each get a cached statement.
  std::string sql = "SELECT " + std::string(kJobColumns) + " FROM jobs WHERE 1 = 1";
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
  if (after_id) {
    sql += " AND id < ?" + std::to_string(values.size() + 1);
    values.push_back(*after_id);
  }
  sql += " ORDER BY id DESC LIMIT ?" + std::to_string(values.size() + 1);
  return impl_->Read([&](Connection& db) -> Expected<protocol::JobList> {
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
    return list;
  });
}

Expected<Mutation<CancelResult>> SqliteStore::CancelJob(std::string_view job_id, WallTime now) {
  return impl_->Write<CancelResult>(
      [id = std::string(job_id), now](WriteContext& ctx) -> Expected<CancelResult> {
        std::optional<Job> job = LoadJob(ctx.db(), id);
        if (!job) return Fail(Errc::kNotFound, "job " + id + " not found");
        switch (job->status) {
          case JobStatus::kCreated:
          case JobStatus::kQueued: {
            const EventType type = Advance(*job, protocol::JobEvent::kCancelQueued);
            job->updated_at = now;
            SaveJob(ctx.db(), *job);
            ctx.Emit(MakeJobEvent(type, *job, now));
            ctx.Touch(job->agent_id);
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
      });
}

Expected<Mutation<Job>> SqliteStore::RetryJob(std::string_view job_id, WallTime now) {
  return impl_->Write<Job>([id = std::string(job_id), now](WriteContext& ctx) -> Expected<Job> {
    std::optional<Job> job = LoadJob(ctx.db(), id);
    if (!job) return Fail(Errc::kNotFound, "job " + id + " not found");
    if (job->status != JobStatus::kFailed && job->status != JobStatus::kCancelled) {
      return Fail(Errc::kInvalidState, "job " + id + " is " +
                                           std::string(protocol::ToString(job->status)) +
                                           "; only FAILED or CANCELLED jobs can be retried");
    }
    const EventType type = Advance(*job, protocol::JobEvent::kManualRetry);
    job->cancel_requested = false;
    job->not_before.reset();
    job->updated_at = now;
    SaveJob(ctx.db(), *job, Millis(now));
    ctx.Emit(MakeJobEvent(type, *job, now));
    ctx.Emit(MakeJobEvent(EventType::kJobQueued, *job, now));
    ctx.Touch(job->agent_id);
    return *std::move(job);
  });
}

// ---- Dispatch ----

Expected<Mutation<std::optional<Dispatched>>> SqliteStore::DispatchNext(std::string_view agent_id,
                                                                        WallTime now,
                                                                        int lease_seconds) {
  using Value = std::optional<Dispatched>;
  return Await<Value>([&](Completion<Value> done) {
    DispatchNextAsync(std::string(agent_id), now, lease_seconds, std::move(done));
  });
}

void SqliteStore::DispatchNextAsync(std::string agent_id, WallTime now, int lease_seconds,
                                    Completion<std::optional<Dispatched>> done) {
  using Value = std::optional<Dispatched>;
  impl_->WriteAsync<Value>(
      [id = std::move(agent_id), now, lease_seconds](WriteContext& ctx) -> Expected<Value> {
        protocol::AgentCapacity capacity;
        {
          Query q(
              ctx.db(),
              "SELECT job_types, max_parallel, revoked_at_ms IS NOT NULL FROM agents WHERE id = ?");
          q.Bind(1, id);
          if (!q.Step()) return Fail(Errc::kNotFound, "agent " + id + " not found");
          if (q.Bool(2)) return Fail(Errc::kForbidden, "agent " + id + " is revoked");
          capacity.job_types = SplitTypes(q.Text(0));
          capacity.max_parallel = q.Int(1);
        }
        std::vector<protocol::RunningJob> running;
        {
          Query q(ctx.db(),
                  "SELECT id, type, server_id, instance_id, exclusive FROM jobs "
                  "WHERE agent_id = ? AND status = 'RUNNING'");
          q.Bind(1, id);
          while (q.Step()) {
            running.push_back({q.Text(0), q.Text(1),
                               protocol::LocksFor(q.Text(1), q.OptText(2), q.OptText(3)),
                               q.Bool(4)});
          }
        }
        if (capacity.max_parallel <= 0 ||
            running.size() >= static_cast<std::size_t>(capacity.max_parallel)) {
          return Value{};
        }
        // The queue in dispatch order, read in growing prefixes: the rule only looks at the jobs
        // ahead of the one it picks, and the first job is usually the one, so a queue is read one
        // row first, then 8, 64, ... (whole rows: the picked one needs no second lookup).
        static const std::string kQueueSql =
            "SELECT " + std::string(kJobColumns) +
            ", queued_at_ms FROM jobs WHERE agent_id = ? AND status = 'QUEUED' "
            "ORDER BY priority DESC, queued_at_ms ASC, id ASC LIMIT ?";
        std::optional<Job> job;
        for (int prefix = 1;; prefix *= 8) {
          std::vector<Job> rows;
          std::vector<protocol::DispatchCandidate> queued;
          Query q(ctx.db(), kQueueSql);
          q.Bind(1, id).Bind(2, prefix);
          while (q.Step()) {
            Job row = ReadJob(q);
            queued.push_back({row.id, row.type, row.priority, q.Int64(kJobColumnCount),
                              protocol::LocksFor(row.type, row.server_id, row.instance_id),
                              row.exclusive});
            rows.push_back(std::move(row));
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
          q.Run();
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
      },
      std::move(done));
}

// ---- Updates ----

Expected<Mutation<protocol::UpdatesResponse>> SqliteStore::ApplyUpdates(
    std::string_view agent_id, std::string_view run_id, const protocol::UpdatesRequest& request,
    WallTime now, int lease_seconds) {
  return Await<protocol::UpdatesResponse>([&](Completion<protocol::UpdatesResponse> done) {
    ApplyUpdatesAsync(std::string(agent_id), std::string(run_id), request, now, lease_seconds,
                      std::move(done));
  });
}

void SqliteStore::ApplyUpdatesAsync(std::string agent_id, std::string run_id,
                                    protocol::UpdatesRequest request, WallTime now,
                                    int lease_seconds, Completion<protocol::UpdatesResponse> done) {
  if (request.final_update && request.final_update->status == RunStatus::kRunning) {
    return done(
        MakeError(Errc::kInvalidRequest, "final.status: must be COMPLETED, FAILED or CANCELLED"));
  }
  using protocol::UpdatesResponse;
  impl_->WriteAsync<UpdatesResponse>(
      [agent = std::move(agent_id), id = std::move(run_id), request = std::move(request), now,
       lease_seconds](WriteContext& ctx) -> Expected<UpdatesResponse> {
        std::optional<RunRow> row = LoadRun(ctx.db(), id);
        if (!row) return Fail(Errc::kNotFound, "run " + id + " not found");
        if (row->agent_id != agent) {
          return Fail(Errc::kForbidden, "run " + id + " belongs to another agent");
        }
        std::optional<Job> job = LoadJob(ctx.db(), row->run.job_id);
        if (!job) Corrupt("run " + id + " without its job");

        UpdatesResponse response;
        response.acked_update_seq = row->acked_update_seq;
        response.acked_log_seq = row->acked_log_seq;

        if (row->run.status != RunStatus::kRunning) {
          // A resend of a batch that was fully applied before the run ended is answered as before.
          const bool empty =
              request.updates.empty() && request.logs.empty() && !request.final_update;
          const bool all_acked =
              std::all_of(request.updates.begin(), request.updates.end(),
                          [&](const auto& u) { return u.seq <= row->acked_update_seq; }) &&
              std::all_of(request.logs.begin(), request.logs.end(),
                          [&](const auto& l) { return l.seq <= row->acked_log_seq; }) &&
              (!request.final_update || request.final_update->seq <= row->acked_update_seq);
          if (empty || !all_acked) {
            return Fail(Errc::kRunNotActive, "run " + id + " is " +
                                                 std::string(protocol::ToString(row->run.status)) +
                                                 "; stop it");
          }
          response.cancel_requested = job->cancel_requested;
          return response;
        }

        std::vector<protocol::ProgressUpdate> updates = request.updates;
        std::stable_sort(updates.begin(), updates.end(),
                         [](const auto& a, const auto& b) { return a.seq < b.seq; });
        for (const protocol::ProgressUpdate& update : updates) {
          if (update.seq <= response.acked_update_seq) continue;
          response.acked_update_seq = update.seq;
          if (update.percent) row->run.percent = std::clamp(*update.percent, 0, 100);
          if (update.message) {
            row->run.message = update.message;
          } else if (update.step) {
            row->run.message = update.step;
          }
          Event event = MakeJobEvent(EventType::kJobProgress, *job, now);
          event.timestamp = update.timestamp;
          event.run_id = id;
          event.attempt = row->run.attempt;
          event.percent = update.percent ? std::optional<int>(std::clamp(*update.percent, 0, 100))
                                         : std::nullopt;
          event.message = update.message ? update.message : update.step;
          ctx.Emit(std::move(event));
        }
        for (const protocol::LogLine& line : request.logs) {
          if (line.seq <= row->acked_log_seq) continue;
          Query q(ctx.db(),
                  "INSERT OR IGNORE INTO job_logs (run_id, seq, job_id, ts_ms, level, message) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
          q.Bind(1, id)
              .Bind(2, line.seq)
              .Bind(3, job->id)
              .Bind(4, Millis(line.timestamp))
              .Bind(5, line.level)
              .Bind(6, line.message);
          q.Run();
          response.acked_log_seq = std::max(response.acked_log_seq, line.seq);
        }
        const bool ends =
            request.final_update && request.final_update->seq > response.acked_update_seq;
        if (ends) {
          response.acked_update_seq = request.final_update->seq;
          row->acked_update_seq = response.acked_update_seq;
          row->acked_log_seq = response.acked_log_seq;
          // One write ends the run with everything this batch brought.
          response.cancel_requested =
              EndRun(ctx, *std::move(row), *request.final_update, now).cancel_requested;
          return response;
        }
        {
          Query q(ctx.db(),
                  "UPDATE runs SET percent = ?1, message = ?2, acked_update_seq = ?3, "
                  "acked_log_seq = ?4, lease_expires_ms = ?5 WHERE id = ?6");
          q.Bind(1, row->run.percent)
              .Bind(2, row->run.message)
              .Bind(3, response.acked_update_seq)
              .Bind(4, response.acked_log_seq)
              .Bind(5, Millis(now + std::chrono::seconds(lease_seconds)))
              .Bind(6, id);
          q.Run();
        }
        response.cancel_requested = job->cancel_requested;
        return response;
      },
      std::move(done));
}

// ---- Time ----

namespace {
constexpr int kTimeBatch = 500;  // transitions per ExpireLeases / PromoteDue call at most
}  // namespace

Expected<Mutation<int>> SqliteStore::ExpireLeases(WallTime now) {
  return impl_->Write<int>([now](WriteContext& ctx) -> Expected<int> {
    std::vector<std::string> expired;
    {
      Query q(ctx.db(),
              "SELECT id FROM runs WHERE status = 'RUNNING' AND lease_expires_ms <= ? "
              "ORDER BY lease_expires_ms LIMIT ?");
      q.Bind(1, Millis(now)).Bind(2, kTimeBatch);
      while (q.Step())
        expired.push_back(q.Text(0));
    }
    for (const std::string& run_id : expired) {
      std::optional<RunRow> row = LoadRun(ctx.db(), run_id);
      if (!row) continue;
      FailRun(ctx, *std::move(row),
              RunError{std::string(ToString(Errc::kAgentLost)),
                       "no update from the agent within the lease",
                       {},
                       true},
              protocol::JobEvent::kLeaseExpired, now);
    }
    return static_cast<int>(expired.size());
  });
}

Expected<Mutation<int>> SqliteStore::PromoteDue(WallTime now) {
  return impl_->Write<int>([now](WriteContext& ctx) -> Expected<int> {
    std::vector<std::string> due;
    {
      Query q(ctx.db(),
              "SELECT id FROM jobs WHERE status = 'CREATED' AND not_before_ms <= ? "
              "ORDER BY not_before_ms, id LIMIT ?");
      q.Bind(1, Millis(now)).Bind(2, kTimeBatch);
      while (q.Step())
        due.push_back(q.Text(0));
    }
    for (const std::string& job_id : due) {
      std::optional<Job> job = LoadJob(ctx.db(), job_id);
      if (!job) continue;
      if (job->status != JobStatus::kCreated) continue;
      const EventType type = Advance(*job, protocol::JobEvent::kPromote);
      job->updated_at = now;
      // Queued "when notBefore was reached", so the order does not depend on timer lag.
      SaveJob(ctx.db(), *job, OptMillis(job->not_before).value_or(Millis(now)));
      ctx.Emit(MakeJobEvent(type, *job, now));
      ctx.Touch(job->agent_id);
    }
    return static_cast<int>(due.size());
  });
}

Expected<std::optional<WallTime>> SqliteStore::NextWakeTime() {
  return impl_->Read([&](Connection& db) -> Expected<std::optional<WallTime>> {
    std::optional<std::int64_t> earliest;
    auto consider = [&](std::string_view sql) {
      Query q(db, sql);
      if (q.Step() && !q.IsNull(0)) {
        earliest = earliest ? std::min(*earliest, q.Int64(0)) : q.Int64(0);
      }
    };
    consider("SELECT MIN(lease_expires_ms) FROM runs WHERE status = 'RUNNING'");
    consider("SELECT MIN(not_before_ms) FROM jobs WHERE status = 'CREATED'");
    return OptWall(earliest);
  });
}

// ---- Notify ----

Expected<protocol::NotifyResponse> SqliteStore::AgentQueueState(std::string_view agent_id) {
  return impl_->Read([&](Connection& db) -> Expected<protocol::NotifyResponse> {
    return ReadAgentQueue(db, agent_id);
  });
}

Expected<std::vector<JobCount>> SqliteStore::CountJobs() {
  return impl_->Read([](Connection& db) -> Expected<std::vector<JobCount>> {
    std::vector<JobCount> counts;
    Query q(db, "SELECT type, status, COUNT(*) FROM jobs GROUP BY type, status");
    while (q.Step())
      counts.push_back({q.Text(0), ParseJobStatus(q.Text(1)), q.Int64(2)});
    std::sort(counts.begin(), counts.end(), [](const JobCount& a, const JobCount& b) {
      return std::tie(a.type, a.status) < std::tie(b.type, b.status);
    });
    return counts;
  });
}

// ---- Events ----

Expected<Mutation<Unit>> SqliteStore::AppendEvents(std::vector<Event> events) {
  return impl_->Write<Unit>([events = std::move(events)](WriteContext& ctx) -> Expected<Unit> {
    for (const Event& event : events)
      ctx.Emit(event);
    return Unit{};
  });
}

Expected<std::vector<Event>> SqliteStore::ReadEvents(std::int64_t after_seq, int limit,
                                                     const EventFilter& filter) {
  std::string sql = "SELECT " + std::string(kEventColumns) + " FROM events WHERE seq > ?1";
  if (filter.agent_id) sql += " AND agent_id = ?3";
  if (filter.job_id) sql += " AND job_id = ?4";
  sql += " ORDER BY seq LIMIT ?2";
  return impl_->Read([&](Connection& db) -> Expected<std::vector<Event>> {
    Query q(db, sql);
    q.Bind(1, after_seq).Bind(2, std::clamp(limit, 1, 10'000));
    if (filter.agent_id) q.Bind(3, *filter.agent_id);
    if (filter.job_id) q.Bind(4, *filter.job_id);
    std::vector<Event> events;
    while (q.Step())
      events.push_back(ReadEvent(q));
    return events;
  });
}

Expected<std::vector<Event>> SqliteStore::JobEvents(std::string_view job_id) {
  return impl_->Read([&](Connection& db) -> Expected<std::vector<Event>> {
    {
      Query q(db, "SELECT 1 FROM jobs WHERE id = ?");
      q.Bind(1, job_id);
      if (!q.Step()) return Fail(Errc::kNotFound, "job " + std::string(job_id) + " not found");
    }
    Query q(db,
            "SELECT " + std::string(kEventColumns) + " FROM events WHERE job_id = ? ORDER BY seq");
    q.Bind(1, job_id);
    std::vector<Event> events;
    while (q.Step())
      events.push_back(ReadEvent(q));
    return events;
  });
}

Expected<std::int64_t> SqliteStore::LastEventSeq() {
  return impl_->Read([&](Connection& db) -> Expected<std::int64_t> { return ReadLastSeq(db); });
}

Expected<std::int64_t> SqliteStore::OldestEventSeq() {
  return impl_->Read([&](Connection& db) -> Expected<std::int64_t> {
    Query q(db, "SELECT MIN(seq) FROM events");
    if (q.Step() && !q.IsNull(0)) return q.Int64(0);
    return ReadLastSeq(db) + 1;
  });
}

Expected<std::int64_t> SqliteStore::PruneEvents(std::int64_t keep_last) {
  auto pruned =
      impl_->Write<std::int64_t>([keep_last](WriteContext& ctx) -> Expected<std::int64_t> {
        const std::int64_t through = ReadLastSeq(ctx.db()) - std::max<std::int64_t>(keep_last, 0);
        Query q(ctx.db(), "DELETE FROM events WHERE seq <= ?");
        q.Bind(1, through);
        q.Run();
        const std::int64_t deleted = ctx.db().Changes();
        // Should this have deleted the newest event, the floor still says which seqs were used.
        Query floor(ctx.db(),
                    "UPDATE store_meta SET value = MAX(value, ?) WHERE key = 'events_seq_floor'");
        floor.Bind(1, through);
        floor.Run();
        return deleted;
      });
  if (!pruned) return Fail(pruned.error());
  return pruned->value;
}

// ---- Logs ----

Expected<protocol::JobLogs> SqliteStore::ReadLogs(const LogQuery& query) {
  return impl_->Read([&](Connection& db) -> Expected<protocol::JobLogs> {
    {
      Query q(db, "SELECT 1 FROM jobs WHERE id = ?");
      q.Bind(1, query.job_id);
      if (!q.Step()) return Fail(Errc::kNotFound, "job " + query.job_id + " not found");
    }
    const int limit = std::clamp(query.limit, 1, 10'000);
    protocol::JobLogs logs;
    auto collect = [&](Query& q) {
      while (q.Step()) {
        logs.lines.push_back({q.Text(0), q.Int64(1), Wall(q.Int64(2)), q.Text(3), q.Text(4)});
      }
    };
    if (query.run_id) {
      std::optional<RunRow> run = LoadRun(db, *query.run_id);
      if (!run || run->run.job_id != query.job_id) {
        return Fail(Errc::kNotFound,
                    "run " + *query.run_id + " of job " + query.job_id + " not found");
      }
      Query q(db,
              "SELECT run_id, seq, ts_ms, level, message FROM job_logs "
              "WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3");
      q.Bind(1, *query.run_id).Bind(2, query.after_seq).Bind(3, limit);
      collect(q);
    } else {
      Query q(db,
              "SELECT run_id, seq, ts_ms, level, message FROM job_logs "
              "WHERE job_id = ?1 AND seq > ?2 ORDER BY run_id, seq LIMIT ?3");
      q.Bind(1, query.job_id).Bind(2, query.after_seq).Bind(3, limit);
      collect(q);
    }
    return logs;
  });
}

}  // namespace orb::store
