// BuildHistory and MakeHistoryWindow (store/ops/history.hpp), pure: the minutes of a window, the
// bucket of each ended job, nearest-rank percentiles, and the rows that give no value.

#include "store/ops/history.hpp"

#include <gtest/gtest.h>

namespace orb::store::ops {
namespace {

using protocol::JobStatus;

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kT0 = 1'795'000'020'000;  // a whole minute (1795000020 s = 29916667 min)

TEST(HistoryWindowTest, EndsWithTheMinuteOfNowAndHoldsWholeMinutes) {
  const HistoryWindow window = MakeHistoryWindow(FromUnixMillis(kT0 + 59'999), 3);
  EXPECT_EQ(window.to_ms, kT0 + kMinute);
  EXPECT_EQ(window.from_ms, kT0 - 2 * kMinute);
  EXPECT_EQ(MakeHistoryWindow(FromUnixMillis(kT0), 1).from_ms, kT0);
}

TEST(BuildHistoryTest, EveryMinuteIsPresentAndEachJobCountsInTheMinuteItEnded) {
  const HistoryWindow window = MakeHistoryWindow(FromUnixMillis(kT0 + 1000), 3);
  std::vector<EndedJob> rows = {
      {JobStatus::kCompleted, kT0 - kMinute, kT0 - kMinute - 500, kT0 - kMinute - 400,
       kT0 - kMinute},
      {JobStatus::kFailed, kT0 + 10, kT0 - 3000, kT0 - 1000, kT0 + 10},
      {JobStatus::kCancelled, kT0 + 20, kT0, std::nullopt, std::nullopt},
      {JobStatus::kCompleted, kT0 - 3 * kMinute, 0, 0, 0},  // before the window
      {JobStatus::kCompleted, kT0 + kMinute, 0, 0, 0},      // after it
  };
  const protocol::StatsHistory history = BuildHistory(window, rows, false);
  ASSERT_EQ(history.buckets.size(), 3u);
  EXPECT_EQ(history.from, FromUnixMillis(kT0 - 2 * kMinute));
  EXPECT_EQ(history.buckets[0].completed + history.buckets[0].failed, 0);
  EXPECT_FALSE(history.buckets[0].run_p50_ms);
  EXPECT_EQ(history.buckets[1].completed, 1);
  EXPECT_EQ(history.buckets[1].queue_to_start_p50_ms, 100);
  EXPECT_EQ(history.buckets[1].run_p95_ms, 400);
  EXPECT_EQ(history.buckets[2].failed, 1);
  EXPECT_EQ(history.buckets[2].cancelled, 1);
  EXPECT_EQ(history.buckets[2].queue_to_start_p50_ms, 2000);  // the cancelled one never ran
  EXPECT_EQ(history.buckets[2].run_p50_ms, 1010);
}

TEST(BuildHistoryTest, ARunThatStartedBeforeItsJobWasQueuedAgainGivesNoWait) {
  const HistoryWindow window = MakeHistoryWindow(FromUnixMillis(kT0), 1);
  const protocol::StatsHistory history =
      BuildHistory(window, {{JobStatus::kCancelled, kT0 + 5, kT0 + 4, kT0 + 1, kT0 + 3}}, true);
  EXPECT_TRUE(history.truncated);
  EXPECT_EQ(history.buckets[0].cancelled, 1);
  EXPECT_FALSE(history.buckets[0].queue_to_start_p50_ms);
  EXPECT_EQ(history.buckets[0].run_p50_ms, 2);
}

TEST(BuildHistoryTest, PercentilesAreNearestRank) {
  const HistoryWindow window = MakeHistoryWindow(FromUnixMillis(kT0), 1);
  std::vector<EndedJob> rows;
  for (std::int64_t d = 100; d >= 1; --d)  // durations 1..100 ms, in reverse
    rows.push_back({JobStatus::kCompleted, kT0 + 1000, kT0, kT0, kT0 + d});
  const protocol::StatsHistory history = BuildHistory(window, rows, false);
  EXPECT_EQ(history.buckets[0].run_p50_ms, 50);
  EXPECT_EQ(history.buckets[0].run_p95_ms, 95);
  rows.resize(1);  // one value: it is every percentile
  EXPECT_EQ(BuildHistory(window, rows, false).buckets[0].run_p95_ms, 100);
}

}  // namespace
}  // namespace orb::store::ops
