#pragma once

// The table and detail views of jobs shared by `jobs`, `job`, `enqueue`, `cancel` and `retry`.
// Thread-safety: pure.

#include <string>
#include <vector>

#include "common/time.hpp"
#include "protocol/types.hpp"

namespace orb::cli {

// Columns ID, TYPE, AGENT, TARGET, STATUS, ATTEMPTS (n/max), AGE; `now` for the age.
std::string RenderJobTable(const std::vector<protocol::Job>& jobs, WallTime now);

// A job's fields, then its runs as a table, then its payload and result (fleetctl job).
std::string RenderJobDetail(const protocol::JobDetail& detail, WallTime now);

// "<id> COMPLETED", "<id> FAILED: code: message", "<id> CANCELLED: dependency_failed: ...".
std::string RenderJobOutcome(const protocol::Job& job);

// "a, b, c" (job ids of dependsOn / waitingFor).
std::string Join(const std::vector<std::string>& items);

}  // namespace orb::cli
