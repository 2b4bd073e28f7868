#include "agent/executor.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::agent {
namespace {

using std::chrono::milliseconds;
using testing::IsOk;
using testing::WaitFor;

// Records what the executor reports.
class RecordingObserver final : public RunObserver {
 public:
  void OnRunStarted(const protocol::JobExecution& execution) override {
    const std::lock_guard lock(mutex_);
    started.push_back(execution.run_id);
  }
  void OnProgress(const std::string& run_id, protocol::ProgressUpdate update, bool) override {
    const std::lock_guard lock(mutex_);
    progress[run_id].push_back(update);
  }
  void OnLog(const std::string& run_id, protocol::LogLine line) override {
    const std::lock_guard lock(mutex_);
    logs[run_id].push_back(line.message);
  }
  void OnFinished(const std::string& run_id, protocol::FinalUpdate final_update) override {
    const std::lock_guard lock(mutex_);
    finals.emplace(run_id, final_update);
  }
  std::optional<protocol::FinalUpdate> Final(const std::string& run_id) {
    const std::lock_guard lock(mutex_);
    const auto found = finals.find(run_id);
    if (found == finals.end()) return std::nullopt;
    return found->second;
  }
  std::size_t finished() {
    const std::lock_guard lock(mutex_);
    return finals.size();
  }

  std::mutex mutex_;
  std::vector<std::string> started;
  std::map<std::string, std::vector<protocol::ProgressUpdate>> progress;
  std::map<std::string, std::vector<std::string>> logs;
  std::multimap<std::string, protocol::FinalUpdate> finals;
};

// A test handler: waits at its safe point until released or cancelled.
class GateHandler final : public jobs::JobHandler {
 public:
  std::string_view type() const override { return "VERIFY_BACKUP"; }
  Expected<std::string> Run(jobs::HandlerContext& context) override {
    ++running;
    context.Progress(50, "halfway", "verify");
    context.LogLine("info", "verifying");
    while (!release.load()) {
      if (context.cancel().WaitFor(milliseconds(5))) {
        --running;
        return Fail(context.cancel().ToError());
      }
    }
    if (past_point.load()) {
      if (auto marked = context.MarkPastPointOfNoReturn(); !marked) {
        --running;
        return Fail(std::move(marked.error()));
      }
      marked_past_point = true;
      while (!finish.load())
        context.cancel().WaitFor(milliseconds(5));
    }
    --running;
    return std::string(R"({"ok":true})");
  }
  std::atomic<int> running{0};
  std::atomic<bool> release{false};
  std::atomic<bool> past_point{false};
  std::atomic<bool> finish{false};
  std::atomic<bool> marked_past_point{false};  // set once MarkPastPointOfNoReturn succeeded
};

protocol::JobExecution Execution(const std::string& run_id, const std::string& instance,
                                 int timeout_seconds = 60) {
  protocol::JobExecution execution;
  execution.job_id = "job-" + run_id;
  execution.run_id = run_id;
  execution.type = "VERIFY_BACKUP";
  execution.instance_id = instance;
  execution.timeout_seconds = timeout_seconds;
  return execution;
}

// Asks, from inside a run, which runs the executor reports live.
class LivenessProbe final : public jobs::JobHandler {
 public:
  std::string_view type() const override { return "PRUNE_BACKUPS"; }
  Expected<std::string> Run(jobs::HandlerContext& context) override {
    knows = context.knows_live_runs();
    gate_live = context.IsRunLive("gate");
    gone_live = context.IsRunLive("gone");
    own_live = context.IsRunLive(context.execution().run_id);
    return std::string("{}");
  }
  std::atomic<bool> knows{false}, gate_live{false}, gone_live{true}, own_live{false};
};

struct Fixture {
  explicit Fixture(int slots, milliseconds grace = milliseconds(30000)) {
    auto gate = std::make_unique<GateHandler>();
    handler = gate.get();
    std::vector<std::unique_ptr<jobs::JobHandler>> handlers;
    handlers.push_back(std::move(gate));
    executor =
        std::make_unique<Executor>(ExecutorOptions{slots, root.path(), milliseconds(60000), grace},
                                   std::move(handlers), observer, RealClock(), [this] { ++done; });
  }
  testing::TempDir root;
  RecordingObserver observer;
  GateHandler* handler = nullptr;
  std::atomic<int> done{0};
  std::unique_ptr<Executor> executor;
};

TEST(ExecutorTest, RunsUpToMaxParallelAndReportsCompletion) {
  Fixture f(2);
  EXPECT_EQ(f.executor->JobTypes(), std::vector<std::string>{"VERIFY_BACKUP"});
  ASSERT_THAT(f.executor->Start(Execution("r1", "a")), IsOk());
  ASSERT_THAT(f.executor->Start(Execution("r2", "b")), IsOk());
  EXPECT_THAT(f.executor->Start(Execution("r3", "c")), testing::FailsWith(Errc::kUnavailable));
  ASSERT_TRUE(WaitFor([&] { return f.handler->running.load() == 2; }, milliseconds(5000)));
  EXPECT_EQ(f.executor->free_slots(), 0);
  EXPECT_TRUE(std::filesystem::exists(f.root.path() / ".staging" / "r1"));
  f.handler->release = true;
  ASSERT_TRUE(WaitFor([&] { return f.observer.finished() == 2; }, milliseconds(5000)));
  ASSERT_TRUE(f.executor->WaitIdle(milliseconds(5000)));
  EXPECT_EQ(f.observer.Final("r1")->status, protocol::RunStatus::kCompleted);
  EXPECT_EQ(f.observer.Final("r1")->result_json, R"({"ok":true})");
  EXPECT_FALSE(std::filesystem::exists(f.root.path() / ".staging" / "r1"));
  EXPECT_EQ(f.done.load(), 2);
  EXPECT_EQ(f.observer.logs["r1"].back(), "verifying");
}

TEST(ExecutorTest, SharedLocksLetTwoRunsOfOneInstanceRunTogether) {
  Fixture f(2);
  ASSERT_THAT(f.executor->Start(Execution("r1", "same")), IsOk());
  ASSERT_TRUE(WaitFor([&] { return f.handler->running.load() == 1; }, milliseconds(5000)));
  // Same instance: VERIFY_BACKUP takes backups:<id> shared, so a second one may run with it.
  ASSERT_THAT(f.executor->Start(Execution("r2", "same")), IsOk());
  EXPECT_TRUE(WaitFor([&] { return f.handler->running.load() == 2; }, milliseconds(5000)));
  f.handler->release = true;
  EXPECT_TRUE(f.executor->WaitIdle(milliseconds(5000)));
}

TEST(ExecutorTest, CancelAtASafePointEndsTheRunCancelled) {
  Fixture f(1);
  ASSERT_THAT(f.executor->Start(Execution("r1", "a")), IsOk());
  ASSERT_TRUE(WaitFor([&] { return f.handler->running.load() == 1; }, milliseconds(5000)));
  EXPECT_EQ(f.executor->Running(), std::vector<std::string>{"r1"});
  EXPECT_TRUE(f.executor->Cancel("r1", jobs::CancelCause::kRequested, "operator"));
  ASSERT_TRUE(WaitFor([&] { return f.observer.finished() == 1; }, milliseconds(5000)));
  EXPECT_EQ(f.observer.Final("r1")->status, protocol::RunStatus::kCancelled);
  EXPECT_TRUE(f.executor->Running().empty());
}

TEST(ExecutorTest, ACancelPastThePointOfNoReturnIsIgnoredAndNoted) {
  Fixture f(1);
  f.handler->release = true;
  f.handler->past_point = true;
  ASSERT_THAT(f.executor->Start(Execution("r1", "a")), IsOk());
  // A cancel that came before the mark would be taken (and the mark refused): wait for the mark.
  ASSERT_TRUE(WaitFor([&] { return f.handler->marked_past_point.load(); }, milliseconds(5000)));
  EXPECT_FALSE(f.executor->Cancel("r1", jobs::CancelCause::kRequested, "x"));
  f.handler->finish = true;
  ASSERT_TRUE(WaitFor([&] { return f.observer.finished() == 1; }, milliseconds(5000)));
  const auto final_update = *f.observer.Final("r1");
  EXPECT_EQ(final_update.status, protocol::RunStatus::kCompleted);
  EXPECT_EQ(final_update.result_json,
            R"({"cancelIgnored":"past the point of no return","ok":true})");
}

TEST(ExecutorTest, TimeoutFailsTheRunWithCodeTimeout) {
  Fixture f(1);
  ASSERT_THAT(f.executor->Start(Execution("r1", "a", 1)), IsOk());
  ASSERT_TRUE(WaitFor([&] { return f.observer.finished() == 1; }, milliseconds(5000)));
  const auto final_update = *f.observer.Final("r1");
  EXPECT_EQ(final_update.status, protocol::RunStatus::kFailed);
  ASSERT_TRUE(final_update.error);
  EXPECT_EQ(final_update.error->code, "timeout");
  EXPECT_TRUE(final_update.error->retryable);
}

TEST(ExecutorTest, AbandonedRunsReportNothingMore) {
  Fixture f(1);
  ASSERT_THAT(f.executor->Start(Execution("r1", "a")), IsOk());
  ASSERT_TRUE(WaitFor([&] { return f.handler->running.load() == 1; }, milliseconds(5000)));
  f.executor->Abandon("r1");
  ASSERT_TRUE(f.executor->WaitIdle(milliseconds(5000)));
  EXPECT_EQ(f.observer.finished(), 0U);
  EXPECT_EQ(f.executor->free_slots(), 1);
}

TEST(ExecutorTest, AnUnknownTypeFailsAtOnce) {
  Fixture f(1);
  auto execution = Execution("r1", "a");
  execution.type = "SYNC_MODS";
  ASSERT_THAT(f.executor->Start(execution), IsOk());
  ASSERT_EQ(f.observer.finished(), 1U);
  EXPECT_EQ(f.observer.Final("r1")->error->code, "unknown_job_type");
}

TEST(ExecutorLivenessTest, HandlersLearnWhichRunsAreStillGoing) {
  testing::TempDir root;
  RecordingObserver observer;
  auto gate = std::make_unique<GateHandler>();
  auto probe = std::make_unique<LivenessProbe>();
  GateHandler* gate_handler = gate.get();
  LivenessProbe* probe_handler = probe.get();
  std::vector<std::unique_ptr<jobs::JobHandler>> handlers;
  handlers.push_back(std::move(gate));
  handlers.push_back(std::move(probe));
  Executor executor(ExecutorOptions{4, root.path(), milliseconds(60000), milliseconds(30000)},
                    std::move(handlers), observer, RealClock());
  ASSERT_THAT(executor.Start(Execution("gate", "a")), IsOk());
  ASSERT_TRUE(WaitFor([&] { return gate_handler->running.load() == 1; }, milliseconds(5000)));
  auto execution = Execution("probe", "b");
  execution.type = "PRUNE_BACKUPS";
  ASSERT_THAT(executor.Start(execution), IsOk());
  ASSERT_TRUE(WaitFor([&] { return observer.Final("probe").has_value(); }, milliseconds(5000)));
  EXPECT_TRUE(probe_handler->knows.load());
  EXPECT_TRUE(probe_handler->gate_live.load());
  EXPECT_FALSE(probe_handler->gone_live.load());
  EXPECT_TRUE(probe_handler->own_live.load());
  EXPECT_TRUE(executor.IsLive("gate"));
  gate_handler->release = true;
  ASSERT_TRUE(executor.WaitIdle(milliseconds(5000)));
  EXPECT_FALSE(executor.IsLive("gate"));
  EXPECT_TRUE(executor.LiveRuns().empty());
}

}  // namespace
}  // namespace orb::agent
