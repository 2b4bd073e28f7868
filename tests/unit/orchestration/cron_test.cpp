#include "orchestration/cron.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/matchers.hpp"

namespace orb::orchestration {
namespace {

using ::testing::HasSubstr;

CronExpr MustParse(std::string_view text) {
  auto expr = ParseCron(text);
  EXPECT_TRUE(expr.has_value()) << text << ": " << (expr ? "" : expr.error().message);
  return expr ? *expr : CronExpr{};
}

// The message of the error ParseCron gives, or "" when it parses.
std::string CronErrorText(std::string_view text) {
  auto expr = ParseCron(text);
  if (expr) return "";
  EXPECT_EQ(expr.error().code, Errc::kInvalidRequest);
  EXPECT_EQ(expr.error().details.size(), 1u);
  if (!expr.error().details.empty()) {
    EXPECT_EQ(expr.error().details[0].field, "cron");
  }
  return expr.error().message;
}

TEST(ParseCronTest, FiveFieldsFireAtSecondZero) {
  const CronExpr expr = MustParse("0 4 * * *");
  EXPECT_FALSE(expr.has_seconds);
  EXPECT_EQ(expr.seconds.count(), 1u);
  EXPECT_TRUE(expr.seconds[0]);
  EXPECT_EQ(expr.minutes.count(), 1u);
  EXPECT_TRUE(expr.minutes[0]);
  EXPECT_EQ(expr.hours.count(), 1u);
  EXPECT_TRUE(expr.hours[4]);
  EXPECT_TRUE(expr.day_of_month_star);
  EXPECT_TRUE(expr.day_of_week_star);
  EXPECT_EQ(expr.months.count(), 12u);
  EXPECT_FALSE(expr.months[0]);
  EXPECT_EQ(expr.days_of_week.count(), 7u);
  EXPECT_FALSE(expr.FiresHourlyOrMoreOften());
}

TEST(ParseCronTest, SixFieldsHaveSecondsFirst) {
  const CronExpr expr = MustParse("*/20 0 4 * * *");
  EXPECT_TRUE(expr.has_seconds);
  EXPECT_EQ(expr.seconds.count(), 3u);
  EXPECT_TRUE(expr.seconds[0] && expr.seconds[20] && expr.seconds[40]);
  EXPECT_TRUE(expr.hours[4]);
}

TEST(ParseCronTest, ListsRangesAndSteps) {
  const CronExpr expr = MustParse("1-30/5,45 */6 1,15 * *");
  std::vector<int> minutes;
  for (int m = 0; m < 60; ++m) {
    if (expr.minutes[m]) minutes.push_back(m);
  }
  EXPECT_EQ(minutes, (std::vector<int>{1, 6, 11, 16, 21, 26, 45}));
  EXPECT_EQ(expr.hours.count(), 4u);
  EXPECT_TRUE(expr.hours[0] && expr.hours[6] && expr.hours[12] && expr.hours[18]);
  EXPECT_EQ(expr.days_of_month.count(), 2u);
  EXPECT_FALSE(expr.day_of_month_star);
}

TEST(ParseCronTest, ValueWithStepRunsToTheFieldsMaximum) {
  const CronExpr expr = MustParse("50/5 * * * *");
  EXPECT_EQ(expr.minutes.count(), 2u);
  EXPECT_TRUE(expr.minutes[50] && expr.minutes[55]);
}

TEST(ParseCronTest, MonthAndWeekdayNamesInAnyCase) {
  const CronExpr expr = MustParse("0 0 * jan,Jul-SEP mon-FRI");
  EXPECT_EQ(expr.months.count(), 4u);
  EXPECT_TRUE(expr.months[1] && expr.months[7] && expr.months[8] && expr.months[9]);
  EXPECT_EQ(expr.days_of_week.count(), 5u);
  EXPECT_FALSE(expr.days_of_week[0]);
  EXPECT_FALSE(expr.days_of_week[6]);
  EXPECT_FALSE(expr.day_of_week_star);
}

TEST(ParseCronTest, ZeroAndSevenAreSunday) {
  EXPECT_EQ(MustParse("0 0 * * 7").days_of_week, MustParse("0 0 * * 0").days_of_week);
  EXPECT_EQ(MustParse("0 0 * * SUN").days_of_week, MustParse("0 0 * * 7").days_of_week);
  const CronExpr weekend = MustParse("0 0 * * 6-7");
  EXPECT_EQ(weekend.days_of_week.count(), 2u);
  EXPECT_TRUE(weekend.days_of_week[0] && weekend.days_of_week[6]);
}

TEST(ParseCronTest, DayFieldsOrWhenBothRestricted) {
  const CronExpr both = MustParse("0 0 13 * FRI");
  EXPECT_TRUE(both.MatchesDay(4, 13, 1));  // Monday the 13th
  EXPECT_TRUE(both.MatchesDay(4, 3, 5));   // Friday the 3rd
  EXPECT_FALSE(both.MatchesDay(4, 4, 6));  // Saturday the 4th
  const CronExpr weekday_only = MustParse("0 0 * * FRI");
  EXPECT_FALSE(weekday_only.MatchesDay(4, 13, 1));
  EXPECT_TRUE(weekday_only.MatchesDay(4, 3, 5));
  const CronExpr day_only = MustParse("0 0 13 * ?");
  EXPECT_TRUE(day_only.MatchesDay(4, 13, 1));
  EXPECT_FALSE(day_only.MatchesDay(4, 3, 5));
  // "*/2" is a restriction (only a bare "*" or "?" is not): OR with the weekday.
  EXPECT_TRUE(MustParse("0 0 */2 * MON").MatchesDay(4, 6, 1));
  EXPECT_TRUE(MustParse("0 0 */2 * MON").MatchesDay(4, 3, 5));
  EXPECT_FALSE(MustParse("0 0 */2 * MON").MatchesDay(4, 4, 6));
}

TEST(ParseCronTest, MacrosAndTheirExpansion) {
  EXPECT_EQ(MustParse("@daily"), MustParse("0 0 * * *"));
  EXPECT_EQ(MustParse("@midnight"), MustParse("0 0 * * *"));
  EXPECT_EQ(MustParse("@hourly"), MustParse("0 * * * *"));
  EXPECT_EQ(MustParse("@weekly"), MustParse("0 0 * * 0"));
  EXPECT_EQ(MustParse("@monthly"), MustParse("0 0 1 * *"));
  EXPECT_EQ(MustParse("@yearly"), MustParse("0 0 1 1 *"));
  EXPECT_EQ(MustParse("@annually"), MustParse("0 0 1 1 *"));
  EXPECT_THAT(CronErrorText("@reboot"), HasSubstr("\"@reboot\" is not supported"));
  EXPECT_THAT(CronErrorText("@every 5m"), HasSubstr("is not supported"));
}

TEST(ParseCronTest, BlanksAroundAndBetweenFieldsAreIgnored) {
  EXPECT_EQ(MustParse("  0\t4  * *   *  "), MustParse("0 4 * * *"));
}

TEST(ParseCronTest, HourlyOrMoreOftenIsAnEveryHourHourField) {
  EXPECT_TRUE(MustParse("*/15 * * * *").FiresHourlyOrMoreOften());
  EXPECT_TRUE(MustParse("0 * * * *").FiresHourlyOrMoreOften());
  EXPECT_TRUE(MustParse("* * * * * *").FiresHourlyOrMoreOften());
  EXPECT_FALSE(MustParse("0 */2 * * *").FiresHourlyOrMoreOften());
  EXPECT_FALSE(MustParse("* 4 * * *").FiresHourlyOrMoreOften());
}

TEST(ParseCronTest, ErrorsNameTheFieldAndTheValue) {
  EXPECT_EQ(CronErrorText("0 25 * * *"), "cron: hour field: value \"25\" is out of range 0-23");
  EXPECT_EQ(CronErrorText("60 * * * *"), "cron: minute field: value \"60\" is out of range 0-59");
  EXPECT_EQ(CronErrorText("61 0 * * * *"), "cron: second field: value \"61\" is out of range 0-59");
  EXPECT_EQ(CronErrorText("0 0 0 * *"),
            "cron: day-of-month field: value \"0\" is out of range 1-31");
  EXPECT_EQ(CronErrorText("0 0 32 * *"),
            "cron: day-of-month field: value \"32\" is out of range 1-31");
  EXPECT_EQ(CronErrorText("0 0 * 13 *"), "cron: month field: value \"13\" is out of range 1-12");
  EXPECT_EQ(CronErrorText("0 0 * * 8"), "cron: day-of-week field: value \"8\" is out of range 0-7");
  EXPECT_EQ(CronErrorText("0 0 * FOO *"),
            "cron: month field: value \"FOO\" is not a number or a name");
  EXPECT_EQ(CronErrorText("0 0 * * MONDAY"),
            "cron: day-of-week field: value \"MONDAY\" is not a number or a name");
  EXPECT_EQ(CronErrorText("x * * * *"), "cron: minute field: value \"x\" is not a number");
  EXPECT_EQ(CronErrorText("1x * * * *"), "cron: minute field: value \"1x\" is not a number");
  EXPECT_EQ(CronErrorText("0 MON * * *"), "cron: hour field: value \"MON\" is not a number");
  EXPECT_EQ(CronErrorText("30-10 * * * *"),
            "cron: minute field: range \"30-10\" starts after it ends");
  EXPECT_EQ(CronErrorText("*/0 * * * *"),
            "cron: minute field: step \"0\" in \"*/0\" must be a number from 1 to 60");
  EXPECT_EQ(CronErrorText("*/ * * * *"),
            "cron: minute field: step \"\" in \"*/\" must be a number from 1 to 60");
  EXPECT_EQ(CronErrorText("0 */25 * * *"),
            "cron: hour field: step \"25\" in \"*/25\" must be a number from 1 to 24");
  EXPECT_EQ(CronErrorText("1,,2 * * * *"), "cron: minute field: empty list item in \"1,,2\"");
  EXPECT_EQ(CronErrorText("1- * * * *"), "cron: minute field: empty value");
  EXPECT_EQ(CronErrorText("? * * * *"), "cron: minute field: value \"?\" is not a number");
}

TEST(ParseCronTest, WrongFieldCountLengthOrEmpty) {
  EXPECT_EQ(CronErrorText(""), "cron: is empty");
  EXPECT_EQ(CronErrorText("   "), "cron: is empty");
  EXPECT_EQ(CronErrorText("0 4 * *"),
            "cron: expected 5 fields (minute hour day-of-month month day-of-week) or 6 with "
            "seconds first, got 4");
  EXPECT_THAT(CronErrorText("0 0 4 * * * *"), HasSubstr("got 7"));
  EXPECT_THAT(CronErrorText(std::string(300, '1')), HasSubstr("longer than 256 characters"));
}

TEST(ParseCronTest, UnprintableBytesAreNotEchoed) {
  EXPECT_EQ(CronErrorText("\x01\xff * * * *"), "cron: minute field: value \"??\" is not a number");
}

TEST(CronExprTest, CanEverFire) {
  EXPECT_TRUE(MustParse("0 0 29 2 *").CanEverFire());
  EXPECT_FALSE(MustParse("0 0 30 2 *").CanEverFire());
  EXPECT_FALSE(MustParse("0 0 31 4,6,9,11 *").CanEverFire());
  EXPECT_TRUE(MustParse("0 0 31 4,5 *").CanEverFire());
  // Restricted weekdays OR-ed with the impossible day: every Monday of February.
  EXPECT_TRUE(MustParse("0 0 30 2 MON").CanEverFire());
}

}  // namespace
}  // namespace orb::orchestration
