#include "net/retry.hpp"

#include <chrono>
#include <optional>

#include <gtest/gtest.h>

#include "common/time.hpp"

namespace orb::net {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr double kNoJitter = 0.5;  // the middle of the jitter range is the base delay

TEST(NextDelayTest, DoublesFromTheInitialDelay) {
  const RetryPolicy policy;  // 0.5 s, x2, max 30 s

  EXPECT_EQ(NextDelay(policy, 1, kNoJitter), 500ms);
  EXPECT_EQ(NextDelay(policy, 2, kNoJitter), 1000ms);
  EXPECT_EQ(NextDelay(policy, 3, kNoJitter), 2000ms);
  EXPECT_EQ(NextDelay(policy, 4, kNoJitter), 4000ms);
  EXPECT_EQ(NextDelay(policy, 6, kNoJitter), 16000ms);
}

TEST(NextDelayTest, CapsTheBaseDelayAtTheMaximum) {
  const RetryPolicy policy;

  EXPECT_EQ(NextDelay(policy, 7, kNoJitter), 30000ms);
  EXPECT_EQ(NextDelay(policy, 20, kNoJitter), 30000ms);
  EXPECT_EQ(NextDelay(policy, 100000, kNoJitter), 30000ms);
}

TEST(NextDelayTest, JitterStaysWithinTwentyPercentEitherSide) {
  const RetryPolicy policy;
  for (const int attempt : {1, 3, 10}) {
    const auto base = NextDelay(policy, attempt, kNoJitter).value();
    for (const double unit : {0.0, 0.1, 0.25, 0.5, 0.75, 0.999}) {
      const auto delay = NextDelay(policy, attempt, unit).value();
      EXPECT_GE(delay.count(), base.count() * 8 / 10) << attempt << " " << unit;
      EXPECT_LE(delay.count(), base.count() * 12 / 10) << attempt << " " << unit;
    }
  }
  EXPECT_EQ(NextDelay(policy, 1, 0.0), 400ms);
  EXPECT_EQ(NextDelay(policy, 1, 0.75), 550ms);
  EXPECT_EQ(NextDelay(policy, 7, 0.0), 24000ms);
}

TEST(NextDelayTest, ClampsAnOutOfRangeRandomValue) {
  const RetryPolicy policy;

  EXPECT_EQ(NextDelay(policy, 1, -3.0), 400ms);
  EXPECT_EQ(NextDelay(policy, 1, 7.0), 600ms);
}

TEST(NextDelayTest, StopsAfterMaxAttempts) {
  RetryPolicy policy;
  policy.max_attempts = 3;

  EXPECT_TRUE(NextDelay(policy, 1, kNoJitter).has_value());
  EXPECT_TRUE(NextDelay(policy, 2, kNoJitter).has_value());
  EXPECT_EQ(NextDelay(policy, 3, kNoJitter), std::nullopt);
  EXPECT_EQ(NextDelay(policy, 4, kNoJitter), std::nullopt);
}

TEST(NextDelayTest, RetriesForeverWhenMaxAttemptsIsZero) {
  const RetryPolicy policy;

  EXPECT_TRUE(NextDelay(policy, 1000000, kNoJitter).has_value());
}

TEST(NextDelayTest, RetryAfterWinsWhenLonger) {
  const RetryPolicy policy;

  EXPECT_EQ(NextDelay(policy, 1, kNoJitter, 5000ms), 5000ms);
  EXPECT_EQ(NextDelay(policy, 1, kNoJitter, 100ms), 500ms);
  EXPECT_EQ(NextDelay(policy, 7, kNoJitter, 0ms), 30000ms);
}

TEST(NextDelayTest, CutsAnExcessiveRetryAfter) {
  RetryPolicy policy;
  policy.max_retry_after = 60000ms;

  EXPECT_EQ(NextDelay(policy, 1, kNoJitter, 86400000ms), 60000ms);
}

TEST(NextDelayTest, MaxAttemptsWinsOverRetryAfter) {
  RetryPolicy policy;
  policy.max_attempts = 1;

  EXPECT_EQ(NextDelay(policy, 1, kNoJitter, 1000ms), std::nullopt);
}

TEST(NextDelayTest, FollowsACustomPolicy) {
  const RetryPolicy policy{
      .initial_delay = 100ms, .multiplier = 3.0, .max_delay = 1000ms, .jitter = 0.0};

  EXPECT_EQ(NextDelay(policy, 1, 0.0), 100ms);
  EXPECT_EQ(NextDelay(policy, 2, 0.9), 300ms);
  EXPECT_EQ(NextDelay(policy, 3, 0.1), 900ms);
  EXPECT_EQ(NextDelay(policy, 4, 0.5), 1000ms);
}

TEST(IsRetryableStatusTest, RetriesServerErrorsThrottlingAndRequestTimeouts) {
  for (const int status : {408, 429, 500, 502, 503, 504, 599}) {
    EXPECT_TRUE(IsRetryableStatus(status)) << status;
  }
  for (const int status : {200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 413, 415, 600}) {
    EXPECT_FALSE(IsRetryableStatus(status)) << status;
  }
}

TEST(ParseRetryAfterTest, ReadsDeltaSeconds) {
  const WallTime now{};

  EXPECT_EQ(ParseRetryAfter("0", now), 0ms);
  EXPECT_EQ(ParseRetryAfter("5", now), 5000ms);
  EXPECT_EQ(ParseRetryAfter(" 120 ", now), 120000ms);
}

TEST(ParseRetryAfterTest, SaturatesAHugeDelta) {
  const auto parsed = ParseRetryAfter("99999999999999999999", WallTime{});

  ASSERT_TRUE(parsed.has_value());
  EXPECT_GE(*parsed, std::chrono::hours(24));
}

TEST(ParseRetryAfterTest, ReadsAnHttpDateRelativeToNow) {
  // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 s after the epoch.
  const WallTime now = std::chrono::system_clock::from_time_t(784111777 - 30);

  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), 30000ms);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:50:37 GMT", now), 90000ms);
}

TEST(ParseRetryAfterTest, ReadsAPastHttpDateAsZero) {
  const WallTime now = std::chrono::system_clock::from_time_t(784111777 + 3600);

  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), 0ms);
}

TEST(ParseRetryAfterTest, HandlesFractionalNow) {
  const WallTime now = std::chrono::system_clock::from_time_t(784111777 - 2) + 250ms;

  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), 1750ms);
}

TEST(ParseRetryAfterTest, RejectsAnythingElse) {
  const WallTime now{};
  for (const char* text : {"", " ", "-5", "1.5", "5s", "soon", "Sun, 06 Nov 1994 08:49:37 UTC",
                           "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                           "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
                           "Sun, 06 Xyz 1994 08:49:37 GMT", "Abc, 06 Nov 1994 08:49:37 GMT",
                           "Sun, 06 Nov 1994 08:49:37 GMT extra"}) {
    EXPECT_EQ(ParseRetryAfter(text, now), std::nullopt) << "'" << text << "'";
  }
}

TEST(FailoverTest, OnlyProxyAndUnavailableStatusesAndTransportErrorsAreFailoverReasons) {
  for (const int status : {502, 503, 504})
    EXPECT_TRUE(IsFailoverStatus(status)) << status;
  for (const int status : {200, 204, 400, 401, 404, 408, 409, 429, 500, 501})
    EXPECT_FALSE(IsFailoverStatus(status)) << status;
  EXPECT_TRUE(IsTransportFailure(MakeError(Errc::kNetwork, "refused", true)));
  EXPECT_TRUE(IsTransportFailure(MakeError(Errc::kNetwork, "certificate failed verification")));
  EXPECT_TRUE(IsTransportFailure(MakeError(Errc::kTimeout, "deadline", true)));
  for (const Errc code : {Errc::kHttp, Errc::kIo, Errc::kCancelled, Errc::kInvalidRequest})
    EXPECT_FALSE(IsTransportFailure(MakeError(code, "x")));
}

}  // namespace
}  // namespace orb::net
