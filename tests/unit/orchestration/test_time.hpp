#pragma once

// Time helpers of the orchestration tests: RFC 3339 literals and their formatting.

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.hpp"
#include "orchestration/time_zone.hpp"

namespace orb::orchestration::test_time {

// "2026-03-29T01:00:00Z" as a WallTime; throws (fails the test) on a typo.
inline WallTime Utc(std::string_view text) {
  const auto time = ParseTimestamp(text);
  if (!time) throw std::invalid_argument("bad timestamp in test: " + std::string(text));
  return *time;
}

// Fire times as "2026-03-29T01:00:00.000Z" strings, for readable failures.
inline std::vector<std::string> Format(const std::vector<WallTime>& times) {
  std::vector<std::string> out;
  for (const WallTime t : times)
    out.push_back(FormatTimestamp(t));
  return out;
}

inline TimeZone Zone(std::string_view name) {
  auto zone = TimeZone::Load(name);
  if (!zone) throw std::invalid_argument("unknown zone in test: " + std::string(name));
  return *zone;
}

}  // namespace orb::orchestration::test_time
