#include "store/migrations/sqlite_migrations.hpp"

#include <array>

namespace orb::store {
namespace {

// Times are Unix milliseconds (INTEGER); JSON columns hold codec text (protocol/codec.hpp).
constexpr std::string_view kInitialSchema = R"sql(
CREATE TABLE tokens (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  role          TEXT NOT NULL,
  agent_id      TEXT,
  token_hash    TEXT NOT NULL UNIQUE,
  created_at_ms INTEGER NOT NULL,
  revoked_at_ms INTEGER
);
CREATE INDEX tokens_agent ON tokens (agent_id);

CREATE TABLE agents (
  id                   TEXT PRIMARY KEY,
  labels_json          TEXT NOT NULL DEFAULT '{}',
  declared_labels_json TEXT NOT NULL DEFAULT '{}',
  enrolled_at_ms       INTEGER NOT NULL,
  revoked_at_ms        INTEGER,
  agent_version        TEXT,
  job_types            TEXT NOT NULL DEFAULT '',
  max_parallel         INTEGER NOT NULL DEFAULT 0,
  hello_at_ms          INTEGER,
  last_seen_ms         INTEGER
);

CREATE TABLE jobs (
  id                    TEXT PRIMARY KEY,
  agent_id              TEXT NOT NULL REFERENCES agents (id),
  type                  TEXT NOT NULL,
  instance_id           TEXT,
  server_id             TEXT,
  payload_json          TEXT NOT NULL,
  status                TEXT NOT NULL,
  priority              INTEGER NOT NULL,
  exclusive             INTEGER NOT NULL,
  max_attempts          INTEGER NOT NULL,
  retry_backoff_seconds INTEGER NOT NULL,
  timeout_seconds       INTEGER NOT NULL,
  not_before_ms         INTEGER,
  idempotency_key       TEXT,
  batch_id              TEXT,
  attempts              INTEGER NOT NULL DEFAULT 0,
  cancel_requested      INTEGER NOT NULL DEFAULT 0,
  current_run_id        TEXT,
  last_error_json       TEXT,
  result_json           TEXT,
  queued_at_ms          INTEGER,
  created_at_ms         INTEGER NOT NULL,
  updated_at_ms         INTEGER NOT NULL
);
-- The dispatch order of protocol.md §3, per agent.
CREATE INDEX jobs_dispatch ON jobs (agent_id, status, priority DESC, queued_at_ms, id);
CREATE INDEX jobs_agent_id ON jobs (agent_id, id);
CREATE INDEX jobs_status ON jobs (status, not_before_ms);
CREATE INDEX jobs_type ON jobs (type, id);
CREATE INDEX jobs_instance ON jobs (instance_id, id);
CREATE INDEX jobs_batch ON jobs (batch_id, id);

CREATE TABLE idempotency_keys (
  key           TEXT PRIMARY KEY,
  fingerprint   TEXT NOT NULL,
  job_id        TEXT,
  batch_id      TEXT,
  created_at_ms INTEGER NOT NULL
);

CREATE TABLE runs (
  id               TEXT PRIMARY KEY,
  job_id           TEXT NOT NULL REFERENCES jobs (id),
  agent_id         TEXT NOT NULL,
  attempt          INTEGER NOT NULL,
  status           TEXT NOT NULL,
  started_at_ms    INTEGER NOT NULL,
  finished_at_ms   INTEGER,
  percent          INTEGER,
  message          TEXT,
  result_json      TEXT,
  error_json       TEXT,
  lease_expires_ms INTEGER,
  acked_update_seq INTEGER NOT NULL DEFAULT 0,
  acked_log_seq    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_job ON runs (job_id, attempt);
CREATE INDEX runs_lease ON runs (lease_expires_ms) WHERE status = 'RUNNING';
CREATE INDEX runs_agent_running ON runs (agent_id) WHERE status = 'RUNNING';

CREATE TABLE job_logs (
  run_id  TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  job_id  TEXT NOT NULL,
  ts_ms   INTEGER NOT NULL,
  level   TEXT NOT NULL,
  message TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX job_logs_job ON job_logs (job_id, run_id, seq);

-- AUTOINCREMENT: a seq is never reused, also after pruning (protocol.md §6 "since").
CREATE TABLE events (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  type        TEXT NOT NULL,
  ts_ms       INTEGER NOT NULL,
  job_id      TEXT,
  run_id      TEXT,
  agent_id    TEXT,
  instance_id TEXT,
  job_type    TEXT,
  status      TEXT,
  percent     INTEGER,
  message     TEXT,
  attempt     INTEGER,
  error_json  TEXT
);
CREATE INDEX events_job ON events (job_id, seq);
CREATE INDEX events_agent ON events (agent_id, seq);
)sql";

// Every write that changes an agent's queue tells the agent's notify state to fleet-cmdr
// (store.hpp, on_queues_committed). Counting the QUEUED jobs each time cost O(queue length) per
// write; triggers keep the count in the agent's row, in the same transaction as the change.
constexpr std::string_view kQueuedJobsCount = R"sql(
ALTER TABLE agents ADD COLUMN queued_jobs INTEGER NOT NULL DEFAULT 0;
UPDATE agents SET queued_jobs =
  (SELECT COUNT(*) FROM jobs WHERE jobs.agent_id = agents.id AND jobs.status = 'QUEUED');
CREATE TRIGGER jobs_queued_insert AFTER INSERT ON jobs WHEN new.status = 'QUEUED'
BEGIN
  UPDATE agents SET queued_jobs = queued_jobs + 1 WHERE id = new.agent_id;
END;
CREATE TRIGGER jobs_queued_update AFTER UPDATE OF status ON jobs
  WHEN (old.status = 'QUEUED') != (new.status = 'QUEUED')
BEGIN
  UPDATE agents SET queued_jobs = queued_jobs + (CASE WHEN new.status = 'QUEUED' THEN 1 ELSE -1 END)
    WHERE id = new.agent_id;
END;
CREATE TRIGGER jobs_queued_delete AFTER DELETE ON jobs WHEN old.status = 'QUEUED'
BEGIN
  UPDATE agents SET queued_jobs = queued_jobs - 1 WHERE id = old.agent_id;
END;
)sql";

// Every commit writes each B-tree page it changed to the WAL, and a page keyed by agent is a
// different page for every agent in a group commit. jobs_dispatch held every job of an agent, keyed
// by status, so a dispatch moved an entry between two per-agent places and a final update between
// two more; events_agent added one per event. The queue index now holds only QUEUED jobs, the
// running jobs have a small index of their own (a few pages for the whole fleet), and events are
// filtered by agent while scanning by seq (a stream replay reads seq order anyway). jobs_status
// (status, id) serves the list filter newest first and the few CREATED jobs that wait for a time.
constexpr std::string_view kNarrowIndexes = R"sql(
DROP INDEX jobs_dispatch;
DROP INDEX jobs_status;
DROP INDEX events_agent;
-- The dispatch order of protocol.md §3, per agent.
CREATE INDEX jobs_queue ON jobs (agent_id, priority DESC, queued_at_ms, id) WHERE status = 'QUEUED';
CREATE INDEX jobs_running ON jobs (agent_id) WHERE status = 'RUNNING';
CREATE INDEX jobs_status ON jobs (status, id);
)sql";

// Write cost per job transition, again (docs/decisions/0003): AUTOINCREMENT read and rewrote
// sqlite_sequence at every event insert, and runs_agent_running was a second copy of
// jobs_running (a job is RUNNING exactly while its current run is). The store now hands out event
// seqs itself (one counter on the writer thread, above every seq ever used), and keeps the floor
// that pruning must not let it go under in store_meta: 'events_seq_floor' is a seq that no new
// event may have or go below. It starts at the old AUTOINCREMENT value, so a seq is never reused
// across the upgrade either.
constexpr std::string_view kPlainEventSeq = R"sql(
DROP INDEX runs_agent_running;
CREATE TABLE store_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO store_meta (key, value)
  SELECT 'events_seq_floor', COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0);
CREATE TABLE events_plain (
  seq         INTEGER PRIMARY KEY,
  type        TEXT NOT NULL,
  ts_ms       INTEGER NOT NULL,
  job_id      TEXT,
  run_id      TEXT,
  agent_id    TEXT,
  instance_id TEXT,
  job_type    TEXT,
  status      TEXT,
  percent     INTEGER,
  message     TEXT,
  attempt     INTEGER,
  error_json  TEXT
);
INSERT INTO events_plain (seq, type, ts_ms, job_id, run_id, agent_id, instance_id, job_type, status, percent, message,
  attempt, error_json)
  SELECT seq, type, ts_ms, job_id, run_id, agent_id, instance_id, job_type, status, percent, message,
  attempt, error_json FROM events ORDER BY seq;
DROP TABLE events;
ALTER TABLE events_plain RENAME TO events;
CREATE INDEX events_job ON events (job_id, seq);
)sql";

// What several replicas need from the store (store.hpp; on SQLite too, so both stores keep one
// contract): presence kept in the agents' rows (agent.online / agent.offline once per change),
// a change version per token (each token change takes the next store_meta 'tokens_version', so
// a token cache can follow creations and revocations) and leader leases.
constexpr std::string_view kReplicaState = R"sql(
ALTER TABLE agents ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
CREATE INDEX agents_online ON agents (last_seen_ms) WHERE online = 1;
ALTER TABLE tokens ADD COLUMN change_version INTEGER NOT NULL DEFAULT 0;
UPDATE tokens SET change_version = rowid;
CREATE INDEX tokens_change ON tokens (change_version);
INSERT INTO store_meta (key, value)
  SELECT 'tokens_version', COALESCE(MAX(change_version), 0) FROM tokens;
CREATE TABLE leases (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// The latest health report of each agent (POST /v1/agents/{id}/status), as its JSON.
constexpr std::string_view kAgentHealth = R"sql(
ALTER TABLE agents ADD COLUMN health_json TEXT;
)sql";

// Job dependencies (docs/protocol.md "Job dependencies", docs/decisions/0019): one row per
// dependency, found by the job that waits (the primary key) and by the job waited for
// (job_dependencies_on). jobs.deps_waiting counts a job's dependencies not COMPLETED yet (a job
// waits while it is > 0: PromoteDue and NextWakeTime pass it over); jobs.has_dependents is set
// once a job gets a dependent, so the end of a job without one never looks at job_dependencies.
constexpr std::string_view kJobDependencies = R"sql(
CREATE TABLE job_dependencies (
  job_id     TEXT NOT NULL,
  depends_on TEXT NOT NULL,
  position   INTEGER NOT NULL,
  PRIMARY KEY (job_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX job_dependencies_on ON job_dependencies (depends_on);
ALTER TABLE jobs ADD COLUMN deps_waiting INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN has_dependents INTEGER NOT NULL DEFAULT 0;
)sql";

// The per-run log cap (docs/decisions/0020): what a run stored (lines, message bytes) and how
// many lines beyond the cap were acknowledged but not stored. Kept in the run's row, which
// ApplyUpdates already reads and writes, so counting costs no extra statement and no index.
constexpr std::string_view kRunLogCounts = R"sql(
ALTER TABLE runs ADD COLUMN log_lines INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN logs_dropped INTEGER NOT NULL DEFAULT 0;
)sql";

// Rollouts (docs/protocol.md "Rollouts", docs/decisions/0021): a rollout's row keeps its request
// (target, job, policy as their JSON), its status, current phase, counts and when time alone next
// changes its decision (wake_ms); rollout_hosts its hosts, a snapshot of the target in rollout
// order, with the job each got (job_id) and whether the rollout gave it up (skipped). Jobs and
// events carry the rollout's id; no index on jobs.rollout_id (decision 0003: the job insert is
// the hot path; GET /v1/jobs?rolloutId= reads the rollout's hosts instead).
constexpr std::string_view kRollouts = R"sql(
CREATE TABLE rollouts (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  status          TEXT NOT NULL,
  target_json     TEXT NOT NULL,
  job_json        TEXT NOT NULL,
  policy_json     TEXT NOT NULL,
  host_order      TEXT NOT NULL,
  phase           INTEGER NOT NULL DEFAULT 0,
  counts_json     TEXT NOT NULL,
  cancel_running  INTEGER NOT NULL DEFAULT 0,
  wake_ms         INTEGER,
  idempotency_key TEXT UNIQUE,
  fingerprint     TEXT,
  created_at_ms   INTEGER NOT NULL,
  updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX rollouts_status ON rollouts (status, id);
CREATE TABLE rollout_hosts (
  rollout_id TEXT NOT NULL,
  position   INTEGER NOT NULL,
  agent_id   TEXT NOT NULL,
  job_id     TEXT,
  skipped    INTEGER NOT NULL DEFAULT 0,
  started_ms INTEGER,
  PRIMARY KEY (rollout_id, position)
) WITHOUT ROWID;
ALTER TABLE jobs ADD COLUMN rollout_id TEXT;
ALTER TABLE events ADD COLUMN rollout_id TEXT;
ALTER TABLE events ADD COLUMN counts_json TEXT;
)sql";

// Schedules (docs/protocol.md "Schedules", docs/decisions/0022). schedules: one row per schedule,
// target and steps as their wire JSON; considered_ms is the "last considered" instant of
// DecideDueFire (the latest fire recorded, run or skipped, or when cron, timeZone or enabled last
// changed). schedule_fires: one row per (schedule, fireTime), its primary key the guarantee that
// a fire happens once whatever the replicas and restarts; pending_agents holds the hosts a fire
// still has to create chains for (a large fire is done in bounded batches, and a replica that
// dies between two continues on the next leader). schedule_hosts: the last job of each host's
// latest chain, for overlap "skip" and "queue". job_schedules: the schedule and fire time of each
// job a fire created, beside the jobs table rather than in it: two more columns in jobs change
// SQLite's row-size estimate enough that it reads an agent's RUNNING jobs through jobs_status
// (every running job of the fleet) instead of jobs_running (measured with EXPLAIN QUERY PLAN;
// sqlite_store_test's narrow-index test), and jobs without a schedule cost nothing
// (docs/decisions/0003). job_dependencies.any_end marks a dependency that is satisfied by any end
// of the job waited for (the first step of a queued chain), not only COMPLETED. events.extra_json
// holds the fields of events that are about no job (scheduleId, fireTime, jobIds).
constexpr std::string_view kSchedules = R"sql(
CREATE TABLE schedules (
  id             TEXT PRIMARY KEY,
  name           TEXT NOT NULL,
  cron           TEXT NOT NULL,
  time_zone      TEXT NOT NULL,
  target_json    TEXT NOT NULL,
  steps_json     TEXT NOT NULL,
  overlap        TEXT NOT NULL,
  catch_up       TEXT NOT NULL,
  enabled        INTEGER NOT NULL,
  considered_ms  INTEGER NOT NULL,
  created_at_ms  INTEGER NOT NULL,
  updated_at_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE schedule_fires (
  schedule_id    TEXT NOT NULL,
  fire_time_ms   INTEGER NOT NULL,
  fired_at_ms    INTEGER NOT NULL,
  pending_agents TEXT NOT NULL,
  job_count      INTEGER NOT NULL DEFAULT 0,
  job_ids        TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (schedule_id, fire_time_ms)
) WITHOUT ROWID;
CREATE INDEX schedule_fires_pending ON schedule_fires (fired_at_ms) WHERE pending_agents <> '';
CREATE TABLE schedule_hosts (
  schedule_id TEXT NOT NULL,
  agent_id    TEXT NOT NULL,
  last_job_id TEXT NOT NULL,
  PRIMARY KEY (schedule_id, agent_id)
) WITHOUT ROWID;
CREATE TABLE job_schedules (
  job_id       TEXT PRIMARY KEY,
  schedule_id  TEXT NOT NULL,
  fire_time_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX job_schedules_schedule ON job_schedules (schedule_id, job_id);
ALTER TABLE job_dependencies ADD COLUMN any_end INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN extra_json TEXT;
)sql";

// Host inventory (docs/decisions/0024): each agent's latest report, one row per agent, replaced by
// the next. The counts of instances by state beside the JSON text let GET /v1/agents summarize
// every agent without reading (or parsing) each inventory. Apart from the agents table, so a
// report rewrites one small row and never the agent's hot row.
constexpr std::string_view kInventories = R"sql(
CREATE TABLE agent_inventories (
  agent_id       TEXT PRIMARY KEY REFERENCES agents (id),
  inventory_json TEXT NOT NULL,
  reported_at_ms INTEGER NOT NULL,
  received_at_ms INTEGER NOT NULL,
  running        INTEGER NOT NULL,
  stopped        INTEGER NOT NULL,
  crashed        INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Version 12 (docs/decisions/0026): a rollout's advance reads only its hosts that are not final
// yet. rollout_hosts.outcome is set once a host is final and counted in the rollout's settled_*
// columns; the two partial indexes find the started hosts still going and the first pending ones
// without reading the settled ones.
constexpr std::string_view kRolloutWindow = R"sql(
ALTER TABLE rollout_hosts ADD COLUMN outcome TEXT;
ALTER TABLE rollouts ADD COLUMN settled_completed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN settled_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN settled_cancelled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN settled_skipped INTEGER NOT NULL DEFAULT 0;
CREATE INDEX rollout_hosts_started ON rollout_hosts (rollout_id, position)
  WHERE outcome IS NULL AND job_id IS NOT NULL;
CREATE INDEX rollout_hosts_pending ON rollout_hosts (rollout_id, position)
  WHERE outcome IS NULL AND job_id IS NULL;
)sql";

// Version 13 (docs/decisions/0028): the finished jobs by their final time, for the stats
// history's read (GET /v1/stats/history), which otherwise reads every finished job kept.
constexpr std::string_view kJobsEnded = R"sql(
CREATE INDEX jobs_ended ON jobs (updated_at_ms)
  WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED');
)sql";

// Version 14 (docs/decisions/0026, "Hosts by state"): an advance reads what changed, not every
// host in flight. rollout_hosts.job_status is the host's job's status and unenrolled whether its
// agent is revoked, both kept by triggers (so that every writer keeps them, including a replica of
// the previous version during a rolling upgrade); cancel_asked is set by an abort that asked the
// host's running job to stop. rollout_hosts_in_flight counts the hosts in flight by state from the
// index alone and finds the final, timed-out and unenrolled ones; rollout_hosts_cancel the running
// ones an abort with cancelRunning has still to ask; rollout_hosts_job and _agent are the
// triggers' way to a job's or an agent's hosts. rollout_hosts_started is not read any more.
constexpr std::string_view kRolloutHostStates = R"sql(
ALTER TABLE rollout_hosts ADD COLUMN job_status TEXT;
ALTER TABLE rollout_hosts ADD COLUMN unenrolled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollout_hosts ADD COLUMN cancel_asked INTEGER NOT NULL DEFAULT 0;
UPDATE rollout_hosts SET job_status =
  COALESCE((SELECT status FROM jobs WHERE jobs.id = rollout_hosts.job_id), 'CANCELLED')
  WHERE job_id IS NOT NULL;
UPDATE rollout_hosts SET unenrolled = 1 WHERE outcome IS NULL
  AND agent_id IN (SELECT id FROM agents WHERE revoked_at_ms IS NOT NULL);
CREATE INDEX rollout_hosts_job ON rollout_hosts (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX rollout_hosts_agent ON rollout_hosts (agent_id) WHERE outcome IS NULL;
CREATE INDEX rollout_hosts_in_flight
  ON rollout_hosts (rollout_id, job_status, unenrolled, started_ms, position, outcome)
  WHERE outcome IS NULL AND job_status IS NOT NULL;
CREATE INDEX rollout_hosts_cancel ON rollout_hosts (rollout_id, position)
  WHERE outcome IS NULL AND job_status = 'RUNNING' AND cancel_asked = 0;
CREATE TRIGGER rollout_hosts_job_status AFTER UPDATE OF status ON jobs
  WHEN new.rollout_id IS NOT NULL AND new.status IS NOT old.status
BEGIN
  UPDATE rollout_hosts SET job_status = new.status
    WHERE job_id = new.id;
END;
CREATE TRIGGER rollout_hosts_job_started AFTER UPDATE OF job_id ON rollout_hosts
  WHEN new.job_id IS NOT NULL AND new.job_id IS NOT old.job_id
BEGIN
  UPDATE rollout_hosts SET job_status = (SELECT status FROM jobs WHERE id = new.job_id)
    WHERE rollout_id = new.rollout_id AND position = new.position;
END;
CREATE TRIGGER rollout_hosts_unenrolled AFTER UPDATE OF revoked_at_ms ON agents
  WHEN (new.revoked_at_ms IS NULL) != (old.revoked_at_ms IS NULL)
BEGIN
  UPDATE rollout_hosts SET unenrolled = (new.revoked_at_ms IS NOT NULL)
    WHERE agent_id = new.id AND outcome IS NULL;
END;
)sql";

// Version 15: a rollout's hosts by their start time, for maxPerMinute's count of the hosts
// started within its pace's window (docs/decisions/0021, "A pace"). Written once per host, when
// it starts.
constexpr std::string_view kRolloutStartTimes = R"sql(
CREATE INDEX rollout_hosts_start_time ON rollout_hosts (rollout_id, started_ms)
  WHERE started_ms IS NOT NULL;
)sql";

// Version 16: why an aborted rollout stopped (docs/decisions/0021, "Why it stopped"), written by
// the transaction that aborts it.
constexpr std::string_view kRolloutAbortReason = R"sql(
ALTER TABLE rollouts ADD COLUMN abort_reason TEXT;
)sql";

constexpr std::array<Migration, 16> kMigrations{{
    {1, "initial schema: tokens, agents, jobs, runs, logs, events", kInitialSchema},
    {2, "agents.queued_jobs kept by triggers", kQueuedJobsCount},
    {3, "narrow indexes: queued and running jobs apart, no per-agent event index", kNarrowIndexes},
    {4, "event seqs from the store, not AUTOINCREMENT; no runs_agent_running", kPlainEventSeq},
    {5, "presence, token change versions, leader leases", kReplicaState},
    {6, "agents.health_json: the latest health report", kAgentHealth},
    {7, "job dependencies: job_dependencies, jobs.deps_waiting, jobs.has_dependents",
     kJobDependencies},
    {8, "run log cap: runs.log_lines, runs.log_bytes, runs.logs_dropped", kRunLogCounts},
    {9, "rollouts: rollouts, rollout_hosts, jobs.rollout_id, events.rollout_id and counts_json",
     kRollouts},
    {10, "schedules: schedules, schedule_fires, schedule_hosts, job_schedules", kSchedules},
    {11, "host inventory: agent_inventories, the latest report per agent", kInventories},
    {12, "rollout windows: rollout_hosts.outcome, rollouts.settled_*, open-host indexes",
     kRolloutWindow},
    {13, "jobs_ended: finished jobs by their final time, for the stats history", kJobsEnded},
    {14, "rollout host states: rollout_hosts.job_status, unenrolled, cancel_asked, triggers",
     kRolloutHostStates},
    {15, "rollout_hosts_start_time: hosts by start time, for maxPerMinute", kRolloutStartTimes},
    {16, "rollouts.abort_reason: why an aborted rollout stopped", kRolloutAbortReason},
}};

}  // namespace

std::span<const Migration> SqliteMigrations() {
  return kMigrations;
}

}  // namespace orb::store
