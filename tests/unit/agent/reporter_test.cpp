#include "agent/reporter.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <iterator>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "common/sanitize.hpp"
#include "protocol/codec.hpp"
#include "support/manual_clock.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::IsOk;
using testing::ManualClock;
using testing::TempDir;
using testing::WaitFor;

// fleet-cmdr's side of the updates call, at the network edge: records every batch, acknowledges
// everything in it (as the server does), and answers with the errors or flags a test queues.
class RecordingControlPlane final : public ControlPlane {
 public:
  struct Shared {
    std::mutex mutex;
    std::vector<protocol::UpdatesRequest> batches;  // the accepted ones
    std::deque<Error> failures;                     // returned (in order) before accepting again
    bool cancel_requested = false;
    std::atomic<int> calls{0};
  };
  explicit RecordingControlPlane(Shared& shared) : shared_(shared) {}

  Expected<protocol::HelloResponse> Hello(const protocol::HelloRequest&,
                                          const CallHooks&) override {
    return Fail(Errc::kInternal, "not used");
  }
  Expected<protocol::NotifyResponse> Notify(int, const CallHooks&) override {
    return Fail(Errc::kInternal, "not used");
  }
  Expected<std::optional<protocol::JobExecution>> Next(const protocol::NextRequest&,
                                                       const CallHooks&) override {
    return Fail(Errc::kInternal, "not used");
  }
  Expected<protocol::UpdatesResponse> SendUpdates(const std::string&,
                                                  const protocol::UpdatesRequest& request,
                                                  const CallHooks&) override {
    ++shared_.calls;
    const std::lock_guard lock(shared_.mutex);
    if (!shared_.failures.empty()) {
      Error error = shared_.failures.front();
      shared_.failures.pop_front();
      return Fail(std::move(error));
    }
    shared_.batches.push_back(request);
    protocol::UpdatesResponse response;
    for (const auto& update : request.updates)
      response.acked_update_seq = update.seq;
    for (const auto& line : request.logs)
      response.acked_log_seq = line.seq;
    if (request.final_update) response.acked_update_seq = request.final_update->seq;
    response.cancel_requested = shared_.cancel_requested;
    return response;
  }
  void Interrupt() override {}
  void Resume() override {}

 private:
  Shared& shared_;
};

class ReporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = Journal::Open(dir_.path() / "journal.sqlite");
    ASSERT_TRUE(opened.has_value()) << opened.error().Describe();
    journal_ = std::move(*opened);
  }

  void StartReporter(ReporterOptions options = {}) {
    options.log_dir = dir_.path() / "logs";
    options.error_backoff = milliseconds(10);
    reporter_ = std::make_unique<Reporter>(
        options, *journal_, std::make_unique<RecordingControlPlane>(server_), clock_,
        ReporterCallbacks{[this](const std::string& run_id) {
                            const std::lock_guard lock(server_.mutex);
                            cancelled_.push_back(run_id);
                          },
                          [this](const std::string& run_id) {
                            const std::lock_guard lock(server_.mutex);
                            not_active_.push_back(run_id);
                          }});
    reporter_->Start();
  }

  static protocol::JobExecution Execution(const std::string& run_id) {
    protocol::JobExecution execution;
    execution.job_id = "job-" + run_id;
    execution.run_id = run_id;
    execution.type = "VERIFY_BACKUP";
    return execution;
  }
  static protocol::ProgressUpdate Progress(int percent) {
    protocol::ProgressUpdate update;
    update.percent = percent;
    return update;
  }
  static protocol::FinalUpdate Completed() {
    protocol::FinalUpdate final_update;
    final_update.result_json = R"({"ok":true})";
    return final_update;
  }

  // Every progress percent fleet-cmdr accepted, in order.
  std::vector<std::optional<int>> SentPercents() {
    const std::lock_guard lock(server_.mutex);
    std::vector<std::optional<int>> percents;
    for (const auto& batch : server_.batches)
      for (const auto& update : batch.updates)
        percents.push_back(update.percent);
    return percents;
  }
  bool FinalSent() {
    const std::lock_guard lock(server_.mutex);
    for (const auto& batch : server_.batches)
      if (batch.final_update) return true;
    return false;
  }
  bool JournalEmpty() {
    auto runs = journal_->Runs();
    return runs && runs->empty();
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Journal> journal_;
  RecordingControlPlane::Shared server_;
  std::vector<std::string> cancelled_;
  std::vector<std::string> not_active_;
  std::unique_ptr<Reporter> reporter_;  // last: stopped before what it uses goes away
};

TEST_F(ReporterTest, ProgressWithinTheIntervalIsCoalescedToTheLatest) {
  StartReporter();
  reporter_->OnRunStarted(Execution("r1"));
  reporter_->OnProgress("r1", Progress(0), /*status_change=*/true);
  ASSERT_TRUE(WaitFor([&] { return SentPercents().size() == 1; }, seconds(5)));
  for (int percent : {10, 20, 30})
    reporter_->OnProgress("r1", Progress(percent), false);
  clock_.Advance(milliseconds(999));
  reporter_->Wake();
  EXPECT_FALSE(WaitFor([&] { return SentPercents().size() > 1; }, milliseconds(200)));
  clock_.Advance(milliseconds(1));
  ASSERT_TRUE(WaitFor([&] { return SentPercents().size() == 2; }, seconds(5)));
  EXPECT_EQ(SentPercents(), (std::vector<std::optional<int>>{0, 30}));
}

TEST_F(ReporterTest, AFinalSendsTheHeldUpdateFirstAndTheRunLeavesTheJournalWhenAcknowledged) {
  StartReporter();
  reporter_->OnRunStarted(Execution("r1"));
  reporter_->OnProgress("r1", Progress(0), true);
  reporter_->OnProgress("r1", Progress(90), false);  // held by the throttle
  protocol::LogLine line;
  line.message = "done verifying";
  reporter_->OnLog("r1", line);
  reporter_->OnFinished("r1", Completed());
  ASSERT_TRUE(WaitFor([&] { return FinalSent(); }, seconds(5)));
  EXPECT_EQ(SentPercents(), (std::vector<std::optional<int>>{0, 90}));
  // Updates and the final share one seq; the final comes after every update and log line.
  std::int64_t last_update = 0;
  const std::lock_guard lock(server_.mutex);
  for (const auto& batch : server_.batches) {
    for (const auto& update : batch.updates) {
      EXPECT_EQ(update.seq, last_update + 1);
      last_update = update.seq;
    }
    if (batch.final_update) {
      EXPECT_EQ(batch.final_update->seq, last_update + 1);
    }
  }
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "logs" / "job-r1" / "r1.log"));
}

TEST_F(ReporterTest, NetworkErrorsKeepEverythingAndItArrivesOnceInOrder) {
  {
    const std::lock_guard lock(server_.mutex);
    for (int i = 0; i < 3; ++i)
      server_.failures.push_back(MakeError(Errc::kNetwork, "refused"));
  }
  StartReporter();
  reporter_->OnRunStarted(Execution("r1"));
  for (int i = 0; i < 20; ++i) {
    protocol::LogLine line;
    line.message = "line " + std::to_string(i);
    reporter_->OnLog("r1", line);
  }
  reporter_->OnFinished("r1", Completed());
  ASSERT_TRUE(WaitFor([&] { return FinalSent(); }, seconds(5)));
  EXPECT_GE(server_.calls.load(), 4);
  std::vector<std::string> messages;
  {
    const std::lock_guard lock(server_.mutex);
    for (const auto& batch : server_.batches)
      for (const auto& sent : batch.logs)
        messages.push_back(sent.message);
  }
  ASSERT_EQ(messages.size(), 20U);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(messages[i], "line " + std::to_string(i));
  EXPECT_TRUE(WaitFor([&] { return JournalEmpty(); }, seconds(5)));
}

TEST_F(ReporterTest, RunNotActiveDropsTheRunAndTellsTheExecutor) {
  {
    const std::lock_guard lock(server_.mutex);
    server_.failures.push_back(MakeError(Errc::kRunNotActive, "the run is FAILED"));
  }
  StartReporter();
  reporter_->OnRunStarted(Execution("r1"));
  reporter_->OnProgress("r1", Progress(5), true);
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::lock_guard lock(server_.mutex);
        return not_active_.size() == 1;
      },
      seconds(5)));
  EXPECT_TRUE(JournalEmpty());
  reporter_->OnFinished("r1", Completed());  // too late: nothing more is sent for it
  EXPECT_FALSE(WaitFor([&] { return FinalSent(); }, milliseconds(200)));
}

TEST_F(ReporterTest, ACancelInTheResponseReachesTheExecutor) {
  {
    const std::lock_guard lock(server_.mutex);
    server_.cancel_requested = true;
  }
  StartReporter();
  reporter_->OnRunStarted(Execution("r1"));
  reporter_->OnProgress("r1", Progress(5), true);
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::lock_guard lock(server_.mutex);
        return cancelled_ == std::vector<std::string>{"r1"};
      },
      seconds(5)));
}

TEST_F(ReporterTest, AQuietRunGetsAnEmptyBatchAsHeartbeatEveryInterval) {
  ReporterOptions options;
  options.heartbeat = seconds(15);
  StartReporter(options);
  reporter_->OnRunStarted(Execution("r1"));
  const auto empty_batches = [&] {
    const std::lock_guard lock(server_.mutex);
    return std::count_if(server_.batches.begin(), server_.batches.end(), [](const auto& batch) {
      return batch.updates.empty() && batch.logs.empty() && !batch.final_update;
    });
  };
  clock_.Advance(seconds(14));
  reporter_->Wake();
  EXPECT_FALSE(WaitFor([&] { return empty_batches() > 0; }, milliseconds(200)));
  clock_.Advance(seconds(1));
  EXPECT_TRUE(WaitFor([&] { return empty_batches() == 1; }, seconds(5)));
  reporter_->OnFinished("r1", Completed());
  ASSERT_TRUE(WaitFor([&] { return JournalEmpty(); }, seconds(5)));
  clock_.Advance(seconds(30));  // a finished run gets no more heartbeats
  reporter_->Wake();
  EXPECT_FALSE(WaitFor([&] { return empty_batches() > 1; }, milliseconds(200)));
}

TEST_F(ReporterTest, StopLeavesWhatCouldNotBeSentInTheJournalForTheNextStart) {
  {
    const std::lock_guard lock(server_.mutex);
    for (int i = 0; i < 1000; ++i)
      server_.failures.push_back(MakeError(Errc::kNetwork, "down"));
  }
  StartReporter();
  reporter_->OnRunStarted(Execution("r1"));
  reporter_->OnFinished("r1", Completed());
  reporter_->Stop(std::chrono::steady_clock::now() + milliseconds(100));
  auto runs = journal_->Runs();
  ASSERT_TRUE(runs.has_value());
  ASSERT_EQ(runs->size(), 1U);
  EXPECT_TRUE(runs->front().has_final);
  auto batch = journal_->NextBatch("r1");
  ASSERT_TRUE(batch.has_value());
  EXPECT_TRUE(batch->final_update.has_value());
}

TEST_F(ReporterTest, WhatItShipsAndWritesIsSanitized) {
  RegisterSecret("the-agent-token-0123456789");
  StartReporter();
  reporter_->OnRunStarted(Execution("r1"));
  protocol::ProgressUpdate update = Progress(5);
  update.message = "fetching https://bucket.example/b1.tar?X-Amz-Signature=abc";
  reporter_->OnProgress("r1", update, true);
  protocol::LogLine line;
  line.message = "GET https://bucket.example/b1.tar?X-Amz-Signature=abc answered 403";
  reporter_->OnLog("r1", line);
  protocol::FinalUpdate failed;
  failed.status = protocol::RunStatus::kFailed;
  failed.error =
      protocol::RunError{"http",
                         "GET https://bucket.example/b1.tar?X-Amz-Signature=abc answered 403",
                         {"download https://bucket.example/b1.tar?X-Amz-Signature=abc",
                          "token the-agent-token-0123456789 refused"},
                         true};
  reporter_->OnFinished("r1", failed);
  ASSERT_TRUE(WaitFor([&] { return FinalSent(); }, seconds(5)));
  ForgetRegisteredSecrets();
  std::string shipped;
  {
    const std::lock_guard lock(server_.mutex);
    for (const auto& batch : server_.batches)
      shipped += protocol::ToJson(batch);
  }
  std::ifstream file(dir_.path() / "logs" / "job-r1" / "r1.log");
  const std::string written((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
  for (const std::string& text : {shipped, written}) {
    EXPECT_EQ(text.find("abc"), std::string::npos) << text;
    EXPECT_EQ(text.find("the-agent-token"), std::string::npos) << text;
    EXPECT_NE(text.find("https://bucket.example/b1.tar?[redacted]"), std::string::npos) << text;
  }
  EXPECT_NE(shipped.find("token [redacted] refused"), std::string::npos) << shipped;
}

}  // namespace
}  // namespace orb::agent
