#pragma once

// What fleet-cmdr prunes and when (docs/decisions/0018, docs/reliability.md "fleet-cmdr's
// retention"): pure decisions over the time, tested without a store. ServerTimers runs a pass on
// the leader when PassDue says so, asking the store for what RetentionCutoffs names, a batch
// (one short transaction) at a time.

#include <chrono>
#include <optional>

#include "common/clock.hpp"
#include "common/time.hpp"

namespace orb::server {

struct RetentionOptions {
  using Age = std::chrono::milliseconds;
  static constexpr Age Days(int days) { return std::chrono::hours(24) * days; }
  // Finished jobs (COMPLETED, FAILED, CANCELLED) whose final time is older go, with their runs,
  // log lines, events and idempotency keys; events older than this go too (the count cap of
  // FleetCmdrOptions::events_kept still holds). 0: kept forever. (Flags give days; the tests
  // give milliseconds.)
  Age job_age = Days(30);
  // Artifacts uploaded longer ago that no unfinished job names go. 0: kept forever.
  Age artifact_age = Days(30);
  // An idempotency key older than this is forgotten (a create with it is a new request), also
  // while its job is kept. 0: kept as long as the job.
  Age idempotency_key_age = Days(7);
  // Rows per transaction (jobs, events or keys), and transactions of each kind per pass.
  int batch_rows = 200;
  int max_batches = 10;
  int artifacts_per_pass = 16;
  // Between passes; sooner (`again`) after a pass that stopped at its bound.
  std::chrono::milliseconds every{std::chrono::minutes(1)};
  std::chrono::milliseconds again{std::chrono::seconds(1)};
};

// The cutoffs of one pass at `now`: what is older goes. nullopt: that kind is kept.
struct RetentionCutoffs {
  std::optional<WallTime> jobs_finished_before;
  std::optional<WallTime> events_before;
  std::optional<WallTime> idempotency_keys_before;
  std::optional<WallTime> artifacts_created_before;
  bool operator==(const RetentionCutoffs&) const = default;
};

RetentionCutoffs DecideRetention(WallTime now, const RetentionOptions& options);

// Whether a pass is due at `now`: never yet (`last` unset), `every` after the last one, or
// `again` after one that stopped at its bound (`more_left`).
bool RetentionPassDue(Clock::MonoTime now, std::optional<Clock::MonoTime> last, bool more_left,
                      const RetentionOptions& options);

}  // namespace orb::server
