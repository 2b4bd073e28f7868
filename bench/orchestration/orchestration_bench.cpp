// What a schedule's fire-time search and a rollout decision cost (docs/decisions/0017):
// NextFireTimes for the 5 next fires (GET /v1/schedules/{id}'s nextFires) of typical and worst
// expressions, DecideDueFire in the common case and after a long downtime, DecideRollout over
// 1000 hosts. Run the release build: build/release/bench/orchestration/orchestration_bench.

#include <chrono>
#include <string>

#include <benchmark/benchmark.h>

#include "orchestration/due_fire.hpp"
#include "orchestration/fire_times.hpp"
#include "orchestration/rollout.hpp"

namespace {

using orb::WallTime;
using namespace orb::orchestration;

// 2026-10-24T12:00:00Z, the day before Berlin's fall back.
const WallTime kStart{std::chrono::seconds(1'792'843'200)};

void NextFive(benchmark::State& state, const char* cron, const char* zone_name) {
  const CronExpr expr = *ParseCron(cron);
  const TimeZone zone = *TimeZone::Load(zone_name);
  for (auto _ : state) {
    benchmark::DoNotOptimize(NextFireTimes(expr, zone, kStart, 5));
  }
}
BENCHMARK_CAPTURE(NextFive, daily_utc, "0 4 * * *", "UTC");
BENCHMARK_CAPTURE(NextFive, daily_berlin, "30 2 * * *", "Europe/Berlin");
BENCHMARK_CAPTURE(NextFive, every_15_min_berlin, "*/15 * * * *", "Europe/Berlin");
BENCHMARK_CAPTURE(NextFive, every_second_sydney, "* * * * * *", "Australia/Sydney");
BENCHMARK_CAPTURE(NextFive, weekdays_new_york, "0 9 * * MON-FRI", "America/New_York");
BENCHMARK_CAPTURE(NextFive, leap_day_utc, "0 12 29 2 *", "UTC");
// The worst case: an expression that never fires searches its whole 10-year bound.
BENCHMARK_CAPTURE(NextFive, never_30_feb_berlin, "0 0 30 2 *", "Europe/Berlin");
BENCHMARK_CAPTURE(NextFive, never_31_apr_every_second, "* * * 31 4 *", "Europe/Berlin");

void ParseCronBench(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(ParseCron("1-30/5,45 */6 1,15 JAN-MAR MON-FRI"));
}
BENCHMARK(ParseCronBench);

void DueFireNothingDue(benchmark::State& state) {
  const CronExpr expr = *ParseCron("0 4 * * *");
  const TimeZone zone = *TimeZone::Load("Europe/Berlin");
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        DecideDueFire(expr, zone, kStart, CatchUp::kNone, kStart + std::chrono::hours(1)));
  }
}
BENCHMARK(DueFireNothingDue);

void DueFireAfterAYearDown(benchmark::State& state) {
  const CronExpr expr = *ParseCron("*/7 * * * *");
  const TimeZone zone = *TimeZone::Load("Europe/Berlin");
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        DecideDueFire(expr, zone, kStart, CatchUp::kLatest, kStart + std::chrono::hours(24 * 365)));
  }
}
BENCHMARK(DueFireAfterAYearDown);

void Rollout1000Hosts(benchmark::State& state) {
  RolloutPolicy policy;
  policy.max_in_flight = MaxInFlight{10, true};
  policy.phases = {{10, {}}, {50, {}}, {100, {}}};
  policy.abort = AbortPolicy{20, 5};
  policy.host_timeout_seconds = 3600;
  std::vector<RolloutHost> hosts(1000, RolloutHost{HostState::kPending, kStart, false});
  for (std::size_t i = 0; i < 300; ++i)
    hosts[i].state = HostState::kCompleted;
  for (std::size_t i = 300; i < 350; ++i)
    hosts[i].state = HostState::kRunning;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DecideRollout(policy, hosts, RolloutStatus::kRunning, kStart));
  }
}
BENCHMARK(Rollout1000Hosts);

}  // namespace

BENCHMARK_MAIN();
