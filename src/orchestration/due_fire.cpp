#include "orchestration/due_fire.hpp"

#include <algorithm>

#include "orchestration/fire_times.hpp"

namespace orb::orchestration {
namespace {

using std::chrono::seconds;

WallTime FloorSeconds(WallTime t) {
  return std::chrono::floor<seconds>(t);
}

// The latest fire f with last < f < threshold, given that there is one. NextFireTime(a) is
// non-decreasing in a, so the largest whole second a with NextFireTime(a) < threshold is found by
// bisection, and its next fire is the answer.
WallTime LatestBefore(const CronExpr& expr, const TimeZone& zone, WallTime last,
                      WallTime threshold) {
  const auto before = [&](WallTime a) {
    const auto fire = NextFireTime(expr, zone, a);
    return fire && *fire < threshold;
  };
  WallTime low = FloorSeconds(last);                      // before(low) holds
  WallTime high = std::chrono::ceil<seconds>(threshold);  // before(high) does not
  while (high - low > seconds{1}) {
    const WallTime mid = low + std::chrono::floor<seconds>((high - low) / 2);
    (before(mid) ? low : high) = mid;
  }
  return *NextFireTime(expr, zone, low);
}

}  // namespace

std::string_view ToString(CatchUp policy) {
  return policy == CatchUp::kLatest ? "latest" : "none";
}

std::optional<CatchUp> CatchUpFromString(std::string_view text) {
  if (text == "none") return CatchUp::kNone;
  if (text == "latest") return CatchUp::kLatest;
  return std::nullopt;
}

DueFire DecideDueFire(const CronExpr& expr, const TimeZone& zone, WallTime last, CatchUp catch_up,
                      WallTime now) {
  DueFire due;
  const auto first = NextFireTime(expr, zone, last);
  if (!first || *first > now) {
    due.next = first;
    return due;
  }
  const WallTime threshold = now - kFireGrace;  // on time: f >= threshold
  const bool missed = *first < threshold;
  // The earliest fire on time: strictly after both `last` and threshold - 1 ns.
  const auto on_time =
      missed ? NextFireTime(expr, zone, std::max(last, threshold - WallTime::duration{1})) : first;
  if (on_time && *on_time <= now) {
    due.fire = on_time;
    if (missed) due.skipped_through = LatestBefore(expr, zone, last, threshold);
  } else {
    const WallTime latest = LatestBefore(expr, zone, last, threshold);
    if (catch_up == CatchUp::kLatest) {
      due.fire = latest;
    } else {
      due.skipped_through = latest;
    }
  }
  due.next = NextFireTime(expr, zone, now);
  return due;
}

}  // namespace orb::orchestration
