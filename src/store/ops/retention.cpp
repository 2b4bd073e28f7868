#include "store/ops/retention.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "store/ops/rows.hpp"

namespace orb::store::ops {
namespace {

// What makes a job prunable, in one place: the candidates' query and the check under the lock
// both use it (?2: the final-time cutoff in milliseconds). A job's updated_at_ms is its final
// time once it is finished: nothing changes a finished job but a retry, which unfinishes it.
// A further condition (e.g. "no unfinished job depends on it") is one more `AND ...` here.
// Finished before the cutoff, no unfinished job depends on it (a dependent waiting for
// others, queued or running still names it in its dependsOn; docs/decisions/0019), and no
// rollout still RUNNING or PAUSED made it (its host's state and the rollout's counts are read
// from the job; docs/decisions/0021). A schedule needs no rule: it looks only at its hosts'
// unfinished chains, which are never pruned.
constexpr std::string_view kPrunable =
    "status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND updated_at_ms < ?2 AND NOT EXISTS ("
    "SELECT 1 FROM job_dependencies d JOIN jobs w ON w.id = d.job_id WHERE d.depends_on = jobs.id "
    "AND w.status IN ('CREATED', 'QUEUED', 'RUNNING')) AND (rollout_id IS NULL OR NOT EXISTS ("
    "SELECT 1 FROM rollouts r WHERE r.id = jobs.rollout_id AND r.status IN ('RUNNING', 'PAUSED')))";

constexpr std::array<std::string_view, 3> kFinalStatuses{"COMPLETED", "FAILED", "CANCELLED"};

bool IsLowerHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

}  // namespace

std::string UuidV7Prefix(WallTime time) {
  const auto millis = static_cast<unsigned long long>(std::max<std::int64_t>(Millis(time), 0));
  char hex[16];
  std::snprintf(hex, sizeof hex, "%012llx", millis & 0xFFFF'FFFF'FFFFULL);
  std::string prefix(hex, 8);
  prefix += '-';
  prefix.append(hex + 8, 4);
  return prefix;
}

std::vector<PrunableJob> PrunableJobs(sql::Connection& db, WallTime finished_before, int limit) {
  // One status at a time, each a range of the jobs_status (status, id) index: a job finished
  // before the cutoff was created before it, so its UUIDv7 id is below the cutoff's prefix. The
  // id bound only narrows the scan to jobs created before the cutoff (an id from a clock that
  // ran ahead is pruned later, never sooner); updated_at_ms decides.
  static const std::string sql =
      "SELECT id, agent_id FROM jobs WHERE status = ?1 AND id < ?3 AND " + std::string(kPrunable) +
      " ORDER BY id LIMIT ?4";
  std::vector<PrunableJob> jobs;
  const std::string below = UuidV7Prefix(finished_before);
  for (const std::string_view status : kFinalStatuses) {
    if (static_cast<int>(jobs.size()) >= limit) break;
    Query q(db, sql);
    q.Bind(1, status)
        .Bind(2, Millis(finished_before))
        .Bind(3, below)
        .Bind(4, limit - static_cast<int>(jobs.size()));
    while (q.Step())
      jobs.push_back({q.Text(0), q.Text(1)});
  }
  return jobs;
}

Expected<std::int64_t> PruneJobs(WriteContext& ctx, const std::vector<PrunableJob>& jobs,
                                 WallTime finished_before) {
  std::vector<std::string> candidates;
  for (const PrunableJob& job : jobs) {
    // A job whose agent the batch did not lock is left to the next pass.
    if (ctx.Locked(job.agent_id)) candidates.push_back(job.id);
  }
  if (candidates.empty()) return 0;
  const sql::Dialect& dialect = ctx.db().dialect();
  // Checked again under the agents' locks: a retry may have unfinished a job since it was read.
  std::vector<std::string> ids;
  std::vector<std::string> keys;
  std::vector<std::string> batches;
  {
    Query q(ctx.db(), "SELECT id, idempotency_key, batch_id FROM jobs WHERE " +
                          dialect.in_list("id", 1) + " AND " + std::string(kPrunable));
    q.BindList(1, candidates).Bind(2, Millis(finished_before));
    while (q.Step()) {
      ids.push_back(q.Text(0));
      if (auto key = q.OptText(1)) keys.push_back(*std::move(key));
      if (auto batch = q.OptText(2)) batches.push_back(*std::move(batch));
    }
  }
  if (ids.empty()) return 0;
  // Set-based, children first (runs.job_id references jobs.id): seven statements per batch,
  // whatever its size. Each uses an index on job_id (job_logs_job, events_job, runs_job, the
  // primary keys of job_dependencies, the pruned jobs' own dependency lists, and of
  // job_schedules).
  for (const std::string_view table :
       {"job_logs", "events", "runs", "job_dependencies", "job_schedules"}) {
    Query q(ctx.db(),
            "DELETE FROM " + std::string(table) + " WHERE " + dialect.in_list("job_id", 1));
    q.BindList(1, ids);
    q.Defer();
  }
  if (!keys.empty()) {
    // A key goes with the job (or batch) it answers for; one that expired by age and was used
    // again by a later request answers for that request's jobs, and stays.
    Query q(ctx.db(), "DELETE FROM idempotency_keys WHERE " + dialect.in_list("key", 1) + " AND (" +
                          dialect.in_list("job_id", 2) + " OR " + dialect.in_list("batch_id", 3) +
                          ")");
    q.BindList(1, keys).BindList(2, ids).BindList(3, batches);
    q.Defer();
  }
  Query q(ctx.db(), "DELETE FROM jobs WHERE " + dialect.in_list("id", 1));
  q.BindList(1, ids);
  q.Defer();
  return static_cast<std::int64_t>(ids.size());
}

Expected<std::int64_t> PruneIdempotencyKeys(WriteContext& ctx, WallTime created_before, int limit) {
  // No index on created_at_ms (decision 0003: every index costs the hot path's inserts): the
  // subquery scans the keys, a table as long as the jobs created with a key in the retention
  // window, once per call.
  Query q(ctx.db(),
          "DELETE FROM idempotency_keys WHERE key IN "
          "(SELECT key FROM idempotency_keys WHERE created_at_ms < ?1 LIMIT ?2)");
  q.Bind(1, Millis(created_before)).Bind(2, limit);
  q.Run();
  return q.Changes();
}

Expected<PrunedEvents> PruneEventsBefore(WriteContext& ctx, WallTime before, int limit) {
  PrunedEvents pruned;
  {
    Query q(ctx.db(), "SELECT seq, ts_ms FROM events ORDER BY seq LIMIT ?1");
    q.Bind(1, limit);
    const std::int64_t cutoff = Millis(before);
    while (q.Step()) {
      if (q.Int64(1) >= cutoff) break;
      pruned.through = q.Int64(0);
    }
  }
  if (pruned.through == 0) return pruned;
  Query q(ctx.db(), "DELETE FROM events WHERE seq <= ?1");
  q.Bind(1, pruned.through);
  q.Run();
  pruned.deleted = q.Changes();
  return pruned;
}

std::vector<std::string> Sha256sIn(std::string_view text) {
  std::vector<std::string> found;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!IsLowerHex(text[i])) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && IsLowerHex(text[end]))
      ++end;
    if (end - i == 64) found.emplace_back(text.substr(i, 64));
    i = end;
  }
  return found;
}

ArtifactReferences UnfinishedArtifactReferences(sql::Connection& db) {
  ArtifactReferences references;
  Query q(db,
          "SELECT id, payload_json FROM jobs WHERE status IN ('CREATED', 'QUEUED', 'RUNNING') "
          "ORDER BY id");
  while (q.Step()) {
    std::vector<std::string> named = Sha256sIn(q.Text(1));
    std::sort(named.begin(), named.end());
    named.erase(std::unique(named.begin(), named.end()), named.end());
    for (std::string& sha : named) {
      if (++references.jobs[sha] == 1) references.sample[sha] = q.Text(0);
    }
  }
  return references;
}

}  // namespace orb::store::ops
