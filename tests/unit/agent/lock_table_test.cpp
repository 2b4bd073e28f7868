#include "agent/lock_table.hpp"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "support/matchers.hpp"
#include "support/wait_for.hpp"

namespace orb::agent {
namespace {

using protocol::Lock;
using protocol::LockMode;
using protocol::LockSet;
using std::chrono::milliseconds;
using testing::IsOk;

auto Soon(milliseconds ms) {
  return std::chrono::steady_clock::now() + ms;
}

TEST(LockTableTest, OrdersServerThenInstanceThenBackups) {
  const auto ordered = InLockOrder({{"backups:a", LockMode::kShared},
                                    {"instance:b", LockMode::kExclusive},
                                    {"server:z", LockMode::kExclusive},
                                    {"instance:a", LockMode::kShared},
                                    {"instance:a", LockMode::kExclusive}});
  ASSERT_EQ(ordered.size(), 4U);
  EXPECT_EQ(ordered[0].key, "server:z");
  EXPECT_EQ(ordered[1].key, "instance:a");
  EXPECT_EQ(ordered[1].mode, LockMode::kExclusive);
  EXPECT_EQ(ordered[2].key, "instance:b");
  EXPECT_EQ(ordered[3].key, "backups:a");
}

TEST(LockTableTest, SharedLocksCoexistAndExclusiveOnesConflict) {
  LockTable table;
  EXPECT_TRUE(table.TryAcquire("r1", {{"backups:a", LockMode::kShared}}));
  EXPECT_TRUE(table.TryAcquire("r2", {{"backups:a", LockMode::kShared}}));
  EXPECT_EQ(table.Holders("backups:a"), 2);
  EXPECT_FALSE(table.TryAcquire("r3", {{"backups:a", LockMode::kExclusive}}));
  // All or nothing: r3 took nothing.
  EXPECT_FALSE(table.TryAcquire(
      "r3", {{"instance:a", LockMode::kExclusive}, {"backups:a", LockMode::kExclusive}}));
  EXPECT_EQ(table.Holders("instance:a"), 0);
  table.Release("r1");
  table.Release("r2");
  EXPECT_TRUE(table.TryAcquire("r3", {{"backups:a", LockMode::kExclusive}}));
}

TEST(LockTableTest, AcquireTimesOutAndReleasesWhatItTook) {
  LockTable table;
  ASSERT_TRUE(table.TryAcquire("r1", {{"backups:a", LockMode::kExclusive}}));
  auto taken =
      table.Acquire("r2", {{"instance:a", LockMode::kExclusive}, {"backups:a", LockMode::kShared}},
                    Soon(milliseconds(50)));
  EXPECT_THAT(taken, testing::FailsWith(Errc::kTimeout));
  EXPECT_TRUE(taken.error().retryable);
  EXPECT_EQ(table.Holders("instance:a"), 0);
}

TEST(LockTableTest, AcquireWaitsForTheHolderAndStopsWhenAsked) {
  LockTable table;
  ASSERT_TRUE(table.TryAcquire("r1", {{"instance:a", LockMode::kExclusive}}));
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    got = table.Acquire("r2", {{"instance:a", LockMode::kExclusive}}, Soon(milliseconds(10000)))
              .has_value();
  });
  EXPECT_FALSE(testing::WaitFor([&] { return got.load(); }, milliseconds(50)));
  table.Release("r1");
  EXPECT_TRUE(testing::WaitFor([&] { return got.load(); }, milliseconds(5000)));
  waiter.join();

  std::atomic<bool> stop{false};
  Status cancelled;
  std::thread second([&] {
    cancelled = table.Acquire("r3", {{"instance:a", LockMode::kShared}}, Soon(milliseconds(10000)),
                              [&] { return stop.load(); });
  });
  stop = true;
  second.join();
  EXPECT_THAT(cancelled, testing::FailsWith(Errc::kCancelled));
}

}  // namespace
}  // namespace orb::agent
