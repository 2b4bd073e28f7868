#pragma once

// When a schedule fires: a cron expression's fire times in a time zone, with the daylight-saving
// rules of docs/decisions/0017. Pure (the zone's rules are read once, by TimeZone::Load);
// thread-safe.
//
// - Expressions whose hour field is not "every hour" (fixed local times: "0 4 * * *",
//   "0 */6 * * *") fire once per matching local time: a local time that does not exist that day
//   (the spring-forward gap) fires at the first valid instant after it (the transition); a local
//   time that occurs twice (fall back) fires once, at its first occurrence. Several local times
//   of one gap fire once, at the transition.
// - Expressions that fire hourly or more often (hour field "*") fire on every UTC instant whose
//   local time matches: none for local times of a gap, twice for those of a repeated hour.
// Fire times are whole seconds. The search is bounded: each fire is looked for within
// kFireSearchYears after the previous one (the longest gap between two fires of an expression that
// can fire is 8 years, 29 February across 2100), and never at or after kFireTimesEnd.

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

#include "common/time.hpp"
#include "orchestration/cron.hpp"
#include "orchestration/time_zone.hpp"

namespace orb::orchestration {

inline constexpr int kFireSearchYears = 10;
// 2200-01-01T00:00:00Z: WallTime (nanoseconds in 64 bits) ends in 2262.
inline constexpr WallTime kFireTimesEnd{std::chrono::seconds(7'258'118'400)};

// The first `n` fire times strictly after `after`, in increasing order; fewer when the search
// bound is reached (none for an expression that never fires, e.g. "0 0 30 2 *").
std::vector<WallTime> NextFireTimes(const CronExpr& expr, const TimeZone& zone, WallTime after,
                                    std::size_t n);

// The first fire time strictly after `after`, if one is within the bound.
std::optional<WallTime> NextFireTime(const CronExpr& expr, const TimeZone& zone, WallTime after);

}  // namespace orb::orchestration
