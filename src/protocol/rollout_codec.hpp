#pragma once

// JSON codecs of the rollout messages (protocol/rollout_types.hpp), with the rules of
// protocol/codec.hpp: requests (CreateRolloutRequest, AbortRolloutRequest) are strict and name
// every problem's field ("policy.phases[1].percent"); responses carry every key and are decoded
// leniently. Pure; thread-safe.

#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "protocol/rollout_types.hpp"

namespace orb::protocol {

std::string ToJson(const CreateRolloutRequest& value);
std::string ToJson(const Rollout& value);
std::string ToJson(const RolloutList& value);
std::string ToJson(const RolloutHostList& value);
std::string ToJson(const JobTemplate& value);
std::string ToJson(const RolloutPolicySpec& value);
std::string ToJson(const RolloutCounts& value);

Expected<CreateRolloutRequest> ParseCreateRolloutRequest(std::string_view text);
// An empty body is {"cancelRunning": false}.
Expected<AbortRolloutRequest> ParseAbortRolloutRequest(std::string_view text);
Expected<Rollout> ParseRollout(std::string_view text);
Expected<RolloutList> ParseRolloutList(std::string_view text);
Expected<RolloutHostList> ParseRolloutHostList(std::string_view text);
// The stored forms (store/ops/rollouts.cpp): the same JSON as on the wire.
Expected<JobTemplate> ParseRolloutJob(std::string_view text);
Expected<RolloutPolicySpec> ParseRolloutPolicy(std::string_view text);
Expected<RolloutCounts> ParseRolloutCounts(std::string_view text);

}  // namespace orb::protocol
