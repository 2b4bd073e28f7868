#include "os/process.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os/console_log.hpp"
#include "os/fs.hpp"
#include "support/files.hpp"
#include "support/matchers.hpp"
#include "support/server_script.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::os {
namespace {

using ::orb::testing::ReadText;

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::FailsWith;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::WaitFor;

// A small game server: prints a ready line, writes into its data dir, exits 0 on "stop".
constexpr const char* kServer = R"(#!/bin/sh
echo "booting job $ORB_JOB_ID"
echo "level data" > world.dat
echo "Done (0.1s)! For help, type help"
while read -r line; do
  echo "got $line"
  if [ "$line" = "stop" ]; then echo "saving"; exit 0; fi
done
echo "stdin closed"
exit 4
)";

// Ignores the stop command and SIGTERM, and forks a child that ignores SIGTERM too.
constexpr const char* kStubborn = R"(#!/bin/sh
trap '' TERM INT HUP
sleep 1000 &
echo $! > child.pid
echo "ready"
while :; do read -r line; done
)";

constexpr const char* kCrashing = R"(#!/bin/sh
echo "fatal: bad config"
exit 3
)";

constexpr const char* kChatty = R"(#!/bin/sh
echo "ready"
i=0
while :; do i=$((i+1)); echo "line $i of the console log"; sleep 0.005; done
)";

// One instance directory in a TempDir, and a guard that kills what a failed test left running.
class ProcessTest : public ::testing::Test {
 protected:
  ProcessTest() { fs::create_directories(dir_ / "data"); }
  ~ProcessTest() override {
    if (leader_ > 0) {
      ::kill(-leader_, SIGKILL);
      ::waitpid(leader_, nullptr, WNOHANG);
    }
  }

  SpawnSpec Spec(const char* script) { return testing::ServerSpec(dir_.path(), script); }
  ConsolePaths Paths() const { return testing::ServerConsole(dir_.path()); }

  Expected<Process> Start(const char* script) {
    auto process = Process::Spawn(Spec(script));
    if (process) leader_ = process->identity().pid;
    return process;
  }

  static StopSpec Quick(std::optional<std::string> command) {
    StopSpec spec;
    spec.command = std::move(command);
    spec.grace = milliseconds(5000);
    spec.term_timeout = milliseconds(5000);
    spec.kill_timeout = milliseconds(5000);
    return spec;
  }

  testing::TempDir dir_;
  pid_t leader_ = 0;
};

TEST_F(ProcessTest, SpawnsInItsOwnSessionAndStopsByCommand) {
  auto process = Start(kServer);
  ASSERT_THAT(process, IsOk());
  const ProcessIdentity id = process->identity();
  auto stat = ReadProcStat(id.pid);
  ASSERT_THAT(stat, IsOk());
  EXPECT_EQ(stat->session, id.pid);
  EXPECT_EQ(stat->pgrp, id.pid);
  EXPECT_EQ(stat->start_time, id.start_time);

  ASSERT_THAT(process->WaitReady("Done \\(", milliseconds(10000), nullptr), IsOk());
  EXPECT_EQ(ReadText(dir_ / "data/world.dat"), "level data\n");
  EXPECT_THAT(ReadText(dir_ / "console.log"), HasSubstr("booting job job-7"));

  auto stopped = process->Stop(Quick("stop"));
  ASSERT_THAT(stopped, IsOk());
  EXPECT_EQ(stopped->method, StopMethod::kCommand);
  EXPECT_FALSE(stopped->forced());
  ASSERT_TRUE(stopped->exit.has_value());
  EXPECT_EQ(stopped->exit->code, 0);
  EXPECT_FALSE(process->IsAlive());
  EXPECT_THAT(ReadProcStat(id.pid), FailsWith(Errc::kNotFound));  // reaped: no zombie
  EXPECT_THAT(ReadText(dir_ / "console.log"), HasSubstr("saving"));
}

TEST_F(ProcessTest, KillsTheWholeGroupWhenTheServerIgnoresEverything) {
  auto process = Start(kStubborn);
  ASSERT_THAT(process, IsOk());
  ASSERT_THAT(process->WaitReady("^ready$", milliseconds(10000), nullptr), IsOk());
  ASSERT_TRUE(
      WaitFor([&] { return !ReadText(dir_ / "data/child.pid").empty(); }, milliseconds(5000)));
  const pid_t child = static_cast<pid_t>(std::stol(ReadText(dir_ / "data/child.pid")));
  auto child_stat = ReadProcStat(child);
  ASSERT_THAT(child_stat, IsOk());
  EXPECT_EQ(child_stat->pgrp, process->identity().pid);

  StopSpec spec = Quick("stop");
  spec.grace = milliseconds(200);
  spec.term_timeout = milliseconds(300);
  auto stopped = process->Stop(spec);
  ASSERT_THAT(stopped, IsOk());
  EXPECT_EQ(stopped->method, StopMethod::kSigkill);
  EXPECT_TRUE(stopped->forced());
  ASSERT_TRUE(stopped->exit.has_value());
  EXPECT_EQ(stopped->exit->signal, SIGKILL);
  auto after = ReadProcStat(child);  // gone, or a zombie waiting for init
  EXPECT_TRUE(!after || after->state == 'Z') << "the forked child survived";
}

TEST_F(ProcessTest, StopsBySignalWhenThereIsNoStopCommand) {
  auto process = Start(kChatty);
  ASSERT_THAT(process, IsOk());
  ASSERT_THAT(process->WaitReady("ready", milliseconds(10000), nullptr), IsOk());
  auto stopped = process->Stop(Quick(std::nullopt));
  ASSERT_THAT(stopped, IsOk());
  EXPECT_EQ(stopped->method, StopMethod::kSignal);
  ASSERT_TRUE(stopped->exit.has_value());
  EXPECT_EQ(stopped->exit->signal, SIGTERM);
}

TEST_F(ProcessTest, ASecondObjectAttachesByPidAndStartTimeAndStopsIt) {
  auto first = Start(kServer);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(first->WaitReady("Done", milliseconds(10000), nullptr), IsOk());

  // The agent restarted: all it has is runtime.json's pid and start time.
  auto second = Process::Attach(first->identity(), Paths());
  ASSERT_THAT(second, IsOk());
  EXPECT_TRUE(second->IsAlive());
  auto stopped = second->Stop(Quick("stop"));
  ASSERT_THAT(stopped, IsOk());
  EXPECT_EQ(stopped->method, StopMethod::kCommand);
  EXPECT_FALSE(first->IsAlive());
  EXPECT_THAT(Process::Attach(first->identity(), Paths()), FailsWith(Errc::kNotFound));
}

TEST_F(ProcessTest, AttachRefusesAWrongStartTime) {
  auto process = Start(kServer);
  ASSERT_THAT(process, IsOk());
  ProcessIdentity wrong = process->identity();
  wrong.start_time += 1;
  auto attached = Process::Attach(wrong, Paths());
  ASSERT_THAT(attached, FailsWith(Errc::kNotFound));
  EXPECT_THAT(attached.error().message, HasSubstr("reused"));
  EXPECT_THAT(Process::Attach({0, 0}, Paths()), FailsWith(Errc::kNotFound));
  EXPECT_THAT(process->Stop(Quick("stop")), IsOk());
}

TEST_F(ProcessTest, ReadinessFailsFastWhenTheProcessExits) {
  auto process = Start(kCrashing);
  ASSERT_THAT(process, IsOk());
  const auto started = std::chrono::steady_clock::now();
  auto ready = process->WaitReady("Done", milliseconds(60000), nullptr);
  ASSERT_THAT(ready, FailsWith(Errc::kInstanceNotReady));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_THAT(ready.error().message, HasSubstr("exited with code 3"));
  EXPECT_THAT(ready.error().message, HasSubstr("fatal: bad config"));
  auto stopped = process->Stop(Quick("stop"));
  ASSERT_THAT(stopped, IsOk());
  EXPECT_EQ(stopped->method, StopMethod::kAlreadyStopped);
}

TEST_F(ProcessTest, ReadinessStopsOnCancelAndOnTimeout) {
  auto process = Start(kServer);
  ASSERT_THAT(process, IsOk());
  int checks = 0;
  EXPECT_THAT(
      process->WaitReady("never printed", milliseconds(60000), [&] { return ++checks >= 3; }),
      FailsWith(Errc::kCancelled));
  EXPECT_THAT(process->WaitReady("never printed", milliseconds(50), nullptr),
              FailsWith(Errc::kTimeout));
  EXPECT_THAT(process->WaitReady("([unclosed", milliseconds(50), nullptr),
              FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(process->Stop(Quick("stop")), IsOk());
}

TEST_F(ProcessTest, SpawnReportsAMissingProgramOrDirectory) {
  SpawnSpec spec = Spec(kServer);
  spec.argv[0] = (dir_ / "no-such-program").string();
  auto missing = Process::Spawn(spec);
  ASSERT_THAT(missing, FailsWith(Errc::kIo));
  EXPECT_THAT(missing.error().message, HasSubstr("exec"));
  EXPECT_THAT(missing.error().message, HasSubstr("no-such-program"));

  spec = Spec(kServer);
  spec.cwd = dir_ / "no-such-dir";
  auto no_dir = Process::Spawn(spec);
  ASSERT_THAT(no_dir, FailsWith(Errc::kIo));
  EXPECT_THAT(no_dir.error().message, HasSubstr("chdir"));

  spec = Spec(kServer);
  spec.argv.clear();
  EXPECT_THAT(Process::Spawn(spec), FailsWith(Errc::kInvalidPayload));
}

TEST_F(ProcessTest, TheChildInheritsNoOtherDescriptors) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 3);
  const std::string script = "#!/bin/sh\nif [ -e /proc/$$/fd/" + std::to_string(leaked) +
                             " ]; then echo leaked; else echo clean; fi\n";
  auto process = Start(script.c_str());
  ::close(leaked);
  ASSERT_THAT(process, IsOk());
  ASSERT_TRUE(WaitFor([&] { return !process->IsAlive(); }, milliseconds(10000)));
  EXPECT_EQ(ReadText(dir_ / "console.log"), "clean\n");
}

TEST_F(ProcessTest, RotationKeepsTheInstanceLoggingAtTheStartOfTheLog) {
  auto process = Start(kChatty);
  ASSERT_THAT(process, IsOk());
  const fs::path log = dir_ / "console.log";
  ASSERT_TRUE(WaitFor([&] { return fs::file_size(log) > 2000; }, milliseconds(20000)));
  RealFs real;
  auto rotated = RotateIfLarger(real, log, 1000, 2);
  ASSERT_THAT(rotated, IsOk());
  EXPECT_TRUE(*rotated);
  const std::string first = ReadText(fs::path(log.string() + ".1"));
  EXPECT_GE(first.size(), 2000u);
  EXPECT_EQ(first.rfind("ready\n", 0), 0u);

  // O_APPEND: the next lines land at the new end of the file, not at the old offset.
  ASSERT_TRUE(WaitFor([&] { return ReadText(log).find("line") != std::string::npos; },
                      milliseconds(20000)));
  const std::string live = ReadText(log);
  EXPECT_EQ(live.find('\0'), std::string::npos);
  EXPECT_EQ(live.rfind("line ", 0), 0u);

  ASSERT_TRUE(WaitFor([&] { return fs::file_size(log) > 2000; }, milliseconds(20000)));
  auto again = RotateIfLarger(real, log, 1000, 2);
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(*again);
  EXPECT_EQ(ReadText(fs::path(log.string() + ".2")), first);
  auto small = RotateIfLarger(real, log, 1 << 30, 2);
  ASSERT_THAT(small, IsOk());
  EXPECT_FALSE(*small);
  EXPECT_THAT(RotateIfLarger(real, log, 0, 0), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(process->Stop(Quick(std::nullopt)), IsOk());
}

}  // namespace
}  // namespace orb::os
