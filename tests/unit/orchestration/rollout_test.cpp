#include "orchestration/rollout.hpp"

#include <chrono>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/orchestration/test_time.hpp"

namespace orb::orchestration {
namespace {

using test_time::Utc;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Indexes = std::vector<std::size_t>;

const WallTime kNow = Utc("2026-12-06T05:00:00Z");

std::vector<RolloutHost> Hosts(std::size_t n, HostState state = HostState::kPending) {
  return std::vector<RolloutHost>(n, RolloutHost{state, kNow - std::chrono::minutes(1), false});
}

RolloutPolicy Policy(std::int64_t max_in_flight, bool percent = false) {
  RolloutPolicy policy;
  policy.max_in_flight = MaxInFlight{max_in_flight, percent};
  return policy;
}

TEST(RolloutTest, StartsUpToMaxInFlightInHostOrder) {
  const RolloutDecision d = DecideRollout(Policy(2), Hosts(10), RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.start, (Indexes{0, 1}));
  EXPECT_FALSE(d.abort);
  EXPECT_FALSE(d.complete);
  EXPECT_EQ(d.phase, 0u);
  EXPECT_EQ(d.counts.total, 10);
  EXPECT_EQ(d.counts.pending, 10);
}

TEST(RolloutTest, PercentMaxInFlightRoundsUpAndIsAtLeastOne) {
  EXPECT_EQ(DecideRollout(Policy(25, true), Hosts(10), RolloutStatus::kRunning, kNow).start,
            (Indexes{0, 1, 2}));
  EXPECT_EQ(DecideRollout(Policy(1, true), Hosts(10), RolloutStatus::kRunning, kNow).start,
            (Indexes{0}));
  EXPECT_EQ(SlotCount(MaxInFlight{25, true}, 10), 3);
  EXPECT_EQ(SlotCount(MaxInFlight{1, true}, 3), 1);
  EXPECT_EQ(SlotCount(MaxInFlight{100, true}, 7), 7);
  EXPECT_EQ(SlotCount(MaxInFlight{5, false}, 3), 5);
}

TEST(RolloutTest, JobsNotFinalHoldSlotsAndFinalOnesFreeThem) {
  auto hosts = Hosts(6);
  hosts[0].state = HostState::kRunning;
  hosts[1].state = HostState::kQueued;
  hosts[2].state = HostState::kWaiting;
  EXPECT_THAT(DecideRollout(Policy(3), hosts, RolloutStatus::kRunning, kNow).start, IsEmpty());
  hosts[1].state = HostState::kFailed;
  hosts[2].state = HostState::kCancelled;
  const RolloutDecision d = DecideRollout(Policy(3), hosts, RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.start, (Indexes{3, 4}));
  EXPECT_EQ(d.counts, (RolloutCounts{6, 3, 0, 0, 1, 0, 1, 1, 0}));
}

TEST(RolloutTest, PhasesAreCumulativeAndWaitForEarlierJobsToBeFinal) {
  RolloutPolicy policy = Policy(5);
  policy.phases = {{10, {}}, {50, {}}, {100, {}}};  // of 20 hosts: 2, 10, 20
  auto hosts = Hosts(20);
  RolloutDecision d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.start, (Indexes{0, 1}));
  EXPECT_EQ(d.phase, 0u);
  hosts[0].state = HostState::kCompleted;
  hosts[1].state = HostState::kRunning;
  d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_THAT(d.start, IsEmpty()) << "phase 1 waits for host 1";
  EXPECT_EQ(d.phase, 0u);
  hosts[1].state = HostState::kFailed;
  d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.phase, 1u);
  EXPECT_EQ(d.start, (Indexes{2, 3, 4, 5, 6}));
  for (std::size_t i = 2; i < 10; ++i)
    hosts[i].state = HostState::kCompleted;
  d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.phase, 2u);
  EXPECT_EQ(d.start, (Indexes{10, 11, 12, 13, 14}));
}

TEST(RolloutTest, PhaseLimitsRoundUp) {
  EXPECT_EQ(PhaseLimit(10, 20), 2);
  EXPECT_EQ(PhaseLimit(10, 3), 1);
  EXPECT_EQ(PhaseLimit(50, 3), 2);
  EXPECT_EQ(PhaseLimit(100, 3), 3);
}

TEST(RolloutTest, PhaseStartAtHoldsItsHostsAndLaterPhasesUntilThen) {
  RolloutPolicy policy = Policy(10);
  const WallTime four = Utc("2026-12-06T06:00:00Z");
  policy.phases = {{10, {}}, {50, four}, {100, {}}};
  auto hosts = Hosts(10);
  hosts[0].state = HostState::kCompleted;  // phase 0 (1 host) done
  RolloutDecision d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.phase, 1u);
  EXPECT_THAT(d.start, IsEmpty());
  EXPECT_EQ(d.wake_at, four);
  d = DecideRollout(policy, hosts, RolloutStatus::kRunning, four);
  EXPECT_EQ(d.start, (Indexes{1, 2, 3, 4}));
  // Phase 2 has no startAt of its own but comes after phase 1's.
  for (std::size_t i = 1; i < 5; ++i)
    hosts[i].state = HostState::kCompleted;
  d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.phase, 2u);
  EXPECT_THAT(d.start, IsEmpty());
  EXPECT_EQ(d.wake_at, four);
}

TEST(RolloutTest, WithoutPhasesOnePhaseOfAllHosts) {
  const RolloutDecision d = DecideRollout(Policy(100), Hosts(7), RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.start.size(), 7u);
  EXPECT_EQ(d.phase, 0u);
}

TEST(RolloutTest, AbortOnceMinFinishedAndFailedPercentReached) {
  RolloutPolicy policy = Policy(10);
  policy.abort = AbortPolicy{20, 5};
  auto hosts = Hosts(10);
  for (std::size_t i = 0; i < 4; ++i)
    hosts[i].state = HostState::kFailed;
  hosts[4].state = HostState::kRunning;
  hosts[5].state = HostState::kQueued;
  hosts[6].state = HostState::kWaiting;
  RolloutDecision d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_FALSE(d.abort) << "4 finished < minFinished 5";
  EXPECT_EQ(d.start, (Indexes{7, 8, 9}));

  hosts = Hosts(10);
  hosts[0].state = HostState::kFailed;
  for (std::size_t i = 1; i < 5; ++i)
    hosts[i].state = HostState::kCompleted;
  hosts[5].state = HostState::kRunning;
  hosts[6].state = HostState::kQueued;
  hosts[7].state = HostState::kWaiting;
  d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_TRUE(d.abort) << "1 failed of 5 finished = 20 %";
  EXPECT_EQ(d.cancel_on_abort, (Indexes{6, 7}));  // running jobs go on
  EXPECT_THAT(d.start, IsEmpty());
  EXPECT_FALSE(d.complete);
  EXPECT_EQ(d.counts.cancelled, 2);
  EXPECT_EQ(d.counts.running, 1);
}

TEST(RolloutTest, OperatorCancelledCountsAsFinishedButNotAsFailed) {
  RolloutPolicy policy = Policy(1);
  policy.abort = AbortPolicy{50, 2};
  auto hosts = Hosts(4);
  hosts[0].state = HostState::kFailed;
  hosts[1].state = HostState::kCancelled;
  hosts[2].state = HostState::kCancelled;
  EXPECT_FALSE(DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow).abort);  // 1/3
  hosts[2].state = HostState::kSkipped;
  const RolloutDecision d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_TRUE(d.abort);  // 2/3
  // The reason with the figures that decided it.
  EXPECT_EQ(d.abort_reason,
            "the abort rule: 2 of 3 final hosts failed or were skipped (66.67% >= 50%, at least 2 "
            "final)");
}

TEST(RolloutTest, HostTimeoutSkipsTheHostAndFreesItsSlot) {
  RolloutPolicy policy = Policy(1);
  policy.host_timeout_seconds = 3600;
  auto hosts = Hosts(3);
  hosts[0].state = HostState::kRunning;
  hosts[0].since = kNow - std::chrono::seconds(3599);
  RolloutDecision d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_THAT(d.timed_out, IsEmpty());
  EXPECT_THAT(d.start, IsEmpty());
  EXPECT_EQ(d.wake_at, kNow + std::chrono::seconds(1));
  hosts[0].since = kNow - std::chrono::seconds(3600);
  d = DecideRollout(policy, hosts, RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.timed_out, (Indexes{0}));
  EXPECT_EQ(d.start, (Indexes{1}));
  EXPECT_EQ(d.counts.skipped, 1);
  EXPECT_EQ(d.counts.running, 0);
}

TEST(RolloutTest, UnenrolledHostsAreSkippedAtOnce) {
  auto hosts = Hosts(3);
  hosts[0].unenrolled = true;  // pending: skipped without a job
  hosts[1].state = HostState::kQueued;
  hosts[1].unenrolled = true;  // its job is cancelled
  hosts[2].state = HostState::kCompleted;
  hosts[2].unenrolled = true;  // final: nothing to do
  const RolloutDecision d = DecideRollout(Policy(1), hosts, RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.unenrolled, (Indexes{0, 1}));
  EXPECT_TRUE(d.complete);
  EXPECT_EQ(d.counts.skipped, 2);
  EXPECT_EQ(d.counts.completed, 1);
}

TEST(RolloutTest, CompletesWhenEveryHostIsFinal) {
  auto hosts = Hosts(3, HostState::kCompleted);
  hosts[1].state = HostState::kFailed;
  hosts[2].state = HostState::kSkipped;
  RolloutDecision d = DecideRollout(Policy(1), hosts, RolloutStatus::kRunning, kNow);
  EXPECT_TRUE(d.complete);
  EXPECT_EQ(d.phase, 0u);
  d = DecideRollout(Policy(1), hosts, RolloutStatus::kPaused, kNow);
  EXPECT_TRUE(d.complete) << "a paused rollout whose hosts are all final completes too";
}

TEST(RolloutTest, PausedStartsNothingButStillTimesOut) {
  RolloutPolicy policy = Policy(5);
  policy.host_timeout_seconds = 60;
  auto hosts = Hosts(4);
  hosts[0].state = HostState::kRunning;
  hosts[0].since = kNow - std::chrono::minutes(5);
  const RolloutDecision d = DecideRollout(policy, hosts, RolloutStatus::kPaused, kNow);
  EXPECT_THAT(d.start, IsEmpty());
  EXPECT_EQ(d.timed_out, (Indexes{0}));
  EXPECT_FALSE(d.complete);
}

TEST(RolloutTest, EndedRolloutsOnlyReportTheirCounts) {
  RolloutPolicy policy = Policy(5);
  policy.host_timeout_seconds = 60;
  auto hosts = Hosts(3);
  hosts[0].state = HostState::kRunning;
  hosts[0].since = kNow - std::chrono::hours(1);
  hosts[1].unenrolled = true;
  for (const RolloutStatus status : {RolloutStatus::kAborted, RolloutStatus::kCompleted}) {
    const RolloutDecision d = DecideRollout(policy, hosts, status, kNow);
    EXPECT_THAT(d.start, IsEmpty());
    EXPECT_THAT(d.timed_out, IsEmpty());
    EXPECT_THAT(d.unenrolled, IsEmpty());
    EXPECT_FALSE(d.abort);
    EXPECT_FALSE(d.complete);
    EXPECT_EQ(d.wake_at, std::nullopt);
    EXPECT_EQ(d.counts, (RolloutCounts{3, 2, 0, 0, 1, 0, 0, 0, 0}));
  }
}

TEST(RolloutTest, NoHostsCompletesAtOnce) {
  EXPECT_TRUE(
      DecideRollout(Policy(1), std::vector<RolloutHost>{}, RolloutStatus::kRunning, kNow).complete);
}

TEST(RolloutTest, NamesOfStatusesAndStates) {
  EXPECT_EQ(ToString(RolloutStatus::kAborted), "ABORTED");
  EXPECT_EQ(RolloutStatusFromString("PAUSED"), RolloutStatus::kPaused);
  EXPECT_EQ(RolloutStatusFromString("paused"), std::nullopt);
  EXPECT_EQ(ToString(HostState::kSkipped), "skipped");
  EXPECT_EQ(HostStateFromString("waiting"), HostState::kWaiting);
  EXPECT_EQ(HostStateFromString("WAITING"), std::nullopt);
  EXPECT_TRUE(IsFinal(HostState::kCancelled));
  EXPECT_FALSE(IsFinal(HostState::kWaiting));
}

// ---- The window (decision 0026): settled hosts counted, the pending tail cut short ----

// A random rollout as the store keeps it: started hosts (any state) first, then pending ones
// (some skipped while pending), each with a random start time.
struct RandomRollout {
  RolloutPolicy policy;
  std::vector<RolloutHost> hosts;
  RolloutStatus status = RolloutStatus::kRunning;
};

RandomRollout MakeRandomRollout(std::mt19937& rng) {
  const auto pick = [&](int from, int to) { return std::uniform_int_distribution(from, to)(rng); };
  RandomRollout r;
  const int n = pick(0, 40);
  const int started = pick(0, n);
  constexpr HostState kStarted[] = {
      HostState::kWaiting, HostState::kQueued,    HostState::kRunning, HostState::kCompleted,
      HostState::kFailed,  HostState::kCancelled, HostState::kSkipped};
  for (int i = 0; i < n; ++i) {
    RolloutHost host;
    host.since = kNow - std::chrono::minutes(pick(0, 20));
    if (i < started) {
      host.state = kStarted[pick(0, 6)];
      host.unenrolled = pick(0, 9) == 0;
    } else {
      host.state = pick(0, 9) == 0 ? HostState::kSkipped : HostState::kPending;
    }
    r.hosts.push_back(host);
  }
  r.policy.max_in_flight = pick(0, 1) ? MaxInFlight{pick(1, 60), true} : MaxInFlight{pick(1, 8)};
  int percent = 0;
  for (int k = pick(0, 3); k > 0 && percent < 100; --k) {
    percent = k == 1 ? 100 : std::min(100, percent + pick(1, 60));
    RolloutPhase phase{percent, std::nullopt};
    if (pick(0, 3) == 0) phase.start_at = kNow + std::chrono::minutes(pick(-5, 5));
    r.policy.phases.push_back(phase);
  }
  if (pick(0, 1)) r.policy.abort = AbortPolicy{static_cast<double>(pick(1, 100)), pick(1, 6)};
  if (pick(0, 1)) r.policy.host_timeout_seconds = pick(60, 900);
  constexpr RolloutStatus kStatuses[] = {RolloutStatus::kRunning, RolloutStatus::kRunning,
                                         RolloutStatus::kPaused, RolloutStatus::kAborted,
                                         RolloutStatus::kCompleted};
  r.status = kStatuses[pick(0, 4)];
  return r;
}

// The window a store would load: a random share of the final hosts settled (every final one
// among the pending tail: the store settles skips as it makes them), a random share of the hosts
// in flight only counted (never one the decision must act on: unenrolled or timed out while the
// rollout acts; never a waiting or queued one with `count_unstarted` false), the rest listed, and
// the pending tail cut after `listed_pending` hosts. `seed` makes the same random choices again.
RolloutWindow MakeWindow(const RandomRollout& r, std::uint32_t seed, std::int64_t listed_pending,
                         bool count_unstarted = true) {
  std::mt19937 rng(seed);
  const auto coin = [&] { return std::uniform_int_distribution(0, 1)(rng) == 0; };
  const std::vector<RolloutHost>& hosts = r.hosts;
  const bool acts = r.status == RolloutStatus::kRunning || r.status == RolloutStatus::kPaused;
  RolloutWindow window;
  window.total = static_cast<std::int64_t>(hosts.size());
  std::int64_t pending_seen = 0;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const RolloutHost& host = hosts[i];
    const bool in_tail = pending_seen > 0;
    const bool settle = coin();
    const bool count = coin();
    if (IsFinal(host.state) && (in_tail || settle)) {
      RolloutCounts one = CountHosts({host});
      window.settled.completed += one.completed;
      window.settled.failed += one.failed;
      window.settled.cancelled += one.cancelled;
      window.settled.skipped += one.skipped;
      continue;
    }
    const bool in_flight = host.state == HostState::kWaiting || host.state == HostState::kQueued ||
                           host.state == HostState::kRunning;
    const bool timed_out =
        r.policy.host_timeout_seconds &&
        kNow >= host.since + std::chrono::seconds(*r.policy.host_timeout_seconds);
    const bool acted_on = acts && (host.unenrolled || timed_out);
    if (in_flight && count && !acted_on && (count_unstarted || host.state == HostState::kRunning)) {
      UnlistedInFlight& c = window.in_flight;
      c.waiting += host.state == HostState::kWaiting ? 1 : 0;
      c.queued += host.state == HostState::kQueued ? 1 : 0;
      c.running += host.state == HostState::kRunning ? 1 : 0;
      if (!c.first_position) c.first_position = static_cast<std::int64_t>(i);
      if (!c.earliest_since || host.since < *c.earliest_since) c.earliest_since = host.since;
      continue;
    }
    if (host.state == HostState::kPending && ++pending_seen > listed_pending) {
      ++window.unlisted_pending;
      continue;
    }
    window.positions.push_back(static_cast<std::int64_t>(i));
    window.open.push_back(host);
  }
  return window;
}

Indexes Positions(const Indexes& indexes, const RolloutWindow& window) {
  Indexes positions;
  for (std::size_t i : indexes)
    positions.push_back(static_cast<std::size_t>(window.positions.at(i)));
  return positions;
}

TEST(RolloutWindowTest, DecidesAsTheWholeListWhenItListsAsManyPendingHostsAsThereAreSlots) {
  // With hosts in flight only counted, too (docs/decisions/0026, "Hosts by state").
  std::mt19937 rng(20261206);
  for (int round = 0; round < 20000; ++round) {
    const RandomRollout r = MakeRandomRollout(rng);
    const std::int64_t slots =
        SlotCount(r.policy.max_in_flight, static_cast<std::int64_t>(r.hosts.size()));
    const std::int64_t listed_pending = slots + std::uniform_int_distribution(0, 2)(rng);
    const auto seed = static_cast<std::uint32_t>(rng());
    RolloutWindow window = MakeWindow(r, seed, listed_pending);
    const RolloutDecision whole = DecideRollout(r.policy, r.hosts, r.status, kNow);
    RolloutDecision part = DecideRollout(r.policy, window, r.status, kNow);
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_EQ(part.abort, whole.abort);
    if (part.abort) {
      // The store lists the waiting and queued hosts it only counted, and decides again.
      window = MakeWindow(r, seed, listed_pending, false);
      part = DecideRollout(r.policy, window, r.status, kNow);
    }
    ASSERT_EQ(Positions(part.start, window), whole.start);
    ASSERT_EQ(Positions(part.timed_out, window), whole.timed_out);
    ASSERT_EQ(Positions(part.unenrolled, window), whole.unenrolled);
    ASSERT_EQ(Positions(part.cancel_on_abort, window), whole.cancel_on_abort);
    ASSERT_EQ(part.abort, whole.abort);
    ASSERT_EQ(part.complete, whole.complete);
    ASSERT_EQ(part.phase, whole.phase);
    ASSERT_EQ(part.counts, whole.counts);
    ASSERT_EQ(part.wake_at, whole.wake_at);
  }
}

// maxPerMinute over a window whose hosts are all listed and pending; `recent` started within the
// pace's window before kNow, the first of them `first_ago` before it.
RolloutDecision Paced(std::int64_t max_in_flight, std::int64_t per_minute, std::int64_t recent,
                      std::chrono::milliseconds first_ago = std::chrono::milliseconds(0)) {
  RolloutPolicy policy = Policy(max_in_flight);
  policy.max_per_minute = per_minute;
  RolloutWindow window;
  window.total = 10;
  window.open = Hosts(10);
  for (std::int64_t i = 0; i < 10; ++i)
    window.positions.push_back(i);
  window.recent_starts.count = recent;
  if (recent > 0) window.recent_starts.earliest = kNow - first_ago;
  return DecideRollout(policy, window, RolloutStatus::kRunning, kNow);
}

TEST(RolloutWindowTest, MaxPerMinuteIsAnEvenPaceOfAboutASecondsWorthAtOnce) {
  using std::chrono::milliseconds;
  EXPECT_EQ(PaceOf(6), (Pace{1, milliseconds(10'000)}));
  EXPECT_EQ(PaceOf(60), (Pace{1, milliseconds(1'000)}));
  EXPECT_EQ(PaceOf(90), (Pace{2, milliseconds(1'334)}));  // 1.333 s, rounded up: never faster
  EXPECT_EQ(PaceOf(600), (Pace{10, milliseconds(1'000)}));
  EXPECT_EQ(PaceOf(100'000), (Pace{1'667, milliseconds(1'001)}));
  EXPECT_EQ(PaceOf(1), (Pace{1, milliseconds(60'000)}));
}

TEST(RolloutWindowTest, MaxPerMinuteStartsWhatThePacesWindowLeftAndWakesWhenItsFirstStartAges) {
  using std::chrono::milliseconds;
  // No start within the window: a window's worth now (600 a minute: ten a second); the next once
  // these are a window old.
  RolloutDecision d = Paced(10, 120, 0);
  EXPECT_EQ(d.start, (Indexes{0, 1}));
  EXPECT_EQ(d.wake_at, kNow + milliseconds(1'000));
  // Three of ten started, the first 400 ms ago: seven more now, the next when it is 1 s old.
  d = Paced(10, 600, 3, milliseconds(400));
  EXPECT_EQ(d.start, (Indexes{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(d.wake_at, kNow + milliseconds(600));
  // One a minute, used 59 s ago: none now.
  d = Paced(10, 1, 1, milliseconds(59'000));
  EXPECT_THAT(d.start, IsEmpty());
  EXPECT_EQ(d.wake_at, kNow + milliseconds(1'000));
  // Slots, not the pace, hold the rest back: the end of a job wakes the rollout, not the time.
  d = Paced(2, 600, 0);
  EXPECT_EQ(d.start, (Indexes{0, 1}));
  EXPECT_FALSE(d.wake_at.has_value());
  // Without maxPerMinute, recent starts change nothing.
  RolloutWindow window;
  window.total = 3;
  window.open = Hosts(3);
  window.positions = {0, 1, 2};
  window.recent_starts = {100, kNow};
  d = DecideRollout(Policy(3), window, RolloutStatus::kRunning, kNow);
  EXPECT_EQ(d.start, (Indexes{0, 1, 2}));
}

TEST(RolloutWindowTest, ListedPendingHostsAllSkippedStartNothingUntilTheNextWindow) {
  // 10 hosts in two phases of 50 %: 0-3 completed (settled), 4 pending but unenrolled (listed),
  // 5-9 pending and not listed. Skipping 4 ends the first phase (the unlisted hosts come after
  // it); nothing starts until the next window lists 5.
  RolloutPolicy policy = Policy(2);
  policy.phases = {RolloutPhase{50, std::nullopt}, RolloutPhase{100, std::nullopt}};
  RolloutWindow window;
  window.total = 10;
  window.settled.completed = 4;
  window.positions = {4};
  window.open = {RolloutHost{HostState::kPending, kNow, true}};
  window.unlisted_pending = 5;
  const RolloutDecision d = DecideRollout(policy, window, RolloutStatus::kRunning, kNow);
  EXPECT_THAT(d.unenrolled, ElementsAre(0u));
  EXPECT_THAT(d.start, IsEmpty());
  EXPECT_FALSE(d.complete);
  EXPECT_EQ(d.phase, 1u);
  EXPECT_EQ(d.counts, (RolloutCounts{10, 5, 0, 0, 0, 4, 0, 0, 1}));
}

}  // namespace
}  // namespace orb::orchestration
