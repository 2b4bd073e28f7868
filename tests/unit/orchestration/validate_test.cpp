#include "orchestration/validate.hpp"

#include <cmath>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/matchers.hpp"
#include "unit/orchestration/test_time.hpp"

namespace orb::orchestration {
namespace {

using orb::testing::FailsWith;
using orb::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::Field;

// The fields named by a failed validation, in order.
std::vector<std::string> ProblemFields(const Error& error) {
  std::vector<std::string> fields;
  for (const FieldProblem& problem : error.details)
    fields.push_back(problem.field);
  return fields;
}

TEST(ValidateRolloutPolicyTest, DefaultsAndAFullPolicyAreValid) {
  EXPECT_THAT(ValidateRolloutPolicy(RolloutPolicy{}), IsOk());
  RolloutPolicy policy;
  policy.max_in_flight = MaxInFlight{25, true};
  policy.phases = {{10, {}}, {50, test_time::Utc("2026-12-06T04:00:00Z")}, {100, {}}};
  policy.abort = AbortPolicy{20, 5};
  policy.host_timeout_seconds = 3600;
  policy.max_per_minute = 100'000;
  EXPECT_THAT(ValidateRolloutPolicy(policy), IsOk());
}

TEST(ValidateRolloutPolicyTest, EveryProblemNamesItsField) {
  RolloutPolicy policy;
  policy.max_in_flight = MaxInFlight{0, false};
  policy.phases = {{50, {}}, {50, {}}, {101, {}}, {90, {}}};
  policy.abort = AbortPolicy{100.5, 0};
  policy.host_timeout_seconds = 0;
  policy.max_per_minute = 0;
  const Status status = ValidateRolloutPolicy(policy);
  ASSERT_THAT(status, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(
      ProblemFields(status.error()),
      ElementsAre("policy.maxInFlight", "policy.phases[1].percent", "policy.phases[2].percent",
                  "policy.phases[3].percent", "policy.phases[3].percent",
                  "policy.abort.failedPercent", "policy.abort.minFinished",
                  "policy.hostTimeoutSeconds", "policy.maxPerMinute"));
  EXPECT_EQ(status.error().message,
            "policy.maxInFlight: must be an integer from 1 to 100000 or a percentage from \"1%\" "
            "to \"100%\"");
  EXPECT_EQ(status.error().details[1].problem, "must be greater than the previous phase's 50");
  EXPECT_EQ(status.error().details[4].problem, "the last phase must be 100");
  EXPECT_EQ(status.error().details[8].problem, "must be an integer from 1 to 100000");
  policy = RolloutPolicy{};
  policy.max_per_minute = 100'001;
  EXPECT_THAT(ProblemFields(ValidateRolloutPolicy(policy).error()),
              ElementsAre("policy.maxPerMinute"));
}

TEST(ValidateRolloutPolicyTest, PercentMaxInFlightAtMost100AndFailedPercentFinite) {
  RolloutPolicy policy;
  policy.max_in_flight = MaxInFlight{101, true};
  policy.abort = AbortPolicy{std::numeric_limits<double>::quiet_NaN(), 1};
  EXPECT_THAT(ProblemFields(ValidateRolloutPolicy(policy).error()),
              ElementsAre("policy.maxInFlight", "policy.abort.failedPercent"));
  policy.phases.assign(21, RolloutPhase{});
  EXPECT_THAT(ProblemFields(ValidateRolloutPolicy(policy).error()),
              ElementsAre("policy.maxInFlight", "policy.phases", "policy.abort.failedPercent"));
}

TEST(ParseMaxInFlightTest, IntegerOrPercentage) {
  EXPECT_EQ(ParseMaxInFlight("25%"), (MaxInFlight{25, true}));
  EXPECT_EQ(ParseMaxInFlight("3"), (MaxInFlight{3, false}));
  EXPECT_EQ(ParseMaxInFlight("100%"), (MaxInFlight{100, true}));
  for (const std::string_view bad :
       {"", "%", "0", "0%", "101%", "-1", "2.5%", "25 %", "100001", "99999999999999999999"}) {
    const auto value = ParseMaxInFlight(bad);
    ASSERT_THAT(value, FailsWith(Errc::kInvalidRequest)) << bad;
    EXPECT_THAT(value.error().details,
                ElementsAre(Field(&FieldProblem::field, "policy.maxInFlight")));
  }
}

TEST(ValidateScheduleTest, ValidFieldsGiveTheParsedSchedule) {
  auto schedule = ValidateSchedule({"0 4 * * *", "Europe/Berlin", "queue", "latest", 3});
  ASSERT_THAT(schedule, IsOk());
  EXPECT_TRUE(schedule->cron.hours[4]);
  EXPECT_EQ(schedule->zone.name(), "Europe/Berlin");
  EXPECT_EQ(schedule->overlap, Overlap::kQueue);
  EXPECT_EQ(schedule->catch_up, CatchUp::kLatest);
  ScheduleFields defaults;
  defaults.cron = "@daily";
  auto with_defaults = ValidateSchedule(defaults);
  ASSERT_THAT(with_defaults, IsOk());
  EXPECT_EQ(with_defaults->zone.name(), "UTC");
  EXPECT_EQ(with_defaults->overlap, Overlap::kSkip);
  EXPECT_EQ(with_defaults->catch_up, CatchUp::kNone);
}

TEST(ValidateScheduleTest, EveryProblemNamesItsField) {
  const auto schedule = ValidateSchedule({"0 25 * * *", "Mars/Base", "wait", "all", 0});
  ASSERT_THAT(schedule, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ProblemFields(schedule.error()),
              ElementsAre("cron", "timeZone", "overlap", "catchUp", "steps"));
  EXPECT_EQ(schedule.error().message, "cron: hour field: value \"25\" is out of range 0-23");
}

TEST(ValidateScheduleTest, ACronThatNeverFiresIsRefused) {
  const auto schedule = ValidateSchedule({"0 0 30 2 *", "UTC", "skip", "none", 1});
  ASSERT_THAT(schedule, FailsWith(Errc::kInvalidRequest));
  EXPECT_EQ(schedule.error().message,
            "cron: matches no date of any year (e.g. 30 February): it never fires");
}

TEST(OverlapTest, Names) {
  EXPECT_EQ(OverlapFromString("skip"), Overlap::kSkip);
  EXPECT_EQ(OverlapFromString("queue"), Overlap::kQueue);
  EXPECT_EQ(OverlapFromString("Queue"), std::nullopt);
  EXPECT_EQ(ToString(Overlap::kQueue), "queue");
}

}  // namespace
}  // namespace orb::orchestration
