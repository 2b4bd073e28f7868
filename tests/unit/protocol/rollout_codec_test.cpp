#include "protocol/rollout_codec.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/codec.hpp"
#include "protocol/schedules.hpp"
#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;

std::string Fields(const Error& error) {
  std::string fields;
  for (const auto& detail : error.details)
    fields += detail.field + ";";
  return fields;
}

TEST(RolloutCodecTest, ACreateRequestRoundTripsWithEveryPolicyField) {
  const std::string text =
      R"({"name":"valheim 0.218","target":{"selector":{"labels":{"game":"valheim"}}},)"
      R"("job":{"type":"UPDATE_SERVER","serverId":"valheim","payload":{"buildId":"b7"},)"
      R"("maxAttempts":2,"timeoutSeconds":1800,"priority":3},)"
      R"("policy":{"maxInFlight":"25%","phases":[{"percent":10},)"
      R"({"percent":100,"startAt":"2026-12-06T04:00:00.000Z"}],)"
      R"("abort":{"failedPercent":12.5,"minFinished":5},"hostTimeoutSeconds":3600,)"
      R"("maxPerMinute":120},)"
      R"("order":"random","idempotencyKey":"k"})";
  auto request = ParseCreateRolloutRequest(text);
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->policy.max_in_flight, 25);
  EXPECT_TRUE(request->policy.max_in_flight_percent);
  ASSERT_EQ(request->policy.phases.size(), 2U);
  EXPECT_TRUE(request->policy.phases[1].start_at.has_value());
  ASSERT_TRUE(request->policy.abort.has_value());
  EXPECT_DOUBLE_EQ(request->policy.abort->failed_percent, 12.5);
  EXPECT_EQ(request->policy.max_per_minute, 120);
  EXPECT_EQ(request->order, "random");
  auto again = ParseCreateRolloutRequest(ToJson(*request));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, *request);
}

// A policy without maxPerMinute is written without it, as the previous version wrote policies:
// a replica of that version reads it during a rolling upgrade (its decoder refuses unknown
// fields).
TEST(RolloutCodecTest, APolicyWithoutMaxPerMinuteIsWrittenWithoutIt) {
  auto request = ParseCreateRolloutRequest(
      R"({"name":"n","target":{"agentIds":["h1"]},"job":{"type":"RESTART_INSTANCE",)"
      R"("instanceId":"mc","payload":{}},"policy":{"maxInFlight":2}})");
  ASSERT_THAT(request, IsOk());
  EXPECT_FALSE(request->policy.max_per_minute.has_value());
  EXPECT_THAT(ToJson(*request), ::testing::Not(::testing::HasSubstr("maxPerMinute")));
  request->policy.max_per_minute = 30;
  EXPECT_THAT(ToJson(*request), ::testing::HasSubstr(R"("maxPerMinute":30)"));
  EXPECT_THAT(
      ParseCreateRolloutRequest(R"({"name":"n","target":{"agentIds":["h1"]},"job":{"type":"X"},)"
                                R"("policy":{"maxPerMinute":"fast"}})"),
      FailsWith(Errc::kInvalidRequest));
}

TEST(RolloutCodecTest, ABadRequestNamesEveryField) {
  auto bad = ParseCreateRolloutRequest(
      R"({"name":"","target":{"agentIds":["a"],"selector":{"labels":{}}},)"
      R"("job":{"type":"X","agentId":"h1"},"policy":{"maxInFlight":"lots"},"order":"up"})");
  ASSERT_THAT(bad, FailsWith(Errc::kInvalidRequest));
  const std::string fields = Fields(bad.error());
  for (const char* field :
       {"name;", "target.agentIds;", "job.agentId;", "policy.maxInFlight;", "order;"}) {
    EXPECT_THAT(fields, ::testing::HasSubstr(field)) << fields;
  }
  EXPECT_THAT(ParseCreateRolloutRequest(R"({"name":"x","job":{"type":"X"}})"),
              FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ParseCreateRolloutRequest("[1]"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ParseCreateRolloutRequest("{"), FailsWith(Errc::kInvalidJson));
}

// Rollouts and schedules name their hosts with one HostTarget and one set of rules: a selector of
// at least one label, or 1..10,000 agent ids, never both.
TEST(RolloutCodecTest, RolloutsAndSchedulesShareOneTargetAndItsRules) {
  const std::string job = R"("job":{"type":"RESTART_INSTANCE","instanceId":"mc","payload":{}})";
  const std::string steps =
      R"("steps":[{"type":"RESTART_INSTANCE","instanceId":"mc","payload":{}}])";
  std::string many = R"({"agentIds":[)";
  for (std::size_t i = 0; i <= kMaxTargetAgentIds; ++i)
    many += (i ? ",\"a" : "\"a") + std::to_string(i) + "\"";
  many += "]}";
  for (const std::string& target : {std::string(R"({"selector":{"labels":{}}})"), many,
                                    std::string(R"({"agentIds":[]})"), std::string(R"({})")}) {
    auto rollout = ParseCreateRolloutRequest(R"({"name":"r","target":)" + target + "," + job + "}");
    ASSERT_THAT(rollout, FailsWith(Errc::kInvalidRequest)) << target.substr(0, 40);
    EXPECT_THAT(Fields(rollout.error()), ::testing::HasSubstr("target.")) << target.substr(0, 40);
    auto schedule = ParseScheduleRequest(
        R"({"name":"s","cron":"0 4 * * *","target":)" + target + "," + steps + "}", true);
    ASSERT_THAT(schedule, FailsWith(Errc::kInvalidRequest)) << target.substr(0, 40);
    EXPECT_EQ(Fields(schedule.error()), Fields(rollout.error())) << target.substr(0, 40);
  }
  auto stored = ParseHostTarget(R"({"selector":{"labels":{"game":"valheim"}}})");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(ParseHostTarget(ToJson(*stored)).value(), *stored);
}

TEST(RolloutCodecTest, AnAbortBodyIsOptionalAndStrict) {
  auto empty = ParseAbortRolloutRequest("");
  ASSERT_THAT(empty, IsOk());
  EXPECT_FALSE(empty->cancel_running);
  auto yes = ParseAbortRolloutRequest(R"({"cancelRunning":true})");
  ASSERT_THAT(yes, IsOk());
  EXPECT_TRUE(yes->cancel_running);
  EXPECT_THAT(ParseAbortRolloutRequest(R"({"cancel":true})"), FailsWith(Errc::kInvalidRequest));
}

TEST(RolloutCodecTest, EventsCarryRolloutIdAndCountsOnlyWhenSet) {
  Event event;
  event.seq = 7;
  event.type = EventType::kRolloutProgress;
  event.rollout_id = "r1";
  event.status = "RUNNING";
  event.counts = RolloutCounts{8, 1, 0, 2, 0, 4, 1, 0, 0};
  const std::string text = ToJson(event);
  EXPECT_THAT(text, ::testing::HasSubstr(R"("rolloutId":"r1")"));
  EXPECT_THAT(text, ::testing::HasSubstr(R"("counts":{"total":8,)"));
  auto back = FromJson<Event>(text);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, event);
  Event plain;
  plain.seq = 1;
  EXPECT_THAT(ToJson(plain), ::testing::Not(::testing::HasSubstr("rolloutId")));
  Job job;
  EXPECT_THAT(ToJson(job), ::testing::Not(::testing::HasSubstr("rolloutId")));
  job.rollout_id = "r1";
  auto read = FromJson<Job>(ToJson(job));
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->rollout_id, "r1");
}

}  // namespace
}  // namespace orb::protocol
