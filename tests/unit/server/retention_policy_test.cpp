#include "server/retention_policy.hpp"

#include <gtest/gtest.h>

namespace orb::server {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = std::chrono::system_clock::from_time_t(1795000000);
constexpr auto kDay = std::chrono::hours(24);

TEST(RetentionPolicyTest, TheDefaultsPruneJobsAndEventsAfter30DaysArtifactsAfter30KeysAfter7) {
  const RetentionCutoffs cutoffs = DecideRetention(kNow, RetentionOptions{});
  EXPECT_EQ(cutoffs.jobs_finished_before, kNow - 30 * kDay);
  EXPECT_EQ(cutoffs.events_before, kNow - 30 * kDay);
  EXPECT_EQ(cutoffs.artifacts_created_before, kNow - 30 * kDay);
  EXPECT_EQ(cutoffs.idempotency_keys_before, kNow - 7 * kDay);
}

TEST(RetentionPolicyTest, ZeroDaysKeepsThatKindForever) {
  RetentionOptions options;
  options.job_age = 0ms;
  options.artifact_age = 0ms;
  options.idempotency_key_age = 0ms;
  EXPECT_EQ(DecideRetention(kNow, options), RetentionCutoffs{});
  options.artifact_age = RetentionOptions::Days(2);
  const RetentionCutoffs cutoffs = DecideRetention(kNow, options);
  EXPECT_FALSE(cutoffs.jobs_finished_before);
  EXPECT_FALSE(cutoffs.events_before);
  EXPECT_EQ(cutoffs.artifacts_created_before, kNow - 2 * kDay);
}

TEST(RetentionPolicyTest, CutoffsMoveWithTheTime) {
  RetentionOptions options;
  options.job_age = RetentionOptions::Days(1);
  EXPECT_EQ(DecideRetention(kNow + 5h, options).jobs_finished_before, kNow + 5h - kDay);
}

TEST(RetentionPolicyTest, APassIsDueAtOnceThenEveryIntervalAndSoonerWhenOneStoppedAtItsBound) {
  RetentionOptions options;
  options.every = 60s;
  options.again = 1s;
  const Clock::MonoTime start{1000s};
  EXPECT_TRUE(RetentionPassDue(start, std::nullopt, false, options));
  EXPECT_FALSE(RetentionPassDue(start + 59s, start, false, options));
  EXPECT_TRUE(RetentionPassDue(start + 60s, start, false, options));
  EXPECT_FALSE(RetentionPassDue(start + 999ms, start, true, options));
  EXPECT_TRUE(RetentionPassDue(start + 1s, start, true, options));
}

}  // namespace
}  // namespace orb::server
