#include "orchestration/fire_times.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/matchers.hpp"
#include "unit/orchestration/test_time.hpp"

namespace orb::orchestration {
namespace {

using orb::testing::FailsWith;
using orb::testing::IsOk;
using test_time::Format;
using test_time::Utc;
using test_time::Zone;
using ::testing::ElementsAre;

// The next n fire times of `cron` in `zone` after `after`, formatted.
std::vector<std::string> Fires(std::string_view cron, std::string_view zone, std::string_view after,
                               std::size_t n) {
  auto expr = ParseCron(cron);
  if (!expr) {
    ADD_FAILURE() << expr.error().message;
    return {};
  }
  return Format(NextFireTimes(*expr, Zone(zone), Utc(after), n));
}

TEST(TimeZoneTest, KnownZonesLoad) {
  EXPECT_THAT(TimeZone::Load("UTC"), IsOk());
  EXPECT_THAT(TimeZone::Load("Europe/Berlin"), IsOk());
  EXPECT_THAT(TimeZone::Load("Etc/GMT+5"), IsOk());
  EXPECT_THAT(TimeZone::Load("America/Port-au-Prince"), IsOk());
  EXPECT_EQ(Zone("Australia/Lord_Howe").name(), "Australia/Lord_Howe");
}

TEST(TimeZoneTest, UnknownZoneIsAClearError) {
  const auto zone = TimeZone::Load("Mars/Olympus_Mons");
  ASSERT_THAT(zone, FailsWith(Errc::kInvalidRequest));
  EXPECT_EQ(zone.error().message,
            "timeZone: \"Mars/Olympus_Mons\" is not a known time zone (an IANA name such as "
            "Europe/Berlin)");
  ASSERT_EQ(zone.error().details.size(), 1u);
  EXPECT_EQ(zone.error().details[0].field, "timeZone");
}

TEST(TimeZoneTest, MalformedNamesAreRefusedBeforeAnyLookUp) {
  for (const std::string_view name :
       {"", "../../etc/passwd", "/etc/localtime", "Europe/Berlin ", "Europe\\Berlin", "\xff"}) {
    const auto zone = TimeZone::Load(name);
    ASSERT_THAT(zone, FailsWith(Errc::kInvalidRequest)) << name;
    EXPECT_THAT(zone.error().message, ::testing::HasSubstr("is not a time zone name")) << name;
  }
  EXPECT_THAT(TimeZone::Load(std::string(65, 'A')), FailsWith(Errc::kInvalidRequest));
}

TEST(NextFireTimesTest, DailyInUtc) {
  EXPECT_THAT(Fires("0 4 * * *", "UTC", "2026-12-06T03:00:00Z", 3),
              ElementsAre("2026-12-06T04:00:00.000Z", "2026-12-07T04:00:00.000Z",
                          "2026-12-08T04:00:00.000Z"));
}

TEST(NextFireTimesTest, StrictlyAfterEvenWithinTheSameSecond) {
  EXPECT_THAT(Fires("0 4 * * *", "UTC", "2026-12-06T04:00:00Z", 1),
              ElementsAre("2026-12-07T04:00:00.000Z"));
  EXPECT_THAT(Fires("0 4 * * *", "UTC", "2026-12-06T03:59:59.999Z", 1),
              ElementsAre("2026-12-06T04:00:00.000Z"));
  EXPECT_THAT(Fires("* * * * * *", "UTC", "2026-12-06T04:00:00.500Z", 2),
              ElementsAre("2026-12-06T04:00:01.000Z", "2026-12-06T04:00:02.000Z"));
}

TEST(NextFireTimesTest, EveryFifteenMinutesAndSeconds) {
  EXPECT_THAT(Fires("*/15 * * * *", "UTC", "2026-12-06T23:50:00Z", 3),
              ElementsAre("2026-12-07T00:00:00.000Z", "2026-12-07T00:15:00.000Z",
                          "2026-12-07T00:30:00.000Z"));
  EXPECT_THAT(Fires("*/20 59 23 31 12 *", "UTC", "2026-12-31T23:59:30Z", 2),
              ElementsAre("2026-12-31T23:59:40.000Z", "2027-12-31T23:59:00.000Z"));
}

TEST(NextFireTimesTest, DayOfMonthOrDayOfWeek) {
  // April 2026: Fridays 3, 10, 17; the 13th is a Monday.
  EXPECT_THAT(Fires("0 0 13 * FRI", "UTC", "2026-04-01T00:00:00Z", 4),
              ElementsAre("2026-04-03T00:00:00.000Z", "2026-04-10T00:00:00.000Z",
                          "2026-04-13T00:00:00.000Z", "2026-04-17T00:00:00.000Z"));
  EXPECT_THAT(Fires("0 0 * * MON-FRI", "UTC", "2026-12-04T12:00:00Z", 2),
              ElementsAre("2026-12-07T00:00:00.000Z", "2026-12-08T00:00:00.000Z"));
}

TEST(NextFireTimesTest, TwentyNinthOfFebruaryIncludingAcross2100) {
  EXPECT_THAT(Fires("0 12 29 2 *", "UTC", "2026-01-01T00:00:00Z", 2),
              ElementsAre("2028-02-29T12:00:00.000Z", "2032-02-29T12:00:00.000Z"));
  // 2100 is not a leap year: 8 years between two fires, within the 10-year search.
  EXPECT_THAT(Fires("0 12 29 2 *", "UTC", "2096-03-01T00:00:00Z", 1),
              ElementsAre("2104-02-29T12:00:00.000Z"));
}

TEST(NextFireTimesTest, ImpossibleDatesNeverFire) {
  EXPECT_THAT(Fires("0 0 30 2 *", "UTC", "2026-01-01T00:00:00Z", 5), ElementsAre());
  EXPECT_THAT(Fires("0 0 31 4,6,9,11 *", "Europe/Berlin", "2026-01-01T00:00:00Z", 5),
              ElementsAre());
  EXPECT_THAT(Fires("* * 30 2 *", "Europe/Berlin", "2026-01-01T00:00:00Z", 5), ElementsAre());
}

TEST(NextFireTimesTest, NothingAtOrAfterTheEndOf2199) {
  EXPECT_THAT(Fires("0 0 1 1 *", "UTC", "2198-06-01T00:00:00Z", 5),
              ElementsAre("2199-01-01T00:00:00.000Z"));
  EXPECT_EQ(FormatTimestamp(kFireTimesEnd), "2200-01-01T00:00:00.000Z");
}

// Europe/Berlin 2026: 02:00 CET -> 03:00 CEST on 29 March (01:00Z); 03:00 CEST -> 02:00 CET on
// 25 October (01:00Z).
TEST(NextFireTimesTest, BerlinDailyInTheSpringGapFiresAtTheTransition) {
  EXPECT_THAT(Fires("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3),
              ElementsAre("2026-03-29T01:00:00.000Z",  // 02:30 does not exist: 03:00 CEST
                          "2026-03-30T00:30:00.000Z",  // 02:30 CEST
                          "2026-03-31T00:30:00.000Z"));
}

TEST(NextFireTimesTest, BerlinDailyInTheRepeatedHourFiresOnceAtTheFirst) {
  EXPECT_THAT(Fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
              ElementsAre("2026-10-25T00:30:00.000Z",    // 02:30 CEST, not 02:30 CET
                          "2026-10-26T01:30:00.000Z"));  // 02:30 CET
  // From inside the second pass of the repeated hour, 02:30 has already fired that day.
  EXPECT_THAT(Fires("30 2 * * *", "Europe/Berlin", "2026-10-25T01:15:00Z", 1),
              ElementsAre("2026-10-26T01:30:00.000Z"));
  // Every 15 minutes of hour 2 (not hourly): each local time once, in the first pass.
  EXPECT_THAT(Fires("*/15 2 * * *", "Europe/Berlin", "2026-10-25T00:00:00Z", 5),
              ElementsAre("2026-10-25T00:15:00.000Z", "2026-10-25T00:30:00.000Z",
                          "2026-10-25T00:45:00.000Z", "2026-10-26T01:00:00.000Z",
                          "2026-10-26T01:15:00.000Z"));
}

TEST(NextFireTimesTest, BerlinHourlySkipsTheGapAndRepeatsTheHour) {
  EXPECT_THAT(Fires("30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", 2),
              ElementsAre("2026-03-29T00:30:00.000Z",    // 01:30 CET
                          "2026-03-29T01:30:00.000Z"));  // 03:30 CEST; 02:30 never was
  EXPECT_THAT(Fires("30 * * * *", "Europe/Berlin", "2026-10-24T23:45:00Z", 3),
              ElementsAre("2026-10-25T00:30:00.000Z",    // 02:30 CEST
                          "2026-10-25T01:30:00.000Z",    // 02:30 CET
                          "2026-10-25T02:30:00.000Z"));  // 03:30 CET
}

TEST(NextFireTimesTest, BerlinEveryMinuteIsContinuousInUtc) {
  EXPECT_THAT(Fires("* * * * *", "Europe/Berlin", "2026-03-29T00:58:00Z", 3),
              ElementsAre("2026-03-29T00:59:00.000Z", "2026-03-29T01:00:00.000Z",
                          "2026-03-29T01:01:00.000Z"));
  EXPECT_THAT(Fires("* * * * *", "Europe/Berlin", "2026-10-25T00:58:00Z", 3),
              ElementsAre("2026-10-25T00:59:00.000Z", "2026-10-25T01:00:00.000Z",
                          "2026-10-25T01:01:00.000Z"));
}

// America/New_York 2026: 02:00 EST -> 03:00 EDT on 8 March (07:00Z); 02:00 EDT -> 01:00 EST on
// 1 November (06:00Z).
TEST(NextFireTimesTest, NewYorkSpringGapAndFallBack) {
  EXPECT_THAT(Fires("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
              ElementsAre("2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z"));
  // Two local times in one gap fire once, at the transition.
  EXPECT_THAT(Fires("0,30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 3),
              ElementsAre("2026-03-08T07:00:00.000Z", "2026-03-09T06:00:00.000Z",
                          "2026-03-09T06:30:00.000Z"));
  EXPECT_THAT(Fires("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
              ElementsAre("2026-11-01T05:30:00.000Z",    // 01:30 EDT
                          "2026-11-02T06:30:00.000Z"));  // 01:30 EST the next day
  EXPECT_THAT(Fires("30 * * * *", "America/New_York", "2026-11-01T05:00:00Z", 3),
              ElementsAre("2026-11-01T05:30:00.000Z", "2026-11-01T06:30:00.000Z",
                          "2026-11-01T07:30:00.000Z"));
}

// Australia/Sydney 2026 (southern hemisphere): 03:00 AEDT -> 02:00 AEST on 5 April (16:00Z the
// day before); 02:00 AEST -> 03:00 AEDT on 4 October (16:00Z the day before).
TEST(NextFireTimesTest, SydneyFallBackInAprilAndGapInOctober) {
  EXPECT_THAT(Fires("30 2 * * *", "Australia/Sydney", "2026-04-04T00:00:00Z", 2),
              ElementsAre("2026-04-04T15:30:00.000Z",    // 02:30 AEDT, the first
                          "2026-04-05T16:30:00.000Z"));  // 02:30 AEST
  EXPECT_THAT(Fires("30 2 * * *", "Australia/Sydney", "2026-10-03T00:00:00Z", 2),
              ElementsAre("2026-10-03T16:00:00.000Z",    // 02:30 does not exist: 03:00 AEDT
                          "2026-10-04T15:30:00.000Z"));  // 02:30 AEDT
  EXPECT_THAT(Fires("0 * * * *", "Australia/Sydney", "2026-10-03T14:30:00Z", 3),
              ElementsAre("2026-10-03T15:00:00.000Z",  // 01:00 AEST
                          "2026-10-03T16:00:00.000Z",  // 03:00 AEDT; 02:00 never was
                          "2026-10-03T17:00:00.000Z"));
}

// Australia/Lord_Howe: a 30-minute shift. 02:00 +10:30 -> 02:30 +11 on 4 October 2026 (15:30Z
// the day before); 02:00 +11 -> 01:30 +10:30 on 5 April 2026 (15:00Z the day before).
TEST(NextFireTimesTest, LordHoweHalfHourShift) {
  EXPECT_THAT(Fires("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z", 2),
              ElementsAre("2026-10-03T15:30:00.000Z",    // 02:15 does not exist: 02:30 +11
                          "2026-10-04T15:15:00.000Z"));  // 02:15 +11
  EXPECT_THAT(Fires("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", 2),
              ElementsAre("2026-04-04T14:45:00.000Z",    // 01:45 +11, the first
                          "2026-04-05T15:15:00.000Z"));  // 01:45 +10:30
  EXPECT_THAT(Fires("45 * * * *", "Australia/Lord_Howe", "2026-04-04T14:00:00Z", 3),
              ElementsAre("2026-04-04T14:45:00.000Z", "2026-04-04T15:15:00.000Z",
                          "2026-04-04T16:15:00.000Z"));
}

TEST(NextFireTimesTest, DailyEvery2HoursUsesTheFixedTimeRules) {
  // "0 */2" is not hourly: 02:00 in Berlin's gap fires at the transition.
  EXPECT_THAT(Fires("0 */2 * * *", "Europe/Berlin", "2026-03-28T22:30:00Z", 3),
              ElementsAre("2026-03-28T23:00:00.000Z",    // 00:00 CET
                          "2026-03-29T01:00:00.000Z",    // 02:00 -> 03:00 CEST
                          "2026-03-29T02:00:00.000Z"));  // 04:00 CEST
}

TEST(NextFireTimesTest, ExtremeStartsAreSafe) {
  auto expr = ParseCron("* * * * * *");
  ASSERT_TRUE(expr.has_value());
  for (const char* zone : {"UTC", "Europe/Berlin"}) {
    EXPECT_THAT(NextFireTimes(*expr, Zone(zone), WallTime::max(), 3), ElementsAre());
    EXPECT_THAT(NextFireTimes(*expr, Zone(zone), kFireTimesEnd - std::chrono::seconds(2), 3),
                ElementsAre(kFireTimesEnd - std::chrono::seconds(1)));
    EXPECT_EQ(NextFireTimes(*expr, Zone(zone), WallTime::min(), 2).size(), 2u);
  }
  EXPECT_THAT(NextFireTimes(*expr, Zone("UTC"), Utc("2026-12-06T00:00:00Z"), 0), ElementsAre());
}

TEST(NextFireTimeTest, OneFire) {
  auto expr = ParseCron("0 4 * * *");
  ASSERT_TRUE(expr.has_value());
  EXPECT_EQ(NextFireTime(*expr, Zone("UTC"), Utc("2026-12-06T00:00:00Z")),
            Utc("2026-12-06T04:00:00Z"));
  auto never = ParseCron("0 0 30 2 *");
  ASSERT_TRUE(never.has_value());
  EXPECT_EQ(NextFireTime(*never, Zone("UTC"), Utc("2026-12-06T00:00:00Z")), std::nullopt);
}

}  // namespace
}  // namespace orb::orchestration
