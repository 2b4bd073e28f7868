#pragma once

// Rollouts (docs/protocol.md "Rollouts", docs/decisions/0021): creating one with its hosts, its
// reads, pause / resume / abort, and the one operation that moves it on (AdvanceRollout): in one
// transaction it reads the rollout's hosts that are not settled yet and their jobs' states (the
// settled ones only as counts, docs/decisions/0026), asks
// orchestration::DecideRollout with the time, and applies the answer (creates the started hosts'
// jobs, cancels and skips timed-out and unenrolled hosts' jobs, aborts, completes). Written once
// over the database seam; both stores run these bodies. Internal to src/store.
//
// Locking (docs/decisions/0011): the rollout's row is taken FOR UPDATE first, so two advances of
// one rollout (two replicas, a timer and an operator) run one after the other. Jobs are created
// and cancelled only under their agent's lock: the caller declares the agents a plan made on a
// reader connection names (PlanAdvance); the body decides again under the locks and throws
// MoreAgentsNeeded when its decision needs an agent the batch did not lock. Every call acts on
// at most kRolloutBatch hosts; `more` says to call again (a 10,000-host abort is many short
// transactions, not one long one).

#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "protocol/rollout_types.hpp"
#include "store/ops/context.hpp"
#include "store/ops/rollout_hosts.hpp"
#include "store/store.hpp"

namespace orb::store::ops {

inline constexpr int kRolloutBatch = 50;  // hosts started or cancelled per call at most

Expected<CreatedRollout> CreateRollout(WriteContext& ctx, const CreateRolloutCommand& command,
                                       const std::string& fingerprint, WallTime now);
// pause, resume, abort: the status change and its event (the cancellations of an abort follow
// in AdvanceRollout).
Expected<protocol::Rollout> PauseRollout(WriteContext& ctx, const std::string& id, WallTime now);
Expected<protocol::Rollout> ResumeRollout(WriteContext& ctx, const std::string& id, WallTime now);
Expected<protocol::Rollout> AbortRollout(WriteContext& ctx, const std::string& id,
                                         bool cancel_running, WallTime now);
Expected<RolloutAdvance> AdvanceRollout(WriteContext& ctx, const std::string& id, WallTime now);
// A job of the rollout that was final is running again (POST /retry): its host, if settled, is
// counted as open again, so that the next advance sees it (docs/decisions/0026). A skipped host
// stays skipped.
void ReopenRolloutHost(sql::Connection& db, const std::string& rollout_id,
                       const std::string& job_id);

// ---- reads ----

// The agents an AdvanceRollout at `now` would start or cancel jobs of, as things stand (what
// it declares). not_found for an unknown rollout.
Expected<std::vector<std::string>> PlanAdvance(sql::Connection& db, const std::string& id,
                                               WallTime now);
Expected<protocol::Rollout> GetRollout(sql::Connection& db, std::string_view id);
Expected<protocol::RolloutList> ListRollouts(sql::Connection& db, const RolloutFilter& filter,
                                             int limit, const std::optional<std::string>& cursor);
Expected<protocol::RolloutHostList> ListRolloutHosts(sql::Connection& db, std::string_view id,
                                                     const std::optional<std::string>& status,
                                                     int limit,
                                                     const std::optional<std::string>& cursor);
std::vector<std::string> RolloutsDue(sql::Connection& db, std::optional<WallTime> now);

}  // namespace orb::store::ops
