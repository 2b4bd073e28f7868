#pragma once

// A rollout's hosts as the store reads them (docs/decisions/0026, "Hosts by state"): each host's
// row with its job's status and its agent's revocation (kept by triggers, SQLite migration 14,
// PostgreSQL 10), the reads an advance makes by partial index, and the hosts in flight it only
// counts. Used by rollouts.cpp (AdvanceRollout, PlanAdvance, ListRolloutHosts). Internal to
// src/store.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.hpp"
#include "orchestration/rollout.hpp"
#include "protocol/rollout_types.hpp"
#include "protocol/types.hpp"
#include "store/sql/sql.hpp"

namespace orb::store::ops {

// A host of a rollout with its job's state, as stored.
struct HostRow {
  int position = 0;
  std::string agent_id;
  std::optional<std::string> job_id;
  bool skipped = false;
  std::optional<std::int64_t> started_ms;
  std::optional<protocol::JobStatus> job_status;
  bool cancel_asked = false;  // an abort asked its running job to stop
  bool revoked = false;
};

// The host's state for orchestration::DecideRollout.
orchestration::RolloutHost ToHost(const HostRow& row);

// The hosts of rollout `id` with position > `after`, in order.
std::vector<HostRow> LoadHosts(sql::Connection& db, std::string_view id, int after = -1);

// An advance's reads of a rollout's hosts; ?1 is the rollout. Each reads a range of a partial
// index, never every host in flight (their plans are tested on SQLite):
enum class HostRead {
  kSettle,           // started, not settled, final: to be counted in the rollout's row
  kTimedOut,         // in flight, started at or before ?2 (ms): past hostTimeoutSeconds
  kUnenrolled,       // in flight, the agent revoked
  kPending,          // the first ?2 without a job, in order
  kUnstarted,        // ?2 of those waiting or queued (an abort's cancellations)
  kRunningToCancel,  // the first ?2 running whose stop an abort has not asked yet
  // Not hosts: the hosts in flight by status (job_status, count, first position, earliest
  // started_ms), of those started after ?2 (ms) and with unenrolled <= ?3, from the index alone.
  kInFlightCounts,
  // Not hosts: how many started after ?2 (ms), and the first start among them.
  kRecentStarts,
};
std::string HostReadSql(const sql::Dialect& dialect, HostRead read);

// Appends the hosts `read` (not kInFlightCounts) finds; `second` binds ?2.
void ReadHosts(sql::Connection& db, HostRead read, std::string_view id,
               std::optional<std::int64_t> second, std::vector<HostRow>& into);

// The hosts an advance lists, and those in flight it only counts (RolloutWindow::in_flight).
struct AdvanceHosts {
  std::vector<HostRow> listed;  // in position order
  orchestration::UnlistedInFlight in_flight;
  // Started within the pace's window: read for a RUNNING rollout with maxPerMinute only.
  orchestration::RecentStarts recent_starts;
};

// What an advance of `rollout` (in `status`) reads at `now`; `limit` bounds each read of hosts
// to act on (one more than a call acts on, so that the caller knows there are more).
AdvanceHosts LoadAdvanceHosts(sql::Connection& db, const protocol::Rollout& rollout,
                              orchestration::RolloutStatus status, WallTime now,
                              std::int64_t limit);

// Takes `hosts`, listed now, off the counts of the hosts in flight that included them.
void Uncount(orchestration::UnlistedInFlight& counts, const std::vector<HostRow>& hosts);

}  // namespace orb::store::ops
