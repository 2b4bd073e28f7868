#include "server/rate_limiter.hpp"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace orb::server {
namespace {

using namespace std::chrono_literals;
using Time = RateLimiter::Time;

TEST(RateLimiterTest, LimitsAKeyAfterItsBurstAndRefillsAtTheRate) {
  RateLimiter limiter(2, 3);
  const Time start{};
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(limiter.Acquire("a", start), 0);
  EXPECT_EQ(limiter.Acquire("a", start), 1);  // half a second to the next token: at least 1 s
  EXPECT_EQ(limiter.Acquire("b", start), 0);  // another key has its own bucket
  EXPECT_EQ(limiter.Acquire("a", start + 500ms), 0);
  EXPECT_GT(limiter.Acquire("a", start + 500ms), 0);
}

TEST(RateLimiterTest, ZeroRateDisablesLimiting) {
  RateLimiter limiter(0, 1);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(limiter.Acquire("a", Time{}), 0);
  EXPECT_EQ(limiter.size(), 0U);
}

// The limiter used to clear its whole table when it passed 100,000 keys, on a denied call, and
// then read the bucket it had just freed: a use after free (ASan), and a caller that was being
// limited got a full bucket again because others had filled the table.
TEST(RateLimiterTest, ALimitedKeyStaysLimitedWhileManyOtherKeysArrive) {
  RateLimiter limiter(1, 2);
  const Time start{};
  EXPECT_EQ(limiter.Acquire("victim", start), 0);
  EXPECT_EQ(limiter.Acquire("victim", start), 0);
  for (int i = 0; i < 150'000; ++i)
    limiter.Acquire("key-" + std::to_string(i), start);
  EXPECT_GT(limiter.Acquire("victim", start), 0);
  EXPECT_GT(limiter.Acquire("victim", start), 0);
}

TEST(RateLimiterTest, AFloodOfNewKeysKeepsTheTableBoundedAndSharesOneBucketBeyondIt) {
  RateLimiter limiter(1, 5, 1000);
  const Time start{};
  int allowed = 0;
  for (int i = 0; i < 100'000; ++i) {
    if (limiter.Acquire("addr-" + std::to_string(i), start) == 0) ++allowed;
  }
  EXPECT_LE(limiter.size(), 1000U);
  // 1,000 keys with a bucket each, then everyone else together gets one burst.
  EXPECT_EQ(allowed, 1000 + 5);
}

TEST(RateLimiterTest, BucketsThatRefilledAreSweptToMakeRoomForNewKeys) {
  RateLimiter limiter(1, 4, 10);
  const Time start{};
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(limiter.Acquire("old-" + std::to_string(i), start), 0);
  // Full table, nothing refilled yet: a new key shares the overflow bucket (its burst of 4).
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(limiter.Acquire("shared-" + std::to_string(i), start), 0);
  EXPECT_GT(limiter.Acquire("shared-4", start), 0);
  // 4 s later every old bucket is full again, the same as no bucket: they make room.
  const Time later = start + 4s;
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(limiter.Acquire("new", later), 0);
  EXPECT_GT(limiter.Acquire("new", later), 0);
  EXPECT_EQ(limiter.size(), 1U);
}

TEST(RateLimiterTest, TimeGoingBackwardsNeitherAddsNorRemovesTokens) {
  RateLimiter limiter(1, 1);
  const Time start = Time{} + 10s;
  EXPECT_EQ(limiter.Acquire("a", start), 0);
  EXPECT_GT(limiter.Acquire("a", start - 5s), 0);
  EXPECT_EQ(limiter.Acquire("a", start + 1s), 0);
}

}  // namespace
}  // namespace orb::server
