// orb-jobs-agent in process against a real fleet-cmdr on 127.0.0.1:0, with handlers
// defined here (the shipped ones: instance_restart_test.cpp, and the handlers' own tests).
#include <atomic>
#include <chrono>
#include <set>

#include <gtest/gtest.h>

#include "agent/journal.hpp"
#include "integration/agent/agent_cluster.hpp"
#include "support/faulty_sqlite_vfs.hpp"

namespace orb::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kVerifyPayload = R"({"backupId":"b1"})";
constexpr const char* kPrunePayload = R"({"keepLast":3})";

// Waits at its safe point until released or cancelled; logs `lines` lines first.
class GateHandler final : public jobs::JobHandler {
 public:
  explicit GateHandler(std::string type, int lines = 1) : type_(std::move(type)), lines_(lines) {}
  ~GateHandler() override {
    if (destroyed) destroyed->store(true);
  }
  std::string_view type() const override { return type_; }
  Expected<std::string> Run(jobs::HandlerContext& context) override {
    started_at = std::chrono::steady_clock::now();
    const int now = ++running;
    max_running = std::max(max_running.load(), now);
    for (int i = 0; i < lines_; ++i)
      context.LogLine("info", "line " + std::to_string(i));
    context.Progress(50, "halfway");
    while (!release.load()) {
      if (context.cancel().WaitFor(milliseconds(5))) {
        --running;
        return Fail(context.cancel().ToError());
      }
    }
    --running;
    ++completed;
    return std::string(R"({"ok":true})");
  }
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> completed{0};
  std::atomic<bool> release{false};
  std::atomic<std::chrono::steady_clock::time_point> started_at{};
  std::shared_ptr<std::atomic<bool>> destroyed;  // set when the agent frees its handlers

 private:
  std::string type_;
  int lines_;
};

std::vector<std::unique_ptr<jobs::JobHandler>> One(GateHandler*& out, std::string type,
                                                   int lines = 1) {
  auto handler = std::make_unique<GateHandler>(std::move(type), lines);
  out = handler.get();
  std::vector<std::unique_ptr<jobs::JobHandler>> handlers;
  handlers.push_back(std::move(handler));
  return handlers;
}

TEST(AgentIntegrationTest, StartsUpAndRunsAJobQueuedBeforeItCame) {
  AgentCluster cluster;
  cluster.Enroll("host-1");
  // The agent has never said hello: the job waits QUEUED until it asks at start-up.
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  EXPECT_EQ(cluster.Status(job), "QUEUED");
  GateHandler* handler = nullptr;
  auto& agent = cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP"));
  handler->release = true;
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(10)));
  EXPECT_GE(agent.agent->next_calls(), 1);
  const auto detail = cluster.Job(job);
  ASSERT_TRUE(detail && detail->job.result_json);
  EXPECT_EQ(*detail->job.result_json, R"({"ok":true})");
  EXPECT_TRUE(std::filesystem::exists(agent.dir / "state" / "logs" / job));
}

TEST(AgentIntegrationTest, ANotifyWakesAWaitingAgentWithinMilliseconds) {
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  auto& agent = cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP"));
  ASSERT_TRUE(WaitFor([&] { return agent.agent->notify_calls() >= 1; }, seconds(5)));
  handler->release = true;
  const auto created = std::chrono::steady_clock::now();
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  ASSERT_TRUE(WaitFor([&] { return handler->completed.load() == 1; }, seconds(5)));
  EXPECT_LT(handler->started_at.load() - created, milliseconds(500));
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(5)));
}

TEST(AgentIntegrationTest, ConflictingJobsRunOneAtATimeAndOthersInParallel) {
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  cluster.StartAgent("host-1", One(handler, "PRUNE_BACKUPS"));
  const auto a1 = cluster.Enqueue("host-1", "PRUNE_BACKUPS", "a", kPrunePayload);
  const auto a2 = cluster.Enqueue("host-1", "PRUNE_BACKUPS", "a", kPrunePayload);
  const auto b1 = cluster.Enqueue("host-1", "PRUNE_BACKUPS", "b", kPrunePayload);
  ASSERT_TRUE(WaitFor([&] { return handler->running.load() == 2; }, seconds(5)));
  EXPECT_EQ(cluster.Status(a2), "QUEUED");  // backups:a is exclusive
  handler->release = true;
  for (const auto& job : {a1, a2, b1}) {
    EXPECT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(10)));
  }
  EXPECT_EQ(handler->max_running.load(), 2);
}

TEST(AgentIntegrationTest, CancelStopsTheRunAtItsSafePoint) {
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP"));
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  ASSERT_TRUE(WaitFor([&] { return handler->running.load() == 1; }, seconds(5)));
  EXPECT_EQ(cluster.Admin("POST", "/v1/jobs/" + job + "/cancel").first, 202);
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(job) == "CANCELLED"; }, seconds(5)));
}

// Crosses its point of no return at once, then runs until released: a cancel is ignored.
class NoReturnHandler final : public jobs::JobHandler {
 public:
  std::string_view type() const override { return "VERIFY_BACKUP"; }
  Expected<std::string> Run(jobs::HandlerContext& context) override {
    if (auto marked = context.MarkPastPointOfNoReturn(); !marked) {
      return Fail(marked.error());
    }
    running = true;
    while (!release.load()) {
      if (context.cancel().cancel_ignored()) cancel_ignored = true;
      std::this_thread::yield();
      (void)context.cancel().WaitFor(milliseconds(5));
    }
    return std::string(R"({"ok":true})");
  }
  std::atomic<bool> running{false};
  std::atomic<bool> cancel_ignored{false};
  std::atomic<bool> release{false};
};

TEST(AgentIntegrationTest, ACancelIgnoredPastThePointOfNoReturnDoesNotMakeTheAgentAskWithoutPause) {
  AgentCluster cluster;
  auto handler_owner = std::make_unique<NoReturnHandler>();
  auto* handler = handler_owner.get();
  std::vector<std::unique_ptr<jobs::JobHandler>> handlers;
  handlers.push_back(std::move(handler_owner));
  auto& agent = cluster.StartAgent("host-1", std::move(handlers));
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  ASSERT_TRUE(WaitFor([&] { return handler->running.load(); }, seconds(5)));
  EXPECT_EQ(cluster.Admin("POST", "/v1/jobs/" + job + "/cancel").first, 202);
  ASSERT_TRUE(WaitFor([&] { return handler->cancel_ignored.load(); }, seconds(5)));
  // The cancel stays requested while the run goes on. Before notify told each cancel once, every
  // notify came back at once with it and the agent asked ~8,000 times a second; now the agent's
  // long-poll is held (for its wait, 25 s) until something changes. Watched for 2 s: the old
  // behaviour makes thousands of calls in that time, the held one at most the call in flight.
  const auto before = agent.agent->notify_calls();
  EXPECT_FALSE(WaitFor([&] { return agent.agent->notify_calls() > before + 2; }, seconds(2)))
      << "notify calls in 2 s: " << agent.agent->notify_calls() - before;
  // A job queued meanwhile still wakes the agent at once.
  const auto next_calls = agent.agent->next_calls();
  const auto queued = std::chrono::steady_clock::now();
  const auto second = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-2", kVerifyPayload);
  EXPECT_TRUE(WaitFor([&] { return agent.agent->next_calls() > next_calls; }, seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - queued, seconds(2));
  handler->release = true;
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(10)));
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(second) == "COMPLETED"; }, seconds(10)));
}

TEST(AgentIntegrationTest, ARunPastItsTimeoutFailsWithTimeout) {
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP"));
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload, 1);
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(job) == "FAILED"; }, seconds(10)));
  const auto detail = cluster.Job(job);
  ASSERT_TRUE(detail && detail->job.last_error);
  EXPECT_EQ(detail->job.last_error->code, "timeout");
}

TEST(AgentIntegrationTest, EveryLineArrivesOnceAndInOrderAcrossAFleetCmdrOutage) {
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  auto& agent = cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP", 50));
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  ASSERT_TRUE(WaitFor([&] { return handler->running.load() == 1; }, seconds(5)));
  cluster.StopFleetCmdr();
  handler->release = true;  // the final is produced while fleet-cmdr is away
  ASSERT_TRUE(WaitFor([&] { return handler->completed.load() == 1; }, seconds(5)));
  // The outage lasts 10 s. Throughout it the final result stays in the agent's journal:
  // the agent keeps retrying and drops nothing.
  auto journal = agent::Journal::Open(agent.dir / "state" / "journal.sqlite");
  ASSERT_TRUE(journal.has_value()) << journal.error().Describe();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto runs = (*journal)->Runs();
        return runs && runs->size() == 1 && runs->front().has_final;
      },
      seconds(5)));
  const auto outage_end = std::chrono::steady_clock::now() + seconds(10);
  while (std::chrono::steady_clock::now() < outage_end) {
    auto runs = (*journal)->Runs();
    ASSERT_TRUE(runs.has_value());
    ASSERT_EQ(runs->size(), 1U);
    EXPECT_TRUE(runs->front().has_final);
    // Not a wait for a condition: the outage itself goes on for its 10 s, sampled twice a second.
    std::this_thread::sleep_for(milliseconds(500));
  }
  cluster.StartFleetCmdr();
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(20)));
  const auto lines = cluster.Logs(job);
  std::vector<std::string> messages;
  for (const auto& line : lines) {
    if (line.message.rfind("line ", 0) == 0) messages.push_back(line.message);
  }
  ASSERT_EQ(messages.size(), 50U);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(messages[i], "line " + std::to_string(i));
  for (std::size_t i = 1; i < lines.size(); ++i)
    EXPECT_LT(lines[i - 1].seq, lines[i].seq);
  // Once acknowledged, the run leaves the journal.
  EXPECT_TRUE(WaitFor(
      [&] {
        auto runs = (*journal)->Runs();
        return runs && runs->empty();
      },
      seconds(5)));
}

// Logs one line, waits for `go`, logs another (which fleet-cmdr fences with 409), then waits for
// the agent to abandon the run.
class FencedHandler final : public jobs::JobHandler {
 public:
  std::string_view type() const override { return "VERIFY_BACKUP"; }
  Expected<std::string> Run(jobs::HandlerContext& context) override {
    started = true;
    context.LogLine("info", "before the lease expired");
    while (!go.load())
      (void)context.cancel().WaitFor(milliseconds(5));
    context.LogLine("info", "after the lease expired");
    if (context.cancel().WaitFor(seconds(10))) cause = context.cancel().cause();
    finished = true;
    return std::string(R"({"late":true})");
  }
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  std::atomic<bool> finished{false};
  std::atomic<jobs::CancelCause> cause{jobs::CancelCause::kNone};
};

TEST(AgentIntegrationTest, ARunFencedWith409IsAbandonedAndReportsNothingMore) {
  // A 1 s lease and no heartbeat within it: fleet-cmdr fails the run with agent_lost while the
  // handler is still going, and answers its next report with 409 run_not_active.
  AgentCluster cluster([](server::FleetCmdrOptions& options) {
    options.lease_seconds = 1;
    options.heartbeat_seconds = 60;
    options.tick = milliseconds(50);
  });
  auto fenced = std::make_unique<FencedHandler>();
  auto* handler = fenced.get();
  std::vector<std::unique_ptr<jobs::JobHandler>> handlers;
  handlers.push_back(std::move(fenced));
  auto& agent = cluster.StartAgent("host-1", std::move(handlers));
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  ASSERT_TRUE(WaitFor([&] { return handler->started.load(); }, seconds(5)));
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(job) == "FAILED"; }, seconds(10)));
  EXPECT_EQ(cluster.LastError(job), "agent_lost");

  handler->go = true;
  ASSERT_TRUE(WaitFor([&] { return handler->finished.load(); }, seconds(15)));
  EXPECT_EQ(handler->cause.load(), jobs::CancelCause::kAbandoned);
  // The handler's late result never reached fleet-cmdr, and nothing is left to send.
  EXPECT_EQ(cluster.Status(job), "FAILED");
  EXPECT_EQ(cluster.LastError(job), "agent_lost");
  auto journal = agent::Journal::Open(agent.dir / "state" / "journal.sqlite");
  ASSERT_TRUE(journal.has_value());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto runs = (*journal)->Runs();
        return runs && runs->empty();
      },
      seconds(5)));
  for (const auto& line : cluster.Logs(job))
    EXPECT_NE(line.message, "after the lease expired");
}

TEST(AgentIntegrationTest, AnAgentKilledMidRunReportsItInterruptedAndRunsTheRetry) {
  AgentCluster cluster;
  TempDir dir;
  AgentProcess process(dir.path(), cluster.url(), "host-1", cluster.TokenOf("host-1"));
  ASSERT_TRUE(process.Start());
  const auto job =
      cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload, 60, /*max_attempts=*/2);
  ASSERT_TRUE(WaitFor([&] { return process.StartedRuns().size() == 1; }, seconds(10)));
  const auto first_run = process.StartedRuns().front();
  process.Kill(SIGKILL);
  EXPECT_EQ(cluster.Status(job), "RUNNING");  // fleet-cmdr cannot know yet

  ASSERT_TRUE(process.Start());  // hello reports the run interrupted; the retry comes ~1 s later
  ASSERT_TRUE(WaitFor([&] { return process.StartedRuns().size() == 2; }, seconds(10)));
  std::ofstream(process.root() / "release") << "go\n";
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(10)));
  const auto detail = cluster.Job(job);
  ASSERT_TRUE(detail.has_value());
  ASSERT_EQ(detail->runs.size(), 2U);
  EXPECT_EQ(detail->runs[0].id, first_run);
  EXPECT_EQ(detail->runs[0].status, protocol::RunStatus::kFailed);
  ASSERT_TRUE(detail->runs[0].error.has_value());
  EXPECT_EQ(detail->runs[0].error->code, "agent_restarted");
  EXPECT_EQ(detail->runs[1].status, protocol::RunStatus::kCompleted);
  EXPECT_EQ(detail->runs[1].attempt, 2);
  // The staging directory of the killed run was cleaned at start-up.
  EXPECT_FALSE(std::filesystem::exists(process.root() / ".staging" / first_run));
  process.Kill(SIGTERM);
  EXPECT_EQ(process.Wait(seconds(30)), 0);
}

TEST(AgentIntegrationTest, SigtermCancelsTheRunFlushesItsResultAndExitsZero) {
  AgentCluster cluster;
  TempDir dir;
  AgentProcess process(dir.path(), cluster.url(), "host-1", cluster.TokenOf("host-1"));
  ASSERT_TRUE(process.Start());
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  ASSERT_TRUE(WaitFor([&] { return process.StartedRuns().size() == 1; }, seconds(10)));
  process.Kill(SIGTERM);
  EXPECT_EQ(process.Wait(seconds(30)), 0);
  // The cancelled run's result was delivered before the exit, not left for the next start.
  EXPECT_EQ(cluster.Status(job), "FAILED");
  EXPECT_EQ(cluster.LastError(job), "agent_restarted");
}

TEST(AgentIntegrationTest, StopCancelsCancellableRunsAndReturns) {
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  auto& agent = cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP"));
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  ASSERT_TRUE(WaitFor([&] { return handler->running.load() == 1; }, seconds(5)));
  AgentCluster::StopAgent(agent);
  EXPECT_TRUE(agent.result.has_value());
  EXPECT_TRUE(agent.agent->drained());
  EXPECT_EQ(cluster.Status(job), "FAILED");
  EXPECT_EQ(cluster.Job(job)->job.last_error->code, "agent_restarted");
}

TEST(AgentIntegrationTest, PollingModeStillPicksUpJobs) {
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP"), /*long_poll=*/false);
  handler->release = true;
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(10)));
}

TEST(AgentIntegrationTest, AnAgentEnrolledAgainTakesTheNewTokenFromItsFileOn401) {
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  auto& agent = cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP"));
  handler->release = true;
  const std::string old_token = cluster.TokenOf("host-1");
  // The operator revokes the agent and enrolls it again: its old token is refused from now on.
  ASSERT_EQ(cluster.Admin("DELETE", "/v1/agents/host-1").first, 204);
  const std::string new_token = cluster.Enroll("host-1");
  ASSERT_FALSE(new_token.empty());
  ASSERT_NE(new_token, old_token);
  std::ofstream(agent.dir.path() / "token") << new_token << '\n';

  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  // Without a restart: the 401 on the old token makes the agent read the file and go on.
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(20)));
}

// ---------------------------------------------------------------- a journal that cannot be written

TEST(AgentIntegrationTest, WithAnUnwritableJournalTheAgentDeliversItsResultTakesNoJobsAndResumes) {
  FaultySqliteVfs::Register();
  struct Heal {
    ~Heal() { FaultySqliteVfs::SetFull(false); }
  } heal;
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  auto& agent = cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP"), true, 4,
                                   [](agent::AgentOptions& options) {
                                     options.journal_vfs = FaultySqliteVfs::kName;
                                     options.journal_retry = milliseconds(100);
                                   });
  const auto first = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  ASSERT_TRUE(WaitFor([&] { return handler->running.load() == 1; }, seconds(5)));

  // The disk fills up while the run goes on: its COMPLETED result cannot be journaled.
  FaultySqliteVfs::SetFull(true);
  handler->release = true;
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(first) == "COMPLETED"; }, seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return !agent.agent->healthy(); }, seconds(5)));
  EXPECT_GT(FaultySqliteVfs::failed_writes(), 0);

  // No job is taken meanwhile. A healthy agent takes a queued job within milliseconds of its
  // notify (ANotifyWakesAWaitingAgentWithinMilliseconds: < 500 ms); watching 2 s is four times
  // that, across several long-poll answers.
  const int next_calls = agent.agent->next_calls();
  const auto second = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  EXPECT_FALSE(WaitFor([&] { return cluster.Status(second) != "QUEUED"; }, seconds(2)));
  EXPECT_EQ(agent.agent->next_calls(), next_calls);
  EXPECT_EQ(handler->completed.load(), 1);

  // Writable again: the agent says so and takes the job.
  FaultySqliteVfs::SetFull(false);
  ASSERT_TRUE(WaitFor([&] { return agent.agent->healthy(); }, seconds(5)));
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(second) == "COMPLETED"; }, seconds(10)));
  // It told fleet-cmdr each time: healthy after hello, unhealthy, healthy again.
  EXPECT_GE(agent.agent->status_calls(), 3);
  auto journal = agent::Journal::Open(agent.dir / "state" / "journal.sqlite");
  ASSERT_TRUE(journal.has_value());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto runs = (*journal)->Runs();
        return runs && runs->empty();
      },
      seconds(5)));
}

// ---------------------------------------------------------------- a stop that cannot drain

TEST(AgentIntegrationTest, AnAgentStoppedBeforeItsLastRunEndsMayBeDestroyedWhileTheRunGoesOn) {
  // STOP_INSTANCE is not cancellable: a stop cannot end it, and the agent returns from Run()
  // without it. The run must then reach nothing of the Agent, which the test destroys first
  // (AddressSanitizer sees any use of it), and everything it does use is freed once it ends.
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  auto handlers = One(handler, "STOP_INSTANCE");
  const auto destroyed = std::make_shared<std::atomic<bool>>(false);
  handler->destroyed = destroyed;
  auto& agent =
      cluster.StartAgent("host-1", std::move(handlers), true, 4, [](agent::AgentOptions& options) {
        options.shutdown_drain = milliseconds(200);
        options.flush_timeout = milliseconds(500);
      });
  const auto job = cluster.Enqueue("host-1", "STOP_INSTANCE", "mc-1", "{}");
  ASSERT_TRUE(WaitFor([&] { return handler->running.load() == 1; }, seconds(5)));
  AgentCluster::StopAgent(agent);
  ASSERT_TRUE(agent.result.has_value());
  EXPECT_FALSE(agent.agent->drained());
  agent.agent.reset();  // the Agent goes while its run still goes

  handler->release = true;  // the last use of `handler`: the agent frees it once the run ended
  EXPECT_TRUE(WaitFor([&] { return destroyed->load(); }, seconds(10)));
  // The late result went to the journal, for the next start to deliver.
  auto journal = agent::Journal::Open(agent.dir / "state" / "journal.sqlite");
  ASSERT_TRUE(journal.has_value());
  auto runs = (*journal)->Runs();
  ASSERT_TRUE(runs.has_value());
  ASSERT_EQ(runs->size(), 1U);
  EXPECT_EQ(runs->front().execution.job_id, job);
  EXPECT_TRUE(runs->front().has_final);
}

// ---------------------------------------------------------------- retention

TEST(AgentIntegrationTest, TheAgentPrunesOldRunLogsIdleLocksDeadStagingAndTheCacheOverItsLimit) {
  AgentCluster cluster;
  GateHandler* handler = nullptr;
  std::filesystem::path root;
  std::filesystem::path state;
  const auto write = [](const std::filesystem::path& path, std::size_t bytes, int days_old) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << std::string(bytes, 'x');
    std::filesystem::last_write_time(
        path, std::filesystem::file_time_type::clock::now() - std::chrono::hours(24 * days_old));
  };
  // What months of uptime leave behind, there when the agent starts.
  auto& agent = cluster.StartAgent(
      "host-1", One(handler, "VERIFY_BACKUP"), true, 4, [&](agent::AgentOptions& options) {
        root = options.config.root;
        state = options.config.state_dir;
        options.config.retention.artifact_cache_mib = 1;
        write(state / "logs/job-old/run-old.log", 100, 30);
        write(state / "logs/job-new/run-new.log", 100, 1);
        write(root / "cache/artifacts" / std::string(64, 'a'), 2 << 20, 3);
        write(root / "cache/artifacts" / (std::string(64, 'b') + ".lock"), 0, 3);
        write(root / "instances/i1/.restore-run-dead/world.dat", 100, 3);
      });
  const auto gone = [](const std::filesystem::path& path) {
    return !std::filesystem::exists(path);
  };
  EXPECT_TRUE(WaitFor(
      [&] {
        return gone(state / "logs/job-old") &&
               gone(root / "cache/artifacts" / std::string(64, 'a')) &&
               gone(root / "cache/artifacts" / (std::string(64, 'b') + ".lock")) &&
               gone(root / "instances/i1/.restore-run-dead");
      },
      seconds(10)));
  EXPECT_TRUE(std::filesystem::exists(state / "logs/job-new/run-new.log"));
  // And the agent works as ever.
  handler->release = true;
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(10)));
  (void)agent;
}

// ---------------------------------------------------------------- health reports

// The agent's health as fleet-cmdr keeps it (GET /v1/agents/{id}: its latest status report).
std::optional<protocol::AgentStatusReport> HealthOf(AgentCluster& cluster, const std::string& id) {
  const auto [status, body] = cluster.Admin("GET", "/v1/agents/" + id);
  EXPECT_EQ(status, 200) << body;
  auto agent = protocol::FromJson<protocol::AgentInfo>(body);
  EXPECT_TRUE(agent.has_value()) << body;
  return agent ? agent->health : std::nullopt;
}

TEST(AgentIntegrationTest, TheAgentReportsItsHealthAfterHelloOnEveryChangeAndWhileUnhealthy) {
  FaultySqliteVfs::Register();
  struct Heal {
    ~Heal() { FaultySqliteVfs::SetFull(false); }
  } heal;
  AgentCluster cluster([](server::FleetCmdrOptions& options) { options.heartbeat_seconds = 1; });
  GateHandler* handler = nullptr;
  auto& agent = cluster.StartAgent("host-1", One(handler, "VERIFY_BACKUP"), true, 4,
                                   [](agent::AgentOptions& options) {
                                     options.journal_vfs = FaultySqliteVfs::kName;
                                     options.journal_retry = milliseconds(100);
                                   });
  // Right after hello: healthy.
  ASSERT_TRUE(WaitFor([&] { return HealthOf(cluster, "host-1").has_value(); }, seconds(5)));
  EXPECT_TRUE(HealthOf(cluster, "host-1")->healthy);
  EXPECT_TRUE(HealthOf(cluster, "host-1")->problems.empty());

  // The disk fills up: the next run's start cannot be journaled.
  FaultySqliteVfs::SetFull(true);
  handler->release = true;
  const auto job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kVerifyPayload);
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return !HealthOf(cluster, "host-1")->healthy; }, seconds(5)));
  const auto unhealthy = *HealthOf(cluster, "host-1");
  ASSERT_EQ(unhealthy.problems.size(), 1U);
  EXPECT_EQ(unhealthy.problems[0].code, "journal_unwritable");
  EXPECT_NE(unhealthy.problems[0].message.find("journal"), std::string::npos);
  // Reported again every heartbeatSeconds (1 s here) while it lasts.
  ASSERT_TRUE(
      WaitFor([&] { return HealthOf(cluster, "host-1")->reported_at > unhealthy.reported_at; },
              seconds(5)));
  EXPECT_FALSE(HealthOf(cluster, "host-1")->healthy);

  // Writable again: one healthy report, then quiet. Watching 3 heartbeat intervals (3 s) is
  // enough to see a repeat, which comes every 1 s while a report is due.
  FaultySqliteVfs::SetFull(false);
  ASSERT_TRUE(WaitFor([&] { return HealthOf(cluster, "host-1")->healthy; }, seconds(5)));
  const auto healthy = *HealthOf(cluster, "host-1");
  EXPECT_FALSE(WaitFor(
      [&] { return HealthOf(cluster, "host-1")->reported_at != healthy.reported_at; }, seconds(3)));
  EXPECT_TRUE(agent.agent->healthy());
}

}  // namespace
}  // namespace orb::testing
