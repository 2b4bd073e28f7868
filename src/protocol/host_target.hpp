#pragma once

// The hosts a rollout or a schedule applies to (docs/protocol.md "Rollouts", "Schedules"): the
// enrolled, not revoked agents with all of the selector's labels, or the named agents. Exactly
// one of the two; the codec checks. A rollout resolves it once, at creation; a schedule at each
// fire.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "protocol/types.hpp"

namespace orb::protocol {

inline constexpr std::size_t kMaxTargetAgentIds = 10'000;

struct HostTarget {
  std::optional<Labels> selector;      // {"selector": {"labels": {...}}}: at least one label
  std::vector<std::string> agent_ids;  // {"agentIds": [...]}: 1..kMaxTargetAgentIds, or none
  bool operator==(const HostTarget&) const = default;
};

// As on the wire; also how the stores keep a rollout's or a schedule's target.
std::string ToJson(const HostTarget& target);
Expected<HostTarget> ParseHostTarget(std::string_view text);

}  // namespace orb::protocol
