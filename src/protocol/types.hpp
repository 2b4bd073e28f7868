#pragma once

// protocol.md §3–6 as plain C++ types. No JSON here: codecs (protocol/codec.hpp) turn these into
// wire JSON and back. Type-specific objects (a job's payload and result) are carried as canonical
// JSON text (`*_json` fields) so no module outside protocol/ depends on the JSON library.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.hpp"

namespace orb::protocol {

// protocol.md §3 "Lifecycle".
enum class JobStatus { kCreated, kQueued, kRunning, kCompleted, kFailed, kCancelled };
enum class RunStatus { kRunning, kCompleted, kFailed, kCancelled };

std::string_view ToString(JobStatus status);  // "CREATED", ...
std::optional<JobStatus> JobStatusFromString(std::string_view text);
std::string_view ToString(RunStatus status);
std::optional<RunStatus> RunStatusFromString(std::string_view text);
bool IsFinal(JobStatus status);  // COMPLETED, FAILED, CANCELLED

using Labels = std::map<std::string, std::string>;

// run.error: {code, message, stack, retryable}. `code` stays a string on the wire so an agent
// may report codes this fleet-cmdr build does not know yet.
struct RunError {
  std::string code;
  std::string message;
  std::vector<std::string> stack;
  bool retryable = false;
  bool operator==(const RunError&) const = default;
};

// protocol.md §3 "Job".
struct Job {
  std::string id;
  std::string agent_id;
  std::string type;
  std::optional<std::string> instance_id;
  std::optional<std::string> server_id;
  std::string payload_json = "{}";
  JobStatus status = JobStatus::kCreated;
  int priority = 0;
  bool exclusive = false;
  int max_attempts = 1;
  int retry_backoff_seconds = 10;
  int timeout_seconds = 600;
  std::optional<WallTime> not_before;
  std::optional<std::string> idempotency_key;
  std::optional<std::string> batch_id;
  int attempts = 0;
  bool cancel_requested = false;
  std::optional<std::string> current_run_id;
  std::optional<RunError> last_error;
  std::optional<std::string> result_json;
  WallTime created_at{};
  WallTime updated_at{};
  // docs/protocol.md "Job dependencies": the jobs this one waits for, as created (request order),
  // and those of them not COMPLETED yet while the job waits (empty once it was queued or ended).
  std::vector<std::string> depends_on;
  std::vector<std::string> waiting_for;
  // docs/protocol.md "Rollouts": the rollout that created this job, if any.
  std::optional<std::string> rollout_id;
  // docs/protocol.md "Schedules": the schedule and the fire that created the job, if any.
  std::optional<std::string> schedule_id;
  std::optional<WallTime> fire_time;
  bool operator==(const Job&) const = default;
};

// protocol.md §3 "Run (job_run)".
struct Run {
  std::string id;
  std::string job_id;
  int attempt = 1;
  RunStatus status = RunStatus::kRunning;
  WallTime started_at{};
  std::optional<WallTime> finished_at;
  std::optional<int> percent;
  std::optional<std::string> message;
  std::optional<std::string> result_json;
  std::optional<RunError> error;
  // Log lines the agent sent past fleet-cmdr's per-run cap: acknowledged, not stored
  // (docs/decisions/0020). "logsDropped", omitted when 0.
  std::int64_t logs_dropped = 0;
  bool operator==(const Run&) const = default;
};

// GET /v1/jobs/{id}: the job with its runs, oldest first.
struct JobDetail {
  Job job;
  std::vector<Run> runs;
  bool operator==(const JobDetail&) const = default;
};

// A job without its agent, as rollouts and schedules hold it: what a rollout gives each host and
// each step of a schedule (POST /v1/jobs without agentId, selector, dependsOn, notBefore and
// idempotencyKey). ToCreateJobRequest makes one host's create of it.
struct JobTemplate {
  std::string type;
  std::optional<std::string> instance_id;
  std::optional<std::string> server_id;
  std::string payload_json = "{}";
  std::optional<int> priority;
  std::optional<bool> exclusive;
  std::optional<int> max_attempts;
  std::optional<int> retry_backoff_seconds;
  std::optional<int> timeout_seconds;
  bool operator==(const JobTemplate&) const = default;
};

// POST /v1/jobs body. Exactly one of agent_id and selector_labels is set (the codec checks).
struct CreateJobRequest {
  std::optional<std::string> agent_id;
  std::optional<Labels> selector_labels;
  std::string type;
  std::optional<std::string> instance_id;
  std::optional<std::string> server_id;
  std::string payload_json = "{}";
  std::optional<int> priority;
  std::optional<bool> exclusive;
  std::optional<int> max_attempts;
  std::optional<int> retry_backoff_seconds;
  std::optional<int> timeout_seconds;
  std::optional<WallTime> not_before;
  std::optional<std::string> idempotency_key;
  std::vector<std::string> depends_on;  // job ids; at most kMaxDependsOn (validate_job.hpp)
  bool operator==(const CreateJobRequest&) const = default;
};

// The create request of `job` for the agent `agent_id`.
CreateJobRequest ToCreateJobRequest(const JobTemplate& job, const std::string& agent_id);

// 201 of a selector create.
struct BatchCreated {
  std::string batch_id;
  std::vector<Job> jobs;
  bool operator==(const BatchCreated&) const = default;
};

// GET /v1/jobs.
struct JobList {
  std::vector<Job> jobs;
  std::optional<std::string> next_cursor;
  bool operator==(const JobList&) const = default;
};

// ---- Agent API, protocol.md §4 ----

struct InterruptedRun {
  std::string run_id;
  std::int64_t last_seq = 0;
  bool operator==(const InterruptedRun&) const = default;
};

struct HelloRequest {
  std::string agent_version;
  std::vector<std::string> job_types;
  int max_parallel = 4;
  Labels labels;
  std::vector<InterruptedRun> interrupted_runs;
  bool operator==(const HelloRequest&) const = default;
};

struct HelloResponse {
  WallTime server_time{};
  int poll_interval_min_seconds = 3;
  int poll_interval_max_seconds = 5;
  int long_poll_seconds = 25;
  int progress_min_interval_ms = 1000;
  int heartbeat_seconds = 15;
  int lease_seconds = 60;
  bool operator==(const HelloResponse&) const = default;
};

// JobNotify.
struct NotifyResponse {
  int pending = 0;
  std::vector<std::string> cancel;  // run ids
  bool operator==(const NotifyResponse&) const = default;
};

// JobRequestNext.
struct NextRequest {
  std::vector<std::string> running;  // run ids
  bool operator==(const NextRequest&) const = default;
};

// JobExecution.
struct JobExecution {
  std::string job_id;
  std::string run_id;
  int attempt = 1;
  std::string type;
  std::optional<std::string> instance_id;
  std::optional<std::string> server_id;
  std::string payload_json = "{}";
  int timeout_seconds = 600;
  bool cancellable = true;
  int lease_seconds = 60;
  WallTime created_at{};
  bool operator==(const JobExecution&) const = default;
};

// JobExecutionUpdate pieces.
struct ProgressUpdate {
  std::int64_t seq = 0;
  RunStatus status = RunStatus::kRunning;
  std::optional<int> percent;  // 0..100
  std::optional<std::string> message;
  std::optional<std::string> step;
  WallTime timestamp{};
  bool operator==(const ProgressUpdate&) const = default;
};

struct LogLine {
  std::int64_t seq = 0;
  WallTime timestamp{};
  std::string level = "info";  // trace|debug|info|warn|error
  std::string message;
  bool operator==(const LogLine&) const = default;
};

struct FinalUpdate {
  std::int64_t seq = 0;
  RunStatus status = RunStatus::kCompleted;  // COMPLETED | FAILED | CANCELLED, never RUNNING
  std::optional<std::string> result_json;
  std::optional<RunError> error;  // required when FAILED
  WallTime timestamp{};
  bool operator==(const FinalUpdate&) const = default;
};

struct UpdatesRequest {
  std::vector<ProgressUpdate> updates;
  std::vector<LogLine> logs;
  std::optional<FinalUpdate> final_update;  // "final" on the wire
  bool operator==(const UpdatesRequest&) const = default;
};

struct UpdatesResponse {
  std::int64_t acked_update_seq = 0;
  std::int64_t acked_log_seq = 0;
  bool cancel_requested = false;
  bool operator==(const UpdatesResponse&) const = default;
};

// POST .../status (docs/protocol.md): how the agent is, at start-up after hello, on every
// change and every heartbeatSeconds while unhealthy.
struct AgentProblem {
  std::string code;     // stable snake_case, e.g. "journal_unwritable"
  std::string message;  // for people, sanitized
  bool operator==(const AgentProblem&) const = default;
};

struct AgentStatusReport {
  bool healthy = true;
  std::vector<AgentProblem> problems;  // empty when healthy
  WallTime reported_at{};
  bool operator==(const AgentStatusReport&) const = default;
};

// ---- Operator API, protocol.md §5 ----

struct JobLogLine {
  std::string run_id;
  std::int64_t seq = 0;
  WallTime timestamp{};
  std::string level;
  std::string message;
  bool operator==(const JobLogLine&) const = default;
};

// fleet-cmdr's per-run log cap (docs/decisions/0020); 0 = no cap of that kind.
struct LogCap {
  std::int64_t max_lines = 0;
  std::int64_t max_bytes = 0;  // of the messages
  bool operator==(const LogCap&) const = default;
};

struct JobLogs {
  std::vector<JobLogLine> lines;
  // Lines past the cap that were acknowledged but not stored: of the run asked for (runId), or of
  // all the job's runs. "logsDropped" and "logCap" (the cap now) are omitted when none was.
  std::int64_t logs_dropped = 0;
  std::optional<LogCap> log_cap;
  bool operator==(const JobLogs&) const = default;
};

// The instances of an agent's latest inventory by state (docs/protocol.md "Host inventory"), as
// GET /v1/agents shows it: {"instances": {"running", "stopped", "crashed"}, "reportedAt"}.
struct InventorySummary {
  std::int64_t running = 0;
  std::int64_t stopped = 0;
  std::int64_t crashed = 0;
  WallTime reported_at{};
  bool operator==(const InventorySummary&) const = default;
};

struct AgentInfo {
  std::string agent_id;
  bool online = false;
  std::optional<WallTime> last_seen_at;
  std::optional<std::string> agent_version;
  Labels labels;
  std::vector<std::string> job_types;
  int max_parallel = 0;
  std::vector<std::string> running_runs;
  bool revoked = false;
  std::optional<AgentStatusReport> health;  // the latest POST .../status; none before the first
  // GET /v1/agents: the latest inventory's summary (none before the first report) and the status
  // of the agent's newest job (none before its first job).
  std::optional<InventorySummary> inventory;
  std::optional<JobStatus> last_job_status;
  bool operator==(const AgentInfo&) const = default;
};

struct AgentList {
  std::vector<AgentInfo> agents;
  bool operator==(const AgentList&) const = default;
};

struct EnrollRequest {
  std::string agent_id;
  Labels labels;
  bool operator==(const EnrollRequest&) const = default;
};

struct EnrollResponse {
  std::string agent_id;
  std::string token;
  bool operator==(const EnrollResponse&) const = default;
};

enum class Role { kViewer, kOperator, kAdmin, kAgent };
std::string_view ToString(Role role);  // "viewer", "operator", "admin", "agent"
std::optional<Role> RoleFromString(std::string_view text);

struct TokenCreateRequest {
  Role role = Role::kViewer;  // viewer | operator | admin (agent tokens come from enrollment)
  std::string name;
  bool operator==(const TokenCreateRequest&) const = default;
};

struct TokenCreated {
  std::string id;
  std::string token;
  bool operator==(const TokenCreated&) const = default;
};

// GET /v1/whoami: the calling token's id and role.
struct Whoami {
  std::string token_id;
  Role role = Role::kViewer;
  bool operator==(const Whoami&) const = default;
};

struct ArtifactInfo {
  std::string sha256;
  std::uint64_t size = 0;
  std::string url;
  bool operator==(const ArtifactInfo&) const = default;
};

// GET /v1/artifacts: a stored artifact, and how many unfinished jobs (CREATED, QUEUED, RUNNING)
// name it in their payload; such an artifact cannot be deleted (409) and is never pruned.
struct StoredArtifact {
  std::string sha256;
  std::uint64_t size = 0;
  WallTime created_at{};
  std::string url;
  int unfinished_jobs = 0;
  bool operator==(const StoredArtifact&) const = default;
};

struct ArtifactList {
  std::vector<StoredArtifact> artifacts;  // oldest first
  bool operator==(const ArtifactList&) const = default;
};

// ---- Event stream, protocol.md §6 ----

enum class EventType {
  kJobCreated,
  kJobQueued,
  kJobRunning,
  kJobProgress,
  kJobCancelRequested,
  kJobCompleted,
  kJobFailed,
  kJobCancelled,
  kJobRetried,
  kAgentOnline,
  kAgentOffline,
  kAgentEnrolled,
  kAgentHealth,  // status "healthy" | "unhealthy", message: the problems; once per change
  // docs/protocol.md "Rollouts": rolloutId, status (the rollout's), counts.
  kRolloutCreated,
  kRolloutProgress,
  kRolloutPaused,
  kRolloutResumed,
  kRolloutCompleted,
  kRolloutAborted,
  kScheduleCreated,  // scheduleId
  kScheduleUpdated,  // scheduleId
  kScheduleDeleted,  // scheduleId
  kScheduleFired,    // scheduleId, fireTime, jobIds
  // docs/protocol.md "Host inventory": agentId, message (the instances by state).
  kAgentInventory,
};
std::string_view ToString(EventType type);  // "job.created", ...
std::optional<EventType> EventTypeFromString(std::string_view text);
bool IsStateChange(EventType type);  // everything but job.progress: never dropped for slow clients

// A rollout's hosts by state (docs/protocol.md "Rollouts"): pending hosts have no job yet,
// waiting ones a CREATED job (retry backoff), skipped ones were given up by the rollout.
struct RolloutCounts {
  std::int64_t total = 0;
  std::int64_t pending = 0;
  std::int64_t waiting = 0;
  std::int64_t queued = 0;
  std::int64_t running = 0;
  std::int64_t completed = 0;
  std::int64_t failed = 0;
  std::int64_t cancelled = 0;
  std::int64_t skipped = 0;
  bool operator==(const RolloutCounts&) const = default;
};

struct Event {
  std::int64_t seq = 0;
  EventType type = EventType::kJobCreated;
  WallTime timestamp{};
  std::optional<std::string> job_id;
  std::optional<std::string> run_id;
  std::optional<std::string> agent_id;
  std::optional<std::string> instance_id;
  std::optional<std::string> job_type;
  std::optional<std::string> status;  // job status, or "online"/"offline" for agent events
  std::optional<int> percent;
  std::optional<std::string> message;
  std::optional<int> attempt;
  std::optional<RunError> error;
  std::optional<std::string> rollout_id;  // rollout.* events, and job events of its jobs
  std::optional<RolloutCounts> counts;    // rollout.* events
  // Schedule events (docs/protocol.md "Schedules"); on the wire only when set.
  std::optional<std::string> schedule_id;
  std::optional<WallTime> fire_time;
  std::optional<std::vector<std::string>> job_ids;
  bool operator==(const Event&) const = default;
};

// GET /v1/jobs/{id}/events.
struct EventList {
  std::vector<Event> events;
  bool operator==(const EventList&) const = default;
};

// Client → server, first message on /v1/stream.
struct SubscribeMessage {
  std::optional<std::string> token;
  std::optional<std::int64_t> since;
  std::optional<std::string> agent_id;  // filter.agentId
  std::optional<std::string> job_id;    // filter.jobId
  bool operator==(const SubscribeMessage&) const = default;
};

}  // namespace orb::protocol
