// Store::ReadHistory (docs/protocol.md "Stats history", docs/decisions/0025) on every store: the
// jobs that ended in each minute of the window by final status, and the percentiles of their
// final runs, with the window taken from the time passed in (the fake clock).

#include <string>

#include "contract/store_contract.hpp"

namespace orb::store {
namespace {

class StoreHistoryTest : public StoreContractTest {
 protected:
  protocol::StatsHistory History(int minutes) {
    auto history = store().ReadHistory(Now(), minutes);
    EXPECT_THAT(history, IsOk());
    return history ? *history : protocol::StatsHistory{};
  }

  // The start of the minute holding Now().
  WallTime MinuteStart() const {
    const std::int64_t ms = ToUnixMillis(Now());
    return FromUnixMillis(ms - ms % 60'000);
  }
};

TEST_P(StoreHistoryTest, CountsEachEndedJobInItsMinuteWithItsRunsPercentiles) {
  ReadyAgent("a1");
  // Minute 0: one job queued 2 s before it starts, running 3 s, COMPLETED.
  const Job done = Create("a1", "BACKUP_INSTANCE", "mc-1");
  clock_.Advance(2s);
  auto first = Dispatch("a1");
  ASSERT_TRUE(first);
  clock_.Advance(3s);
  ASSERT_THAT(Finish("a1", first->execution.run_id, RunStatus::kCompleted), IsOk());
  const WallTime minute0 = MinuteStart();

  // Minute 1: one FAILED (no retry: not retryable) after 1 s, one CANCELLED while queued, one
  // still RUNNING (not ended: not counted).
  clock_.Advance(60s);
  const WallTime minute1 = MinuteStart();
  const Job failed = Create("a1", "BACKUP_INSTANCE", "mc-2");
  auto second = Dispatch("a1");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->execution.job_id, failed.id);
  clock_.Advance(1s);
  ASSERT_THAT(Finish("a1", second->execution.run_id, RunStatus::kFailed,
                     protocol::RunError{"boom", "it broke", {}, false}),
              IsOk());
  EXPECT_EQ(StatusOf(failed.id), JobStatus::kFailed);
  const Job cancelled = Create("a1", "BACKUP_INSTANCE", "mc-3");
  ASSERT_THAT(store().CancelJob(cancelled.id, Now()), IsOk());
  Create("a1", "BACKUP_INSTANCE", "mc-4");
  ASSERT_TRUE(Dispatch("a1"));

  const protocol::StatsHistory history = History(3);
  EXPECT_EQ(history.minutes, 3);
  EXPECT_FALSE(history.truncated);
  ASSERT_EQ(history.buckets.size(), 3u);
  EXPECT_EQ(history.from, minute0 - 1min);
  EXPECT_EQ(history.buckets[0].minute, minute0 - 1min);
  protocol::HistoryMinute empty;
  empty.minute = minute0 - 1min;
  EXPECT_EQ(history.buckets[0], empty);

  const protocol::HistoryMinute& m0 = history.buckets[1];
  EXPECT_EQ(m0.minute, minute0);
  EXPECT_EQ(m0.completed, 1);
  EXPECT_EQ(m0.failed, 0);
  EXPECT_EQ(m0.cancelled, 0);
  EXPECT_EQ(m0.queue_to_start_p50_ms, 2000);
  EXPECT_EQ(m0.queue_to_start_p95_ms, 2000);
  EXPECT_EQ(m0.run_p50_ms, 3000);
  EXPECT_EQ(m0.run_p95_ms, 3000);

  const protocol::HistoryMinute& m1 = history.buckets[2];
  EXPECT_EQ(m1.minute, minute1);
  EXPECT_EQ(m1.completed, 0);
  EXPECT_EQ(m1.failed, 1);
  EXPECT_EQ(m1.cancelled, 1);  // never ran: no percentile value of its own
  EXPECT_EQ(m1.queue_to_start_p50_ms, 0);
  EXPECT_EQ(m1.run_p50_ms, 1000);
  EXPECT_EQ(m1.run_p95_ms, 1000);

  // A one-minute window holds only the current minute; older ends are outside it.
  const protocol::StatsHistory last = History(1);
  ASSERT_EQ(last.buckets.size(), 1u);
  EXPECT_EQ(last.buckets[0], m1);
  (void)done;
}

TEST_P(StoreHistoryTest, PercentilesAreNearestRankOverTheMinutesRuns) {
  ReadyAgent("a1", 20);
  // 20 jobs ending in one minute, run durations 1..20 s: p50 = 10 s, p95 = 19 s.
  const WallTime start = MinuteStart();
  clock_.Advance(std::chrono::milliseconds(ToUnixMillis(start) + 1000 - ToUnixMillis(Now())));
  std::vector<std::pair<std::string, int>> runs;
  for (int i = 1; i <= 20; ++i) {
    Create("a1", "BACKUP_INSTANCE", "mc-" + std::to_string(i));
    auto run = Dispatch("a1");
    ASSERT_TRUE(run);
    runs.emplace_back(run->execution.run_id, i);
  }
  // Each run ends i seconds after the common start: at most 20 s later, in the same minute.
  for (int second = 1; second <= 20; ++second) {
    clock_.Advance(1s);
    ASSERT_THAT(Finish("a1", runs[second - 1].first, RunStatus::kCompleted), IsOk());
  }
  const protocol::StatsHistory history = History(1);
  ASSERT_EQ(history.buckets.size(), 1u);
  EXPECT_EQ(history.buckets[0].completed, 20);
  EXPECT_EQ(history.buckets[0].run_p50_ms, 10'000);
  EXPECT_EQ(history.buckets[0].run_p95_ms, 19'000);
  EXPECT_EQ(history.buckets[0].queue_to_start_p95_ms, 0);
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreHistoryTest, ::testing::ValuesIn(StoreFactories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace orb::store
