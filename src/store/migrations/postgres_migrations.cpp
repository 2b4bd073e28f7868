#include "store/migrations/postgres_migrations.hpp"

#include <array>

namespace orb::store {
namespace {

// The schema SQLite reached with its migration 5 (sqlite_migrations.cpp), in PostgreSQL's terms,
// so the shared operations (store/ops) run the same SQL on both:
//  - Times are Unix milliseconds (BIGINT), flags INTEGER 0/1, JSON columns codec text.
//  - Ids, names and keys are COLLATE "C": ordered byte by byte as SQLite (and std::string) order
//    them, whatever the database's locale; the batch locks agents' rows in that order.
//  - agents.queued_jobs is kept by a trigger, as on SQLite.
//  - store_meta holds 'events_last' (the event counter: the highest seq given out, taken by the
//    last statement of each commit that carries events, docs/decisions/0012) and
//    'tokens_version' (the token change feed).
//  - artifacts: 1 MiB bytea chunks, stored without compression (docs/decisions/0013).
constexpr std::string_view kPgInitialSchema = R"sql(
CREATE TABLE store_meta (
  key   TEXT COLLATE "C" PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO store_meta (key, value) VALUES ('events_last', 0), ('tokens_version', 0);

CREATE TABLE tokens (
  id             TEXT COLLATE "C" PRIMARY KEY,
  name           TEXT NOT NULL,
  role           TEXT NOT NULL,
  agent_id       TEXT COLLATE "C",
  token_hash     TEXT COLLATE "C" NOT NULL UNIQUE,
  created_at_ms  BIGINT NOT NULL,
  revoked_at_ms  BIGINT,
  change_version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tokens_agent ON tokens (agent_id);
CREATE INDEX tokens_change ON tokens (change_version);

CREATE TABLE agents (
  id                   TEXT COLLATE "C" PRIMARY KEY,
  labels_json          TEXT NOT NULL DEFAULT '{}',
  declared_labels_json TEXT NOT NULL DEFAULT '{}',
  enrolled_at_ms       BIGINT NOT NULL,
  revoked_at_ms        BIGINT,
  agent_version        TEXT,
  job_types            TEXT NOT NULL DEFAULT '',
  max_parallel         INTEGER NOT NULL DEFAULT 0,
  hello_at_ms          BIGINT,
  last_seen_ms         BIGINT,
  queued_jobs          INTEGER NOT NULL DEFAULT 0,
  online               INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agents_online ON agents (last_seen_ms) WHERE online = 1;

CREATE TABLE jobs (
  id                    TEXT COLLATE "C" PRIMARY KEY,
  agent_id              TEXT COLLATE "C" NOT NULL REFERENCES agents (id),
  type                  TEXT COLLATE "C" NOT NULL,
  instance_id           TEXT COLLATE "C",
  server_id             TEXT COLLATE "C",
  payload_json          TEXT NOT NULL,
  status                TEXT COLLATE "C" NOT NULL,
  priority              INTEGER NOT NULL,
  exclusive             INTEGER NOT NULL,
  max_attempts          INTEGER NOT NULL,
  retry_backoff_seconds INTEGER NOT NULL,
  timeout_seconds       INTEGER NOT NULL,
  not_before_ms         BIGINT,
  idempotency_key       TEXT COLLATE "C",
  batch_id              TEXT COLLATE "C",
  attempts              INTEGER NOT NULL DEFAULT 0,
  cancel_requested      INTEGER NOT NULL DEFAULT 0,
  current_run_id        TEXT COLLATE "C",
  last_error_json       TEXT,
  result_json           TEXT,
  queued_at_ms          BIGINT,
  created_at_ms         BIGINT NOT NULL,
  updated_at_ms         BIGINT NOT NULL
);
-- The dispatch order of protocol.md §3, per agent; the running jobs apart (docs/decisions/0003).
CREATE INDEX jobs_queue ON jobs (agent_id, priority DESC, queued_at_ms, id) WHERE status = 'QUEUED';
CREATE INDEX jobs_running ON jobs (agent_id) WHERE status = 'RUNNING';
CREATE INDEX jobs_due ON jobs (not_before_ms) WHERE status = 'CREATED';
CREATE INDEX jobs_status ON jobs (status, id);
CREATE INDEX jobs_agent_id ON jobs (agent_id, id);
CREATE INDEX jobs_type ON jobs (type, id);
CREATE INDEX jobs_instance ON jobs (instance_id, id);
CREATE INDEX jobs_batch ON jobs (batch_id, id);

CREATE FUNCTION orb_count_queued_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status = 'QUEUED' THEN
      UPDATE agents SET queued_jobs = queued_jobs + 1 WHERE id = NEW.agent_id;
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    IF (OLD.status = 'QUEUED') <> (NEW.status = 'QUEUED') THEN
      UPDATE agents SET queued_jobs = queued_jobs + (CASE WHEN NEW.status = 'QUEUED' THEN 1 ELSE -1 END)
        WHERE id = NEW.agent_id;
    END IF;
  ELSIF OLD.status = 'QUEUED' THEN
    UPDATE agents SET queued_jobs = queued_jobs - 1 WHERE id = OLD.agent_id;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER jobs_queued_count AFTER INSERT OR UPDATE OF status OR DELETE ON jobs
  FOR EACH ROW EXECUTE FUNCTION orb_count_queued_jobs();

CREATE TABLE idempotency_keys (
  key           TEXT COLLATE "C" PRIMARY KEY,
  fingerprint   TEXT NOT NULL,
  job_id        TEXT COLLATE "C",
  batch_id      TEXT COLLATE "C",
  created_at_ms BIGINT NOT NULL
);

CREATE TABLE runs (
  id               TEXT COLLATE "C" PRIMARY KEY,
  job_id           TEXT COLLATE "C" NOT NULL REFERENCES jobs (id),
  agent_id         TEXT COLLATE "C" NOT NULL,
  attempt          INTEGER NOT NULL,
  status           TEXT COLLATE "C" NOT NULL,
  started_at_ms    BIGINT NOT NULL,
  finished_at_ms   BIGINT,
  percent          INTEGER,
  message          TEXT,
  result_json      TEXT,
  error_json       TEXT,
  lease_expires_ms BIGINT,
  acked_update_seq BIGINT NOT NULL DEFAULT 0,
  acked_log_seq    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX runs_job ON runs (job_id, attempt);
CREATE INDEX runs_lease ON runs (lease_expires_ms) WHERE status = 'RUNNING';

CREATE TABLE job_logs (
  run_id  TEXT COLLATE "C" NOT NULL,
  seq     BIGINT NOT NULL,
  job_id  TEXT COLLATE "C" NOT NULL,
  ts_ms   BIGINT NOT NULL,
  level   TEXT NOT NULL,
  message TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX job_logs_job ON job_logs (job_id, run_id, seq);

CREATE TABLE events (
  seq         BIGINT PRIMARY KEY,
  type        TEXT NOT NULL,
  ts_ms       BIGINT NOT NULL,
  job_id      TEXT COLLATE "C",
  run_id      TEXT COLLATE "C",
  agent_id    TEXT COLLATE "C",
  instance_id TEXT,
  job_type    TEXT,
  status      TEXT,
  percent     INTEGER,
  message     TEXT,
  attempt     INTEGER,
  error_json  TEXT
);
CREATE INDEX events_job ON events (job_id, seq);

CREATE TABLE leases (
  name       TEXT COLLATE "C" PRIMARY KEY,
  holder     TEXT NOT NULL,
  expires_ms BIGINT NOT NULL
);

CREATE TABLE artifacts (
  sha256        TEXT COLLATE "C" PRIMARY KEY,
  size          BIGINT NOT NULL,
  chunk_bytes   INTEGER NOT NULL,
  created_at_ms BIGINT NOT NULL
);
CREATE TABLE artifact_chunks (
  sha256 TEXT COLLATE "C" NOT NULL REFERENCES artifacts (sha256) ON DELETE CASCADE,
  idx    INTEGER NOT NULL,
  data   BYTEA NOT NULL,
  PRIMARY KEY (sha256, idx)
);
-- Artifacts are archives, already compressed: TOAST stores the chunks without trying again.
ALTER TABLE artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
)sql";

// The latest health report of each agent (POST /v1/agents/{id}/status), as its JSON.
constexpr std::string_view kPgAgentHealth = R"sql(
ALTER TABLE agents ADD COLUMN health_json TEXT;
)sql";

// Job dependencies: SQLite's migration 7 (sqlite_migrations.cpp says what each part is for).
constexpr std::string_view kPgJobDependencies = R"sql(
CREATE TABLE job_dependencies (
  job_id     TEXT COLLATE "C" NOT NULL,
  depends_on TEXT COLLATE "C" NOT NULL,
  position   INTEGER NOT NULL,
  PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX job_dependencies_on ON job_dependencies (depends_on);
ALTER TABLE jobs ADD COLUMN deps_waiting INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN has_dependents INTEGER NOT NULL DEFAULT 0;
)sql";

// The per-run log cap: SQLite's migration 8 (sqlite_migrations.cpp says what it is for).
constexpr std::string_view kPgRunLogCounts = R"sql(
ALTER TABLE runs ADD COLUMN log_lines BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN log_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN logs_dropped BIGINT NOT NULL DEFAULT 0;
)sql";

// Rollouts: SQLite's migration 9 (sqlite_migrations.cpp says what each part is for).
constexpr std::string_view kPgRollouts = R"sql(
CREATE TABLE rollouts (
  id              TEXT COLLATE "C" PRIMARY KEY,
  name            TEXT NOT NULL,
  status          TEXT COLLATE "C" NOT NULL,
  target_json     TEXT NOT NULL,
  job_json        TEXT NOT NULL,
  policy_json     TEXT NOT NULL,
  host_order      TEXT NOT NULL,
  phase           INTEGER NOT NULL DEFAULT 0,
  counts_json     TEXT NOT NULL,
  cancel_running  INTEGER NOT NULL DEFAULT 0,
  wake_ms         BIGINT,
  idempotency_key TEXT UNIQUE,
  fingerprint     TEXT,
  created_at_ms   BIGINT NOT NULL,
  updated_at_ms   BIGINT NOT NULL
);
CREATE INDEX rollouts_status ON rollouts (status, id);
CREATE TABLE rollout_hosts (
  rollout_id TEXT COLLATE "C" NOT NULL,
  position   INTEGER NOT NULL,
  agent_id   TEXT COLLATE "C" NOT NULL,
  job_id     TEXT COLLATE "C",
  skipped    INTEGER NOT NULL DEFAULT 0,
  started_ms BIGINT,
  PRIMARY KEY (rollout_id, position)
);
ALTER TABLE jobs ADD COLUMN rollout_id TEXT COLLATE "C";
ALTER TABLE events ADD COLUMN rollout_id TEXT COLLATE "C";
ALTER TABLE events ADD COLUMN counts_json TEXT;
)sql";

// Schedules: SQLite's migration 10 (sqlite_migrations.cpp says what each part is for).
constexpr std::string_view kPgSchedules = R"sql(
CREATE TABLE schedules (
  id             TEXT COLLATE "C" PRIMARY KEY,
  name           TEXT NOT NULL,
  cron           TEXT NOT NULL,
  time_zone      TEXT NOT NULL,
  target_json    TEXT NOT NULL,
  steps_json     TEXT NOT NULL,
  overlap        TEXT NOT NULL,
  catch_up       TEXT NOT NULL,
  enabled        INTEGER NOT NULL,
  considered_ms  BIGINT NOT NULL,
  created_at_ms  BIGINT NOT NULL,
  updated_at_ms  BIGINT NOT NULL
);
CREATE TABLE schedule_fires (
  schedule_id    TEXT COLLATE "C" NOT NULL,
  fire_time_ms   BIGINT NOT NULL,
  fired_at_ms    BIGINT NOT NULL,
  pending_agents TEXT NOT NULL,
  job_count      INTEGER NOT NULL DEFAULT 0,
  job_ids        TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (schedule_id, fire_time_ms)
);
CREATE INDEX schedule_fires_pending ON schedule_fires (fired_at_ms) WHERE pending_agents <> '';
CREATE TABLE schedule_hosts (
  schedule_id TEXT COLLATE "C" NOT NULL,
  agent_id    TEXT COLLATE "C" NOT NULL,
  last_job_id TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (schedule_id, agent_id)
);
CREATE TABLE job_schedules (
  job_id       TEXT COLLATE "C" PRIMARY KEY,
  schedule_id  TEXT COLLATE "C" NOT NULL,
  fire_time_ms BIGINT NOT NULL
);
CREATE INDEX job_schedules_schedule ON job_schedules (schedule_id, job_id);
ALTER TABLE job_dependencies ADD COLUMN any_end INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN extra_json TEXT;
)sql";

// Host inventory (docs/decisions/0024): SQLite's migration 11.
constexpr std::string_view kPgInventories = R"sql(
CREATE TABLE agent_inventories (
  agent_id       TEXT COLLATE "C" PRIMARY KEY REFERENCES agents (id),
  inventory_json TEXT NOT NULL,
  reported_at_ms BIGINT NOT NULL,
  received_at_ms BIGINT NOT NULL,
  running        INTEGER NOT NULL,
  stopped        INTEGER NOT NULL,
  crashed        INTEGER NOT NULL
);
)sql";

// Version 8: SQLite's version 12 (docs/decisions/0026).
constexpr std::string_view kPgRolloutWindow = R"sql(
ALTER TABLE rollout_hosts ADD COLUMN outcome TEXT;
ALTER TABLE rollouts ADD COLUMN settled_completed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN settled_failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN settled_cancelled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN settled_skipped BIGINT NOT NULL DEFAULT 0;
CREATE INDEX rollout_hosts_started ON rollout_hosts (rollout_id, position)
  WHERE outcome IS NULL AND job_id IS NOT NULL;
CREATE INDEX rollout_hosts_pending ON rollout_hosts (rollout_id, position)
  WHERE outcome IS NULL AND job_id IS NULL;
)sql";

// Version 9: SQLite's version 13 (docs/decisions/0028).
constexpr std::string_view kPgJobsEnded = R"sql(
CREATE INDEX jobs_ended ON jobs (updated_at_ms)
  WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED');
)sql";

// Version 10: SQLite's version 14 (docs/decisions/0026, "Hosts by state"); the job-started
// trigger sets the row's own column before it is written.
constexpr std::string_view kPgRolloutHostStates = R"sql(
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
CREATE FUNCTION orb_rollout_host_job_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE rollout_hosts SET job_status = NEW.status
    WHERE job_id = NEW.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollout_hosts_job_status AFTER UPDATE OF status ON jobs
  FOR EACH ROW WHEN (NEW.rollout_id IS NOT NULL AND NEW.status IS DISTINCT FROM OLD.status)
  EXECUTE FUNCTION orb_rollout_host_job_status();
CREATE FUNCTION orb_rollout_host_job_started() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.job_status := (SELECT status FROM jobs WHERE id = NEW.job_id);
  RETURN NEW;
END
$$;
CREATE TRIGGER rollout_hosts_job_started BEFORE UPDATE OF job_id ON rollout_hosts
  FOR EACH ROW WHEN (NEW.job_id IS NOT NULL AND NEW.job_id IS DISTINCT FROM OLD.job_id)
  EXECUTE FUNCTION orb_rollout_host_job_started();
CREATE FUNCTION orb_rollout_host_unenrolled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE rollout_hosts SET unenrolled = (CASE WHEN NEW.revoked_at_ms IS NULL THEN 0 ELSE 1 END)
    WHERE agent_id = NEW.id AND outcome IS NULL;
  RETURN NULL;
END
$$;
CREATE TRIGGER rollout_hosts_unenrolled AFTER UPDATE OF revoked_at_ms ON agents
  FOR EACH ROW WHEN ((NEW.revoked_at_ms IS NULL) <> (OLD.revoked_at_ms IS NULL))
  EXECUTE FUNCTION orb_rollout_host_unenrolled();
)sql";

// Version 11: SQLite's version 15 (rollout_hosts_start_time).
constexpr std::string_view kPgRolloutStartTimes = R"sql(
CREATE INDEX rollout_hosts_start_time ON rollout_hosts (rollout_id, started_ms)
  WHERE started_ms IS NOT NULL;
)sql";

// Version 12: SQLite's version 16 (rollouts.abort_reason).
constexpr std::string_view kPgRolloutAbortReason = R"sql(
ALTER TABLE rollouts ADD COLUMN abort_reason TEXT;
)sql";

constexpr std::array<Migration, 12> kPgMigrations{{
    {1, "initial schema: the SQLite schema of version 5, artifacts, the event counter",
     kPgInitialSchema},
    {2, "agents.health_json: the latest health report", kPgAgentHealth},
    {3, "job dependencies: job_dependencies, jobs.deps_waiting, jobs.has_dependents",
     kPgJobDependencies},
    {4, "run log cap: runs.log_lines, runs.log_bytes, runs.logs_dropped", kPgRunLogCounts},
    {5, "rollouts: rollouts, rollout_hosts, jobs.rollout_id, events.rollout_id and counts_json",
     kPgRollouts},
    {6, "schedules: schedules, schedule_fires, schedule_hosts, job_schedules", kPgSchedules},
    {7, "host inventory: agent_inventories, the latest report per agent", kPgInventories},
    {8, "rollout windows: rollout_hosts.outcome, rollouts.settled_*, open-host indexes",
     kPgRolloutWindow},
    {9, "jobs_ended: finished jobs by their final time, for the stats history", kPgJobsEnded},
    {10, "rollout host states: rollout_hosts.job_status, unenrolled, cancel_asked, triggers",
     kPgRolloutHostStates},
    {11, "rollout_hosts_start_time: hosts by start time, for maxPerMinute", kPgRolloutStartTimes},
    {12, "rollouts.abort_reason: why an aborted rollout stopped", kPgRolloutAbortReason},
}};

}  // namespace

std::span<const Migration> PostgresMigrations() {
  return kPgMigrations;
}

}  // namespace orb::store
