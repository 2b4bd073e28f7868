#include "store/ops/rollout_hosts.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "store/ops/rows.hpp"

namespace orb::store::ops {

using orchestration::HostState;
using orchestration::RolloutStatus;
using protocol::JobStatus;

namespace {

std::optional<JobStatus> ReadJobStatus(const Query& q, int column) {
  const auto text = q.OptText(column);
  if (!text) return std::nullopt;
  auto status = protocol::JobStatusFromString(*text);
  if (!status) sql::Corrupt("job status " + *text);
  return status;
}

HostRow ReadHostRow(const Query& q) {
  HostRow row;
  row.position = q.Int(0);
  row.agent_id = q.Text(1);
  row.job_id = q.OptText(2);
  row.skipped = q.Bool(3);
  row.started_ms = q.OptInt64(4);
  row.job_status = ReadJobStatus(q, 5);
  row.cancel_asked = q.Bool(6);
  row.revoked = !q.IsNull(7);
  return row;
}

// A host's row with its agent's revocation, as ReadHostRow reads it: the columns and the table,
// then (after an index hint, if any) the join; the WHERE clause follows.
constexpr std::string_view kSelectHosts =
    "SELECT h.position, h.agent_id, h.job_id, h.skipped, h.started_ms, h.job_status, "
    "h.cancel_asked, a.revoked_at_ms FROM rollout_hosts h";
constexpr std::string_view kJoinHosts = " LEFT JOIN agents a ON a.id = h.agent_id ";

}  // namespace

// A host's state for DecideRollout. A started host's job_status is its job's status, kept by a
// trigger (migration 14); one without is counted as cancelled, as a job that is gone would be
// (pruned by retention, docs/decisions/0018: it was final, its outcome is not known any more).
orchestration::RolloutHost ToHost(const HostRow& row) {
  orchestration::RolloutHost host;
  host.unenrolled = row.revoked;
  host.since = Wall(row.started_ms.value_or(0));
  if (row.skipped) {
    host.state = HostState::kSkipped;
  } else if (!row.job_id) {
    host.state = HostState::kPending;
  } else if (!row.job_status) {
    host.state = HostState::kCancelled;
  } else {
    switch (*row.job_status) {
      case JobStatus::kCreated: host.state = HostState::kWaiting; break;
      case JobStatus::kQueued: host.state = HostState::kQueued; break;
      case JobStatus::kRunning: host.state = HostState::kRunning; break;
      case JobStatus::kCompleted: host.state = HostState::kCompleted; break;
      case JobStatus::kFailed: host.state = HostState::kFailed; break;
      case JobStatus::kCancelled: host.state = HostState::kCancelled; break;
    }
  }
  return host;
}

std::vector<HostRow> LoadHosts(Connection& db, std::string_view id, int after) {
  Query q(db, std::string(kSelectHosts) + std::string(kJoinHosts) +
                  "WHERE h.rollout_id = ?1 AND h.position > ?2 ORDER BY h.position");
  q.Bind(1, id).Bind(2, after);
  std::vector<HostRow> hosts;
  while (q.Step())
    hosts.push_back(ReadHostRow(q));
  return hosts;
}

std::string HostReadSql(const sql::Dialect& dialect, HostRead read) {
  // The conditions repeat the partial indexes' (rollout_hosts_in_flight, _pending, _cancel).
  const auto hosts = [&](std::string_view index, std::string_view where) {
    return std::string(kSelectHosts) + dialect.indexed_by(index) + std::string(kJoinHosts) +
           "WHERE h.rollout_id = ?1 AND h.outcome IS NULL " + std::string(where);
  };
  // Started hosts are those with a job_status (set with the job); rollout_hosts_in_flight holds
  // only those, and a job_status condition other than IS implies it.
  switch (read) {
    case HostRead::kSettle:
      return hosts("rollout_hosts_in_flight",
                   "AND h.job_status IN ('COMPLETED', 'FAILED', 'CANCELLED')");
    case HostRead::kTimedOut:
      return hosts("rollout_hosts_in_flight",
                   "AND h.job_status IN ('CREATED', 'QUEUED', 'RUNNING') AND h.unenrolled = 0 "
                   "AND h.started_ms <= ?2");
    case HostRead::kUnenrolled:
      return hosts("rollout_hosts_in_flight",
                   "AND h.job_status IN ('CREATED', 'QUEUED', 'RUNNING') AND h.unenrolled = 1");
    case HostRead::kPending:
      return hosts("rollout_hosts_pending", "AND h.job_id IS NULL ORDER BY h.position LIMIT ?2");
    case HostRead::kUnstarted:
      return hosts("rollout_hosts_in_flight",
                   "AND h.job_status IN ('CREATED', 'QUEUED') "
                   "LIMIT ?2");
    case HostRead::kRunningToCancel:
      return hosts("rollout_hosts_cancel",
                   "AND h.job_status = 'RUNNING' AND h.cancel_asked = 0 ORDER BY h.position "
                   "LIMIT ?2");
    case HostRead::kInFlightCounts:
      return "SELECT job_status, COUNT(*), MIN(position), MIN(started_ms) FROM rollout_hosts" +
             dialect.indexed_by("rollout_hosts_in_flight") +
             " WHERE rollout_id = ?1 AND outcome IS NULL AND job_status IN ('CREATED', 'QUEUED', "
             "'RUNNING') AND unenrolled <= ?3 AND started_ms > ?2 "
             "GROUP BY job_status";
    case HostRead::kRecentStarts:
      return "SELECT COUNT(*), MIN(started_ms) FROM rollout_hosts" +
             dialect.indexed_by("rollout_hosts_start_time") +
             " WHERE rollout_id = ?1 AND started_ms IS NOT NULL AND started_ms > ?2";
  }
  return {};
}

void Uncount(orchestration::UnlistedInFlight& counts, const std::vector<HostRow>& hosts) {
  for (const HostRow& host : hosts) {
    switch (ToHost(host).state) {
      case HostState::kWaiting: --counts.waiting; break;
      case HostState::kQueued: --counts.queued; break;
      case HostState::kRunning: --counts.running; break;
      default: break;
    }
  }
}

void ReadHosts(Connection& db, HostRead read, std::string_view id,
               std::optional<std::int64_t> second, std::vector<HostRow>& into) {
  Query q(db, HostReadSql(db.dialect(), read));
  q.Bind(1, id);
  if (second) q.Bind(2, *second);
  while (q.Step())
    into.push_back(ReadHostRow(q));
}

// What an advance reads of a rollout's hosts (docs/decisions/0026): the ones whose state asks for
// something (final and not settled yet, timed out, unenrolled), the first pending ones, and, once
// aborted, those whose job is still to cancel; each by its partial index. The other hosts in
// flight are only counted, from the index alone; settled hosts are only counted in the rollout's
// row. So an advance costs what changed, not the hosts in flight.
AdvanceHosts LoadAdvanceHosts(Connection& db, const protocol::Rollout& rollout,
                              RolloutStatus status, WallTime now, std::int64_t limit) {
  const std::string& id = rollout.id;
  const bool acts = status == RolloutStatus::kRunning || status == RolloutStatus::kPaused;
  AdvanceHosts out;
  std::vector<HostRow>& listed = out.listed;
  ReadHosts(db, HostRead::kSettle, id, std::nullopt, listed);
  // Hosts started at or before the cutoff are past their timeout (listed when acting).
  std::int64_t cutoff = -1;
  if (acts) {
    if (rollout.policy.host_timeout_seconds) {
      cutoff = Millis(now - std::chrono::seconds(*rollout.policy.host_timeout_seconds));
      ReadHosts(db, HostRead::kTimedOut, id, cutoff, listed);
    }
    ReadHosts(db, HostRead::kUnenrolled, id, std::nullopt, listed);
    ReadHosts(db, HostRead::kPending, id, limit, listed);
  } else if (status == RolloutStatus::kAborted) {
    ReadHosts(db, HostRead::kUnstarted, id, limit, listed);
    if (rollout.cancel_running) ReadHosts(db, HostRead::kRunningToCancel, id, limit, listed);
  }
  std::sort(listed.begin(), listed.end(),
            [](const HostRow& a, const HostRow& b) { return a.position < b.position; });
  {
    // Acting, the counts leave out what was listed (timed out, unenrolled); otherwise they
    // include the listed hosts in flight, taken off below.
    Query q(db, HostReadSql(db.dialect(), HostRead::kInFlightCounts));
    q.Bind(1, id).Bind(2, cutoff).Bind(3, acts ? 0 : 1);
    auto& c = out.in_flight;
    while (q.Step()) {
      const auto job_status = ReadJobStatus(q, 0);
      const std::int64_t count = q.Int64(1);
      if (job_status == JobStatus::kCreated) c.waiting += count;
      if (job_status == JobStatus::kQueued) c.queued += count;
      if (job_status == JobStatus::kRunning) c.running += count;
      const std::int64_t position = q.Int64(2);
      const WallTime since = Wall(q.Int64(3));
      if (!c.first_position || position < *c.first_position) c.first_position = position;
      if (!c.earliest_since || since < *c.earliest_since) c.earliest_since = since;
    }
    if (!acts) Uncount(c, listed);
  }
  if (status == RolloutStatus::kRunning && rollout.policy.max_per_minute) {
    Query q(db, HostReadSql(db.dialect(), HostRead::kRecentStarts));
    q.Bind(1, id).Bind(2,
                       Millis(now - orchestration::PaceOf(*rollout.policy.max_per_minute).window));
    if (q.Step()) {
      out.recent_starts.count = q.Int64(0);
      if (!q.IsNull(1)) out.recent_starts.earliest = Wall(q.Int64(1));
    }
  }
  return out;
}

}  // namespace orb::store::ops
