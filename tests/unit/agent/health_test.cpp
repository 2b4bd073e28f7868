#include "agent/health.hpp"

#include <gtest/gtest.h>

#include "common/time.hpp"

namespace orb::agent {
namespace health_test {  // named: the agent tests are built as one unity file

using std::chrono::seconds;

Clock::MonoTime At(int second) {
  return Clock::MonoTime{} + seconds(1000 + second);
}

TEST(AgentHealthTest, ProblemsMakeItUnhealthyAndEveryChangeIsANewVersion) {
  AgentHealth health;
  EXPECT_TRUE(health.healthy());
  const auto start = health.version();
  EXPECT_TRUE(health.Set(kJournalUnwritable, "disk full"));
  EXPECT_FALSE(health.Set(kJournalUnwritable, "disk full"));  // the same: no change
  EXPECT_FALSE(health.healthy());
  EXPECT_EQ(health.version(), start + 1);
  const auto report = health.Report(FromUnixMillis(1795000000123));
  EXPECT_FALSE(report.healthy);
  ASSERT_EQ(report.problems.size(), 1U);
  EXPECT_EQ(report.problems[0].code, "journal_unwritable");
  EXPECT_EQ(report.problems[0].message, "disk full");
  EXPECT_TRUE(health.Clear(kJournalUnwritable));
  EXPECT_FALSE(health.Clear(kJournalUnwritable));
  EXPECT_TRUE(health.healthy());
  EXPECT_EQ(health.version(), start + 2);
  EXPECT_TRUE(health.Report(WallTime{}).problems.empty());
}

TEST(StatusScheduleTest, ReportsOnceWhenHealthyAtOnceOnChangeAndEveryIntervalWhileUnhealthy) {
  StatusSchedule schedule(seconds(15));
  // After hello: the first report at once.
  EXPECT_TRUE(schedule.Due(At(0), 0, true));
  schedule.Attempted(At(0), 0, true);
  // Healthy and reported: never again until something changes.
  EXPECT_FALSE(schedule.NextDue(0, true).has_value());
  EXPECT_FALSE(schedule.Due(At(3600), 0, true));
  // A change is due at once, whatever the interval.
  EXPECT_TRUE(schedule.Due(At(1), 1, false));
  schedule.Attempted(At(1), 1, true);
  // Unhealthy: again every interval.
  EXPECT_FALSE(schedule.Due(At(15), 1, false));
  EXPECT_TRUE(schedule.Due(At(16), 1, false));
  EXPECT_EQ(schedule.NextDue(1, false), At(16));
  schedule.Attempted(At(16), 1, true);
  EXPECT_EQ(schedule.NextDue(1, false), At(31));
  // Healthy again: one report, then quiet.
  EXPECT_TRUE(schedule.Due(At(20), 2, true));
  schedule.Attempted(At(20), 2, true);
  EXPECT_FALSE(schedule.NextDue(2, true).has_value());
}

TEST(StatusScheduleTest, AFailedReportIsTriedAgainAfterTheIntervalNotInALoop) {
  StatusSchedule schedule(seconds(15));
  schedule.Attempted(At(0), 0, false);  // fleet-cmdr unreachable
  EXPECT_FALSE(schedule.Due(At(1), 0, true));
  EXPECT_TRUE(schedule.Due(At(15), 0, true));
  schedule.Attempted(At(15), 0, true);
  EXPECT_FALSE(schedule.NextDue(0, true).has_value());
}

TEST(StatusScheduleTest, AFleetCmdrWithoutTheCallIsNeverAskedAgain) {
  StatusSchedule schedule(seconds(15));
  schedule.Attempted(At(0), 0, false);
  schedule.Unsupported();
  EXPECT_TRUE(schedule.unsupported());
  EXPECT_FALSE(schedule.NextDue(0, true).has_value());
  EXPECT_FALSE(schedule.Due(At(100), 5, false));  // not even on a change, nor while unhealthy
}

}  // namespace health_test
}  // namespace orb::agent
