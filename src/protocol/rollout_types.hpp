#pragma once

// docs/protocol.md "Rollouts" as plain C++ types: one job template applied to many hosts under a
// policy. The codecs are protocol/rollout_codec.hpp; the decisions over these values live in
// src/orchestration (rollout.hpp, validate.hpp), which the store and the server apply.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "protocol/host_target.hpp"
#include "protocol/types.hpp"

namespace orb::protocol {

struct RolloutPhaseSpec {
  int percent = 100;
  std::optional<WallTime> start_at;
  bool operator==(const RolloutPhaseSpec&) const = default;
};

struct RolloutAbortSpec {
  double failed_percent = 100;
  std::int64_t min_finished = 1;
  bool operator==(const RolloutAbortSpec&) const = default;
};

// "maxInFlight": an integer (max_in_flight) or "N%" (max_in_flight_percent). Range checks are
// orchestration::ValidateRolloutPolicy's.
struct RolloutPolicySpec {
  std::int64_t max_in_flight = 1;
  bool max_in_flight_percent = false;
  std::vector<RolloutPhaseSpec> phases;
  std::optional<RolloutAbortSpec> abort;
  std::optional<std::int64_t> host_timeout_seconds;
  std::optional<std::int64_t> max_per_minute;  // hosts start at an even pace of this many a minute
  bool operator==(const RolloutPolicySpec&) const = default;
};

inline constexpr std::size_t kMaxRolloutName = 200;

// POST /v1/rollouts.
struct CreateRolloutRequest {
  std::string name;
  HostTarget target;
  JobTemplate job;
  RolloutPolicySpec policy;
  std::string order = "agents";  // "agents" (agent id order) or "random"
  std::optional<std::string> idempotency_key;
  bool operator==(const CreateRolloutRequest&) const = default;
};

// GET /v1/rollouts/{id}.
struct Rollout {
  std::string id;
  std::string name;
  std::string status;  // RUNNING, PAUSED, COMPLETED, ABORTED
  WallTime created_at{};
  WallTime updated_at{};
  HostTarget target;
  JobTemplate job;
  RolloutPolicySpec policy;
  std::string order = "agents";
  int phase = 0;  // index into policy.phases
  RolloutCounts counts;
  bool cancel_running = false;  // aborted with cancelRunning
  // ABORTED only: why ("an operator aborted it", or the abort rule with its figures).
  std::optional<std::string> abort_reason;
  bool operator==(const Rollout&) const = default;
};

struct RolloutList {
  std::vector<Rollout> rollouts;
  std::optional<std::string> next_cursor;
  bool operator==(const RolloutList&) const = default;
};

// GET /v1/rollouts/{id}/hosts.
struct RolloutHost {
  std::string agent_id;
  std::optional<std::string> job_id;
  std::string status;  // pending, waiting, queued, running, completed, failed, cancelled, skipped
  bool operator==(const RolloutHost&) const = default;
};

struct RolloutHostList {
  std::vector<RolloutHost> hosts;
  std::optional<std::string> next_cursor;
  bool operator==(const RolloutHostList&) const = default;
};

// POST /v1/rollouts/{id}/abort (the body is optional).
struct AbortRolloutRequest {
  bool cancel_running = false;
  bool operator==(const AbortRolloutRequest&) const = default;
};

}  // namespace orb::protocol
