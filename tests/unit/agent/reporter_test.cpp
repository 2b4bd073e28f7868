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
#include "support/faulty_sqlite_vfs.hpp"
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
    std::vector<std::string> batch_runs;            // the run of each accepted batch
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
  Expected<protocol::UpdatesResponse> SendUpdates(const std::string& run_id,
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
    shared_.batch_runs.push_back(run_id);
    protocol::UpdatesResponse response;
    for (const auto& update : request.updates)
      response.acked_update_seq = update.seq;
    for (const auto& line : request.logs)
      response.acked_log_seq = line.seq;
    if (request.final_update) response.acked_update_seq = request.final_update->seq;
    response.cancel_requested = shared_.cancel_requested;
    return response;
  }
  Status SendStatus(const protocol::AgentStatusReport&, const CallHooks&) override {
    return Fail(Errc::kInternal, "not used");
  }
  Status SendInventory(const protocol::HostInventory&, const CallHooks&) override {
    return Fail(Errc::kInternal, "not used");
  }
  void Interrupt() override {}
  void Resume() override {}

 private:
  Shared& shared_;
};

class ReporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Every journal of these tests can be made to fail its writes like a full disk.
    testing::FaultySqliteVfs::Register();
    auto opened = Journal::Open(dir_.path() / "journal.sqlite",
                                JournalOptions{testing::FaultySqliteVfs::kName});
    ASSERT_TRUE(opened.has_value()) << opened.error().Describe();
    journal_ = std::move(*opened);
  }

  void TearDown() override { testing::FaultySqliteVfs::SetFull(false); }

  void StartReporter(ReporterOptions options = {}) {
    options.log_dir = dir_.path() / "logs";
    options.error_backoff = milliseconds(10);
    if (options.journal_retry == ReporterOptions{}.journal_retry) {
      options.journal_retry = milliseconds(20);
    }
    reporter_ = std::make_unique<Reporter>(
        options, *journal_, std::make_unique<RecordingControlPlane>(server_), clock_,
        ReporterCallbacks{[this](const std::string& run_id) {
                            const std::lock_guard lock(server_.mutex);
                            cancelled_.push_back(run_id);
                          },
                          [this](const std::string& run_id) {
                            const std::lock_guard lock(server_.mutex);
                            not_active_.push_back(run_id);
                          },
                          [this](bool writable, const std::string& problem) {
                            const std::lock_guard lock(server_.mutex);
                            health_.emplace_back(writable, problem);
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
  std::vector<std::string> SentLogs() {
    const std::lock_guard lock(server_.mutex);
    std::vector<std::string> messages;
    for (const auto& batch : server_.batches)
      for (const auto& line : batch.logs)
        messages.push_back(line.message);
    return messages;
  }
  std::vector<std::pair<bool, std::string>> Health() {
    const std::lock_guard lock(server_.mutex);
    return health_;
  }
  void FailSends(int n) {
    const std::lock_guard lock(server_.mutex);
    for (int i = 0; i < n; ++i)
      server_.failures.push_back(MakeError(Errc::kNetwork, "down"));
  }
  void StopFailingSends() {
    const std::lock_guard lock(server_.mutex);
    server_.failures.clear();
  }
  static protocol::LogLine Line(const std::string& message) {
    protocol::LogLine line;
    line.message = message;
    return line;
  }
  // Every update and log seq fleet-cmdr accepted for the run goes up by one from 1, the final
  // last.
  void ExpectContiguousSeqs(const std::string& run_id = "r1") {
    const std::lock_guard lock(server_.mutex);
    std::int64_t update = 0;
    std::int64_t log = 0;
    for (std::size_t i = 0; i < server_.batches.size(); ++i) {
      if (server_.batch_runs[i] != run_id) continue;
      const auto& batch = server_.batches[i];
      for (const auto& sent : batch.updates) {
        EXPECT_EQ(sent.seq, ++update);
      }
      for (const auto& sent : batch.logs) {
        EXPECT_EQ(sent.seq, ++log);
      }
      if (batch.final_update) {
        EXPECT_EQ(batch.final_update->seq, ++update);
      }
    }
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Journal> journal_;
  RecordingControlPlane::Shared server_;
  std::vector<std::string> cancelled_;
  std::vector<std::string> not_active_;
  std::vector<std::pair<bool, std::string>> health_;  // journal_health calls, in order
  std::unique_ptr<Reporter> reporter_;                // last: stopped before what it uses goes away
};

// The duty (the host inventory's checks) runs on the sender's thread at least once a second,
// also with no run at all, and never once Stop() returned: watched 1.5 s after it, longer than the
// sender's longest sleep (1 s).
TEST_F(ReporterTest, ADutyRunsEverySecondWhileIdleAndNeverAfterStop) {
  StartReporter();
  std::atomic<int> calls{0};
  reporter_->SetDuty([&calls](ControlPlane&, const CallHooks&) { ++calls; });
  reporter_->Wake();
  EXPECT_TRUE(testing::WaitFor([&] { return calls.load() >= 3; }, std::chrono::seconds(5)));
  reporter_->Stop(std::chrono::steady_clock::now());
  const int after_stop = calls.load();
  EXPECT_FALSE(testing::WaitFor([&] { return calls.load() != after_stop; }, milliseconds(1500)));
}

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

// ---------------------------------------------------------------- a journal that cannot be written

TEST_F(ReporterTest, AFinalResultReachesFleetCmdrWhileTheJournalCannotBeWritten) {
  StartReporter();
  testing::FaultySqliteVfs::SetFull(true);  // the disk is full from the run's start
  reporter_->OnRunStarted(Execution("r1"));
  for (int i = 0; i < 3; ++i)
    reporter_->OnLog("r1", Line("line " + std::to_string(i)));
  reporter_->OnFinished("r1", Completed());
  ASSERT_TRUE(WaitFor([&] { return FinalSent(); }, seconds(5)));
  EXPECT_EQ(SentLogs(), (std::vector<std::string>{"line 0", "line 1", "line 2"}));
  ExpectContiguousSeqs();
  EXPECT_FALSE(reporter_->journal_writable());
  ASSERT_FALSE(Health().empty());
  EXPECT_FALSE(Health()[0].first);
  EXPECT_NE(Health()[0].second.find("journal"), std::string::npos) << Health()[0].second;
  // Acknowledged: nothing of the run is held any more, nor owed to the journal.
  EXPECT_TRUE(WaitFor([&] { return reporter_->held_items() == 0; }, seconds(5)));

  testing::FaultySqliteVfs::SetFull(false);
  ASSERT_TRUE(WaitFor([&] { return reporter_->journal_writable(); }, seconds(5)));
  // Announced by the sender right after (no reporter lock is held while it is).
  ASSERT_TRUE(WaitFor([&] { return Health().size() == 2; }, seconds(5)));
  EXPECT_TRUE(Health().back().first);
  EXPECT_TRUE(JournalEmpty());
}

TEST_F(ReporterTest, WhatMemoryHeldGoesIntoTheJournalOnceItWorksAndArrivesOnceInOrder) {
  FailSends(100000);  // fleet-cmdr is away as well
  StartReporter();
  reporter_->OnRunStarted(Execution("r1"));
  reporter_->OnLog("r1", Line("journaled"));
  testing::FaultySqliteVfs::SetFull(true);
  reporter_->OnProgress("r1", Progress(40), true);
  for (int i = 0; i < 5; ++i)
    reporter_->OnLog("r1", Line("held " + std::to_string(i)));
  reporter_->OnFinished("r1", Completed());
  reporter_->OnRunStarted(Execution("r2"));  // a run the journal never saw start
  reporter_->OnLog("r2", Line("r2 held"));
  EXPECT_EQ(reporter_->held_items(), 8U);
  EXPECT_FALSE(reporter_->journal_writable());

  testing::FaultySqliteVfs::SetFull(false);
  ASSERT_TRUE(WaitFor([&] { return reporter_->journal_writable(); }, seconds(5)));
  EXPECT_EQ(reporter_->held_items(), 0U);
  auto runs = journal_->Runs();
  ASSERT_THAT(runs, IsOk());
  ASSERT_EQ(runs->size(), 2U);
  EXPECT_EQ((*runs)[0].execution.run_id, "r1");
  EXPECT_TRUE((*runs)[0].has_final);
  EXPECT_EQ((*runs)[0].last_log_seq, 6);
  EXPECT_EQ((*runs)[1].execution.run_id, "r2");

  StopFailingSends();
  ASSERT_TRUE(WaitFor([&] { return FinalSent(); }, seconds(5)));
  EXPECT_TRUE(WaitFor([&] { return SentLogs().size() == 7; }, seconds(5)));
  EXPECT_EQ(SentLogs(), (std::vector<std::string>{"journaled", "held 0", "held 1", "held 2",
                                                  "held 3", "held 4", "r2 held"}));
  ExpectContiguousSeqs("r1");
  ExpectContiguousSeqs("r2");
  EXPECT_TRUE(WaitFor(
      [&] {
        auto left = journal_->Runs();
        return left && left->size() == 1 && left->front().execution.run_id == "r2";
      },
      seconds(5)));
}

TEST_F(ReporterTest, MemoryForWhatTheJournalCannotTakeIsBoundedAndTheDropIsSaid) {
  FailSends(100000);
  ReporterOptions options;
  options.max_held_bytes = 20 * HeldBytes(Line("line 00"));
  StartReporter(options);
  testing::FaultySqliteVfs::SetFull(true);
  reporter_->OnRunStarted(Execution("r1"));
  for (int i = 0; i < 100; ++i)
    reporter_->OnLog("r1", Line("line " + std::to_string(i / 10) + std::to_string(i % 10)));
  // Kept beyond the bound: the line that counts the dropped ones, and the final (never dropped).
  reporter_->OnFinished("r1", Completed());
  EXPECT_EQ(reporter_->held_items(), 22U);
  StopFailingSends();
  ASSERT_TRUE(WaitFor([&] { return FinalSent(); }, seconds(5)));
  const auto logs = SentLogs();
  ASSERT_EQ(logs.size(), 21U);
  EXPECT_EQ(logs.front(), "line 00");
  EXPECT_EQ(logs[19], "line 19");
  EXPECT_EQ(logs[20].rfind("80 log lines were dropped", 0), 0U) << logs[20];
  ExpectContiguousSeqs();
  EXPECT_TRUE(WaitFor([&] { return reporter_->held_items() == 0; }, seconds(5)));
}

}  // namespace
}  // namespace orb::agent
