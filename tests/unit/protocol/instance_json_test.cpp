#include "protocol/instance_json.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::testing::HasSubstr;

InstanceRuntime RunningAsUnit() {
  InstanceRuntime runtime;
  runtime.state = InstanceState::kRunning;
  runtime.pid = 4242;
  runtime.start_time = 987654;
  runtime.unit = "orb-instance-mc-1.service";
  runtime.run_id = "run-9";
  runtime.build_id = "b-1";
  runtime.started_at = *ParseTimestamp("2026-12-04T06:00:00.000Z");
  InstanceExit exit;
  exit.pid = 4000;
  exit.signal = 9;
  exit.forced = true;
  exit.reason = "stopped by STOP_INSTANCE";
  exit.at = *ParseTimestamp("2026-12-03T06:00:00.000Z");
  runtime.last_exit = exit;
  return runtime;
}

TEST(InstanceRuntimeJsonTest, RoundTripsWithTheUnit) {
  const auto runtime = RunningAsUnit();
  const std::string text = InstanceRuntimeJson(runtime);
  EXPECT_THAT(text, HasSubstr(R"("unit":"orb-instance-mc-1.service")"));
  EXPECT_THAT(text, HasSubstr(R"("runId":"run-9")"));
  auto parsed = ParseInstanceRuntime(text);
  ASSERT_TRUE(parsed) << parsed.error().Describe();
  EXPECT_EQ(*parsed, runtime);
}

TEST(InstanceRuntimeJsonTest, AProcessSessionHasNoUnit) {
  auto runtime = RunningAsUnit();
  runtime.unit.reset();
  const std::string text = InstanceRuntimeJson(runtime);
  EXPECT_THAT(text, HasSubstr(R"("unit":null)"));
  auto parsed = ParseInstanceRuntime(text);
  ASSERT_TRUE(parsed) << parsed.error().Describe();
  EXPECT_FALSE(parsed->unit);
  // A runtime.json written before the field existed reads the same.
  auto old = ParseInstanceRuntime(R"({"state":"running","pid":7,"startTime":8})");
  ASSERT_TRUE(old) << old.error().Describe();
  EXPECT_FALSE(old->unit);
  EXPECT_EQ(old->pid, 7);
}

TEST(InstanceRuntimeJsonTest, ASpawnUnderWayHasItsRunAndUnitButNoPidYet) {
  auto parsed = ParseInstanceRuntime(
      R"({"state":"starting","pid":null,"unit":"orb-instance-a.service","runId":"run-1"})");
  ASSERT_TRUE(parsed) << parsed.error().Describe();
  EXPECT_EQ(parsed->state, InstanceState::kStarting);
  EXPECT_FALSE(parsed->pid);
  EXPECT_EQ(parsed->unit, "orb-instance-a.service");
  EXPECT_EQ(parsed->run_id, "run-1");
}

TEST(InstanceRuntimeJsonTest, AUnitWithoutAPidOrOfTheWrongTypeIsRefused) {
  for (const char* text : {R"({"state":"stopped","unit":"orb-instance-a.service"})",
                           R"({"state":"running","pid":7,"startTime":8,"unit":3})"}) {
    auto parsed = ParseInstanceRuntime(text);
    EXPECT_THAT(parsed, FailsWith(Errc::kInvalidRequest)) << text;
    if (!parsed) {
      EXPECT_THAT(parsed.error().Describe(), HasSubstr("unit")) << text;
    }
  }
}

}  // namespace
}  // namespace orb::protocol
