#pragma once

// Jobs and dispatch (protocol.md §3, §5): create, cancel, retry, promote, the dispatch rule's
// hand-out, and the reads of jobs. Written once over the database seam; both stores run these
// bodies (store/engine/sql_store.cpp). Internal to src/store.
//
// Write bodies run inside a batch's transaction (WriteContext): they change only jobs of agents
// the batch locked for them, and report domain errors before their first write where they can
// (a body that fails after writing makes the batch re-run with a savepoint per operation).

#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "store/ops/context.hpp"
#include "store/store.hpp"

namespace orb::store::ops {

// ---- writes ----

// `fingerprint`: command.request_fingerprint, or DeriveFingerprint when that is empty.
Expected<CreatedJobs> CreateJobs(WriteContext& ctx, const CreateJobsCommand& command,
                                 const std::string& fingerprint, WallTime now);
Expected<CancelResult> CancelJob(WriteContext& ctx, const std::string& job_id, WallTime now);
Expected<protocol::Job> RetryJob(WriteContext& ctx, const std::string& job_id, WallTime now);
// CREATED jobs of locked agents whose notBefore is at or before `now` -> QUEUED (at most
// kTimeBatch). Value: how many.
Expected<int> PromoteDue(WriteContext& ctx, WallTime now);
Expected<std::optional<Dispatched>> DispatchNext(WriteContext& ctx, const std::string& agent_id,
                                                 WallTime now, int lease_seconds);

// ---- reads (any connection, inside a read transaction) ----

Expected<protocol::JobDetail> GetJob(sql::Connection& db, std::string_view job_id);
// `after_id`: the decoded cursor.
protocol::JobList ListJobs(sql::Connection& db, const JobFilter& filter, int limit,
                           const std::optional<std::string>& after_id);
std::vector<JobCount> CountJobs(sql::Connection& db);
std::optional<WallTime> NextWakeTime(sql::Connection& db);
// The agent of a job (it never changes): what CancelJob and RetryJob declare.
std::optional<std::string> JobAgent(sql::Connection& db, std::string_view job_id);
// The agents that have jobs PromoteDue would move at `now`: what it declares.
std::vector<std::string> AgentsWithDueJobs(sql::Connection& db, WallTime now);

// ---- helpers ----

inline constexpr int kTimeBatch = 500;  // transitions per timer call at most

// The fallback request fingerprint: every field of every spec, length-prefixed so no two
// different commands give the same text.
std::string DeriveFingerprint(const CreateJobsCommand& command);
// Cursors are the hex of the last id shown: opaque to clients, stable under inserts because ids
// grow with creation time and the list is ordered by id.
std::string EncodeCursor(std::string_view id);
std::optional<std::string> DecodeCursor(std::string_view cursor);

}  // namespace orb::store::ops
