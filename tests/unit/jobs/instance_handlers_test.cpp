// START_INSTANCE, STOP_INSTANCE, RESTART_INSTANCE (jobs/instances) against real /bin/sh servers
// in a TempDir root laid out as a committed build (job-types.md §1).

#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "jobs/instances/handlers.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"
#include "os/process.hpp"
#include "protocol/instance_json.hpp"
#include "protocol/job_types.hpp"
#include "support/fault_fs.hpp"
#include "support/killing_fs.hpp"
#include "support/matchers.hpp"
#include "support/systemd_user.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::FailsWith;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using testing::WaitFor;

// Prints a ready line, records its environment in its data dir, exits 0 on "stop".
constexpr const char* kServer = R"sh(#!/bin/sh
echo "job=$ORB_JOB_ID run=$ORB_RUN_ID memory=$MEMORY" > env.txt
echo "booting"
echo "Done (0.1s)! For help, type help"
while read -r line; do
  echo "got $line"
  if [ "$line" = "stop" ]; then echo "saving"; exit 0; fi
  if [ "$line" = "crash" ]; then exit 3; fi
done
exit 4
)sh";

// Ignores the stop command and SIGTERM, with a child in its group that ignores SIGTERM too.
constexpr const char* kStubborn = R"sh(#!/bin/sh
trap '' TERM INT HUP
sleep 1000 &
echo $! > child.pid
echo "Done (stubborn)"
while :; do read -r line; done
)sh";

// Prints 60 numbered lines and a fatal one, then exits before it is ready.
constexpr const char* kCrashing = R"sh(#!/bin/sh
i=1
while [ $i -le 60 ]; do echo "line $i"; i=$((i+1)); done
echo "fatal: bad config"
exit 3
)sh";

constexpr const char* kOutside = R"sh(#!/bin/sh
echo "outside the build"
exit 0
)sh";

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteScript(const fs::path& path, const char* text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
  fs::permissions(path, fs::perms::owner_all);
}

class RecordingSink final : public RunSink {
 public:
  void Progress(std::optional<int> percent, std::string message, std::string step) override {
    std::function<void(const std::string&)> hook;
    {
      const std::lock_guard lock(mutex_);
      progress_.push_back(std::to_string(percent.value_or(-1)) + " " + step + ": " + message);
      hook = on_step_;
    }
    if (hook) hook(step);
  }
  // Called (on the run's thread) with the step of every progress update.
  void OnStep(std::function<void(const std::string&)> hook) {
    const std::lock_guard lock(mutex_);
    on_step_ = std::move(hook);
  }
  void LogLine(std::string_view /*level*/, std::string message) override {
    const std::lock_guard lock(mutex_);
    lines_.push_back(std::move(message));
  }
  std::vector<std::string> progress() const {
    const std::lock_guard lock(mutex_);
    return progress_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> progress_;
  std::vector<std::string> lines_;
  std::function<void(const std::string&)> on_step_;
};

std::string Config(const std::string& script, const std::string& extra) {
  return R"({"config": {"serverId": "s1", "command": ["bin/)" + script +
         R"(", "--nogui"], "env": {"MEMORY": "2G"}, "stopCommand": "stop", )"
         R"("stopTimeoutSeconds": 5, "readyTimeoutSeconds": 10)" +
         extra + "}}";
}

constexpr const char* kPattern = R"(, "readyPattern": "Done \\(")";

// A root with server s1 whose current build b1 is committed and holds bin/*.sh.
// Every test runs twice: instances as process sessions, and as transient units of a systemd user
// manager of the test's own (skipped, with the reason, where one cannot be started).
class InstanceHandlersTest : public ::testing::TestWithParam<InstanceSupervisor> {
 protected:
  InstanceHandlersTest() {
    const fs::path build = root() / "servers/s1/builds/b1";
    WriteScript(build / "bin/start.sh", kServer);
    WriteScript(build / "bin/stubborn.sh", kStubborn);
    WriteScript(build / "bin/crash.sh", kCrashing);
    std::ofstream(build / ".build.json") << R"({"buildId": "b1"})";
    fs::create_symlink("builds/b1", root() / "servers/s1/current");
  }

  void SetUp() override {
    if (AsUnits()) {
      manager_.emplace();
      if (const std::string why = manager_->Start(manager_dir_.path()); !why.empty()) {
        GTEST_SKIP() << why;
      }
    }
    MakeAgent();
  }

  static bool AsUnits() { return GetParam() == InstanceSupervisor::kSystemd; }

  ~InstanceHandlersTest() override {
    // Whatever a failed test left running: kill its whole group and reap it.
    for (const pid_t pid : pids_) {
      if (pid <= 1) continue;  // kill(-0) would be our own process group
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  // A new "agent": new handler objects over the same root.
  void MakeAgent(os::Fs* fs = nullptr) {
    HandlerDeps deps;
    deps.fs = fs;
    deps.instance_settle_time = milliseconds(200);
    deps.instance_term_timeout = milliseconds(500);
    deps.instance_kill_timeout = milliseconds(3000);
    deps.instance_supervisor = GetParam();
    if (manager_) deps.systemd_address = manager_->Options().address;
    handlers_ = MakeHandlers(deps);
  }

  fs::path root() const { return dir_.path(); }
  fs::path instance() const { return root() / "instances" / id_; }

  Expected<std::string> Run(std::string type, std::string payload, CancelToken* cancel = nullptr,
                            const std::string& job_id = {}) {
    protocol::JobExecution execution;
    ++jobs_;
    execution.job_id = job_id.empty() ? "job-" + std::to_string(jobs_) : job_id;
    execution.run_id = "run-" + std::to_string(jobs_);
    execution.type = std::move(type);
    execution.instance_id = id_;
    execution.payload_json = std::move(payload);
    CancelToken own_token;
    CancelToken& token = cancel != nullptr ? *cancel : own_token;
    HandlerContext context(execution, root(), root() / ".staging" / execution.run_id, token,
                           JobLog(GetLogger("test"), execution.job_id, execution.run_id), sink_,
                           RealClock());
    for (auto& handler : handlers_) {
      if (handler->type() == execution.type) {
        auto result = handler->Run(context);
        RememberPid();
        return result;
      }
    }
    return Fail(Errc::kUnknownJobType, execution.type);
  }

  // START_INSTANCE in a fork()ed child whose filesystem kills it at call `kill_at` (an agent
  // killed there): the child's exit code (9: killed there, 0: finished first, 1: failed).
  int StartInChild(const std::string& payload, const std::string& job_id, int kill_at) {
    ++jobs_;
    const std::string run_id = "run-" + std::to_string(jobs_);
    const pid_t child = ::fork();
    if (child == 0) {
      os::RealFs real;
      testing::KillingFs killing(real, kill_at);
      MakeAgent(&killing);
      protocol::JobExecution execution;
      execution.job_id = job_id;
      execution.run_id = run_id;
      execution.type = "START_INSTANCE";
      execution.instance_id = id_;
      execution.payload_json = payload;
      CancelToken token;
      HandlerContext context(execution, root(), root() / ".staging" / run_id, token,
                             JobLog(GetLogger("test"), job_id, run_id), sink_, RealClock());
      for (auto& handler : handlers_) {
        if (handler->type() == execution.type) ::_exit(handler->Run(context) ? 0 : 1);
      }
      ::_exit(2);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // The live instance processes of job `job_id` (by their ORB_JOB_ID), wherever they came from.
  static std::vector<pid_t> InstancesOfJob(const std::string& job_id) {
    std::vector<pid_t> out;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const auto pid = static_cast<pid_t>(std::stol(name));
      const std::string environ_text = ReadText(entry.path() / "environ");
      const std::string wanted = "ORB_JOB_ID=" + job_id;
      std::size_t at = 0;
      for (std::size_t end; (end = environ_text.find('\0', at)) != std::string::npos;
           at = end + 1) {
        if (environ_text.compare(at, end - at, wanted) == 0) {
          if (auto stat = os::ReadProcStat(pid); stat && stat->session == pid && Alive(pid)) {
            out.push_back(pid);
          }
          break;
        }
      }
    }
    return out;
  }

  Expected<protocol::InstanceRuntime> Runtime() const {
    return protocol::ParseInstanceRuntime(ReadText(instance() / "runtime.json"));
  }

  void RememberPid() {
    if (auto runtime = Runtime(); runtime && runtime->pid) {
      pids_.push_back(static_cast<pid_t>(*runtime->pid));
    }
    if (auto runtime = Runtime(); runtime && runtime->last_exit && runtime->last_exit->pid) {
      pids_.push_back(static_cast<pid_t>(*runtime->last_exit->pid));
    }
  }

  // The pid runtime.json names, or 0.
  pid_t RunningPid() const {
    auto runtime = Runtime();
    return runtime && runtime->pid ? static_cast<pid_t>(*runtime->pid) : 0;
  }

  static bool Alive(pid_t pid) {
    auto stat = os::ReadProcStat(pid);
    return stat && stat->state != 'Z';
  }

  // Test processes that run at once (ctest -j) each have a systemd manager, all in the same
  // cgroup: one unit name each, or stopping one test's unit kills the other's instance.
  const std::string id_ = "i" + std::to_string(::getpid());
  testing::TempDir manager_dir_;
  std::optional<testing::SystemdUser> manager_;  // stopped before manager_dir_ goes
  testing::TempDir dir_;
  RecordingSink sink_;
  std::vector<std::unique_ptr<JobHandler>> handlers_;
  std::vector<pid_t> pids_;
  int jobs_ = 0;
};

TEST_P(InstanceHandlersTest, StartWaitsForTheReadyLineAndRecordsRuntime) {
  auto result = Run("START_INSTANCE", Config("start.sh", kPattern));
  ASSERT_THAT(result, IsOk());
  const pid_t pid = RunningPid();
  ASSERT_GT(pid, 0);
  EXPECT_THAT(*result, HasSubstr(R"("instanceId":")" + id_ + '"'));
  EXPECT_THAT(*result, HasSubstr(R"("pid":)" + std::to_string(pid)));
  EXPECT_THAT(*result, HasSubstr(R"("buildId":"b1")"));
  EXPECT_THAT(*result, Not(HasSubstr("alreadyRunning")));

  auto runtime = Runtime();
  ASSERT_THAT(runtime, IsOk());
  EXPECT_EQ(runtime->state, protocol::InstanceState::kRunning);
  EXPECT_EQ(runtime->build_id, "b1");
  EXPECT_TRUE(runtime->started_at.has_value());
  auto stat = os::ReadProcStat(pid);
  ASSERT_THAT(stat, IsOk());
  EXPECT_EQ(runtime->start_time, stat->start_time);
  EXPECT_EQ(stat->pgrp, pid);  // its own process group
  if (AsUnits()) {
    EXPECT_EQ(runtime->unit, "orb-instance-" + id_ + ".service");
    EXPECT_NE(stat->ppid, ::getpid());  // systemd's child, not ours
  } else {
    EXPECT_FALSE(runtime->unit.has_value());
  }

  EXPECT_EQ(ReadText(instance() / "data/env.txt"), "job=job-1 run=run-1 memory=2G\n");
  EXPECT_THAT(ReadText(instance() / "console.log"), HasSubstr("Done (0.1s)"));
  auto config = protocol::ParseInstanceConfig(ReadText(instance() / "instance.json"));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->server_id, "s1");
  EXPECT_EQ(config->stop_command, "stop");
  EXPECT_FALSE(sink_.progress().empty());
}

TEST_P(InstanceHandlersTest, StartOfARunningInstanceAnswersAlreadyRunning) {
  ASSERT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), IsOk());
  const pid_t pid = RunningPid();

  auto again = Run("START_INSTANCE", "{}");  // no config: the stored instance.json
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(*again, HasSubstr(R"("alreadyRunning":true)"));
  EXPECT_THAT(*again, HasSubstr(R"("pid":)" + std::to_string(pid)));
  EXPECT_EQ(RunningPid(), pid);
}

TEST_P(InstanceHandlersTest, StopSendsTheStopCommandAndRecordsTheExit) {
  ASSERT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), IsOk());
  const pid_t pid = RunningPid();

  auto stopped = Run("STOP_INSTANCE", "{}");
  ASSERT_THAT(stopped, IsOk());
  EXPECT_THAT(*stopped, HasSubstr(R"("exitCode":0)"));
  EXPECT_THAT(*stopped, HasSubstr(R"("forced":false)"));
  EXPECT_FALSE(Alive(pid));
  EXPECT_THAT(ReadText(instance() / "console.log"), HasSubstr("saving"));
  auto runtime = Runtime();
  ASSERT_THAT(runtime, IsOk());
  EXPECT_EQ(runtime->state, protocol::InstanceState::kStopped);
  EXPECT_FALSE(runtime->pid.has_value());
  ASSERT_TRUE(runtime->last_exit.has_value());
  EXPECT_EQ(runtime->last_exit->exit_code, 0);
  EXPECT_FALSE(runtime->last_exit->forced);

  auto again = Run("STOP_INSTANCE", "{}");
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(*again, HasSubstr(R"("alreadyStopped":true)"));
}

TEST_P(InstanceHandlersTest, StopOfAServerThatIgnoresItIsForcedOnTheWholeGroup) {
  ASSERT_THAT(Run("START_INSTANCE", Config("stubborn.sh", kPattern)), IsOk());
  const pid_t pid = RunningPid();
  ASSERT_TRUE(
      WaitFor([&] { return fs::exists(instance() / "data/child.pid"); }, milliseconds(5000)));
  const pid_t child = static_cast<pid_t>(std::stol(ReadText(instance() / "data/child.pid")));
  ASSERT_TRUE(Alive(child));

  auto stopped = Run("STOP_INSTANCE", R"({"timeoutSeconds": 1})");
  ASSERT_THAT(stopped, IsOk());
  EXPECT_THAT(*stopped, HasSubstr(R"("forced":true)"));
  EXPECT_FALSE(Alive(pid));
  // The child belongs to the group but not to us: it is gone once init has reaped it.
  EXPECT_TRUE(WaitFor([&] { return !Alive(child); }, milliseconds(5000)));
  auto runtime = Runtime();
  ASSERT_THAT(runtime, IsOk());
  ASSERT_TRUE(runtime->last_exit.has_value());
  EXPECT_TRUE(runtime->last_exit->forced);
}

TEST_P(InstanceHandlersTest, StopAfterAnAgentRestartStopsTheInstanceStartedBefore) {
  ASSERT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), IsOk());
  const pid_t pid = RunningPid();

  MakeAgent();  // the old handler objects are gone; only the root remains
  auto again = Run("START_INSTANCE", "{}");
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(*again, HasSubstr(R"("alreadyRunning":true)"));

  MakeAgent();
  auto stopped = Run("STOP_INSTANCE", "{}");
  ASSERT_THAT(stopped, IsOk());
  EXPECT_THAT(*stopped, Not(HasSubstr("alreadyStopped")));
  EXPECT_THAT(*stopped, HasSubstr(R"("forced":false)"));
  EXPECT_FALSE(Alive(pid));
  EXPECT_THAT(ReadText(instance() / "console.log"), HasSubstr("saving"));
}

TEST_P(InstanceHandlersTest, StopOfAnInstanceThatCrashedWhileTheAgentWasAwayRecordsIt) {
  ASSERT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), IsOk());
  const pid_t pid = RunningPid();
  MakeAgent();  // the agent restarts; the instance crashes while no one watches
  {
    std::ofstream stdin_fifo(instance() / "stdin");
    stdin_fifo << "crash" << std::endl;
  }
  ASSERT_TRUE(WaitFor([&] { return !Alive(pid); }, milliseconds(10000)));

  auto stopped = Run("STOP_INSTANCE", "{}");
  ASSERT_THAT(stopped, IsOk());
  EXPECT_THAT(*stopped, HasSubstr(R"("alreadyStopped":true)"));
  auto runtime = Runtime();
  ASSERT_THAT(runtime, IsOk());
  EXPECT_EQ(runtime->state, protocol::InstanceState::kStopped);
  EXPECT_FALSE(runtime->pid.has_value());
  EXPECT_FALSE(runtime->unit.has_value());
  ASSERT_TRUE(runtime->last_exit.has_value());
  EXPECT_EQ(runtime->last_exit->pid, pid);
  EXPECT_EQ(runtime->last_exit->reason, "found not running");
  // A unit: the failed unit kept it. A process session: this test process (the "agent") is still
  // its parent, so the zombie was reaped; after a real agent restart only a unit can tell.
  EXPECT_EQ(runtime->last_exit->exit_code, 3);
  EXPECT_FALSE(os::ReadProcStat(pid).has_value());  // no zombie left behind

  // The failed unit was reset: a new start under the same unit name works.
  ASSERT_THAT(Run("START_INSTANCE", "{}"), IsOk());
  EXPECT_TRUE(Alive(RunningPid()));
  EXPECT_NE(RunningPid(), pid);
}

TEST_P(InstanceHandlersTest, StartAfterACrashRecordsHowTheOldOneEnded) {
  ASSERT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), IsOk());
  const pid_t pid = RunningPid();
  MakeAgent();
  {
    std::ofstream stdin_fifo(instance() / "stdin");
    stdin_fifo << "crash" << std::endl;
  }
  ASSERT_TRUE(WaitFor([&] { return !Alive(pid); }, milliseconds(10000)));

  ASSERT_THAT(Run("START_INSTANCE", "{}"), IsOk());
  auto runtime = Runtime();
  ASSERT_THAT(runtime, IsOk());
  EXPECT_EQ(runtime->state, protocol::InstanceState::kRunning);
  EXPECT_NE(runtime->pid, pid);
  ASSERT_TRUE(runtime->last_exit.has_value());
  EXPECT_EQ(runtime->last_exit->pid, pid);
  EXPECT_EQ(runtime->last_exit->reason, "found not running");
  EXPECT_EQ(runtime->last_exit->exit_code, 3);
}

TEST_P(InstanceHandlersTest, StartKilledAtEveryFsCallLeavesExactlyOneInstanceAfterTheRetry) {
  // The first START writes instance.json; the others start from it.
  ASSERT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), IsOk());
  ASSERT_THAT(Run("STOP_INSTANCE", "{}"), IsOk());
  int n = 1;
  for (; n < 200; ++n) {
    SCOPED_TRACE("killed at call " + std::to_string(n));
    const std::string job = "job-ks-" + std::to_string(n);
    const int exit_code = StartInChild("{}", job, n);
    if (exit_code == 0) {
      EXPECT_EQ(InstancesOfJob(job).size(), 1U);
      ASSERT_THAT(Run("STOP_INSTANCE", "{}"), IsOk());
      break;
    }
    ASSERT_EQ(exit_code, 9);
    const auto before_retry = InstancesOfJob(job);
    ASSERT_LE(before_retry.size(), 1U);
    for (const pid_t pid : before_retry)
      pids_.push_back(pid);

    // The retry of the run (same job): finds the one the dead run started, or starts one.
    auto retry = Run("START_INSTANCE", "{}", nullptr, job);
    ASSERT_THAT(retry, IsOk());
    const auto running = InstancesOfJob(job);
    ASSERT_EQ(running.size(), 1U) << *retry;
    EXPECT_EQ(RunningPid(), running.front());
    // The retry finished the start: runtime.json says running, not the dead run's "starting".
    auto runtime = Runtime();
    ASSERT_TRUE(runtime.has_value());
    EXPECT_EQ(runtime->state, protocol::InstanceState::kRunning);
    if (!before_retry.empty()) {
      EXPECT_EQ(running.front(), before_retry.front());
      EXPECT_THAT(*retry, HasSubstr(R"("alreadyRunning":true)"));
    }
    ASSERT_THAT(Run("STOP_INSTANCE", "{}"), IsOk());
    EXPECT_TRUE(WaitFor([&] { return InstancesOfJob(job).empty(); }, milliseconds(5000)));
  }
  EXPECT_GT(n, 5);  // the loop did reach the spawn
}

TEST_P(InstanceHandlersTest, StartWithoutPatternIsReadyWhenItStaysUp) {
  auto result = Run("START_INSTANCE", Config("start.sh", ""));
  ASSERT_THAT(result, IsOk());
  const pid_t pid = RunningPid();
  EXPECT_TRUE(Alive(pid));
  auto runtime = Runtime();
  ASSERT_THAT(runtime, IsOk());
  EXPECT_EQ(runtime->state, protocol::InstanceState::kRunning);
}

TEST_P(InstanceHandlersTest, ServerExitingAtOnceIsNotReadyWithItsLastFiftyConsoleLines) {
  for (const char* extra : {kPattern, ""}) {
    auto result = Run("START_INSTANCE", Config("crash.sh", extra));
    ASSERT_THAT(result, FailsWith(Errc::kInstanceNotReady)) << "extra: " << extra;
    const std::string& message = result.error().message;
    EXPECT_THAT(message, HasSubstr("exited with code 3"));
    EXPECT_THAT(message, HasSubstr("fatal: bad config"));
    EXPECT_THAT(message, HasSubstr("line 60"));
    EXPECT_THAT(message, HasSubstr("line 12"));
    EXPECT_THAT(message, Not(HasSubstr("line 11")));  // 50 lines: 12..60 and the fatal one
    EXPECT_FALSE(result.error().retryable);
    auto runtime = Runtime();
    ASSERT_THAT(runtime, IsOk());
    EXPECT_EQ(runtime->state, protocol::InstanceState::kStopped);
    ASSERT_TRUE(runtime->last_exit.has_value());
    EXPECT_EQ(runtime->last_exit->exit_code, 3);
  }
}

TEST_P(InstanceHandlersTest, ServerNotReadyInTimeIsStopped) {
  auto result =
      Run("START_INSTANCE",
          Config("start.sh", R"(, "readyPattern": "never printed", "readyTimeoutSeconds": 1)"));
  ASSERT_THAT(result, FailsWith(Errc::kInstanceNotReady));
  EXPECT_THAT(result.error().message, HasSubstr("not seen within 1 s"));
  EXPECT_THAT(result.error().message, HasSubstr("Done (0.1s)"));
  auto runtime = Runtime();
  ASSERT_THAT(runtime, IsOk());
  EXPECT_EQ(runtime->state, protocol::InstanceState::kStopped);
  ASSERT_TRUE(runtime->last_exit && runtime->last_exit->pid);
  EXPECT_FALSE(Alive(static_cast<pid_t>(*runtime->last_exit->pid)));
  EXPECT_FALSE(runtime->last_exit->forced);  // the stop command ended it
}

TEST_P(InstanceHandlersTest, CancelBeforeTheSpawnLeavesNothingRunning) {
  CancelToken token;
  token.Cancel(CancelCause::kRequested, "operator");
  auto result = Run("START_INSTANCE", Config("start.sh", kPattern), &token);
  ASSERT_THAT(result, FailsWith(Errc::kCancelled));
  EXPECT_FALSE(fs::exists(instance() / "runtime.json"));
  EXPECT_FALSE(fs::exists(instance() / "console.log"));
  EXPECT_FALSE(fs::exists(instance() / "data/env.txt"));
  EXPECT_FALSE(token.past_point_of_no_return());
}

TEST_P(InstanceHandlersTest, CommandOutsideTheBuildIsRefused) {
  WriteScript(root() / "outside.sh", kOutside);
  fs::create_symlink("../../../../../outside.sh", root() / "servers/s1/builds/b1/bin/escape.sh");
  ASSERT_TRUE(fs::exists(root() / "servers/s1/builds/b1/bin/escape.sh"));  // the link resolves

  auto by_link = Run("START_INSTANCE", Config("escape.sh", ""));
  ASSERT_THAT(by_link, FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(by_link.error().message, HasSubstr("outside build b1"));

  auto by_dots = Run("START_INSTANCE",
                     R"({"config": {"serverId": "s1", "command": ["../../../../outside.sh"]}})");
  ASSERT_THAT(by_dots, FailsWith(Errc::kInvalidPayload));
  EXPECT_FALSE(fs::exists(instance() / "runtime.json"));
}

TEST_P(InstanceHandlersTest, InvalidPayloadsAreRefused) {
  EXPECT_THAT(Run("START_INSTANCE", R"({"config": {"serverId": "s1"}})"),
              FailsWith(Errc::kInvalidPayload));  // no command
  EXPECT_THAT(Run("START_INSTANCE", R"({"config": {"serverId": "s1", "command": ["bin/start.sh"],
              "env": {"ORB_JOB_ID": "forged"}}})"),
              FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(Run("START_INSTANCE", "not json"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(Run("STOP_INSTANCE", R"({"timeoutSeconds": 0})"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(Run("RESTART_INSTANCE", R"({"force": true})"), FailsWith(Errc::kInvalidPayload));
  // No config and no stored instance.json.
  EXPECT_THAT(Run("START_INSTANCE", "{}"), FailsWith(Errc::kInvalidPayload));
  EXPECT_FALSE(fs::exists(instance() / "runtime.json"));
}

TEST_P(InstanceHandlersTest, StartWithoutACurrentBuildIsNotInstalled) {
  fs::remove(root() / "servers/s1/current");
  EXPECT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), FailsWith(Errc::kNotInstalled));
  fs::create_symlink("builds/b1", root() / "servers/s1/current");
  fs::remove(root() / "servers/s1/builds/b1/.build.json");  // not committed
  EXPECT_THAT(Run("START_INSTANCE", "{}"), FailsWith(Errc::kNotInstalled));
}

TEST_P(InstanceHandlersTest, RestartStopsAndStartsWithANewPid) {
  ASSERT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), IsOk());
  const pid_t before = RunningPid();

  auto restarted = Run("RESTART_INSTANCE", "{}");
  ASSERT_THAT(restarted, IsOk());
  const pid_t after = RunningPid();
  EXPECT_NE(after, before);
  EXPECT_FALSE(Alive(before));
  EXPECT_TRUE(Alive(after));
  EXPECT_THAT(*restarted, HasSubstr(R"("pid":)" + std::to_string(after)));
  EXPECT_THAT(*restarted, HasSubstr(R"("stop":{"exitCode":0,"forced":false})"));
  EXPECT_EQ(ReadText(instance() / "data/env.txt"), "job=job-2 run=run-2 memory=2G\n");
}

TEST_P(InstanceHandlersTest, RestartDoesNotStartWhenTheStopFails) {
  ASSERT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), IsOk());
  const pid_t before = RunningPid();
  os::RealFs real;
  testing::FaultyFs faulty(real);
  MakeAgent(&faulty);
  faulty.CrashAtNth(1, ENOSPC, os::FsOp::kRename);  // runtime.json cannot be written any more

  auto restarted = Run("RESTART_INSTANCE", "{}");
  ASSERT_FALSE(restarted.has_value());
  EXPECT_TRUE(faulty.fault_hit());
  EXPECT_THAT(restarted.error().message, HasSubstr("No space left"));
  EXPECT_EQ(RunningPid(), before);  // nothing was started in its place
  EXPECT_TRUE(Alive(before));
  EXPECT_THAT(ReadText(instance() / "data/env.txt"), HasSubstr("job=job-1 "));
}

TEST_P(InstanceHandlersTest, CancelBetweenStopAndStartLeavesItStopped) {
  ASSERT_THAT(Run("START_INSTANCE", Config("start.sh", kPattern)), IsOk());
  const pid_t before = RunningPid();
  // A cancel that arrives while the stop runs: the stop completes, the start does not happen.
  CancelToken token;
  sink_.OnStep([&](const std::string& step) {
    if (step == "stop") token.Cancel(CancelCause::kRequested, "operator");
  });
  auto restarted = Run("RESTART_INSTANCE", "{}", &token);
  sink_.OnStep(nullptr);
  ASSERT_THAT(restarted, FailsWith(Errc::kCancelled));
  EXPECT_FALSE(Alive(before));
  auto runtime = Runtime();
  ASSERT_THAT(runtime, IsOk());
  EXPECT_EQ(runtime->state, protocol::InstanceState::kStopped);
}

INSTANTIATE_TEST_SUITE_P(Supervisors, InstanceHandlersTest,
                         ::testing::Values(InstanceSupervisor::kProcess,
                                           InstanceSupervisor::kSystemd),
                         [](const auto& param_info) {
                           return std::string(ToString(param_info.param));
                         });

TEST(HandlerRegistryTest, ShipsExactlyOneHandlerForEveryJobTypeOfTheSpec) {
  std::vector<std::string> types;
  for (const auto& handler : MakeHandlers(HandlerDeps{}))
    types.emplace_back(handler->type());
  std::vector<std::string> expected;
  for (const auto& type : protocol::AllJobTypes())
    expected.emplace_back(type.name);
  EXPECT_THAT(types, ::testing::UnorderedElementsAreArray(expected));
  EXPECT_EQ(types.size(), 11U);
}

}  // namespace
}  // namespace orb::jobs
