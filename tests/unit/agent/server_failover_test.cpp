#include "agent/server_failover.hpp"

#include <chrono>

#include <gtest/gtest.h>

#include "support/manual_clock.hpp"

namespace orb::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const ServerFailover::Time kStart{seconds(1000)};

FailoverOptions Options() {
  return {.return_after = minutes(1), .return_max = minutes(4)};
}

TEST(ServerFailoverTest, MovesToTheNextServerAndRoundTheList) {
  ServerFailover failover(3, Options());
  EXPECT_EQ(failover.current(), 0U);
  EXPECT_FALSE(failover.return_at());
  EXPECT_TRUE(failover.Failed(0, kStart));
  EXPECT_EQ(failover.current(), 1U);
  EXPECT_TRUE(failover.Failed(1, kStart));
  EXPECT_EQ(failover.current(), 2U);
  EXPECT_TRUE(failover.Failed(2, kStart));
  EXPECT_EQ(failover.current(), 0U);   // after the last: the first, and home again
  EXPECT_FALSE(failover.return_at());  // nothing to come back to
}

TEST(ServerFailoverTest, AFailureOfAServerAlreadyLeftChangesNothing) {
  // The loop and the reporter both had a call on the first when it died: the second failure to be
  // reported must not push the agent past the server the first one moved it to.
  ServerFailover failover(3, Options());
  EXPECT_TRUE(failover.Failed(0, kStart));
  EXPECT_FALSE(failover.Failed(0, kStart + milliseconds(5)));
  EXPECT_EQ(failover.current(), 1U);
  EXPECT_EQ(failover.return_at(), kStart + minutes(1));  // from the first departure
}

TEST(ServerFailoverTest, ASingleServerNeverMoves) {
  ServerFailover failover(1, Options());
  EXPECT_FALSE(failover.Failed(0, kStart));
  EXPECT_EQ(failover.current(), 0U);
  EXPECT_FALSE(failover.TryReturn(kStart + minutes(10)));
}

TEST(ServerFailoverTest, ComesBackToTheFirstOnlyOnceItsTimeHasCome) {
  ServerFailover failover(2, Options());
  ASSERT_TRUE(failover.Failed(0, kStart));
  failover.Succeeded(1);  // B answers: the agent stays there until the return is due
  EXPECT_FALSE(failover.TryReturn(kStart + seconds(59)));
  EXPECT_EQ(failover.current(), 1U);
  EXPECT_TRUE(failover.TryReturn(kStart + minutes(1)));
  EXPECT_EQ(failover.current(), 0U);
  EXPECT_FALSE(failover.return_at());
  EXPECT_FALSE(failover.TryReturn(kStart + minutes(5)));  // already home
}

TEST(ServerFailoverTest, AFirstServerThatStaysDownIsTriedLessAndLessOften) {
  ServerFailover failover(2, Options());
  ServerFailover::Time now = kStart;
  ASSERT_TRUE(failover.Failed(0, now));
  // Each try that fails doubles the wait: 1, 2, 4 minutes, then 4 (return_max).
  for (const auto wait : {minutes(1), minutes(2), minutes(4), minutes(4), minutes(4)}) {
    ASSERT_EQ(failover.return_at(), now + wait);
    EXPECT_FALSE(failover.TryReturn(now + wait - milliseconds(1)));
    now += wait;
    ASSERT_TRUE(failover.TryReturn(now));
    ASSERT_TRUE(failover.Failed(0, now));  // still down
    EXPECT_EQ(failover.current(), 1U);
  }
}

TEST(ServerFailoverTest, AnAnswerFromTheFirstStartsTheWaitOverAtReturnAfter) {
  ServerFailover failover(2, Options());
  ServerFailover::Time now = kStart;
  ASSERT_TRUE(failover.Failed(0, now));
  now += minutes(1);
  ASSERT_TRUE(failover.TryReturn(now));
  ASSERT_TRUE(failover.Failed(0, now));  // the wait is 2 minutes now
  now += minutes(2);
  ASSERT_TRUE(failover.TryReturn(now));
  failover.Succeeded(0);  // the first is back
  now += minutes(30);
  ASSERT_TRUE(failover.Failed(0, now));  // a new outage: one minute again
  EXPECT_EQ(failover.return_at(), now + minutes(1));
}

TEST(ServerFailoverTest, AnAnswerFromAnotherServerDoesNotResetTheFirstsWait) {
  ServerFailover failover(2, Options());
  ServerFailover::Time now = kStart;
  ASSERT_TRUE(failover.Failed(0, now));
  now += minutes(1);
  ASSERT_TRUE(failover.TryReturn(now));
  ASSERT_TRUE(failover.Failed(0, now));
  failover.Succeeded(1);
  failover.Succeeded(0);  // a late answer of the first, to a call made before it failed
  EXPECT_EQ(failover.current(), 1U);
  EXPECT_EQ(failover.return_at(), now + minutes(2));
}

TEST(ServerFailoverTest, FromTheLastServerAFailureGoesToTheFirstNotBack) {
  ServerFailover failover(3, Options());
  ASSERT_TRUE(failover.Failed(0, kStart));
  ASSERT_TRUE(failover.Failed(1, kStart + seconds(10)));
  EXPECT_EQ(failover.current(), 2U);
  // The return is still timed from leaving the first, and goes to the first, not to the second.
  EXPECT_EQ(failover.return_at(), kStart + minutes(1));
  ASSERT_TRUE(failover.TryReturn(kStart + minutes(1)));
  EXPECT_EQ(failover.current(), 0U);
}

TEST(ServerSetTest, FollowsTheClockAndNamesTheCurrentUrl) {
  testing::ManualClock clock;
  ServerSet servers({"http://a:1", "http://b:2"}, clock, Options());
  EXPECT_EQ(servers.Current().url, "http://a:1");
  EXPECT_TRUE(servers.Failed(0, "network: connection refused"));
  EXPECT_EQ(servers.Current().index, 1U);
  EXPECT_EQ(servers.Current().url, "http://b:2");
  EXPECT_FALSE(servers.TryReturn());
  clock.Advance(minutes(1));
  EXPECT_TRUE(servers.TryReturn());
  EXPECT_EQ(servers.Current().url, "http://a:1");
}

}  // namespace
}  // namespace orb::agent
