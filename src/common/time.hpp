#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orb {

using WallTime = std::chrono::system_clock::time_point;

// RFC 3339 UTC with milliseconds, e.g. "2026-11-22T10:00:00.123Z" (protocol.md §1).
std::string FormatTimestamp(WallTime time);

// Parses RFC 3339 ("2026-11-22T10:00:00Z", "...00.1Z", "...00.123+02:00"). Fractions beyond
// milliseconds are truncated. nullopt on anything else.
std::optional<WallTime> ParseTimestamp(std::string_view text);

// Milliseconds since the Unix epoch, the form timestamps take in the stores.
std::int64_t ToUnixMillis(WallTime time);
WallTime FromUnixMillis(std::int64_t millis);

}  // namespace orb
