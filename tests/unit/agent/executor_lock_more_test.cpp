// HandlerContext::LockMore through the executor (job-types.md §3: the agent also locks "any
// instance an update restarts"): the extra locks exclude other runs until the run ends.

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "agent/executor.hpp"
#include "common/clock.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::agent {
namespace {

using std::chrono::milliseconds;
using testing::IsOk;
using testing::WaitFor;

class NullObserver final : public RunObserver {
 public:
  void OnRunStarted(const protocol::JobExecution&) override {}
  void OnProgress(const std::string&, protocol::ProgressUpdate, bool) override {}
  void OnLog(const std::string&, protocol::LogLine) override {}
  void OnFinished(const std::string&, protocol::FinalUpdate final_update) override {
    if (final_update.status == protocol::RunStatus::kCompleted) ++completed;
  }
  std::atomic<int> completed{0};
};

// UPDATE_SERVER stand-in: locks instance:i1 (and its own server key again), then waits.
class LockingHandler final : public jobs::JobHandler {
 public:
  std::string_view type() const override { return "UPDATE_SERVER"; }
  Expected<std::string> Run(jobs::HandlerContext& context) override {
    auto own = context.LockMore({{"server:s1", protocol::LockMode::kExclusive}});
    if (!own) return Fail(own.error());
    auto more = context.LockMore({{"instance:i1", protocol::LockMode::kExclusive}});
    if (!more) return Fail(more.error());
    locked = true;
    while (!release.load())
      context.cancel().WaitFor(milliseconds(5));
    return std::string("{}");
  }
  std::atomic<bool> locked{false};
  std::atomic<bool> release{false};
};

// START_INSTANCE stand-in: records that it ran.
class EnteringHandler final : public jobs::JobHandler {
 public:
  std::string_view type() const override { return "START_INSTANCE"; }
  Expected<std::string> Run(jobs::HandlerContext&) override {
    entered = true;
    return std::string("{}");
  }
  std::atomic<bool> entered{false};
};

TEST(ExecutorLockMoreTest, ExtraInstanceLocksKeepOtherRunsOutUntilTheRunEnds) {
  testing::TempDir root;
  NullObserver observer;
  auto locking = std::make_unique<LockingHandler>();
  auto entering = std::make_unique<EnteringHandler>();
  LockingHandler& update = *locking;
  EnteringHandler& start = *entering;
  std::vector<std::unique_ptr<jobs::JobHandler>> handlers;
  handlers.push_back(std::move(locking));
  handlers.push_back(std::move(entering));
  Executor executor(ExecutorOptions{2, root.path(), milliseconds(60000), milliseconds(30000)},
                    std::move(handlers), observer, RealClock());

  protocol::JobExecution first;
  first.job_id = "job-1";
  first.run_id = "run-1";
  first.type = "UPDATE_SERVER";
  first.server_id = "s1";
  ASSERT_THAT(executor.Start(first), IsOk());
  ASSERT_TRUE(WaitFor([&] { return update.locked.load(); }, milliseconds(5000)));

  protocol::JobExecution second;
  second.job_id = "job-2";
  second.run_id = "run-2";
  second.type = "START_INSTANCE";
  second.instance_id = "i1";
  ASSERT_THAT(executor.Start(second), IsOk());
  // Held off by the first run's extra lock: it must not get in while that run goes on.
  EXPECT_FALSE(WaitFor([&] { return start.entered.load(); }, milliseconds(300)));

  update.release = true;
  EXPECT_TRUE(WaitFor([&] { return start.entered.load(); }, milliseconds(5000)));
  EXPECT_TRUE(executor.WaitIdle(milliseconds(5000)));
  EXPECT_EQ(observer.completed.load(), 2);
}

}  // namespace
}  // namespace orb::agent
