#include "orchestration/fire_times.hpp"

#include <algorithm>

#include <date/tz.h>

namespace orb::orchestration {
namespace {

using date::local_seconds;
using date::sys_seconds;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr sys_seconds kEnd{std::chrono::duration_cast<seconds>(kFireTimesEnd.time_since_epoch())};
constexpr seconds kSearchSpan = date::days(kFireSearchYears * 366);

// The first set bit >= from, or -1.
template <std::size_t N>
int NextBit(const std::bitset<N>& bits, long from) {
  for (auto i = static_cast<std::size_t>(std::max(from, 0L)); i < N; ++i) {
    if (bits[i]) return static_cast<int>(i);
  }
  return -1;
}

// The first local time in [t, limit) that the expression matches (calendar only, no zone).
// Each step jumps to the next candidate of the first field that does not match, so a year costs
// at most ~12 + 366 + matching days x (24 + 60 + 60) steps.
std::optional<local_seconds> NextLocalMatch(const CronExpr& expr, local_seconds t,
                                            local_seconds limit) {
  while (t < limit) {
    const auto day = date::floor<date::days>(t);
    const date::year_month_day ymd{day};
    const auto month = static_cast<unsigned>(ymd.month());
    if (!expr.months[month]) {
      // Calendar arithmetic: year_month + months is the next month (date::months added to a
      // time point would be an average month of 30.44 days).
      const date::year_month next_month =
          date::year_month{ymd.year(), ymd.month()} + date::months{1};
      t = date::local_days{next_month / 1};
      continue;
    }
    const auto weekday = date::weekday{day}.c_encoding();
    if (!expr.MatchesDay(month, static_cast<unsigned>(ymd.day()), weekday)) {
      t = day + date::days{1};
      continue;
    }
    const long tod = (t - day).count();
    const long h = tod / 3600;
    const long m = tod % 3600 / 60;
    const long s = tod % 60;
    const int next_h = NextBit(expr.hours, h);
    if (next_h < 0) {
      t = day + date::days{1};
      continue;
    }
    if (next_h != h) {
      t = day + hours{next_h};
      continue;
    }
    const int next_m = NextBit(expr.minutes, m);
    if (next_m < 0) {
      t = day + hours{h + 1};
      continue;
    }
    if (next_m != m) {
      t = day + hours{h} + minutes{next_m};
      continue;
    }
    const int next_s = NextBit(expr.seconds, s);
    if (next_s < 0) {
      t = day + hours{h} + minutes{m + 1};
      continue;
    }
    const local_seconds match = day + hours{h} + minutes{m} + seconds{next_s};
    if (match >= limit) break;
    return match;
  }
  return std::nullopt;
}

local_seconds AsLocal(sys_seconds t, seconds offset) {
  return local_seconds{t.time_since_epoch() + offset};
}
sys_seconds AsSys(local_seconds t, seconds offset) {
  return sys_seconds{t.time_since_epoch() - offset};
}

// Fixed local times: the first fire strictly after `after`.
std::optional<sys_seconds> NextFixed(const CronExpr& expr, const date::time_zone& zone,
                                     sys_seconds after) {
  const sys_seconds bound = std::min(after + kSearchSpan, kEnd);
  const date::sys_info now_info = zone.get_info(after);
  local_seconds cursor = AsLocal(after, now_info.offset);
  // The local bound, with a day of margin for any offset.
  const local_seconds limit = AsLocal(bound, now_info.offset) + date::days{1};
  while (true) {
    const auto match = NextLocalMatch(expr, cursor, limit);
    if (!match) return std::nullopt;
    const date::local_info info = zone.get_info(*match);
    sys_seconds fire;
    if (info.result == date::local_info::nonexistent) {
      fire = info.first.end;  // the first valid instant after the gap
    } else {
      fire = AsSys(*match, info.first.offset);  // unique, or the first of a repeated time
    }
    if (fire >= bound) return std::nullopt;
    if (fire > after) return fire;
    if (info.result == date::local_info::ambiguous && after >= info.first.end) {
      // `after` is in the repeated hour's second pass: every local time of the repeated range
      // already fired in the first pass. Go on from the end of that range.
      cursor = AsLocal(info.first.end, info.first.offset);
    } else {
      cursor = *match + seconds{1};
    }
  }
}

// Hourly or more often: the first UTC instant strictly after `after` whose local time matches,
// walking the zone's intervals of constant offset.
std::optional<sys_seconds> NextUtc(const CronExpr& expr, const date::time_zone& zone,
                                   sys_seconds after) {
  const sys_seconds bound = std::min(after + kSearchSpan, kEnd);
  sys_seconds t = after + seconds{1};
  while (t < bound) {
    const date::sys_info info = zone.get_info(t);
    const sys_seconds interval_end = std::min(date::floor<seconds>(info.end), bound);
    const auto match =
        NextLocalMatch(expr, AsLocal(t, info.offset), AsLocal(interval_end, info.offset));
    if (match) return AsSys(*match, info.offset);
    if (interval_end <= t) break;  // no progress: a malformed interval
    t = interval_end;
  }
  return std::nullopt;
}

WallTime ToWall(sys_seconds t) {
  return WallTime{std::chrono::duration_cast<WallTime::duration>(t.time_since_epoch())};
}

}  // namespace

std::vector<WallTime> NextFireTimes(const CronExpr& expr, const TimeZone& zone, WallTime after,
                                    std::size_t n) {
  std::vector<WallTime> fires;
  sys_seconds cursor{date::floor<seconds>(after.time_since_epoch())};
  const bool utc = expr.FiresHourlyOrMoreOften();
  while (fires.size() < n) {
    const auto fire =
        utc ? NextUtc(expr, zone.zone(), cursor) : NextFixed(expr, zone.zone(), cursor);
    if (!fire) break;
    fires.push_back(ToWall(*fire));
    cursor = *fire;
  }
  return fires;
}

std::optional<WallTime> NextFireTime(const CronExpr& expr, const TimeZone& zone, WallTime after) {
  auto fires = NextFireTimes(expr, zone, after, 1);
  if (fires.empty()) return std::nullopt;
  return fires.front();
}

}  // namespace orb::orchestration
