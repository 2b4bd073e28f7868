#pragma once

// Runs and updates (protocol.md §3, §4 JobExecutionUpdate): progress, logs, the final update,
// fencing by run and agent, lease expiry and the failure of a run with the automatic retry rule.
// Written once over the database seam; both stores run these bodies. Internal to src/store.

#include <string>
#include <vector>

#include "common/expected.hpp"
#include "store/ops/context.hpp"
#include "store/ops/rows.hpp"
#include "store/store.hpp"

namespace orb::store::ops {

// The whole of ApplyUpdates once the request passed its checks (a final update is not RUNNING).
Expected<protocol::UpdatesResponse> ApplyUpdates(WriteContext& ctx, const std::string& agent_id,
                                                 const std::string& run_id,
                                                 const protocol::UpdatesRequest& request,
                                                 WallTime now, int lease_seconds,
                                                 const protocol::LogCap& log_cap);

// Fails RUNNING runs of locked agents whose lease expired at or before `now` with agent_lost (at
// most kTimeBatch). Value: how many.
Expected<int> ExpireLeases(WriteContext& ctx, WallTime now);
// The agents whose runs ExpireLeases would fail at `now`: what it declares.
std::vector<std::string> AgentsWithExpiredLeases(sql::Connection& db, WallTime now);

// Fails the RUNNING run `current.row` and moves its job on: an automatic retry (CREATED with
// backoff) when the error is retryable, attempts remain and no cancel was asked for, else FAILED.
// `step` is kFail, kLeaseExpired or kAgentRestarted. Value: the job as it is now.
protocol::Job FailRun(WriteContext& ctx, RunAndJob current, protocol::RunError error,
                      protocol::JobEvent step, WallTime now);

}  // namespace orb::store::ops
