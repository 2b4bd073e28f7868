// Fuzzes the cron parser of schedules (orchestration/cron.hpp) and the fire-time search over
// what it accepts (orchestration/fire_times.hpp): no input may crash, hang or leak.
// Properties checked on every input that parses:
// - an error is invalid_request, starts with "cron: " and has one detail for field "cron";
// - NextFireTimes in UTC and in Europe/Berlin gives at most n times, strictly increasing, after
//   the start;
// - in UTC each fire's calendar fields match the expression (gmtime_r);
// - an expression that CanEverFire fires within the search bound in UTC, one that cannot never.

#include <chrono>
#include <ctime>
#include <optional>

#include "fuzz/fuzz_target.hpp"
#include "orchestration/cron.hpp"
#include "orchestration/fire_times.hpp"

namespace {

using orb::WallTime;
using orb::orchestration::CronExpr;

bool MatchesUtc(const CronExpr& expr, WallTime fire) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(fire);
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) return false;
  const auto u = [](int v) { return static_cast<unsigned>(v); };
  return expr.seconds[u(tm.tm_sec)] && expr.minutes[u(tm.tm_min)] && expr.hours[u(tm.tm_hour)] &&
         expr.MatchesDay(u(tm.tm_mon + 1), u(tm.tm_mday), u(tm.tm_wday));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto utc = orb::orchestration::TimeZone::Load("UTC");
  static const auto berlin = orb::orchestration::TimeZone::Load("Europe/Berlin");
  ORB_FUZZ_CHECK(utc.has_value() && berlin.has_value());

  const auto expr = orb::orchestration::ParseCron(orb::fuzz::AsText(data, size));
  if (!expr) {
    ORB_FUZZ_CHECK(expr.error().code == orb::Errc::kInvalidRequest);
    ORB_FUZZ_CHECK(expr.error().message.rfind("cron: ", 0) == 0);
    ORB_FUZZ_CHECK(expr.error().details.size() == 1 && expr.error().details[0].field == "cron");
    return 0;
  }
  // 2026-10-24T12:00:00Z: Berlin's fall-back night is within the first fires of most inputs.
  const WallTime start{std::chrono::seconds(1'792'843'200)};
  constexpr std::size_t kCount = 5;
  for (const auto* zone : {&*utc, &*berlin}) {
    const auto fires = orb::orchestration::NextFireTimes(*expr, *zone, start, kCount);
    ORB_FUZZ_CHECK(fires.size() <= kCount);
    std::optional<WallTime> previous;
    for (const WallTime fire : fires) {
      ORB_FUZZ_CHECK(fire > start);
      ORB_FUZZ_CHECK(!previous || fire > *previous);
      previous = fire;
      if (zone == &*utc) ORB_FUZZ_CHECK(MatchesUtc(*expr, fire));
    }
    if (zone == &*utc) ORB_FUZZ_CHECK(fires.empty() != expr->CanEverFire());
  }
  return 0;
}
