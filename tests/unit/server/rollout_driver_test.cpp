#include "server/rollout_driver.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace orb::server {
namespace {

using protocol::Event;
using protocol::EventType;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

Event Of(EventType type, std::optional<std::string> rollout_id) {
  Event event;
  event.type = type;
  event.rollout_id = std::move(rollout_id);
  return event;
}

TEST(RolloutsToAdvanceTest, AJobOfARolloutEndingOrRetriedAndOperatorChangesCount) {
  EXPECT_THAT(
      RolloutsToAdvance({Of(EventType::kJobCompleted, "r1"), Of(EventType::kJobFailed, "r2"),
                         Of(EventType::kJobCancelled, "r3"), Of(EventType::kJobRetried, "r4"),
                         Of(EventType::kRolloutCreated, "r5"), Of(EventType::kRolloutResumed, "r6"),
                         Of(EventType::kRolloutAborted, "r7")}),
      ElementsAre("r1", "r2", "r3", "r4", "r5", "r6", "r7"));
}

TEST(RolloutsToAdvanceTest, NothingElseMovesARollout) {
  // Its own advances' events, jobs starting or progressing, and jobs of no rollout.
  EXPECT_THAT(RolloutsToAdvance(
                  {Of(EventType::kRolloutProgress, "r1"), Of(EventType::kRolloutCompleted, "r1"),
                   Of(EventType::kRolloutPaused, "r1"), Of(EventType::kJobCreated, "r1"),
                   Of(EventType::kJobQueued, "r1"), Of(EventType::kJobRunning, "r1"),
                   Of(EventType::kJobProgress, "r1"), Of(EventType::kJobCompleted, std::nullopt)}),
              IsEmpty());
}

}  // namespace
}  // namespace orb::server
