#include "server/leader_lease.hpp"

#include <chrono>

#include <gtest/gtest.h>

namespace orb::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const WallTime kT0 = WallTime{} + std::chrono::hours(1000);

store::Leadership Held(bool held) {
  return store::Leadership{held, held ? "me" : "other", kT0 + seconds(10)};
}

TEST(LeaderLeaseTest, AsksAtOnceThenEveryRenewInterval) {
  LeaderLease lease({.ttl = seconds(10), .renew_every = seconds(2), .margin = seconds(2)});
  EXPECT_TRUE(lease.ShouldAsk(kT0));
  lease.Record(Held(true), kT0);
  EXPECT_FALSE(lease.ShouldAsk(kT0 + milliseconds(1999)));
  EXPECT_TRUE(lease.ShouldAsk(kT0 + seconds(2)));
  // A clock that went back asks again rather than waiting.
  EXPECT_TRUE(lease.ShouldAsk(kT0 - seconds(1)));
}

TEST(LeaderLeaseTest, LeadsUntilTheLeaseLessTheMarginRunsOut) {
  LeaderLease lease({.ttl = seconds(10), .renew_every = seconds(2), .margin = seconds(2)});
  EXPECT_FALSE(lease.IsLeader(kT0));  // never asked
  lease.Record(Held(true), kT0);
  EXPECT_TRUE(lease.IsLeader(kT0));
  EXPECT_TRUE(lease.IsLeader(kT0 + milliseconds(7999)));
  // Renewals failed since: it stops before the store would let another take over (10 s).
  lease.RecordFailure(kT0 + seconds(2));
  lease.RecordFailure(kT0 + seconds(4));
  EXPECT_FALSE(lease.IsLeader(kT0 + seconds(8)));
}

TEST(LeaderLeaseTest, ARenewalExtendsAndALossEndsAtOnce) {
  LeaderLease lease({.ttl = seconds(10), .renew_every = seconds(2), .margin = seconds(2)});
  lease.Record(Held(true), kT0);
  lease.Record(Held(true), kT0 + seconds(6));
  EXPECT_TRUE(lease.IsLeader(kT0 + seconds(13)));
  lease.Record(Held(false), kT0 + seconds(8));
  EXPECT_FALSE(lease.IsLeader(kT0 + seconds(8)));
}

TEST(LeaderLeaseTest, ReleasedIsNotLeader) {
  LeaderLease lease;
  lease.Record(Held(true), kT0);
  lease.Released();
  EXPECT_FALSE(lease.IsLeader(kT0));
}

}  // namespace
}  // namespace orb::server
