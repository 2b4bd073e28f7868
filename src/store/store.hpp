#pragma once

// The store of fleet-cmdr: every piece of state the control plane keeps, behind one
// interface with two implementations (SQLite in the data dir, PostgreSQL for several replicas)
// that pass the same contract suite (tests/contract/store_contract_test.cpp). protocol.md §2–§6
// in storage form.
//
// Design
//  - Synchronous and thread-safe: fleet-cmdr's worker threads call it directly. The three calls
//    on the hot path (CreateJobs, DispatchNext, ApplyUpdates) also have an asynchronous form that
//    completes a callback instead of blocking the caller (docs/decisions/0002).
//  - The store is the only place of truth. It keeps no in-process state that correctness relies
//    on, so several fleet-cmdr replicas may share one database: every decision that must be
//    atomic (dispatch, fencing of updates, lease expiry, idempotency keys, presence, the first
//    admin token, the leader lease) happens inside one database transaction
//    (docs/decisions/0011).
//  - Time and randomness are inputs: mutating calls take `now`; the retry jitter comes from
//    StoreDeps::unit_random, ids from StoreDeps::ids.
//  - Every mutating call returns a Mutation: its value, the events it appended (with their global
//    seq) and the agents whose queue or cancel set changed. The call returns only once the change
//    is durable, so the server publishes events and wakes long-polls after the commit
//    (protocol.md §3 "every transition is stored before it is published").
//  - Event seqs follow commit order: once a reader has seen seq N, every event with a lower seq
//    is visible too, also across replicas (docs/decisions/0012).
//  - Errors: domain errors carry the wire codes of protocol.md §1 (not_found, forbidden,
//    invalid_state, not_cancellable, run_not_active, idempotency_conflict, already_exists,
//    invalid_request). A database failure is Errc::kStore (retryable when trying again can help:
//    busy, locked, I/O, the database unreachable); the call then changed nothing, except when the
//    connection to a database server was lost while it committed (then it may have happened). No
//    call throws.
//
// Event sequences (protocol.md §6; every transition is an event; `status` is the job's status
// after that step, the last event of a call carries the job's status now):
//  - create:            job.created (CREATED) [+ job.queued (QUEUED) unless notBefore is future
//                       or a dependency is not COMPLETED; + job.cancelled (CANCELLED, error
//                       dependency_failed) instead when a dependency is FAILED or CANCELLED]
//  - a job's last dependency COMPLETED: job.queued (QUEUED) for it, in the same commit, after
//                       the dependency's job.completed (unless its notBefore is still ahead)
//  - a job ends FAILED (no retry left) or CANCELLED: job.cancelled (CANCELLED, error
//                       dependency_failed) for every job waiting for it, down the chain, in the
//                       same commit, after that job's own event
//  - promote (notBefore / backoff over): job.queued (QUEUED)
//  - dispatch:          job.running (RUNNING, runId, attempt)
//  - progress update:   job.progress (RUNNING, percent, message)
//  - cancel queued:     job.cancelled (CANCELLED)
//  - cancel running:    job.cancel_requested (RUNNING), once
//  - final COMPLETED:   job.completed;  final CANCELLED: job.cancelled
//  - final FAILED, lease expiry (agent_lost), interrupted run on hello (agent_restarted):
//      no retry left:   job.failed (FAILED, error)
//      automatic retry: job.failed (FAILED, error) then job.retried (CREATED, message says when)
//  - POST /retry:       job.retried (QUEUED) then job.queued (QUEUED)
//  - enroll:            agent.enrolled
//  - presence:          agent.online / agent.offline (status "online" / "offline"), once per
//                       change of the stored flag (MarkAgentOnline, MarkAgentsOffline); the server
//                       may also append its own (AppendEvents).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/expected.hpp"
#include "common/ids.hpp"
#include "common/time.hpp"
#include "protocol/inventory.hpp"
#include "protocol/rollout_types.hpp"
#include "protocol/schedules.hpp"
#include "protocol/stats_history.hpp"
#include "protocol/types.hpp"

namespace orb::store {

// A mutating call's outcome: `value`, plus what the server must publish after the commit.
template <class T>
struct Mutation {
  T value;
  std::vector<protocol::Event> events;      // appended by this call, seq increasing
  std::vector<std::string> touched_agents;  // agents whose QUEUED jobs or cancel set changed
};

using Unit = std::monostate;

// How an asynchronous call hands back its result.
template <class T>
using Completion = std::function<void(Expected<Mutation<T>>)>;

// One agent's notify state (protocol.md §4 JobNotify) as a commit left it.
struct AgentQueue {
  std::string agent_id;
  protocol::NotifyResponse state;
  bool operator==(const AgentQueue&) const = default;
};

// The default per-run log cap (docs/decisions/0020): fleet-cmdr's --run-log-max-lines and
// --run-log-max-bytes.
inline constexpr std::int64_t kDefaultRunLogLines = 20'000;
inline constexpr std::int64_t kDefaultRunLogBytes = 8 << 20;  // 8 MiB of messages

// What a store needs from its surroundings.
struct StoreDeps {
  IdGenerator* ids = nullptr;           // job, run and batch ids; must outlive the store
  std::function<double()> unit_random;  // [0, 1) for retry jitter; empty: RandomUnit()
  // Told, after each commit of this store that changed agents' queues or cancel sets, what they
  // hold now (read inside the committing transaction): in commit order, on the store's own
  // thread, before the callers of that commit get their results. This is how the server keeps
  // its in-memory notify state current without reading the store. It must be quick, must not
  // throw and must not call the store. Empty: nobody is told.
  std::function<void(std::vector<AgentQueue>)> on_queues_committed;
  // Told that another store instance on the same database (another replica) committed events,
  // up to seq `last_seq`: the owner reads and publishes them (ReadEvents) and refreshes the
  // notify state of the agents they name. Called on a store thread, in the order the
  // notifications arrive, never for this instance's own commits; once with the current last seq
  // after the store (re)connects its listener, since notifications may have been missed. Same
  // rules as on_queues_committed. SQLite never calls it (one process per file). Empty: ignored.
  std::function<void(std::int64_t last_seq)> on_foreign_commit;
  // The per-run log cap ApplyUpdates applies: lines past it are acknowledged, counted in the
  // run's logsDropped and not stored. 0 = no cap of that kind.
  protocol::LogCap run_log_cap{kDefaultRunLogLines, kDefaultRunLogBytes};
};

// protocol.md §2: a token is stored only as the sha256 hex of its text.
struct TokenRecord {
  std::string id;
  std::string name;
  protocol::Role role = protocol::Role::kViewer;
  std::optional<std::string> agent_id;  // set for Role::kAgent
  std::string token_hash;               // lower-case sha256 hex
  WallTime created_at{};
  std::optional<WallTime> revoked_at;
  bool operator==(const TokenRecord&) const = default;
};

// Tokens created or revoked after a version (TokenChangesSince).
struct TokenChanges {
  std::vector<TokenRecord> tokens;  // as they are now (revoked_at set for revoked ones)
  std::int64_t version = 0;         // ask from here next time
};

// The outcome of TryLeadership: who holds the lease `name` now, and until when.
struct Leadership {
  bool held = false;   // by the caller's `holder`
  std::string holder;  // the current holder
  WallTime expires_at{};
  bool operator==(const Leadership&) const = default;
};

// A stored artifact (protocol.md §5 PUT/GET /v1/artifacts): content-addressed bytes.
struct ArtifactStat {
  std::string sha256;  // lower-case hex
  std::uint64_t size = 0;
  WallTime created_at{};
  bool operator==(const ArtifactStat&) const = default;
};

inline constexpr std::uint64_t kMaxArtifactBytes = 4ULL << 30;  // 4 GiB

// A stored artifact and how many unfinished jobs (CREATED, QUEUED, RUNNING) name it in their
// payload (GET /v1/artifacts): such an artifact is never deleted.
struct ArtifactEntry {
  ArtifactStat stat;
  int unfinished_jobs = 0;
  bool operator==(const ArtifactEntry&) const = default;
};

// Where PutArtifact reads the bytes from: fills a prefix of `buffer` and returns its length; 0 at
// the end. An error aborts the upload.
using ArtifactSource = std::function<Expected<std::size_t>(std::span<char> buffer)>;
// Where ReadArtifact writes the bytes to, a piece at a time (at most 1 MiB each). An error stops
// the read and is returned.
using ArtifactSink = std::function<Status(std::span<const char> bytes)>;

// One job to create, already validated by the caller with the type's defaults applied.
struct JobSpec {
  std::string agent_id;
  std::string type;
  std::optional<std::string> instance_id;
  std::optional<std::string> server_id;
  std::string payload_json = "{}";  // canonical JSON object text
  int priority = 0;
  bool exclusive = false;
  int max_attempts = 1;
  int retry_backoff_seconds = 10;
  int timeout_seconds = 600;
  std::optional<WallTime> not_before;
  // Ids of existing jobs (any agent's) it waits for, no id twice, at most
  // protocol::kMaxDependsOn (docs/protocol.md "Job dependencies").
  std::vector<std::string> depends_on;
  // The rollout that creates the job (docs/protocol.md "Rollouts"); set only by the rollout
  // operations.
  std::optional<std::string> rollout_id;
  // The dependencies are satisfied by any end of the jobs (COMPLETED, FAILED or CANCELLED), not
  // only COMPLETED: a schedule's queued chain (docs/decisions/0022). Set only by the store.
  bool depends_on_any_end = false;
};

// POST /v1/jobs after validation (protocol.md §5).
struct CreateJobsCommand {
  std::vector<JobSpec> jobs;  // created all or nothing
  bool batch = false;         // a selector request: the jobs get one new batchId (also 0 or 1 job)
  std::optional<std::string> idempotency_key;
  // Identifies the request for the idempotency check: the same key with another fingerprint is
  // idempotency_conflict. The server should pass a digest of the request as the client sent it
  // (so a selector request matching other agents today still returns the first batch). Empty:
  // the store derives one from `jobs` and `batch`.
  std::string request_fingerprint;
};

struct CreatedJobs {
  std::optional<std::string> batch_id;  // set when command.batch
  std::vector<protocol::Job> jobs;
  bool existing = false;  // the idempotency key was known: these are the first request's jobs (200)
};

// GET /v1/jobs filters; unset means any.
struct JobFilter {
  std::optional<std::string> agent_id{};
  std::optional<protocol::JobStatus> status{};
  std::optional<std::string> type{};
  std::optional<std::string> instance_id{};
  std::optional<std::string> batch_id{};
  std::optional<std::string> rollout_id{};   // the jobs a rollout created
  std::optional<std::string> schedule_id{};  // docs/protocol.md "Schedules"
};

inline constexpr int kMaxListLimit = 500;
// The ended jobs one ReadHistory reads at most (docs/decisions/0025).
inline constexpr int kHistoryMaxRows = 100000;

enum class CancelOutcome {
  kCancelled,  // CREATED/QUEUED -> CANCELLED (200)
  kRequested,  // RUNNING and cancellable: cancelRequested set (202)
};

struct CancelResult {
  protocol::Job job;
  CancelOutcome outcome = CancelOutcome::kCancelled;
};

// A job handed out by DispatchNext.
struct Dispatched {
  protocol::JobExecution execution;
  protocol::Run run;
};

struct AgentSeen {
  std::string agent_id;
  WallTime seen_at{};
};

struct HelloResult {
  std::vector<std::string> failed_runs;  // interrupted runs this hello failed (agent_restarted)
};

// ListAgents: `labels` is a selector (every pair must match; {} matches all).
struct AgentFilter {
  protocol::Labels labels{};
  bool include_revoked = true;  // false for selector batches
};

struct EventFilter {
  std::optional<std::string> agent_id{};
  std::optional<std::string> job_id{};
};

// One (type, status) pair of the jobs table and how many jobs have it (for /metrics).
struct JobCount {
  std::string type;
  protocol::JobStatus status = protocol::JobStatus::kCreated;
  std::int64_t count = 0;
  bool operator==(const JobCount&) const = default;
};

// A fire of a schedule (FireSchedule, FireDueSchedules): the jobs it created.
struct ScheduleFireResult {
  std::string schedule_id;
  WallTime fire_time{};
  std::vector<protocol::Job> jobs;  // the chains, host after host, steps in order
  bool existing = false;            // (schedule, fireTime) had fired already: nothing created
};

// What a pass of the schedules' timer did (FireDueSchedules).
struct ScheduleTick {
  std::vector<ScheduleFireResult> fires;  // fires created or finished by this pass
  int skipped = 0;                        // schedules whose missed fires were recorded as skipped
  std::optional<WallTime> next_wake;      // the earliest next fire of an enabled schedule
};

inline constexpr int kFireBatchHosts = 5;  // hosts whose chains one transaction of a fire creates

struct LogQuery {
  std::string job_id{};
  std::optional<std::string> run_id{};  // only this run's lines
  std::int64_t after_seq = 0;           // lines with seq > after_seq
  int limit = 1000;
};

// POST /v1/rollouts (docs/protocol.md "Rollouts"), the job template already validated by the
// caller (ValidateCreateJob); the store checks the policy (orchestration::ValidateRolloutPolicy)
// and resolves the target.
struct CreateRolloutCommand {
  protocol::CreateRolloutRequest request;
  // Identifies the request for its idempotency key (as CreateJobsCommand's); empty: derived.
  std::string request_fingerprint;
};

struct CreatedRollout {
  protocol::Rollout rollout;
  bool existing = false;  // the idempotency key was known: the first request's rollout (200)
};

// GET /v1/rollouts filters.
struct RolloutFilter {
  std::optional<std::string> status{};  // RUNNING, PAUSED, COMPLETED, ABORTED
};

// What AdvanceRollout did.
struct RolloutAdvance {
  protocol::Rollout rollout;
  std::optional<WallTime> wake_at;  // advance again then at the latest
  bool more = false;                // it stopped at its bound: advance again now
};

// The store interface. Thread-safe; every call is synchronous. See the header comment for the
// error and event rules; each call lists only its own domain errors.
class Store {
 public:
  virtual ~Store() = default;

  // ---- Tokens (protocol.md §2) ----
  // already_exists when the id or the hash is taken.
  virtual Expected<Mutation<TokenRecord>> CreateToken(TokenRecord token) = 0;
  // The live (not revoked) token with this hash; not_found otherwise.
  virtual Expected<TokenRecord> FindTokenByHash(std::string_view token_hash) = 0;
  // Every token, revoked ones too, oldest first.
  virtual Expected<std::vector<TokenRecord>> ListTokens() = 0;
  // not_found for an unknown id; revoking a revoked token succeeds and changes nothing.
  virtual Expected<Mutation<Unit>> RevokeToken(std::string_view token_id, WallTime now) = 0;
  virtual Expected<bool> HasAdminToken() = 0;
  // Creates `token` (role admin) unless a live admin token exists, atomically: replicas that
  // start together on an empty database create exactly one. Value: true when it was created.
  // already_exists when the id or the hash is taken.
  virtual Expected<Mutation<bool>> CreateFirstAdminToken(TokenRecord token) = 0;
  // Every token created or revoked after `version` (0: every token), oldest change first, and
  // the version to pass next time: the change feed that keeps each replica's token cache current.
  // A change is seen once its commit is; a later call never misses one with a lower version.
  virtual Expected<TokenChanges> TokenChangesSince(std::int64_t version) = 0;

  // ---- Agents (protocol.md §4, §5) ----
  // Enrolls `agent_id` with `labels` and its token (role agent). already_exists when a live agent
  // has this id; a revoked agent may be enrolled again (new token, new labels, history kept).
  // Event agent.enrolled.
  virtual Expected<Mutation<protocol::AgentInfo>> EnrollAgent(std::string_view agent_id,
                                                              const protocol::Labels& labels,
                                                              TokenRecord token, WallTime now) = 0;
  // Marks the agent revoked and revokes its tokens. not_found for an unknown agent.
  virtual Expected<Mutation<Unit>> RevokeAgent(std::string_view agent_id, WallTime now) = 0;
  // `online` is left false: it depends on the server's longPollSeconds, so the server sets it.
  // labels = enrollment labels overlaid with those the agent declared in its last hello.
  virtual Expected<protocol::AgentInfo> GetAgent(std::string_view agent_id) = 0;
  // Agents matching `filter`, ordered by id, each with its inventory summary and the status of
  // its newest job (AgentInfo::inventory, last_job_status).
  virtual Expected<std::vector<protocol::AgentInfo>> ListAgents(const AgentFilter& filter) = 0;
  // Stores what the agent declared (version, jobTypes, maxParallel, labels), marks it seen, and
  // fails each of its interruptedRuns that is still RUNNING with agent_restarted (retryable,
  // automatic retry rule). Runs that are unknown, final or another agent's are ignored.
  // not_found for an unknown agent, forbidden for a revoked one.
  virtual Expected<Mutation<HelloResult>> RecordHello(std::string_view agent_id,
                                                      const protocol::HelloRequest& hello,
                                                      WallTime now) = 0;
  // Batched lastSeenAt updates (never moves lastSeenAt back). Unknown agents are skipped.
  virtual Status TouchAgents(std::span<const AgentSeen> seen) = 0;
  // Presence kept in the store, so that several replicas announce each change once: marks the
  // agent seen at `now` and online. Value: true when it was offline and this call flipped it,
  // which appends agent.online (status "online"). not_found for an unknown agent.
  virtual Expected<Mutation<bool>> MarkAgentOnline(std::string_view agent_id, WallTime now) = 0;
  // Marks offline every online agent last seen before `seen_before` (one agent.offline each,
  // status "offline", timestamp `now`). Value: how many (bounded per call; call again while it
  // returns the bound).
  virtual Expected<Mutation<int>> MarkAgentsOffline(WallTime now, WallTime seen_before) = 0;
  // Keeps `report` as the agent's latest health (AgentInfo::health). Appends agent.health
  // (status "healthy" or "unhealthy", message: the problems, timestamp `now`) when the health
  // changed: healthy or not, or which problem codes; not for a repeat of the same health, and not
  // for a first report that is healthy. Value: whether it appended the event. not_found for an
  // unknown agent.
  virtual Expected<Mutation<bool>> SetAgentHealth(std::string_view agent_id,
                                                  const protocol::AgentStatusReport& report,
                                                  WallTime now) = 0;

  // ---- Jobs (protocol.md §3, §5) ----
  // not_found for an agent that is not enrolled; idempotency_conflict as described above;
  // invalid_request (details: the field "dependsOn[i]") for a dependency that is no job.
  // Dependencies may be any agent's jobs; the jobs' depends_on and waiting_for are filled.
  virtual Expected<Mutation<CreatedJobs>> CreateJobs(const CreateJobsCommand& command,
                                                     WallTime now) = 0;
  virtual Expected<protocol::JobDetail> GetJob(std::string_view job_id) = 0;
  // Newest first. limit is clamped to 1..kMaxListLimit. `cursor` is a nextCursor from an earlier
  // call (invalid_request if it is not one); pages stay stable while jobs are being created.
  virtual Expected<protocol::JobList> ListJobs(const JobFilter& filter, int limit,
                                               const std::optional<std::string>& cursor) = 0;
  // protocol.md §5 cancel: not_found, not_cancellable (message = the type's reason),
  // invalid_state for a final job. A repeated cancel of a running job answers kRequested again
  // without a second event.
  virtual Expected<Mutation<CancelResult>> CancelJob(std::string_view job_id, WallTime now) = 0;
  // FAILED/CANCELLED -> QUEUED; invalid_state otherwise. `attempts` keeps counting, so a job
  // whose automatic retries were used up gets exactly one more run per manual retry.
  // invalid_state too for a job cancelled with dependency_failed, and for one with a dependency
  // that is not COMPLETED: it would run without it. Dependents are never revived.
  virtual Expected<Mutation<protocol::Job>> RetryJob(std::string_view job_id, WallTime now) = 0;

  // ---- Dispatch (protocol.md §3 dispatch rule, §4 jobs/next) ----
  // In one transaction: the dispatch rule over the agent's QUEUED and RUNNING jobs with what it
  // declared in its last hello (no hello yet: nothing), then the new run (attempt = attempts + 1,
  // lease until now + lease_seconds) and job -> RUNNING. nullopt when nothing is dispatchable
  // (204). A job is never handed out twice, also from several threads or replicas.
  // not_found for an unknown agent.
  virtual Expected<Mutation<std::optional<Dispatched>>> DispatchNext(std::string_view agent_id,
                                                                     WallTime now,
                                                                     int lease_seconds) = 0;

  // ---- Updates (protocol.md §4 JobExecutionUpdate) ----
  // not_found (unknown run), forbidden (another agent's run), run_not_active (run final), except
  // that a non-empty batch whose items are all acknowledged already gets the acks (resending is
  // always safe). Items with seq <= the acked seq are ignored (updates and logs counted apart);
  // every accepted batch, an empty one too, extends the lease to now + lease_seconds. A final
  // update ends the run and moves the job (COMPLETED, CANCELLED, FAILED or an automatic retry;
  // a job whose cancel was requested is never retried automatically). invalid_request for a
  // final update with status RUNNING. Log lines past StoreDeps::run_log_cap are acknowledged
  // but not stored, and counted in the run's logs_dropped; once one did not fit, no later line of
  // the run is stored (docs/decisions/0020).
  virtual Expected<Mutation<protocol::UpdatesResponse>> ApplyUpdates(
      std::string_view agent_id, std::string_view run_id, const protocol::UpdatesRequest& request,
      WallTime now, int lease_seconds) = 0;

  // ---- Asynchronous forms of the hot-path calls ----
  // Same contract and result as the synchronous call; `done` runs exactly once: on a store thread
  // after the commit (so everything it reports is durable), or inside the call for an error found
  // before any work. `done` must be quick and must not call the store (it may run on the thread
  // that would serve that call).
  virtual void CreateJobsAsync(CreateJobsCommand command, WallTime now,
                               Completion<CreatedJobs> done) = 0;
  virtual void DispatchNextAsync(std::string agent_id, WallTime now, int lease_seconds,
                                 Completion<std::optional<Dispatched>> done) = 0;
  virtual void ApplyUpdatesAsync(std::string agent_id, std::string run_id,
                                 protocol::UpdatesRequest request, WallTime now, int lease_seconds,
                                 Completion<protocol::UpdatesResponse> done) = 0;

  // ---- Time-driven transitions ----
  // Fails RUNNING runs whose lease expired at or before `now` with agent_lost (retryable,
  // automatic retry rule). Value: how many runs it failed (at most a bounded number per call:
  // call again while NextWakeTime() <= now).
  virtual Expected<Mutation<int>> ExpireLeases(WallTime now) = 0;
  // CREATED jobs whose notBefore is at or before `now` -> QUEUED. Value: how many (bounded as
  // above).
  virtual Expected<Mutation<int>> PromoteDue(WallTime now) = 0;
  // The earliest lease expiry of a RUNNING run or notBefore of a CREATED job: the one timer the
  // server needs. nullopt when there is none.
  virtual Expected<std::optional<WallTime>> NextWakeTime() = 0;

  // ---- Notify (protocol.md §4 JobNotify) ----
  // pending = the agent's QUEUED jobs; cancel = its RUNNING runs whose cancel was requested.
  virtual Expected<protocol::NotifyResponse> AgentQueueState(std::string_view agent_id) = 0;

  // ---- Metrics (protocol.md §5 /metrics: jobs by type and status) ----
  // Every (type, status) pair that has at least one job, sorted by type then status.
  virtual Expected<std::vector<JobCount>> CountJobs() = 0;

  // ---- Events (protocol.md §6) ----
  // Appends server-made events (agent.online / agent.offline); their seq is assigned here.
  virtual Expected<Mutation<Unit>> AppendEvents(std::vector<protocol::Event> events) = 0;
  // Events with seq > after_seq, oldest first, at most `limit` (clamped to 1..10000).
  virtual Expected<std::vector<protocol::Event>> ReadEvents(std::int64_t after_seq, int limit,
                                                            const EventFilter& filter) = 0;
  // Every kept event of the job, oldest first. not_found for an unknown job.
  virtual Expected<std::vector<protocol::Event>> JobEvents(std::string_view job_id) = 0;
  // The highest seq ever assigned (0 before the first event), pruned events included.
  virtual Expected<std::int64_t> LastEventSeq() = 0;
  // The lowest seq still kept; LastEventSeq() + 1 when none is kept. A client with
  // since < OldestEventSeq() - 1 missed events and needs a resync.
  virtual Expected<std::int64_t> OldestEventSeq() = 0;
  // Keeps the newest `keep_last` events and deletes the rest. Value: how many were deleted.
  virtual Expected<std::int64_t> PruneEvents(std::int64_t keep_last) = 0;

  // ---- Retention (docs/decisions/0018): each call is one short transaction of at most `limit`
  // rows of its kind; the caller calls again while a call returns `limit` ----
  // Deletes the oldest events whose timestamp is before `before`, oldest first, stopping at the
  // first one that is not: what is left is still the newest events, so a stream client asking
  // `since` a deleted one is told to resync (OldestEventSeq). Value: how many.
  virtual Expected<std::int64_t> PruneEventsBefore(WallTime before, int limit) = 0;
  // Deletes finished jobs (COMPLETED, FAILED, CANCELLED) whose final time (their last change) is
  // before `finished_before`, with their runs, log lines, events and idempotency key; never an
  // unfinished job. At most `limit` jobs, one transaction. Value: how many jobs.
  virtual Expected<std::int64_t> PruneJobs(WallTime finished_before, int limit) = 0;
  // Deletes idempotency keys created before `created_before` (a create with such a key is then a
  // new request). At most `limit`. Value: how many.
  virtual Expected<std::int64_t> PruneIdempotencyKeys(WallTime created_before, int limit) = 0;

  // ---- Leader lease (one replica runs the timers) ----
  // Takes or renews the lease `name` for `holder` until now + ttl when it is free, expired
  // (expires_at <= now) or already `holder`'s; otherwise reports who holds it. Atomic across
  // replicas: at any time at most one holder gets held = true for an unexpired lease.
  virtual Expected<Leadership> TryLeadership(std::string_view name, std::string_view holder,
                                             WallTime now, std::chrono::milliseconds ttl) = 0;
  // Gives the lease up if `holder` has it (on a clean shutdown), so another takes over at once.
  virtual Status ReleaseLeadership(std::string_view name, std::string_view holder) = 0;

  // ---- Artifacts (protocol.md §5 PUT/GET /v1/artifacts), shared by every replica ----
  // Stores `size` bytes (at most kMaxArtifactBytes) from `read` as the artifact `sha256` (64
  // lower-case hex digits) unless it exists. The bytes are streamed, never held whole, and are
  // checked: invalid_request when they do not have `size` bytes or that sha256 (nothing stored).
  // Value: true when stored by this call, false when it existed. Visible to readers only whole.
  virtual Expected<bool> PutArtifact(std::string_view sha256, std::uint64_t size,
                                     const ArtifactSource& read) = 0;
  // not_found for an artifact that is not (completely) stored, or a malformed sha256.
  virtual Expected<ArtifactStat> StatArtifact(std::string_view sha256) = 0;
  // Writes bytes [offset, offset + length) of the artifact to `write`, in pieces of at most
  // 1 MiB, in order (a Range request). not_found as above; invalid_request when the range is not
  // inside the artifact.
  virtual Status ReadArtifact(std::string_view sha256, std::uint64_t offset, std::uint64_t length,
                              const ArtifactSink& write) = 0;
  // Every stored artifact, oldest first, with the count of unfinished jobs whose payload names
  // its sha256 (a `sha256` field or a URL ending in /v1/artifacts/<sha256>; any 64 hex digits
  // count, so an artifact is kept rather than lost when in doubt).
  virtual Expected<std::vector<ArtifactEntry>> ListArtifacts() = 0;
  // Deletes the artifact. not_found when it is not stored (or the sha256 is malformed);
  // invalid_state, deleting nothing, while an unfinished job names it (the message says how many
  // and one of them).
  virtual Status DeleteArtifact(std::string_view sha256) = 0;
  // Deletes at most `limit` artifacts created before `created_before` that no unfinished job
  // names. Value: how many.
  virtual Expected<int> PruneArtifacts(WallTime created_before, int limit) = 0;

  // ---- Rollouts (docs/protocol.md "Rollouts", docs/decisions/0021) ----
  // Creates the rollout with its hosts: the enrolled agents matching the target now, in agent id
  // order or shuffled ("random"). No job yet: AdvanceRollout starts the first hosts.
  // invalid_request naming the field for a policy that is not valid, an agentIds entry that is
  // not an enrolled agent, or a target matching no host (nothing created);
  // idempotency_conflict as for jobs. Event rollout.created.
  virtual Expected<Mutation<CreatedRollout>> CreateRollout(const CreateRolloutCommand& command,
                                                           WallTime now) = 0;
  virtual Expected<protocol::Rollout> GetRollout(std::string_view id) = 0;
  // Newest first; limit clamped to 1..kMaxListLimit; invalid_request for a bad cursor or status.
  virtual Expected<protocol::RolloutList> ListRollouts(
      const RolloutFilter& filter, int limit, const std::optional<std::string>& cursor) = 0;
  // The hosts in rollout order, optionally only those in `status` (pending, waiting, ...).
  virtual Expected<protocol::RolloutHostList> ListRolloutHosts(
      std::string_view id, const std::optional<std::string>& status, int limit,
      const std::optional<std::string>& cursor) = 0;
  // RUNNING -> PAUSED (rollout.paused), PAUSED -> RUNNING (rollout.resumed), RUNNING or PAUSED ->
  // ABORTED (rollout.aborted; its queued and waiting jobs, and with cancel_running its running
  // ones, are cancelled by the following AdvanceRollout calls). invalid_state otherwise,
  // not_found for an unknown rollout.
  virtual Expected<Mutation<protocol::Rollout>> PauseRollout(std::string_view id, WallTime now) = 0;
  virtual Expected<Mutation<protocol::Rollout>> ResumeRollout(std::string_view id,
                                                              WallTime now) = 0;
  virtual Expected<Mutation<protocol::Rollout>> AbortRollout(std::string_view id,
                                                             bool cancel_running, WallTime now) = 0;
  // In one transaction: DecideRollout over the rollout's hosts at `now`, applied (jobs created
  // with rolloutId, timed-out and unenrolled hosts' jobs cancelled and the hosts skipped, abort,
  // completion), at most ops::kRolloutBatch hosts per call. Events: the jobs' own, then
  // rollout.aborted or rollout.completed when the status changed, else rollout.progress when the
  // counts did. Safe to call at any time, from any replica, any number of times.
  virtual Expected<Mutation<RolloutAdvance>> AdvanceRollout(std::string_view id, WallTime now) = 0;
  // The rollouts to advance: with `now`, those whose wake time has come; without, every one
  // still RUNNING or PAUSED or with work left (a new leader's first round).
  virtual Expected<std::vector<std::string>> RolloutsDue(std::optional<WallTime> now) = 0;
  // ---- Schedules (docs/protocol.md "Schedules", docs/decisions/0022) ----
  // Creates a schedule from a decoded POST /v1/schedules body: cron, timeZone, overlap, catchUp
  // (orchestration::ValidateSchedule) and every step (protocol::ValidateCreateJob, fields named
  // "steps[i].<field>") are checked first; invalid_request (or the step's code) naming every
  // field, nothing created. Its "last considered" instant is `now`: no fire before it is ever
  // due. Event schedule.created.
  virtual Expected<Mutation<protocol::Schedule>> CreateSchedule(
      const protocol::ScheduleRequest& request, WallTime now) = 0;
  // The schedule with nextFires (the next 5 after `now`; none while disabled) and lastFires (the
  // latest 10, newest first, jobIds cut at 100). not_found.
  virtual Expected<protocol::Schedule> GetSchedule(std::string_view schedule_id, WallTime now) = 0;
  // Oldest first (ids grow with creation), with nextFires and lastFires holding only the newest
  // fire (none when never fired). limit clamped to
  // 1..kMaxListLimit; `cursor` a nextCursor of an earlier call (invalid_request otherwise).
  virtual Expected<protocol::ScheduleList> ListSchedules(int limit,
                                                         const std::optional<std::string>& cursor,
                                                         WallTime now) = 0;
  // Applies the fields set in `patch`, validated as for CreateSchedule on the result. A change of
  // cron, timeZone or enabled makes `now` the last considered instant (fires before it are
  // neither due nor missed). not_found; event schedule.updated.
  virtual Expected<Mutation<protocol::Schedule>> UpdateSchedule(
      std::string_view schedule_id, const protocol::ScheduleRequest& patch, WallTime now) = 0;
  // Deletes the schedule and its fire records (a fire still in progress stops); its jobs stay,
  // with their scheduleId. not_found; event schedule.deleted.
  virtual Expected<Mutation<Unit>> DeleteSchedule(std::string_view schedule_id, WallTime now) = 0;
  // Fires the schedule at `fire_time` whether due or not (POST /v1/schedules/{id}/fire, also
  // disabled ones): claims (schedule, fireTime), unique in the database, resolves the target's
  // hosts then and creates each host's chain (overlap rules), kFireBatchHosts hosts per
  // transaction; event schedule.fired when the last host is done. A (schedule, fireTime) claimed
  // before answers existing = true and the jobs created so far by this call (none). not_found.
  virtual Expected<Mutation<ScheduleFireResult>> FireSchedule(std::string_view schedule_id,
                                                              WallTime fire_time, WallTime now) = 0;
  // The schedules' timer (on the leader): for each enabled schedule, DecideDueFire with `now`
  // and its last considered instant, taken and applied in one transaction (the fire claimed,
  // skipped_through recorded), then the fire's chains as FireSchedule; also finishes fires that
  // another instance left unfinished (it died between two batches). With `on_fire` set, each
  // fire's events are handed to it as soon as the fire is committed (a pass that fires 100
  // schedules takes a while; their jobs' events should not wait for the last one), and the
  // value's events hold only the rest; the touched agents are all in the value.
  using FireSink = std::function<void(std::vector<protocol::Event> events)>;
  virtual Expected<Mutation<ScheduleTick>> FireDueSchedules(WallTime now,
                                                            const FireSink& on_fire) = 0;

  // ---- Host inventory (docs/protocol.md "Host inventory", docs/decisions/0024) ----
  // Keeps `inventory` as the agent's latest (one per agent, replacing the one before). Appends
  // agent.inventory (agentId, message: the instances by state, timestamp `now`) when
  // protocol::DeservesInventoryEvent says so. Value: whether it appended the event. not_found
  // for an unknown agent. ListAgents carries the summary of the latest (AgentInfo::inventory).
  virtual Expected<Mutation<bool>> PutInventory(std::string_view agent_id,
                                                const protocol::HostInventory& inventory,
                                                WallTime now) = 0;
  // The agent's latest inventory. not_found for an unknown agent or one that reported none yet.
  virtual Expected<protocol::HostInventory> GetInventory(std::string_view agent_id) = 0;

  // ---- Logs (protocol.md §5 GET /v1/jobs/{id}/logs) ----
  // Lines of the job (or of one of its runs) ordered by run, then seq. not_found for an unknown
  // job or a run of another job. logs_dropped: the run's (run_id) or the job's runs' lines past
  // the log cap; log_cap: this store's cap, set when logs_dropped > 0.
  virtual Expected<protocol::JobLogs> ReadLogs(const LogQuery& query) = 0;

  // ---- Stats history (docs/protocol.md "Stats history", docs/decisions/0025) ----
  // The `minutes` whole minutes ending with the minute of `now` (1..1440, the caller checks):
  // per minute the jobs that ended in it by final status, and p50/p95 of their final runs'
  // queued->start and duration. One read query; at most kHistoryMaxRows jobs (`truncated`).
  virtual Expected<protocol::StatsHistory> ReadHistory(WallTime now, int minutes) = 0;
};

}  // namespace orb::store
