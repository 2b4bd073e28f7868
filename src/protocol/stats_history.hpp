#pragma once

// GET /v1/stats/history (docs/protocol.md "Stats history"): per minute of a window, the jobs
// that ended in it by final status and the p50/p95 of their final runs' queued→start and run
// duration. The wire type and its JSON codec; pure, thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/time.hpp"

namespace orb::protocol {

inline constexpr int kHistoryMinMinutes = 1;
inline constexpr int kHistoryMaxMinutes = 1440;  // one day
inline constexpr int kHistoryDefaultMinutes = 60;

struct HistoryMinute {
  WallTime minute;  // the minute's start (UTC, whole minute)
  std::int64_t completed = 0;
  std::int64_t failed = 0;
  std::int64_t cancelled = 0;
  // Over the final runs of the jobs that ended in the minute; absent when none ran.
  std::optional<std::int64_t> queue_to_start_p50_ms;
  std::optional<std::int64_t> queue_to_start_p95_ms;
  std::optional<std::int64_t> run_p50_ms;
  std::optional<std::int64_t> run_p95_ms;

  friend bool operator==(const HistoryMinute&, const HistoryMinute&) = default;
};

struct StatsHistory {
  WallTime from;  // the first minute's start
  int minutes = 0;
  // True when the window held more ended jobs than one answer reads (store::kHistoryMaxRows):
  // the counts and percentiles are then those of the newest jobs read.
  bool truncated = false;
  std::vector<HistoryMinute> buckets;  // `minutes` of them, oldest first
};

std::string ToJson(const StatsHistory& value);
Expected<StatsHistory> ParseStatsHistory(std::string_view text);

}  // namespace orb::protocol
