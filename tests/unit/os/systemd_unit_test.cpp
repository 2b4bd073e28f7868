#include "os/systemd_unit.hpp"

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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/files.hpp"
#include "support/matchers.hpp"
#include "support/server_script.hpp"
#include "support/systemd_user.hpp"
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

constexpr const char* kUnitServer = R"sh(#!/bin/sh
echo "booting job $ORB_JOB_ID in $(pwd)"
echo "Done (0.1s)! For help, type help"
while read -r line; do
  echo "got $line"
  if [ "$line" = "stop" ]; then echo "saving"; exit 0; fi
  if [ "$line" = "crash" ]; then exit 3; fi
done
echo "stdin closed"
exit 4
)sh";

// Ignores SIGTERM; its child ignores it too, and a grandchild leaves the process group and the
// session (setsid after a double fork), which only the unit's cgroup still catches.
constexpr const char* kUnitStubborn = R"sh(#!/bin/sh
trap '' TERM INT HUP
sleep 1000 &
echo $! > child.pid
( setsid sh -c 'trap "" TERM; echo $$ > grandchild.pid; while :; do sleep 1; done' & )
while [ ! -s grandchild.pid ]; do sleep 0.01; done
echo "ready"
while :; do read -r line; done
)sh";

bool PidAlive(pid_t pid) {
  auto stat = ReadProcStat(pid);
  return stat && stat->state != 'Z' && stat->state != 'X';
}

class SystemdUnitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    manager_dir_ = new testing::TempDir();
    manager_ = new testing::SystemdUser();
    skip_reason_ = new std::string(manager_->Start(manager_dir_->path()));
  }
  static void TearDownTestSuite() {
    manager_->Stop();
    delete manager_;
    delete manager_dir_;
    delete skip_reason_;
  }

  void SetUp() override {
    if (!skip_reason_->empty()) GTEST_SKIP() << *skip_reason_;
    fs::create_directories(dir_ / "data");
    unit_ = InstanceUnitName(std::string("t") + std::to_string(::getpid()) + "-" +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  SpawnSpec Spec(const char* script) { return testing::ServerSpec(dir_.path(), script); }
  ConsolePaths Paths() const { return testing::ServerConsole(dir_.path()); }

  static StopSpec Quick(std::optional<std::string> command) {
    StopSpec spec;
    spec.command = std::move(command);
    spec.grace = milliseconds(5000);
    spec.term_timeout = milliseconds(5000);
    spec.kill_timeout = milliseconds(5000);
    return spec;
  }

  static inline testing::TempDir* manager_dir_ = nullptr;
  static inline testing::SystemdUser* manager_ = nullptr;
  static inline std::string* skip_reason_ = nullptr;
  testing::TempDir dir_;
  std::string unit_;
};

TEST_F(SystemdUnitTest, StartsAUnitThatGetsReadyAndStopsByCommandWithItsExitCode) {
  auto unit = SystemdUnit::Start(manager_->Options(), unit_, Spec(kUnitServer));
  ASSERT_THAT(unit, IsOk());
  EXPECT_EQ(unit->unit(), unit_);
  const ProcessIdentity id = unit->identity();
  ASSERT_GT(id.pid, 0);
  auto stat = ReadProcStat(id.pid);
  ASSERT_THAT(stat, IsOk());
  EXPECT_EQ(stat->start_time, id.start_time);
  EXPECT_EQ(stat->session, id.pid);
  EXPECT_NE(stat->ppid, ::getpid());  // systemd's child, not ours
  EXPECT_TRUE(unit->IsAlive());

  ASSERT_THAT(unit->WaitReady("Done \\(", milliseconds(10000), nullptr), IsOk());
  EXPECT_THAT(ReadText(dir_ / "console.log"),
              HasSubstr("booting job job-7 in " + (dir_ / "data").string()));

  auto stopped = unit->Stop(Quick("stop"));
  ASSERT_THAT(stopped, IsOk());
  EXPECT_EQ(stopped->method, StopMethod::kCommand);
  ASSERT_TRUE(stopped->exit.has_value());
  EXPECT_EQ(stopped->exit->code, 0);
  EXPECT_EQ(stopped->exit->signal, 0);
  EXPECT_FALSE(PidAlive(id.pid));
  EXPECT_THAT(ReadText(dir_ / "console.log"), HasSubstr("saving"));
}

TEST_F(SystemdUnitTest, ANonZeroExitIsReadFromTheFailedUnitWhichIsThenReset) {
  auto unit = SystemdUnit::Start(manager_->Options(), unit_, Spec(kUnitServer));
  ASSERT_THAT(unit, IsOk());
  ASSERT_THAT(unit->WaitReady("Done \\(", milliseconds(10000), nullptr), IsOk());
  auto stopped = unit->Stop(Quick("crash"));
  ASSERT_THAT(stopped, IsOk());
  ASSERT_TRUE(stopped->exit.has_value());
  EXPECT_EQ(stopped->exit->code, 3);
  // Reset: the same name can be started again.
  auto again = SystemdUnit::Start(manager_->Options(), unit_, Spec(kUnitServer));
  ASSERT_THAT(again, IsOk());
  ASSERT_THAT(again->Stop(Quick("stop")), IsOk());
}

TEST_F(SystemdUnitTest, EscalationKillsEverythingInTheCgroupEvenADoubleForkedGrandchild) {
  auto unit = SystemdUnit::Start(manager_->Options(), unit_, Spec(kUnitStubborn));
  ASSERT_THAT(unit, IsOk());
  ASSERT_THAT(unit->WaitReady("^ready$", milliseconds(10000), nullptr), IsOk());
  const pid_t child = std::stoi(ReadText(dir_ / "data/child.pid"));
  const pid_t grandchild = std::stoi(ReadText(dir_ / "data/grandchild.pid"));
  auto grand_stat = ReadProcStat(grandchild);
  ASSERT_THAT(grand_stat, IsOk());
  EXPECT_NE(grand_stat->pgrp, unit->identity().pid);  // out of the group: pgrp kill misses it

  StopSpec spec = Quick(std::nullopt);
  spec.signal = SIGTERM;
  spec.grace = milliseconds(200);
  spec.term_timeout = milliseconds(300);
  auto stopped = unit->Stop(spec);
  ASSERT_THAT(stopped, IsOk());
  EXPECT_EQ(stopped->method, StopMethod::kSigkill);
  EXPECT_TRUE(stopped->forced());
  EXPECT_FALSE(PidAlive(unit->identity().pid));
  EXPECT_TRUE(
      WaitFor([&] { return !PidAlive(child) && !PidAlive(grandchild); }, milliseconds(5000)));
}

TEST_F(SystemdUnitTest, TheInstanceOutlivesTheObjectAndAFreshOneAttachesAndStopsIt) {
  ProcessIdentity id;
  {
    auto unit = SystemdUnit::Start(manager_->Options(), unit_, Spec(kUnitServer));
    ASSERT_THAT(unit, IsOk());
    ASSERT_THAT(unit->WaitReady("Done \\(", milliseconds(10000), nullptr), IsOk());
    id = unit->identity();
  }  // the "agent" goes away
  EXPECT_TRUE(PidAlive(id.pid));

  auto wrong =
      SystemdUnit::Attach(manager_->Options(), unit_, {id.pid + 100000, id.start_time}, Paths());
  EXPECT_THAT(wrong, FailsWith(Errc::kNotFound));
  EXPECT_THAT(SystemdUnit::Attach(manager_->Options(), unit_, {id.pid, id.start_time + 1}, Paths()),
              FailsWith(Errc::kNotFound));
  EXPECT_THAT(SystemdUnit::Attach(manager_->Options(), "orb-instance-nope.service", id, Paths()),
              FailsWith(Errc::kNotFound));

  auto attached = SystemdUnit::Attach(manager_->Options(), unit_, id, Paths());
  ASSERT_THAT(attached, IsOk());
  EXPECT_TRUE(attached->IsAlive());
  auto stopped = attached->Stop(Quick("stop"));
  ASSERT_THAT(stopped, IsOk());
  EXPECT_EQ(stopped->method, StopMethod::kCommand);
  ASSERT_TRUE(stopped->exit.has_value());
  EXPECT_EQ(stopped->exit->code, 0);
  EXPECT_FALSE(PidAlive(id.pid));

  // Gone: attaching again is refused, stopping again says it was already stopped.
  EXPECT_THAT(SystemdUnit::Attach(manager_->Options(), unit_, id, Paths()),
              FailsWith(Errc::kNotFound));
  auto again = attached->Stop(Quick("stop"));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->method, StopMethod::kAlreadyStopped);
}

TEST_F(SystemdUnitTest, AStartThatCannotExecFailsTheStart) {
  SpawnSpec spec = Spec(kUnitServer);
  spec.argv = {(dir_ / "missing.sh").string()};
  auto unit = SystemdUnit::Start(manager_->Options(), unit_, spec);
  ASSERT_THAT(unit, FailsWith(Errc::kIo));
  EXPECT_THAT(unit.error().message, HasSubstr("missing.sh"));
  // Nothing is left behind: the name can be used again.
  auto started = SystemdUnit::Start(manager_->Options(), unit_, Spec(kUnitServer));
  ASSERT_THAT(started, IsOk());
  ASSERT_THAT(started->Stop(Quick("stop")), IsOk());
}

TEST_F(SystemdUnitTest, AnUnreachableManagerIsUnavailable) {
  SystemdOptions options = manager_->Options();
  options.address = "unix:path=" + (dir_ / "no-such-socket").string();
  EXPECT_THAT(SystemdUnit::Start(options, unit_, Spec(kUnitServer)), FailsWith(Errc::kUnavailable));
}

}  // namespace
}  // namespace orb::os
