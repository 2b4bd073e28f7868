#pragma once

// Job dependencies (docs/protocol.md "Job dependencies", docs/decisions/0019): recording them when
// jobs are created, and what the end of a job does to the jobs that wait for it. Written once over
// the database seam; both stores run these bodies. Internal to src/store.
//
// Tables (store/migrations, SQLite 7, PostgreSQL 3): job_dependencies(job_id, depends_on,
// position); jobs.deps_waiting (the dependencies not COMPLETED yet: the job waits while > 0) and
// jobs.has_dependents (set once a job gets a dependent, so that the end of any other job costs no
// lookup at all).
//
// Locking: a job's dependents may belong to other agents. Everything here changes a job only
// under its agent's lock (store/ops/context.hpp); an operation that finds dependents of agents it
// did not declare throws MoreAgentsNeeded before it changes them, and the batch runs again with
// those agents locked too. Creating a dependent locks the dependencies' agents as well, so a
// dependency cannot end between the check of its status and the commit of the dependent.

#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "protocol/types.hpp"
#include "store/ops/context.hpp"

namespace orb::store::ops {

// The error code of a job cancelled because a dependency ended FAILED or CANCELLED.
inline constexpr std::string_view kDependencyFailedCode = "dependency_failed";

// A dependency as a job being created sees it.
struct Dependency {
  std::string id;
  std::string agent_id;
  protocol::JobStatus status = protocol::JobStatus::kCreated;
};

// The dependencies named by `specs` (each id once), read inside the transaction. invalid_request
// naming the first id that is no job ("dependsOn[i]: ..."). Throws MoreAgentsNeeded when one
// belongs to an agent the batch did not lock. Writes nothing.
Expected<std::vector<Dependency>> LoadDependencies(WriteContext& ctx,
                                                   const std::vector<JobSpec>& specs);

// How a new job starts, given its dependencies (`known`: LoadDependencies' answer).
struct DependencyState {
  std::vector<std::string> waiting_for;  // not COMPLETED yet, in request order
  std::optional<std::string> failed;     // the first one that is FAILED or CANCELLED
  std::optional<protocol::JobStatus> failed_status;
};
DependencyState StateOf(const std::vector<std::string>& depends_on,
                        const std::vector<Dependency>& known);

// Stores the dependency rows of the new job `job_id` and marks its dependencies as having one
// (deferred writes). `any_end`: each is satisfied by any end of the job waited for (COMPLETED,
// FAILED or CANCELLED), not only COMPLETED: the first step of a schedule's queued chain
// (docs/decisions/0022).
void RecordDependencies(WriteContext& ctx, const std::string& job_id,
                        const std::vector<std::string>& depends_on, bool any_end = false);

// The job-level error of a job cancelled because `dependency` ended in `status`.
protocol::RunError DependencyFailedError(const std::string& dependency, protocol::JobStatus status);

// After `job` ended (it is COMPLETED, or FAILED with no retry left, or CANCELLED; its row is
// written): COMPLETED counts it done for each waiting dependent and queues those it was the last
// of (job.queued; one whose notBefore is still ahead stays CREATED for PromoteDue); FAILED or
// CANCELLED cancels every waiting dependent, and theirs, down the chain (CREATED -> CANCELLED,
// job.cancelled with error dependency_failed), except those waiting for any end of a job of the
// chain, which count it done as for COMPLETED. Throws MoreAgentsNeeded (before any write of its
// own) when a dependent to change belongs to an agent the batch did not lock.
void OnJobEnded(WriteContext& ctx, const protocol::Job& job, WallTime now);
// What OnJobEnded reads: the job's dependents (?1: its id) with their jobs, in id order; the
// caller keeps the CREATED ones still waiting (the plan test names its index).
std::string DependentsSql();

// The first dependency of `job_id` that is not COMPLETED, if any.
std::optional<std::string> UnfinishedDependency(sql::Connection& db, const std::string& job_id);
// The job waits for nothing any more (deferred write): it was cancelled, or retried with every
// dependency COMPLETED.
void ClearDepsWaiting(WriteContext& ctx, const std::string& job_id);

// Fills depends_on and waiting_for of `jobs` (one query for all of them).
void FillDependencies(sql::Connection& db, std::vector<protocol::Job>& jobs);
void FillDependencies(sql::Connection& db, protocol::Job& job);

}  // namespace orb::store::ops
