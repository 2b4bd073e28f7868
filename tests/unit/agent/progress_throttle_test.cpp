#include "agent/progress_throttle.hpp"

#include <gtest/gtest.h>

#include "support/manual_clock.hpp"

namespace orb::agent {
namespace {

using std::chrono::milliseconds;

protocol::ProgressUpdate At(int percent) {
  protocol::ProgressUpdate update;
  update.percent = percent;
  return update;
}

TEST(ProgressThrottleTest, SendsAtMostOneUpdatePerIntervalCoalescedToTheLatest) {
  testing::ManualClock clock;
  ProgressThrottle throttle(clock, milliseconds(500));
  EXPECT_TRUE(throttle.Offer(At(10)));
  EXPECT_FALSE(throttle.Offer(At(20)));
  EXPECT_FALSE(throttle.Offer(At(30)));
  EXPECT_FALSE(throttle.TakeDue());
  ASSERT_TRUE(throttle.due_at());
  EXPECT_EQ(*throttle.due_at(), clock.Now() + milliseconds(500));
  clock.Advance(milliseconds(499));
  EXPECT_FALSE(throttle.TakeDue());
  clock.Advance(milliseconds(1));
  auto due = throttle.TakeDue();
  ASSERT_TRUE(due);
  EXPECT_EQ(due->percent, 30);
  EXPECT_FALSE(throttle.due_at());
}

TEST(ProgressThrottleTest, StatusChangesGoAtOnceAndSupersedeTheHeldUpdate) {
  testing::ManualClock clock;
  ProgressThrottle throttle(clock, milliseconds(1000));
  EXPECT_TRUE(throttle.Offer(At(1)));
  EXPECT_FALSE(throttle.Offer(At(2)));
  EXPECT_TRUE(throttle.Offer(At(3), true));
  EXPECT_FALSE(throttle.TakeHeld());
}

TEST(ProgressThrottleTest, TakeHeldFlushesBeforeAFinal) {
  testing::ManualClock clock;
  ProgressThrottle throttle(clock, milliseconds(1000));
  EXPECT_TRUE(throttle.Offer(At(1)));
  EXPECT_FALSE(throttle.Offer(At(99)));
  auto held = throttle.TakeHeld();
  ASSERT_TRUE(held);
  EXPECT_EQ(held->percent, 99);
}

}  // namespace
}  // namespace orb::agent
