// The PostgreSQL writers' turn to commit (store/postgres/pg_batch.hpp): the interactive writer
// goes before the fleet's writers already waiting. The writers themselves, against a real
// server, are in tests/contract/postgres_store_test.cpp.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/postgres/pg_batch.hpp"
#include "support/wait_for.hpp"

namespace orb::store::postgres {
namespace {

using namespace std::chrono_literals;
using orb::testing::WaitFor;

TEST(CommitOrderTest, AFirstWriterGoesBeforeTheWritersThatWereWaitingBeforeIt) {
  CommitOrder order;
  order.Take(false);  // a fleet writer commits
  std::mutex mutex;
  std::vector<std::string> turns;
  auto writer = [&](std::string name, bool first) {
    return std::thread([&, name = std::move(name), first] {
      order.Take(first);
      {
        const std::lock_guard lock(mutex);
        turns.push_back(name);
      }
      order.Release();
    });
  };
  std::thread fleet_a = writer("fleet-a", false);
  ASSERT_TRUE(WaitFor([&] { return order.waiting() == 1; }, 5s));
  std::thread fleet_b = writer("fleet-b", false);
  ASSERT_TRUE(WaitFor([&] { return order.waiting() == 2; }, 5s));
  std::thread interactive = writer("interactive", true);
  ASSERT_TRUE(WaitFor([&] { return order.waiting() == 3; }, 5s));
  order.Release();
  fleet_a.join();
  fleet_b.join();
  interactive.join();
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns.front(), "interactive");
}

TEST(CommitOrderTest, OneWriterAtATimeAndEveryWriterGetsItsTurns) {
  CommitOrder order;
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::atomic<int> turns{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, first = w == 0] {
      for (int i = 0; i < 2000; ++i) {
        order.Take(first);
        const int now = ++inside;
        int most = most_inside.load();
        while (now > most && !most_inside.compare_exchange_weak(most, now)) {
        }
        ++turns;
        --inside;
        order.Release();
      }
    });
  }
  for (auto& writer : writers)
    writer.join();
  EXPECT_EQ(most_inside.load(), 1);
  EXPECT_EQ(turns.load(), 4 * 2000);
  EXPECT_EQ(order.waiting(), 0);
}

}  // namespace
}  // namespace orb::store::postgres
