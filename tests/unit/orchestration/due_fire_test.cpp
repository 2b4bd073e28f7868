#include "orchestration/due_fire.hpp"

#include <gtest/gtest.h>

#include "unit/orchestration/test_time.hpp"

namespace orb::orchestration {
namespace {

using test_time::Utc;
using test_time::Zone;

CronExpr Cron(std::string_view text) {
  auto expr = ParseCron(text);
  EXPECT_TRUE(expr.has_value()) << text;
  return expr ? *expr : CronExpr{};
}

DueFire Decide(std::string_view cron, std::string_view last, CatchUp catch_up,
               std::string_view now) {
  return DecideDueFire(Cron(cron), Zone("UTC"), Utc(last), catch_up, Utc(now));
}

TEST(DueFireTest, NothingDueBeforeTheFireTime) {
  const DueFire due =
      Decide("0 4 * * *", "2026-12-05T04:00:00Z", CatchUp::kNone, "2026-12-06T03:59:59.999Z");
  EXPECT_EQ(due.fire, std::nullopt);
  EXPECT_EQ(due.skipped_through, std::nullopt);
  EXPECT_EQ(due.next, Utc("2026-12-06T04:00:00Z"));
}

TEST(DueFireTest, DueAtItsTimeAndUpTo60SecondsLate) {
  for (const std::string_view now :
       {"2026-12-06T04:00:00Z", "2026-12-06T04:00:30Z", "2026-12-06T04:01:00Z"}) {
    for (const CatchUp policy : {CatchUp::kNone, CatchUp::kLatest}) {
      const DueFire due = Decide("0 4 * * *", "2026-12-05T04:00:00Z", policy, now);
      EXPECT_EQ(due.fire, Utc("2026-12-06T04:00:00Z")) << now;
      EXPECT_EQ(due.skipped_through, std::nullopt) << now;
      EXPECT_EQ(due.next, Utc("2026-12-07T04:00:00Z")) << now;
    }
  }
}

TEST(DueFireTest, RecordedFireIsNotDueAgain) {
  const DueFire due =
      Decide("0 4 * * *", "2026-12-06T04:00:00Z", CatchUp::kLatest, "2026-12-06T04:00:30Z");
  EXPECT_EQ(due.fire, std::nullopt);
  EXPECT_EQ(due.next, Utc("2026-12-07T04:00:00Z"));
}

TEST(DueFireTest, MoreThan60SecondsLateIsMissed) {
  const DueFire none =
      Decide("0 4 * * *", "2026-12-05T04:00:00Z", CatchUp::kNone, "2026-12-06T04:01:00.001Z");
  EXPECT_EQ(none.fire, std::nullopt);
  EXPECT_EQ(none.skipped_through, Utc("2026-12-06T04:00:00Z"));
  EXPECT_EQ(none.next, Utc("2026-12-07T04:00:00Z"));
  const DueFire latest =
      Decide("0 4 * * *", "2026-12-05T04:00:00Z", CatchUp::kLatest, "2026-12-06T04:01:00.001Z");
  EXPECT_EQ(latest.fire, Utc("2026-12-06T04:00:00Z"));
  EXPECT_EQ(latest.skipped_through, std::nullopt);
}

TEST(DueFireTest, AfterDaysOfDowntimeNoneSkipsAndLatestRunsTheLatestOnce) {
  const DueFire none =
      Decide("0 4 * * *", "2026-12-01T04:00:00Z", CatchUp::kNone, "2026-12-06T10:00:00Z");
  EXPECT_EQ(none.fire, std::nullopt);
  EXPECT_EQ(none.skipped_through, Utc("2026-12-06T04:00:00Z"));
  const DueFire latest =
      Decide("0 4 * * *", "2026-12-01T04:00:00Z", CatchUp::kLatest, "2026-12-06T10:00:00Z");
  EXPECT_EQ(latest.fire, Utc("2026-12-06T04:00:00Z"));
  // Once recorded, nothing else is due: the other missed fires are behind it.
  const DueFire after =
      Decide("0 4 * * *", "2026-12-06T04:00:00Z", CatchUp::kLatest, "2026-12-06T10:00:01Z");
  EXPECT_EQ(after.fire, std::nullopt);
  EXPECT_EQ(after.skipped_through, std::nullopt);
}

TEST(DueFireTest, AFireOnTimeWinsOverTheMissedOnes) {
  for (const CatchUp policy : {CatchUp::kNone, CatchUp::kLatest}) {
    const DueFire due = Decide("* * * * *", "2026-12-06T10:00:00Z", policy, "2026-12-06T10:30:20Z");
    EXPECT_EQ(due.fire, Utc("2026-12-06T10:30:00Z"));
    EXPECT_EQ(due.skipped_through, Utc("2026-12-06T10:29:00Z"));
    EXPECT_EQ(due.next, Utc("2026-12-06T10:31:00Z"));
  }
}

TEST(DueFireTest, EverySecondRunsEachFireOnTimeInOrder) {
  // The scheduler ran 5 s late: each of the five fires is on time and due, one per call.
  std::string last = "2026-12-06T10:00:00Z";
  std::vector<WallTime> fired;
  for (int i = 0; i < 10; ++i) {
    const DueFire due = DecideDueFire(Cron("* * * * * *"), Zone("UTC"), Utc(last), CatchUp::kNone,
                                      Utc("2026-12-06T10:00:05.5Z"));
    if (!due.fire) break;
    fired.push_back(*due.fire);
    last = FormatTimestamp(*due.fire);
  }
  ASSERT_EQ(fired.size(), 5u);
  EXPECT_EQ(fired.front(), Utc("2026-12-06T10:00:01Z"));
  EXPECT_EQ(fired.back(), Utc("2026-12-06T10:00:05Z"));
}

TEST(DueFireTest, LatestMissedFoundAfterYearsOfDowntime) {
  const DueFire due =
      Decide("*/7 * * * *", "2020-01-01T00:00:00Z", CatchUp::kLatest, "2026-12-06T10:30:00Z");
  // 10:28 is the last multiple of 7 minutes before 10:29:00 (the grace's start); 10:28 is more
  // than 60 s before 10:30.
  EXPECT_EQ(due.fire, Utc("2026-12-06T10:28:00Z"));
}

TEST(DueFireTest, NeverFiringExpressionIsNeverDue) {
  const DueFire due =
      Decide("0 0 30 2 *", "2026-01-01T00:00:00Z", CatchUp::kLatest, "2026-12-06T10:30:00Z");
  EXPECT_EQ(due, DueFire{});
}

TEST(DueFireTest, InAZoneTheRulesOfFireTimesApply) {
  // Berlin's spring gap: "30 2" fires at the transition, 01:00Z.
  const DueFire due =
      DecideDueFire(Cron("30 2 * * *"), Zone("Europe/Berlin"), Utc("2026-03-28T01:30:00Z"),
                    CatchUp::kNone, Utc("2026-03-29T01:00:10Z"));
  EXPECT_EQ(due.fire, Utc("2026-03-29T01:00:00Z"));
}

TEST(CatchUpTest, Names) {
  EXPECT_EQ(CatchUpFromString("none"), CatchUp::kNone);
  EXPECT_EQ(CatchUpFromString("latest"), CatchUp::kLatest);
  EXPECT_EQ(CatchUpFromString("all"), std::nullopt);
  EXPECT_EQ(ToString(CatchUp::kLatest), "latest");
}

}  // namespace
}  // namespace orb::orchestration
