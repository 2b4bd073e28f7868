#pragma once

// Which fire of a schedule is due now (docs/decisions/0017): a fire up to kFireGrace late (a
// leader change, a slow tick) is never "missed" and runs; older ones are missed, and the
// schedule's catchUp says what happens to them. Pure; thread-safe.

#include <chrono>
#include <optional>
#include <string_view>

#include "common/time.hpp"
#include "orchestration/cron.hpp"
#include "orchestration/time_zone.hpp"

namespace orb::orchestration {

inline constexpr std::chrono::seconds kFireGrace{60};

enum class CatchUp {
  kNone,    // "none" (the default): missed fires are skipped
  kLatest,  // "latest": the latest missed fire runs once, unless a fire on time follows it
};
std::string_view ToString(CatchUp policy);
std::optional<CatchUp> CatchUpFromString(std::string_view text);

struct DueFire {
  // The fire to run now (create its jobs, record it). Call again after recording it: with an
  // expression firing every second, another may be due.
  std::optional<WallTime> fire;
  // The latest missed fire that does not run (catchUp "none", or "latest" with a fire on time
  // after it). Recording it as considered keeps it from being looked at again.
  std::optional<WallTime> skipped_through;
  // The first fire after `now`: when to look again if nothing else happens (nullopt: never fires).
  std::optional<WallTime> next;

  bool operator==(const DueFire&) const = default;
};

// `last`: the schedule's latest recorded fire time (run or skipped) or, before its first fire,
// when it was created or enabled or its cron or time zone changed: fires at or before `last` are
// never due. A fire f with last < f <= now is on time when now - f <= kFireGrace; the earliest
// fire on time is due. Without one, the latest missed fire is due under kLatest and skipped under
// kNone. Costs one fire-time search in the common case (nothing due), ~30 after a downtime (a
// binary search for the latest missed fire).
DueFire DecideDueFire(const CronExpr& expr, const TimeZone& zone, WallTime last, CatchUp catch_up,
                      WallTime now);

}  // namespace orb::orchestration
