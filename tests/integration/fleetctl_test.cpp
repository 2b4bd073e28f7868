// fleetctl (the real binary, ORB_FLEETCTL_BIN) against a real fleet-cmdr on 127.0.0.1:0, with
// FakeAgent driving the jobs: every command, JSON output parsed, --wait exit codes.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/regex.hpp"
#include "common/sha256.hpp"
#include "common/time.hpp"
#include "integration/test_cluster.hpp"
#include "protocol/codec.hpp"
#include "protocol/inventory.hpp"
#include "protocol/rollout_codec.hpp"
#include "protocol/schedules.hpp"
#include "support/build_paths.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

extern char** environ;

namespace orb::testing {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kAllTypes = {"BACKUP_INSTANCE", "STOP_INSTANCE", "START_INSTANCE",
                                            "PRUNE_BACKUPS", "VERIFY_BACKUP"};

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// One fleetctl process with stdout and stderr in files, and an environment of our choosing
// (the test's own, without FLEET_*, plus `env`).
class FleetctlProcess {
 public:
  FleetctlProcess(const std::filesystem::path& dir, std::vector<std::string> args,
                  const std::map<std::string, std::string>& env) {
    static int counter = 0;
    const int n = ++counter;
    out_ = dir / fmt::format("out-{}.txt", n);
    err_ = dir / fmt::format("err-{}.txt", n);
    args.insert(args.begin(), ORB_FLEETCTL_BIN);
    std::vector<char*> argv;
    for (auto& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_text;
    for (char** item = environ; *item != nullptr; ++item) {
      if (std::strncmp(*item, "FLEET_", 6) != 0) env_text.emplace_back(*item);
    }
    for (const auto& [key, value] : env)
      env_text.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (auto& item : env_text)
      envp.push_back(item.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_GT(pid_, 0) << "cannot start " << ORB_FLEETCTL_BIN;
  }
  ~FleetctlProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)Wait(10s);
    }
  }
  FleetctlProcess(const FleetctlProcess&) = delete;
  FleetctlProcess& operator=(const FleetctlProcess&) = delete;

  std::string Out() const { return ReadAll(out_); }
  void Signal(int signal) const {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  // Waits for the exit; code -1 when it did not end within `timeout`.
  Result Wait(std::chrono::milliseconds timeout) {
    Result result;
    if (pid_ > 0) {
      int status = 0;
      const bool exited = WaitFor(
          [&] {
            const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
            return reaped == pid_ || reaped < 0;
          },
          timeout);
      if (exited) {
        pid_ = -1;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    result.code = pid_ > 0 ? -1 : code_;
    result.out = ReadAll(out_);
    result.err = ReadAll(err_);
    return result;
  }

 private:
  pid_t pid_ = -1;
  int code_ = -1;
  std::filesystem::path out_;
  std::filesystem::path err_;
};

class FleetctlTest : public ::testing::Test {
 protected:
  std::map<std::string, std::string> Env(const std::string& token = "") {
    return {{"FLEET_SERVER", fmt::format("http://127.0.0.1:{}", target_->port())},
            {"FLEET_TOKEN", token.empty() ? target_->admin_token() : token}};
  }
  Result Run(std::vector<std::string> args, const std::string& token = "") {
    FleetctlProcess process(dir_.path(), std::move(args), Env(token));
    return process.Wait(60s);
  }
  std::unique_ptr<FleetctlProcess> Start(std::vector<std::string> args) {
    return std::make_unique<FleetctlProcess>(dir_.path(), std::move(args), Env());
  }
  template <class T>
  T Parse(const Result& result) {
    auto value = protocol::FromJson<T>(result.out);
    EXPECT_TRUE(value.has_value())
        << "stdout is not the JSON expected: " << result.out << "\nstderr: " << result.err;
    return value ? *value : T{};
  }
  // Reports progress (seq from `seq` up) until `process` shows `marker`: the process subscribes
  // some time after it starts, and a change before that is only in its snapshot.
  void ProgressUntilSeen(FakeAgent& agent, const std::string& run_id, FleetctlProcess& process,
                         const std::string& marker) {
    int seq = 0;
    EXPECT_TRUE(WaitFor(
        [&] {
          ++seq;
          EXPECT_EQ(agent.Update(run_id, Progress(seq, 50, "half way")).status, 200);
          return process.Out().find(marker) != std::string::npos;
        },
        10s, 100ms))
        << process.Out();
  }
  // Takes the job as FakeAgent `agent` once it is dispatchable.
  protocol::JobExecution Take(FakeAgent& agent) {
    std::optional<protocol::JobExecution> job;
    EXPECT_TRUE(WaitFor([&] { return (job = agent.NextJob()).has_value(); }, 10s));
    return job.value_or(protocol::JobExecution{});
  }
  std::string Progress(int seq, int percent, const std::string& message) {
    return fmt::format(
        R"({{"updates":[{{"seq":{},"status":"RUNNING","percent":{},"message":"{}",)"
        R"("timestamp":"2026-11-22T10:00:00.000Z"}}],"logs":[{{"seq":{},)"
        R"("timestamp":"2026-11-22T10:00:00.000Z","level":"info","message":"log {}"}}]}})",
        seq, percent, message, seq, message);
  }

  TempDir dir_;
  TestCluster cluster_;
  TestCluster* target_ = &cluster_;  // the fleet-cmdr fleetctl talks to
};

TEST_F(FleetctlTest, AgentsListsTheFleetAsATableAndAsJson) {
  cluster_.StartAgent("host-1", kAllTypes, 3);
  const std::string token = cluster_.Enroll("host-2", {{"region", "eu"}});
  ApiClient host2(cluster_.port(), token);
  ASSERT_EQ(host2
                .Post("/v1/agents/host-2/status",
                      R"({"healthy":false,"reportedAt":"2026-12-06T05:00:00Z","problems":)"
                      R"([{"code":"journal_unwritable","message":"disk full"}]})")
                .status,
            204);

  const auto table = Run({"agents"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("AGENT"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("host-1  online"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("region=eu"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("HEALTH"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("unhealthy"), std::string::npos) << table.out;
  const auto sick = Run({"agents", "host-2"});
  ASSERT_EQ(sick.code, 0) << sick.err;
  EXPECT_NE(sick.out.find("journal_unwritable: disk full"), std::string::npos) << sick.out;

  const auto list = Parse<protocol::AgentList>(Run({"agents", "-o", "json"}));
  ASSERT_EQ(list.agents.size(), 2U);
  const auto one = Parse<protocol::AgentInfo>(Run({"--output", "json", "agents", "host-1"}));
  EXPECT_EQ(one.agent_id, "host-1");
  EXPECT_TRUE(one.online);
  EXPECT_EQ(one.max_parallel, 3);

  const auto missing = Run({"agents", "nobody"});
  EXPECT_EQ(missing.code, 3);
  EXPECT_NE(missing.err.find("not_found"), std::string::npos) << missing.err;
}

TEST_F(FleetctlTest, EnrollPrintsATokenTheAgentCanUseAndUnenrollRevokesIt) {
  const auto enrolled = Parse<protocol::EnrollResponse>(
      Run({"enroll", "host-9", "--label", "region=eu", "-o", "json"}));
  ASSERT_EQ(enrolled.agent_id, "host-9");
  ASSERT_FALSE(enrolled.token.empty());
  FakeAgent agent(cluster_.port(), "host-9", enrolled.token);
  EXPECT_EQ(agent.Hello(kAllTypes).status, 200);

  const auto again = Run({"enroll", "host-9"});
  EXPECT_EQ(again.code, 3);
  EXPECT_NE(again.err.find("already_exists"), std::string::npos) << again.err;

  const auto revoked = Run({"unenroll", "host-9"});
  ASSERT_EQ(revoked.code, 0) << revoked.err;
  EXPECT_EQ(agent.Hello(kAllTypes).status, 401);
}

TEST_F(FleetctlTest, EnqueueCreatesAJobThatJobsAndJobShow) {
  cluster_.StartAgent("host-1", kAllTypes);
  const auto created =
      Run({"enqueue", "STOP_INSTANCE", "--agent", "host-1", "--instance", "mc-1", "--payload",
           R"({"timeoutSeconds":5})", "--priority", "7", "-o", "json"});
  ASSERT_EQ(created.code, 0) << created.err;
  const auto job = Parse<protocol::Job>(created);
  EXPECT_EQ(job.type, "STOP_INSTANCE");
  EXPECT_EQ(job.priority, 7);
  EXPECT_EQ(job.payload_json, R"({"timeoutSeconds":5})");

  const auto list = Parse<protocol::JobList>(Run({"jobs", "--agent", "host-1", "-o", "json"}));
  ASSERT_EQ(list.jobs.size(), 1U);
  EXPECT_EQ(list.jobs[0].id, job.id);
  EXPECT_TRUE(
      Parse<protocol::JobList>(Run({"jobs", "--status", "FAILED", "-o", "json"})).jobs.empty());
  const auto table = Run({"jobs"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find(job.id + "  STOP_INSTANCE  host-1  instance mc-1  QUEUED"),
            std::string::npos)
      << table.out;

  const auto detail = Parse<protocol::JobDetail>(Run({"job", job.id, "-o", "json"}));
  EXPECT_EQ(detail.job.id, job.id);
  const auto shown = Run({"job", job.id});
  EXPECT_NE(shown.out.find("Status:"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("(none yet)"), std::string::npos) << shown.out;
  const auto events = Parse<protocol::EventList>(Run({"job", job.id, "--events", "-o", "json"}));
  ASSERT_FALSE(events.events.empty());
  EXPECT_EQ(events.events.front().type, protocol::EventType::kJobCreated);
}

TEST_F(FleetctlTest, EnqueueWithASelectorCreatesOneJobPerMatchingAgent) {
  cluster_.Enroll("eu-1", {{"region", "eu"}});
  cluster_.Enroll("eu-2", {{"region", "eu"}});
  cluster_.Enroll("us-1", {{"region", "us"}});
  const auto batch = Parse<protocol::BatchCreated>(Run(
      {"enqueue", "STOP_INSTANCE", "--selector", "region=eu", "--instance", "mc-1", "-o", "json"}));
  EXPECT_FALSE(batch.batch_id.empty());
  EXPECT_EQ(batch.jobs.size(), 2U);
  // A selector matching nobody (a typo, most often) creates nothing and says so.
  const auto none =
      Run({"enqueue", "STOP_INSTANCE", "--selector", "region=ue", "--instance", "mc-1"});
  EXPECT_EQ(none.code, 0) << none.err;
  EXPECT_NE(none.out.find(": 0 job(s)"), std::string::npos) << none.out;
  EXPECT_NE(none.err.find("the selector matched no enrolled agent"), std::string::npos) << none.err;
}

TEST_F(FleetctlTest, ApiErrorsExitThreeWithTheCodeMessageAndFieldDetails) {
  cluster_.StartAgent("host-1", kAllTypes);
  const auto invalid = Run({"enqueue", "PRUNE_BACKUPS", "--agent", "host-1", "--instance", "mc-1",
                            "--payload", R"({"keepLast":"three"})"});
  EXPECT_EQ(invalid.code, 3);
  EXPECT_NE(invalid.err.find("fleetctl: invalid_payload: "), std::string::npos) << invalid.err;
  EXPECT_NE(invalid.err.find("\n  payload.keepLast: "), std::string::npos) << invalid.err;

  const auto unknown = Run({"enqueue", "FORMAT_DISK", "--agent", "host-1"});
  EXPECT_EQ(unknown.code, 3);
  EXPECT_NE(unknown.err.find("unknown_job_type"), std::string::npos) << unknown.err;

  const auto missing = Run({"job", "no-such-job"});
  EXPECT_EQ(missing.code, 3);
  EXPECT_NE(missing.err.find("not_found"), std::string::npos) << missing.err;

  const auto bad_token = Run({"jobs"}, "wrong-token");
  EXPECT_EQ(bad_token.code, 3);
  EXPECT_NE(bad_token.err.find("unauthenticated"), std::string::npos) << bad_token.err;
}

TEST_F(FleetctlTest, EnqueueWaitExitsZeroWhenTheJobCompletes) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  auto waiter = Start({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--instance", "mc-1",
                       "--wait", "-o", "json"});
  const auto run = Take(agent);
  ASSERT_EQ(agent.Update(run.run_id, Progress(1, 40, "archiving")).status, 200);
  ASSERT_EQ(agent.Complete(run.run_id).status, 200);
  const auto result = waiter->Wait(30s);
  ASSERT_EQ(result.code, 0) << result.err;
  const auto job = Parse<protocol::Job>(result);
  EXPECT_EQ(job.id, run.job_id);
  EXPECT_EQ(job.status, protocol::JobStatus::kCompleted);
}

TEST_F(FleetctlTest, EnqueueWaitExitsOneWhenTheJobFails) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  auto waiter =
      Start({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--instance", "mc-1", "--wait"});
  const auto run = Take(agent);
  ProgressUntilSeen(agent, run.run_id, *waiter, "job.progress");
  ASSERT_EQ(agent.Fail(run.run_id, /*retryable=*/false, 1000).status, 200);
  const auto result = waiter->Wait(30s);
  EXPECT_EQ(result.code, 1) << result.err;
  EXPECT_NE(result.out.find(run.job_id + " FAILED: network_error: boom"), std::string::npos)
      << result.out;
  // Not a terminal: one line per event, no escape sequences.
  EXPECT_NE(result.out.find("job.failed"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find('\x1b'), std::string::npos) << result.out;
}

TEST_F(FleetctlTest, EnqueueWaitFollowsAnAutomaticRetryToTheEnd) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  auto waiter = Start({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--instance", "mc-1",
                       "--max-attempts", "2", "--retry-backoff", "1", "--wait", "-o", "json"});
  const auto first = Take(agent);
  ASSERT_EQ(agent.Fail(first.run_id, /*retryable=*/true).status, 200);
  const auto second = Take(agent);  // after the backoff
  EXPECT_EQ(second.job_id, first.job_id);
  EXPECT_EQ(second.attempt, 2);
  ASSERT_EQ(agent.Complete(second.run_id).status, 200);
  const auto result = waiter->Wait(30s);
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(Parse<protocol::Job>(result).status, protocol::JobStatus::kCompleted);
}

TEST_F(FleetctlTest, EnqueueWaitExitsOneWhenTheJobIsCancelled) {
  cluster_.Enroll("host-1");
  auto waiter = Start({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--instance", "mc-1",
                       "--wait", "-o", "json"});
  std::string job_id;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = protocol::FromJson<protocol::JobList>(cluster_.admin().Get("/v1/jobs").body);
        if (!list || list->jobs.empty()) return false;
        job_id = list->jobs.front().id;
        return true;
      },
      10s));
  const auto cancelled = Run({"cancel", job_id});
  ASSERT_EQ(cancelled.code, 0) << cancelled.err;
  EXPECT_NE(cancelled.out.find("CANCELLED"), std::string::npos) << cancelled.out;
  const auto result = waiter->Wait(30s);
  EXPECT_EQ(result.code, 1) << result.err;
  EXPECT_EQ(Parse<protocol::Job>(result).status, protocol::JobStatus::kCancelled);
}

TEST_F(FleetctlTest, CancelOfARunningJobIsARequestTheAgentCompletes) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  const auto job = cluster_.Enqueue(JobBody("host-1", "BACKUP_INSTANCE", "mc-1"));
  const auto run = Take(agent);
  const auto requested = Parse<protocol::Job>(Run({"cancel", job.id, "-o", "json"}));
  EXPECT_TRUE(requested.cancel_requested);
  EXPECT_EQ(requested.status, protocol::JobStatus::kRunning);
  auto watcher = Start({"watch", job.id});
  ASSERT_EQ(
      agent
          .Update(run.run_id, R"({"updates":[],"logs":[],"final":{"seq":1,"status":"CANCELLED",)"
                              R"("timestamp":"2026-11-22T10:00:00.000Z"}})")
          .status,
      200);
  const auto result = watcher->Wait(30s);
  EXPECT_EQ(result.code, 1) << result.err;
  EXPECT_NE(result.out.find(job.id + " CANCELLED"), std::string::npos) << result.out;

  const auto again = Run({"cancel", job.id});
  EXPECT_EQ(again.code, 3);
  EXPECT_NE(again.err.find("invalid_state"), std::string::npos) << again.err;
}

TEST_F(FleetctlTest, WatchJobPrintsItsEventsAsJsonAndEndsWithTheJob) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  const auto job = cluster_.Enqueue(JobBody("host-1", "BACKUP_INSTANCE", "mc-1"));
  auto watcher = Start({"watch", job.id, "-o", "json"});
  const auto run = Take(agent);
  ProgressUntilSeen(agent, run.run_id, *watcher, "half way");
  ASSERT_EQ(agent.Complete(run.run_id, 1000).status, 200);
  const auto result = watcher->Wait(30s);
  ASSERT_EQ(result.code, 0) << result.err;
  std::vector<protocol::Event> events;
  for (const auto& line : Lines(result.out)) {
    auto event = protocol::FromJson<protocol::Event>(line);
    ASSERT_TRUE(event.has_value()) << line;
    EXPECT_EQ(event->job_id, job.id);
    events.push_back(*event);
  }
  ASSERT_GE(events.size(), 2U);
  EXPECT_EQ(events.back().type, protocol::EventType::kJobCompleted);
  bool saw_progress = false;
  for (const auto& event : events) {
    if (event.type == protocol::EventType::kJobProgress && event.percent == 50) saw_progress = true;
  }
  EXPECT_TRUE(saw_progress) << result.out;
}

// A replica or fleet-cmdr restarting takes seconds; watch waits for it (EventStream::kReconnectFor)
// and goes on from where it was.
TEST_F(FleetctlTest, WatchGoesOnAcrossAnOutageOfFleetCmdr) {
  cluster_.Enroll("host-1");
  const auto before = cluster_.Enqueue(JobBody("host-1", "BACKUP_INSTANCE", "mc-1"));
  auto watcher = Start({"watch", "--since", "0", "-o", "json"});  // replays it first
  ASSERT_TRUE(WaitFor([&] { return watcher->Out().find(before.id) != std::string::npos; }, 10s))
      << watcher->Out();
  cluster_.Stop();
  // Watched for 8 s: watch used to give up after five attempts over about 6 s.
  const auto during = watcher->Wait(8s);
  ASSERT_EQ(during.code, -1) << "watch ended during the outage: " << during.err;
  cluster_.StartAgain();
  const auto after = cluster_.Enqueue(JobBody("host-1", "BACKUP_INSTANCE", "mc-2"));
  EXPECT_TRUE(WaitFor([&] { return watcher->Out().find(after.id) != std::string::npos; }, 10s))
      << watcher->Out();
}

TEST_F(FleetctlTest, WatchOfAFinishedJobEndsAtOnceWithItsOutcome) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  const auto job = cluster_.Enqueue(JobBody("host-1", "BACKUP_INSTANCE", "mc-1"));
  ASSERT_EQ(agent.Complete(Take(agent).run_id).status, 200);
  const auto result = Run({"watch", job.id});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_NE(result.out.find(job.id + " COMPLETED"), std::string::npos) << result.out;
}

TEST_F(FleetctlTest, WatchWithoutAJobReplaysFromSinceAndRunsUntilInterrupted) {
  cluster_.StartAgent("host-1", kAllTypes);
  const auto first = cluster_.Enqueue(JobBody("host-1", "BACKUP_INSTANCE", "mc-1"));
  auto watcher = Start({"watch", "--since", "0", "-o", "json"});
  ASSERT_TRUE(WaitFor([&] { return watcher->Out().find(first.id) != std::string::npos; }, 10s))
      << "the replay did not show the earlier job";
  const auto second = cluster_.Enqueue(JobBody("host-1", "STOP_INSTANCE", "mc-2"));
  ASSERT_TRUE(WaitFor([&] { return watcher->Out().find(second.id) != std::string::npos; }, 10s))
      << "the live event did not arrive";
  watcher->Signal(SIGINT);
  const auto result = watcher->Wait(10s);
  EXPECT_EQ(result.code, 130) << result.err;
  for (const auto& line : Lines(result.out)) {
    EXPECT_TRUE(protocol::FromJson<protocol::Event>(line).has_value()) << line;
  }
}

TEST_F(FleetctlTest, LogsPrintsTheRunsLinesAndFollowEndsWithTheJob) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  const auto job = cluster_.Enqueue(JobBody("host-1", "BACKUP_INSTANCE", "mc-1"));
  const auto run = Take(agent);
  ASSERT_EQ(agent.Update(run.run_id, Progress(1, 10, "first")).status, 200);

  const auto logs = Parse<protocol::JobLogs>(Run({"logs", job.id, "-o", "json"}));
  ASSERT_EQ(logs.lines.size(), 1U);
  EXPECT_EQ(logs.lines[0].message, "log first");
  const auto table = Run({"logs", job.id});
  EXPECT_NE(table.out.find("info   log first"), std::string::npos) << table.out;

  auto follower = Start({"logs", job.id, "--follow", "-o", "json"});
  ASSERT_TRUE(WaitFor([&] { return follower->Out().find("log first") != std::string::npos; }, 10s));
  ASSERT_EQ(agent.Update(run.run_id, Progress(2, 20, "second")).status, 200);
  ASSERT_TRUE(
      WaitFor([&] { return follower->Out().find("log second") != std::string::npos; }, 10s));
  ASSERT_EQ(agent.Complete(run.run_id).status, 200);
  const auto result = follower->Wait(30s);
  EXPECT_EQ(result.code, 0) << result.err;
  const auto lines = Lines(result.out);
  ASSERT_EQ(lines.size(), 2U) << result.out;
  EXPECT_EQ(protocol::FromJson<protocol::JobLogLine>(lines[1])->message, "log second");
}

TEST_F(FleetctlTest, LogsSaysHowManyLinesTheRunLogCapDropped) {
  auto options = TestCluster::DefaultOptions();
  options.run_log_max_lines = 3;
  TestCluster capped(options);
  target_ = &capped;
  auto& agent = capped.StartAgent("host-1", kAllTypes);
  const auto job = capped.Enqueue(JobBody("host-1", "BACKUP_INSTANCE", "mc-1"));
  const auto run = Take(agent);
  std::string logs;
  for (int seq = 1; seq <= 5; ++seq) {
    logs += fmt::format(R"({}{{"seq":{},"timestamp":"2026-11-22T10:00:00.000Z","level":"info",)"
                        R"("message":"line {}"}})",
                        seq == 1 ? "" : ",", seq, seq);
  }
  const auto acked = agent.Update(run.run_id, R"({"updates":[],"logs":[)" + logs + "]}");
  ASSERT_EQ(acked.status, 200) << acked.body;
  // Every line is acknowledged, also those past the cap: the agent must not send them again.
  EXPECT_NE(acked.body.find(R"("ackedLogSeq":5)"), std::string::npos) << acked.body;
  ASSERT_EQ(agent.Complete(run.run_id).status, 200);

  const auto table = Run({"logs", job.id});
  EXPECT_EQ(table.code, 0) << table.err;
  const auto lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 4U) << table.out;
  EXPECT_NE(lines[2].find("line 3"), std::string::npos) << table.out;
  EXPECT_EQ(lines[3], "2 log lines dropped: the run reached fleet-cmdr's cap of 3 lines / 8 MiB");

  const auto json = Parse<protocol::JobLogs>(Run({"logs", job.id, "-o", "json"}));
  EXPECT_EQ(json.lines.size(), 3U);
  EXPECT_EQ(json.logs_dropped, 2);
  EXPECT_EQ(json.log_cap, (protocol::LogCap{3, 8 << 20}));
  const auto detail = Parse<protocol::JobDetail>(Run({"job", job.id, "-o", "json"}));
  ASSERT_EQ(detail.runs.size(), 1U);
  EXPECT_EQ(detail.runs[0].logs_dropped, 2);
}

TEST_F(FleetctlTest, RetryQueuesAFailedJobAgainAndRefusesAQueuedOne) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  const auto job = cluster_.Enqueue(JobBody("host-1", "BACKUP_INSTANCE", "mc-1"));
  ASSERT_EQ(agent.Fail(Take(agent).run_id, /*retryable=*/false).status, 200);
  const auto retried = Parse<protocol::Job>(Run({"retry", job.id, "-o", "json"}));
  EXPECT_EQ(retried.status, protocol::JobStatus::kQueued);
  const auto again = Run({"retry", job.id});
  EXPECT_EQ(again.code, 3);
  EXPECT_NE(again.err.find("invalid_state"), std::string::npos) << again.err;
}

// docs/protocol.md "Job dependencies" end to end: fleetctl creates B depending on A (on another
// agent), B waits as CREATED and `fleetctl job` says for what; once the agent completes A, B is
// queued and runs.
TEST_F(FleetctlTest, EnqueueDependsOnWaitsForTheDependencyAndRunsOnceItCompleted) {
  auto& first = cluster_.StartAgent("host-1", kAllTypes);
  auto& second = cluster_.StartAgent("host-2", kAllTypes);
  const auto a = Parse<protocol::Job>(
      Run({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--instance", "mc-1", "-o", "json"}));
  const auto other = Parse<protocol::Job>(
      Run({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--instance", "mc-2", "-o", "json"}));
  // --depends-on repeated and comma-separated.
  const auto created = Run({"enqueue", "BACKUP_INSTANCE", "--agent", "host-2", "--instance", "mc-3",
                            "--depends-on", a.id + "," + other.id, "-o", "json"});
  ASSERT_EQ(created.code, 0) << created.err;
  const auto b = Parse<protocol::Job>(created);
  EXPECT_EQ(b.status, protocol::JobStatus::kCreated);
  EXPECT_EQ(b.depends_on, (std::vector<std::string>{a.id, other.id}));
  EXPECT_EQ(b.waiting_for, (std::vector<std::string>{a.id, other.id}));
  const auto repeated = Run({"enqueue", "BACKUP_INSTANCE", "--agent", "host-2", "--instance",
                             "mc-4", "--depends-on", a.id, "--depends-on", other.id, "-o", "json"});
  EXPECT_EQ(Parse<protocol::Job>(repeated).depends_on, (std::vector<std::string>{a.id, other.id}));
  // A trailing or doubled comma is a typo, refused before any request.
  for (const std::string& list : {a.id + ",", a.id + ",," + other.id, std::string(",")}) {
    const auto typo = Run({"enqueue", "BACKUP_INSTANCE", "--agent", "host-2", "--instance", "mc-5",
                           "--depends-on", list});
    EXPECT_EQ(typo.code, 2) << list << ": " << typo.err;
    EXPECT_NE(typo.err.find("--depends-on: an empty job id"), std::string::npos) << typo.err;
  }
  // Nothing for host-2 while B waits: its jobs/next is answered from the store at once.
  EXPECT_FALSE(second.NextJob().has_value());

  const auto take_a = Take(first);
  ASSERT_EQ(take_a.job_id, a.id);
  ASSERT_EQ(first.Complete(take_a.run_id).status, 200);
  const auto shown = Run({"job", b.id});
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("Depends on:"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("Waiting for:"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(other.id), std::string::npos) << shown.out;
  EXPECT_FALSE(second.NextJob().has_value());

  const auto take_other = Take(first);
  ASSERT_EQ(take_other.job_id, other.id);
  ASSERT_EQ(first.Complete(take_other.run_id).status, 200);
  const auto take_b = Take(second);
  EXPECT_EQ(take_b.job_id, b.id);
  ASSERT_EQ(second.Complete(take_b.run_id).status, 200);
  const auto done = Parse<protocol::JobDetail>(Run({"job", b.id, "-o", "json"}));
  EXPECT_EQ(done.job.status, protocol::JobStatus::kCompleted);
  EXPECT_EQ(done.job.depends_on, (std::vector<std::string>{a.id, other.id}));
  EXPECT_TRUE(done.job.waiting_for.empty());
}

TEST_F(FleetctlTest, AFailedDependencyCancelsTheDependentWhichCannotBeRetried) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  const auto a =
      Parse<protocol::Job>(Run({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--instance",
                                "mc-1", "--max-attempts", "1", "-o", "json"}));
  // --wait on the dependent ends when it is cancelled, exit 1, naming the reason.
  auto waiter = Start({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--instance", "mc-2",
                       "--depends-on", a.id, "--wait"});
  EXPECT_TRUE(WaitFor(
      [&] {
        const auto list = Parse<protocol::JobList>(Run({"jobs", "-o", "json"}));
        return list.jobs.size() == 2;
      },
      10s));
  ASSERT_EQ(agent.Fail(Take(agent).run_id, /*retryable=*/false).status, 200);
  const auto result = waiter->Wait(30s);
  EXPECT_EQ(result.code, 1) << result.err;
  EXPECT_NE(result.out.find("CANCELLED: dependency_failed: dependency " + a.id + " ended FAILED"),
            std::string::npos)
      << result.out;
  const auto list = Parse<protocol::JobList>(Run({"jobs", "-o", "json"}));
  ASSERT_EQ(list.jobs.size(), 2U);
  const auto& b = list.jobs[0];  // newest first
  EXPECT_EQ(b.status, protocol::JobStatus::kCancelled);
  const auto retry = Run({"retry", b.id});
  EXPECT_EQ(retry.code, 3);
  EXPECT_NE(retry.err.find("invalid_state"), std::string::npos) << retry.err;

  const auto unknown = Run({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--instance", "mc-3",
                            "--depends-on", "no-such-job"});
  EXPECT_EQ(unknown.code, 3);
  EXPECT_NE(unknown.err.find("invalid_request"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("dependsOn[0]"), std::string::npos) << unknown.err;
  EXPECT_EQ(Parse<protocol::JobList>(Run({"jobs", "-o", "json"})).jobs.size(), 2U);
}

TEST_F(FleetctlTest, UploadStoresTheFileAndPrintsItsSha256) {
  const auto file = dir_ / "build.tar";
  std::ofstream(file, std::ios::binary) << std::string(100000, 'x');
  const auto result = Run({"upload", file.string(), "-o", "json"});
  ASSERT_EQ(result.code, 0) << result.err;
  const auto artifact = Parse<protocol::ArtifactInfo>(result);
  EXPECT_EQ(artifact.sha256, Sha256Hex(std::string(100000, 'x')));
  EXPECT_EQ(artifact.size, 100000U);
  EXPECT_EQ(cluster_.admin().Get(artifact.url).status, 200);
  const auto twice = Run({"upload", file.string()});
  EXPECT_EQ(twice.code, 0) << twice.err;
  EXPECT_NE(twice.out.find("already present"), std::string::npos) << twice.out;
}

TEST_F(FleetctlTest, ArtifactsLsListsThemAndRmDeletesOnlyThoseNoUnfinishedJobNames) {
  std::vector<std::string> shas;
  for (const std::string name : {"named.tar.gz", "loose.tar.gz"}) {
    std::ofstream(dir_ / name, std::ios::binary) << "bytes of " << name;
    const auto uploaded =
        Parse<protocol::ArtifactInfo>(Run({"upload", (dir_ / name).string(), "-o", "json"}));
    shas.push_back(uploaded.sha256);
  }
  const std::string& named = shas[0];
  const std::string& loose = shas[1];
  cluster_.Enroll("host-1");  // it never asks for jobs: the job stays queued, unfinished
  const auto job = cluster_.Enqueue(
      R"({"agentId":"host-1","type":"INSTALL_SERVER","serverId":"paper","payload":)"
      R"({"buildId":"b1","artifact":{"url":"/v1/artifacts/)" +
      named + R"(","sha256":")" + named + R"(","size":20,"format":"tar.gz"}}})");
  EXPECT_EQ(job.status, protocol::JobStatus::kQueued);

  const auto listed = Parse<protocol::ArtifactList>(Run({"artifacts", "ls", "-o", "json"}));
  std::map<std::string, int> counts;
  for (const auto& artifact : listed.artifacts)
    counts[artifact.sha256] = artifact.unfinished_jobs;
  EXPECT_EQ(counts, (std::map<std::string, int>{{named, 1}, {loose, 0}}));
  const auto table = Run({"artifacts", "ls"});
  ASSERT_EQ(table.code, 0) << table.err;
  const auto lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 3u) << table.out;
  EXPECT_NE(lines[0].find("UNFINISHED JOBS"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(named), std::string::npos) << table.out;

  const auto refused = Run({"artifacts", "rm", named});
  EXPECT_EQ(refused.code, 3);
  EXPECT_NE(refused.err.find("invalid_state"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find(job.id), std::string::npos) << refused.err;
  const auto removed = Run({"artifacts", "rm", loose, "-o", "json"});
  ASSERT_EQ(removed.code, 0) << removed.err;
  EXPECT_NE(removed.out.find(R"("deleted":true)"), std::string::npos) << removed.out;
  EXPECT_EQ(cluster_.admin().Get("/v1/artifacts/" + loose).status, 404);
  const auto again = Run({"artifacts", "rm", loose});
  EXPECT_EQ(again.code, 3);
  EXPECT_NE(again.err.find("not_found"), std::string::npos) << again.err;
  const auto viewer = cluster_.CreateToken("viewer");
  EXPECT_EQ(Run({"artifacts", "ls"}, viewer).code, 0);
  const auto forbidden = Run({"artifacts", "rm", named}, viewer);
  EXPECT_EQ(forbidden.code, 3);
  EXPECT_NE(forbidden.err.find("forbidden"), std::string::npos) << forbidden.err;

  // Once its job is cancelled, nothing unfinished names it any more.
  ASSERT_EQ(Run({"cancel", job.id}).code, 0);
  EXPECT_EQ(Run({"artifacts", "rm", named}).code, 0);
  EXPECT_TRUE(
      Parse<protocol::ArtifactList>(Run({"artifacts", "ls", "-o", "json"})).artifacts.empty());
}

TEST_F(FleetctlTest, TokensCreateGivesAWorkingTokenOfItsRoleAndRevokeEndsIt) {
  const auto created = Parse<protocol::TokenCreated>(
      Run({"tokens", "create", "--role", "viewer", "--name", "dashboard", "-o", "json"}));
  ASSERT_FALSE(created.token.empty());
  EXPECT_EQ(Run({"jobs"}, created.token).code, 0);
  const auto forbidden = Run({"enqueue", "STOP_INSTANCE", "--agent", "host-1"}, created.token);
  EXPECT_EQ(forbidden.code, 3);
  EXPECT_NE(forbidden.err.find("forbidden"), std::string::npos) << forbidden.err;
  ASSERT_EQ(Run({"tokens", "revoke", created.id}).code, 0);
  EXPECT_EQ(Run({"jobs"}, created.token).code, 3);
}

TEST_F(FleetctlTest, ServerAndTokenFileFlagsWorkBeforeAndAfterTheCommand) {
  const std::string url = fmt::format("http://127.0.0.1:{}", cluster_.port());
  const std::string token_file = (cluster_.data_dir() / "admin.token").string();
  FleetctlProcess before(dir_.path(), {"--server", url, "--token-file", token_file, "jobs"}, {});
  EXPECT_EQ(before.Wait(30s).code, 0);
  FleetctlProcess after(dir_.path(), {"jobs", "--server", url, "--token-file", token_file}, {});
  EXPECT_EQ(after.Wait(30s).code, 0);
}

TEST_F(FleetctlTest, BadFlagsExitTwoWithAClearMessage) {
  const auto flag = Run({"jobs", "--colour"});
  EXPECT_EQ(flag.code, 2);
  EXPECT_NE(flag.err.find("--colour"), std::string::npos) << flag.err;
  const auto payload = Run({"enqueue", "BACKUP_INSTANCE", "--agent", "host-1", "--payload", "{"});
  EXPECT_EQ(payload.code, 2);
  EXPECT_NE(payload.err.find("--payload"), std::string::npos) << payload.err;
  // A usage error reads as one, not as an API error code.
  EXPECT_EQ(payload.err.rfind("fleetctl: usage: ", 0), 0u) << payload.err;
  FleetctlProcess no_token(dir_.path(), {"agents"}, {});
  const auto result = no_token.Wait(30s);
  EXPECT_EQ(result.code, 2);
  EXPECT_NE(result.err.find("FLEET_TOKEN"), std::string::npos) << result.err;
}

TEST_F(FleetctlTest, RolloutCreateWaitPrintsItsProgressAndExitsZeroWhenCompleted) {
  auto& first = cluster_.StartAgent("host-1", kAllTypes);
  auto& second = cluster_.StartAgent("host-2", kAllTypes);
  auto waiter =
      Start({"rollout", "create", "BACKUP_INSTANCE", "--name", "nightly", "--instance", "main",
             "--agent", "host-1", "--agent", "host-2", "--max-in-flight", "1", "--wait"});
  const auto one = Take(first);
  ASSERT_EQ(first.Complete(one.run_id).status, 200);
  // The line of the half-way counts, before host-2's job ends: in the create's answer when
  // fleet-cmdr answered after host-1's job ended, else from the stream.
  ASSERT_TRUE(WaitFor(
      [&] { return waiter->Out().find("RUNNING 1/2 final: 1 completed") != std::string::npos; },
      10s))
      << waiter->Out();
  // host-2 gets its job only once host-1's ended (maxInFlight 1).
  const auto two = Take(second);
  ASSERT_EQ(second.Complete(two.run_id).status, 200);
  const auto result = waiter->Wait(30s);
  ASSERT_EQ(result.code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("created, following it"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("RUNNING 1/2 final: 1 completed"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("COMPLETED 2/2 final: 2 completed"), std::string::npos) << result.out;
  // The lines follow the rollout in order: hosts only leave `pending` and only become final (the
  // create's answer, printed first, used to be followed by the older counts of its creation).
  std::istringstream lines(result.out);
  int final_before = 0;
  int pending_before = 2;
  int count_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    int final_now = 0;
    int total = 0;
    int pending_now = 0;
    const auto at = line.find(" pending");
    if (std::sscanf(line.c_str(), "%*s %d/%d final", &final_now, &total) != 2 ||
        at == std::string::npos) {
      continue;
    }
    pending_now = std::stoi(line.substr(line.rfind(' ', at - 1) + 1));
    ++count_lines;
    EXPECT_GE(final_now, final_before) << result.out;
    EXPECT_LE(pending_now, pending_before) << result.out;
    final_before = final_now;
    pending_before = pending_now;
  }
  EXPECT_GE(count_lines, 3) << result.out;
}

TEST_F(FleetctlTest, RolloutCreateWaitExitsOneWhenTheAbortThresholdStopsIt) {
  auto& agent = cluster_.StartAgent("host-1", kAllTypes);
  cluster_.StartAgent("host-2", kAllTypes);
  auto waiter = Start({"rollout", "create", "BACKUP_INSTANCE", "--name", "risky", "--instance",
                       "main", "--agent", "host-1", "--agent", "host-2", "--max-attempts", "1",
                       "--abort-failed-percent", "50", "--wait", "-o", "json"});
  const auto run = Take(agent);
  ASSERT_EQ(agent.Fail(run.run_id, /*retryable=*/false).status, 200);
  const auto result = waiter->Wait(30s);
  EXPECT_EQ(result.code, 1) << result.out << result.err;
  auto rollout = protocol::ParseRollout(result.out);
  ASSERT_TRUE(rollout.has_value()) << result.out;
  EXPECT_EQ(rollout->status, "ABORTED");
  EXPECT_NE(rollout->abort_reason.value_or("").find("the abort rule: 1 of 1"), std::string::npos);
  EXPECT_EQ(rollout->counts.failed, 1);
  EXPECT_EQ(rollout->counts.pending, 1);
}

TEST_F(FleetctlTest, RolloutLsShowPauseResumeAndAbort) {
  cluster_.StartAgent("host-1", kAllTypes);
  cluster_.StartAgent("host-2", kAllTypes);
  const auto created =
      Run({"rollout", "create", "BACKUP_INSTANCE", "--name", "weekly", "--instance", "main",
           "--agent", "host-1", "--agent", "host-2", "-o", "json"});
  ASSERT_EQ(created.code, 0) << created.err;
  auto rollout = protocol::ParseRollout(created.out);
  ASSERT_TRUE(rollout.has_value()) << created.out;
  EXPECT_EQ(rollout->counts.queued, 1);

  const auto list = Run({"rollout", "ls"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find(rollout->id), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("weekly"), std::string::npos) << list.out;
  // A page at a time, with the way to the next one; the status in any case.
  const auto other = Run({"rollout", "create", "BACKUP_INSTANCE", "--name", "daily", "--instance",
                          "main", "--agent", "host-2", "-o", "json"});
  ASSERT_EQ(other.code, 0) << other.err;
  const auto page = Run({"rollout", "ls", "--status", "running", "--limit", "1"});
  ASSERT_EQ(page.code, 0) << page.err;
  EXPECT_NE(page.out.find("daily"), std::string::npos) << page.out;
  EXPECT_EQ(page.out.find("weekly"), std::string::npos) << page.out;
  const std::string more = "more rollouts: the same command with --cursor ";
  const auto hint = page.err.find(more);
  ASSERT_NE(hint, std::string::npos) << page.err;
  const auto cursor =
      page.err.substr(hint + more.size(), page.err.find('\n', hint) - hint - more.size());
  const auto next =
      Run({"rollout", "ls", "--status", "running", "--limit", "1", "--cursor", cursor});
  ASSERT_EQ(next.code, 0) << next.err;
  EXPECT_NE(next.out.find("weekly"), std::string::npos) << next.out;
  // The jobs of one rollout.
  const auto jobs = Run({"jobs", "--rollout", rollout->id, "-o", "json"});
  ASSERT_EQ(jobs.code, 0) << jobs.err;
  auto job_list = protocol::FromJson<protocol::JobList>(jobs.out);
  ASSERT_TRUE(job_list.has_value()) << jobs.out;
  ASSERT_EQ(job_list->jobs.size(), 1u) << jobs.out;
  EXPECT_EQ(job_list->jobs[0].rollout_id.value_or(""), rollout->id);
  const auto show = Run({"rollout", "show", rollout->id});
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("host-1"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("queued"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("pending"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("policy: max in flight 1\n"), std::string::npos) << show.out;

  const auto paused = Run({"rollout", "pause", rollout->id});
  ASSERT_EQ(paused.code, 0) << paused.err;
  EXPECT_NE(paused.out.find("PAUSED"), std::string::npos) << paused.out;
  const auto again = Run({"rollout", "pause", rollout->id});
  EXPECT_EQ(again.code, 3) << again.out;
  EXPECT_NE(again.err.find("invalid_state"), std::string::npos) << again.err;
  EXPECT_EQ(Run({"rollout", "resume", rollout->id}).code, 0);
  const auto aborted = Run({"rollout", "abort", rollout->id, "--cancel-running"});
  ASSERT_EQ(aborted.code, 0) << aborted.err;
  EXPECT_NE(aborted.out.find("ABORTED"), std::string::npos) << aborted.out;
  EXPECT_NE(aborted.out.find("1 cancelled"), std::string::npos) << aborted.out;
  EXPECT_NE(aborted.out.find("aborted: an operator aborted it\n"), std::string::npos)
      << aborted.out;
  const auto bad = Run({"rollout", "create", "BACKUP_INSTANCE", "--name", "x", "--instance", "m",
                        "--agent", "host-1", "--max-in-flight", "many"});
  EXPECT_EQ(bad.code, 2) << bad.err;
  const auto missing = Run({"rollout", "show", "no-such-rollout"});
  EXPECT_EQ(missing.code, 3) << missing.err;
}

// The job template's scheduling fields and a phase that waits for its start time, from flags.
TEST_F(FleetctlTest, RolloutCreateTakesTheJobsFieldsAndAPhasesStartTime) {
  cluster_.StartAgent("host-1", kAllTypes);
  cluster_.StartAgent("host-2", kAllTypes);
  const auto created = Run({"rollout",
                            "create",
                            "BACKUP_INSTANCE",
                            "--name",
                            "staged",
                            "--instance",
                            "main",
                            "--agent",
                            "host-1",
                            "--agent",
                            "host-2",
                            "--priority",
                            "7",
                            "--exclusive",
                            "--retry-backoff",
                            "30",
                            "--max-in-flight",
                            "2",
                            "--phases",
                            "50,100@2199-01-01T00:00:00Z",
                            "--max-per-minute",
                            "30",
                            "-o",
                            "json"});
  ASSERT_EQ(created.code, 0) << created.err;
  auto rollout = protocol::ParseRollout(created.out);
  ASSERT_TRUE(rollout.has_value()) << created.out;
  EXPECT_EQ(rollout->job.priority, 7);
  EXPECT_EQ(rollout->job.exclusive, true);
  EXPECT_EQ(rollout->job.retry_backoff_seconds, 30);
  ASSERT_EQ(rollout->policy.phases.size(), 2u);
  EXPECT_EQ(rollout->policy.phases[0].percent, 50);
  EXPECT_FALSE(rollout->policy.phases[0].start_at.has_value());
  EXPECT_EQ(rollout->policy.phases[1].start_at, ParseTimestamp("2199-01-01T00:00:00Z"));
  EXPECT_EQ(rollout->policy.max_per_minute, 30);
  const auto shown = Run({"rollout", "show", rollout->id});
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("policy: max in flight 2, 30 a minute, phases 50% 100% from "
                           "2199-01-01T00:00:00.000Z\n"),
            std::string::npos)
      << shown.out;
  // The first phase's host only: the second phase waits for its time, whatever maxInFlight says.
  EXPECT_EQ(rollout->counts.total, 2);
  EXPECT_EQ(rollout->counts.pending, 1);
  const auto jobs = Run({"jobs", "-o", "json"});
  ASSERT_EQ(jobs.code, 0) << jobs.err;
  EXPECT_NE(jobs.out.find(R"("priority":7)"), std::string::npos) << jobs.out;
  EXPECT_NE(jobs.out.find(R"("exclusive":true)"), std::string::npos) << jobs.out;

  const auto bad_time = Run({"rollout", "create", "BACKUP_INSTANCE", "--name", "x", "--instance",
                             "m", "--agent", "host-1", "--phases", "50,100@tomorrow"});
  EXPECT_EQ(bad_time.code, 2) << bad_time.err;
  EXPECT_NE(bad_time.err.find("not an RFC 3339 time"), std::string::npos) << bad_time.err;
  const auto bad_percent = Run({"rollout", "create", "BACKUP_INSTANCE", "--name", "x", "--instance",
                                "m", "--agent", "host-1", "--phases", "half,100"});
  EXPECT_EQ(bad_percent.code, 2) << bad_percent.err;
}

TEST(FleetctlServerDownTest, EveryKindOfCommandExitsFourWhenFleetCmdrIsDown) {
  TempDir dir;
  std::string url;
  {
    TestCluster cluster;
    url = fmt::format("http://127.0.0.1:{}", cluster.port());
  }
  const std::map<std::string, std::string> env = {{"FLEET_SERVER", url}, {"FLEET_TOKEN", "t"}};
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"agents"}, {"jobs"}, {"watch"}, {"enqueue", "STOP_INSTANCE", "--agent", "a"}}) {
    FleetctlProcess process(dir.path(), args, env);
    const auto result = process.Wait(30s);
    EXPECT_EQ(result.code, 4) << args.front() << ": " << result.err;
    EXPECT_NE(result.err.find(url), std::string::npos) << result.err;
  }
}

TEST_F(FleetctlTest, ScheduleCreateLsShowUpdateFireAndRm) {
  cluster_.Enroll("host-1");
  const std::vector<std::string> steps = {
      "--step", R"({"type":"BACKUP_INSTANCE","instanceId":"main"})", "--step",
      R"({"type":"RESTART_INSTANCE","instanceId":"main"})"};
  std::vector<std::string> bad = {"schedule",   "create",  "nightly", "--cron",
                                  "0 25 * * *", "--agent", "host-1"};
  bad.insert(bad.end(), steps.begin(), steps.end());
  const auto refused = Run(bad);
  EXPECT_EQ(refused.code, 3);
  EXPECT_NE(refused.err.find("cron"), std::string::npos) << refused.err;
  const auto typo = Run({"schedule", "create", "nightly", "--cron", "0 4 * * *", "--agent",
                         "host-1", "--step", R"({"type":"BACKUP_INSTANCE","colour":"red"})"});
  EXPECT_EQ(typo.code, 2) << typo.err;  // refused before any request
  EXPECT_NE(typo.err.find("colour"), std::string::npos) << typo.err;
  const auto no_cron = Run({"schedule", "create", "nightly", "--agent", "host-1"});
  EXPECT_EQ(no_cron.code, 2) << no_cron.err;  // a usage error, before any request
  EXPECT_NE(no_cron.err.find("--cron is required"), std::string::npos) << no_cron.err;

  std::vector<std::string> create = {"schedule",  "create", "nightly",       "--cron",
                                     "0 4 * * *", "--tz",   "Europe/Berlin", "--agent",
                                     "host-1",    "-o",     "json"};
  create.insert(create.end(), steps.begin(), steps.end());
  const auto created = Run(create);
  ASSERT_EQ(created.code, 0) << created.err;
  auto schedule = protocol::ParseSchedule(created.out);
  ASSERT_TRUE(schedule) << created.out;
  EXPECT_EQ(schedule->steps.size(), 2u);

  const auto listed = Run({"schedule", "ls"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.out.find("nightly"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("NEXT FIRE"), std::string::npos) << listed.out;

  // The next fires in the schedule's own zone: 04:00 Berlin time (CET in winter, CEST in summer).
  const auto shown = Run({"schedule", "show", schedule->id});
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("Next fires (Europe/Berlin)"), std::string::npos) << shown.out;
  const bool local = shown.out.find("04:00:00 CET") != std::string::npos ||
                     shown.out.find("04:00:00 CEST") != std::string::npos;
  EXPECT_TRUE(local) << shown.out;

  const auto disabled = Run({"schedule", "update", schedule->id, "--disable", "-o", "json"});
  ASSERT_EQ(disabled.code, 0) << disabled.err;
  auto after = protocol::ParseSchedule(disabled.out);
  ASSERT_TRUE(after) << disabled.out;
  EXPECT_FALSE(after->enabled);
  EXPECT_EQ(Run({"schedule", "update", schedule->id}).code, 2);  // nothing to change

  const auto fired = Run({"schedule", "fire", schedule->id});
  ASSERT_EQ(fired.code, 0) << fired.err;
  EXPECT_NE(fired.out.find("2 jobs"), std::string::npos) << fired.out;
  EXPECT_NE(fired.out.find("RESTART_INSTANCE"), std::string::npos) << fired.out;
  // host-1 has no agent running: its chain is not final, and overlap skip gives it no other.
  const auto skipped = Run({"schedule", "fire", schedule->id});
  ASSERT_EQ(skipped.code, 0) << skipped.err;
  EXPECT_NE(skipped.out.find(": 0 jobs"), std::string::npos) << skipped.out;
  EXPECT_NE(skipped.err.find("no job was created"), std::string::npos) << skipped.err;
  const auto viewer = cluster_.CreateToken("viewer");
  const auto forbidden = Run({"schedule", "fire", schedule->id}, viewer);
  EXPECT_EQ(forbidden.code, 3);
  EXPECT_NE(forbidden.err.find("forbidden"), std::string::npos) << forbidden.err;

  const auto removed = Run({"schedule", "rm", schedule->id});
  ASSERT_EQ(removed.code, 0) << removed.err;
  const auto gone = Run({"schedule", "show", schedule->id});
  EXPECT_EQ(gone.code, 3);
  EXPECT_NE(gone.err.find("not_found"), std::string::npos) << gone.err;
}

// Host inventory (docs/protocol.md "Host inventory"): what an agent reported, as tables and JSON.
TEST_F(FleetctlTest, HostShowAndHostsShowTheInventories) {
  cluster_.StartAgent("host-1", kAllTypes);
  const std::string token = cluster_.Enroll("host-2");
  ApiClient host2(cluster_.port(), token);
  ASSERT_EQ(
      host2
          .Post("/v1/agents/host-2/inventory",
                R"({"servers":[{"serverId":"valheim","currentBuild":"b2","builds":[)"
                R"({"buildId":"b1","installedAt":"2026-12-01T10:00:00Z","sizeBytes":1048576},)"
                R"({"buildId":"b2","installedAt":"2026-12-02T10:00:00Z","sizeBytes":2097152}]}],)"
                R"("instances":[{"instanceId":"main","serverId":"valheim","buildId":"b2",)"
                R"("state":"running","pid":4242,"startedAt":"2026-12-03T10:00:00Z",)"
                R"("supervisor":"process"},{"instanceId":"test","serverId":"valheim",)"
                R"("buildId":"b1","state":"crashed","pid":77,"supervisor":"systemd"}],)"
                R"("backups":[{"instanceId":"main","backupId":"nightly-1",)"
                R"("createdAt":"2026-12-04T04:00:00Z","sizeBytes":5242880,)"
                R"("verifiedAt":"2026-12-04T05:00:00Z"}],)"
                R"("disk":{"rootFreeBytes":42949672960,"rootTotalBytes":107374182400},)"
                R"("reportedAt":"2026-12-06T14:00:00Z"})")
          .status,
      204);

  const auto shown = Run({"host", "show", "host-2"});
  ASSERT_EQ(shown.code, 0) << shown.err;
  for (const char* text :
       {"SERVER", "valheim", "b2", "2.0 MiB", "INSTANCE", "main", "running", "4242", "crashed",
        "systemd", "BACKUP", "nightly-1", "5.0 MiB", "40.0 GiB free of 100.0 GiB (40 % free)"}) {
    EXPECT_NE(shown.out.find(text), std::string::npos) << text << "\n" << shown.out;
  }
  const auto json = Run({"host", "show", "host-2", "-o", "json"});
  ASSERT_EQ(json.code, 0) << json.err;
  auto inventory = protocol::ParseHostInventory(json.out);
  ASSERT_TRUE(inventory.has_value()) << json.out;
  EXPECT_EQ(inventory->instances.size(), 2U);
  EXPECT_EQ(inventory->backups.at(0).backup_id, "nightly-1");

  // host-1 has reported nothing: 404 naming it.
  const auto none = Run({"host", "show", "host-1"});
  EXPECT_EQ(none.code, 3);
  EXPECT_NE(none.err.find("host-1"), std::string::npos) << none.err;

  const auto hosts = Run({"hosts"});
  ASSERT_EQ(hosts.code, 0) << hosts.err;
  EXPECT_NE(hosts.out.find("HOST"), std::string::npos) << hosts.out;
  EXPECT_NE(hosts.out.find("CRASHED"), std::string::npos) << hosts.out;
  // host-2's report counts as a sign of life, so it may show online.
  EXPECT_TRUE(std::regex_search(hosts.out, std::regex(R"(\nhost-2 +(yes|no) +1 +0 +1 +-\n)")))
      << hosts.out;
  EXPECT_TRUE(std::regex_search(hosts.out, std::regex(R"(\nhost-1 +yes +- +- +- +-\n)")))
      << hosts.out;
  const auto list = Parse<protocol::AgentList>(Run({"hosts", "-o", "json"}));
  ASSERT_EQ(list.agents.size(), 2U);
  ASSERT_TRUE(list.agents[1].inventory.has_value());
  EXPECT_EQ(list.agents[1].inventory->running, 1);
}

}  // namespace
}  // namespace orb::testing
