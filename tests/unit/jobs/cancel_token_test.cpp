#include "jobs/cancel_token.hpp"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "support/matchers.hpp"

namespace orb::jobs {
namespace {

using std::chrono::milliseconds;

TEST(CancelTokenTest, KeepsTheFirstCauseAndReason) {
  CancelToken token;
  EXPECT_FALSE(token.cancelled());
  EXPECT_TRUE(token.Cancel(CancelCause::kRequested, "operator asked"));
  EXPECT_FALSE(token.Cancel(CancelCause::kTimeout, "timed out"));
  EXPECT_TRUE(token.cancelled());
  EXPECT_EQ(token.cause(), CancelCause::kRequested);
  EXPECT_EQ(token.reason(), "operator asked");
  EXPECT_EQ(token.ToError().code, Errc::kCancelled);
}

TEST(CancelTokenTest, IgnoresACancelAfterThePointOfNoReturn) {
  CancelToken token;
  ASSERT_THAT(token.MarkPastPointOfNoReturn(), testing::IsOk());
  EXPECT_FALSE(token.Cancel(CancelCause::kRequested, "too late"));
  EXPECT_FALSE(token.cancelled());
  EXPECT_TRUE(token.cancel_ignored());
}

TEST(CancelTokenTest, AbandonStopsEvenPastThePointOfNoReturn) {
  CancelToken token;
  ASSERT_THAT(token.MarkPastPointOfNoReturn(), testing::IsOk());
  EXPECT_TRUE(token.Cancel(CancelCause::kAbandoned, "run_not_active"));
  EXPECT_TRUE(token.cancelled());
}

TEST(CancelTokenTest, RefusesThePointOfNoReturnOnceCancelled) {
  CancelToken token;
  ASSERT_TRUE(token.Cancel(CancelCause::kRequested, "stop"));
  EXPECT_THAT(token.MarkPastPointOfNoReturn(), testing::FailsWith(Errc::kCancelled));
  EXPECT_FALSE(token.past_point_of_no_return());
}

TEST(CancelTokenTest, WaitForReturnsAsSoonAsAnotherThreadCancels) {
  CancelToken token;
  EXPECT_FALSE(token.WaitFor(milliseconds(1)));
  std::thread canceller([&] { token.Cancel(CancelCause::kShutdown, "stopping"); });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(token.WaitFor(milliseconds(10000)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
  canceller.join();
}

}  // namespace
}  // namespace orb::jobs
