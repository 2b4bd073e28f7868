#include "protocol/job_retry.hpp"

#include <chrono>

#include <gtest/gtest.h>

namespace orb::protocol {
namespace {

using std::chrono::milliseconds;

TEST(JobRetryDelayTest, FirstDelayIsTheBackoffWithoutJitterAtHalf) {
  EXPECT_EQ(JobRetryDelay(10, 1, 0.5), milliseconds(10'000));
}

TEST(JobRetryDelayTest, DoublesEachAttempt) {
  EXPECT_EQ(JobRetryDelay(10, 2, 0.5), milliseconds(20'000));
  EXPECT_EQ(JobRetryDelay(10, 3, 0.5), milliseconds(40'000));
  EXPECT_EQ(JobRetryDelay(10, 4, 0.5), milliseconds(80'000));
}

TEST(JobRetryDelayTest, IsCappedAtSixHundredSecondsBeforeJitter) {
  EXPECT_EQ(JobRetryDelay(10, 7, 0.5), milliseconds(600'000));
  EXPECT_EQ(JobRetryDelay(10, 1000, 0.5), milliseconds(600'000));
  EXPECT_EQ(JobRetryDelay(5000, 1, 0.5), milliseconds(600'000));
}

TEST(JobRetryDelayTest, JitterStaysWithinTwentyPercent) {
  EXPECT_EQ(JobRetryDelay(10, 1, 0.0), milliseconds(8'000));
  EXPECT_GE(JobRetryDelay(10, 1, 0.999999), milliseconds(11'999));
  EXPECT_LT(JobRetryDelay(10, 1, 0.999999), milliseconds(12'000));
  for (double r = 0.0; r < 1.0; r += 0.01) {
    const auto delay = JobRetryDelay(100, 3, r);
    EXPECT_GE(delay, milliseconds(320'000)) << r;
    EXPECT_LE(delay, milliseconds(480'000)) << r;
  }
}

TEST(JobRetryDelayTest, ClampsOutOfRangeInputs) {
  EXPECT_EQ(JobRetryDelay(0, 3, 0.5), milliseconds(0));
  EXPECT_EQ(JobRetryDelay(-5, 3, 0.5), milliseconds(0));
  EXPECT_EQ(JobRetryDelay(10, 0, 0.5), milliseconds(10'000));
  EXPECT_EQ(JobRetryDelay(10, -3, 0.5), milliseconds(10'000));
  EXPECT_EQ(JobRetryDelay(10, 1, -1.0), milliseconds(8'000));
  EXPECT_LT(JobRetryDelay(10, 1, 7.0), milliseconds(12'000));
}

}  // namespace
}  // namespace orb::protocol
