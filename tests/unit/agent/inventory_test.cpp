// The agent's inventory collector on a real root laid out by the real job handlers: a build
// committed by jobs::BuildStore and activated by ACTIVATE_BUILD, an instance started by
// START_INSTANCE (a real /bin/sh process), a backup made by BACKUP_INSTANCE and verified by
// VERIFY_BACKUP; then the instance's process killed behind the handlers' back. And the schedule of
// checks and reports (pure, time as input).
#include "agent/inventory.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "common/job_log.hpp"
#include "common/log.hpp"
#include "jobs/builds/build_store.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"
#include "os/process.hpp"
#include "protocol/build_json.hpp"
#include "support/manual_clock.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using protocol::InstanceRunState;
using testing::IsOk;

constexpr const char* kServer = R"sh(#!/bin/sh
echo "Done (0.1s)!"
while read -r line; do
  if [ "$line" = "stop" ]; then exit 0; fi
done
exit 4
)sh";

constexpr const char* kStart =
    R"({"config": {"serverId": "s1", "command": ["bin/start.sh"], "stopCommand": "stop", )"
    R"("stopTimeoutSeconds": 5, "readyPattern": "Done \\(", "readyTimeoutSeconds": 10}})";

class NullSink final : public jobs::RunSink {
 public:
  void Progress(std::optional<int>, std::string, std::string) override {}
  void LogLine(std::string_view, std::string) override {}
};

class InventoryCollectorTest : public ::testing::Test {
 protected:
  InventoryCollectorTest() {
    jobs::HandlerDeps deps;
    deps.instance_settle_time = 200ms;
    deps.instance_term_timeout = 500ms;
    deps.instance_kill_timeout = 3000ms;
    handlers_ = jobs::MakeHandlers(deps);
  }
  ~InventoryCollectorTest() override {
    for (const pid_t pid : pids_) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, WNOHANG);
    }
  }

  fs::path root() const { return dir_.path(); }

  // One run as the executor makes it: .staging/<runId> created before and removed after.
  Expected<std::string> Run(const std::string& type, const std::string& payload,
                            bool server = false) {
    protocol::JobExecution execution;
    ++runs_;
    execution.job_id = "job-" + std::to_string(runs_);
    execution.run_id = "run-" + std::to_string(runs_);
    execution.type = type;
    if (server) {
      execution.server_id = "s1";
    } else {
      execution.instance_id = "i1";
    }
    execution.payload_json = payload;
    jobs::CancelToken token;
    const fs::path staging = root() / ".staging" / execution.run_id;
    fs::create_directories(staging);
    jobs::HandlerContext context(execution, root(), staging, token,
                                 JobLog(GetLogger("test"), execution.job_id, execution.run_id),
                                 sink_, RealClock());
    Expected<std::string> result = Fail(Errc::kUnknownJobType, type);
    for (auto& handler : handlers_) {
      if (handler->type() == type) result = handler->Run(context);
    }
    fs::remove_all(staging);
    return result;
  }

  // Build b1 of server s1, committed by the build store the handlers use, with bin/start.sh.
  void CommitBuild(const std::string& build_id) {
    const fs::path staged = root() / ".staging" / ("tree-" + build_id);
    fs::create_directories(staged / "bin");
    std::ofstream(staged / "bin/start.sh") << kServer;
    fs::permissions(staged / "bin/start.sh", fs::perms::owner_all);
    jobs::BuildStore builds(real_fs_);
    const jobs::ServerPaths paths(root(), "s1");
    ASSERT_THAT(builds.MakeDirs(root(), paths.builds), IsOk());
    protocol::BuildRecord record;
    record.build_id = build_id;
    record.artifact_sha256 = std::string(64, 'a');
    record.files = 1;
    record.bytes = 1234;
    record.committed_at = RealClock().WallNow();
    record.job_id = "job-install";
    ASSERT_THAT(builds.Commit(paths, staged, record), IsOk());
  }

  protocol::HostInventory Collect() { return CollectInventory(real_fs_, root(), clock_.WallNow()); }

  ::orb::testing::TempDir dir_;
  os::RealFs real_fs_;
  NullSink sink_;
  std::vector<std::unique_ptr<jobs::JobHandler>> handlers_;
  ::orb::testing::ManualClock clock_;
  std::vector<pid_t> pids_;
  int runs_ = 0;
};

TEST_F(InventoryCollectorTest, AnEmptyRootHoldsNothingButItsDisk) {
  const auto inventory = Collect();
  EXPECT_TRUE(inventory.servers.empty());
  EXPECT_TRUE(inventory.instances.empty());
  EXPECT_TRUE(inventory.backups.empty());
  EXPECT_GT(inventory.disk.root_total_bytes, 0U);
  EXPECT_LE(inventory.disk.root_free_bytes, inventory.disk.root_total_bytes);
  EXPECT_EQ(inventory.reported_at, clock_.WallNow());
}

TEST_F(InventoryCollectorTest, ReportsWhatTheHandlersMadeAndACrashedInstance) {
  CommitBuild("b1");
  CommitBuild("b2");
  ASSERT_THAT(Run("ACTIVATE_BUILD", R"({"buildId": "b1"})", true), IsOk());
  ASSERT_THAT(Run("START_INSTANCE", kStart), IsOk());
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "bk1"})"), IsOk());
  ASSERT_THAT(Run("VERIFY_BACKUP", R"({"backupId": "bk1", "level": "quick"})"), IsOk());
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "bk2"})"), IsOk());

  auto inventory = Collect();
  ASSERT_EQ(inventory.servers.size(), 1U);
  const auto& server = inventory.servers[0];
  EXPECT_EQ(server.server_id, "s1");
  EXPECT_EQ(server.current_build, "b1");
  ASSERT_EQ(server.builds.size(), 2U);
  EXPECT_EQ(server.builds[0].build_id, "b1");
  EXPECT_EQ(server.builds[0].size_bytes, 1234U);
  EXPECT_TRUE(server.builds[0].installed_at.has_value());
  EXPECT_EQ(server.builds[1].build_id, "b2");

  ASSERT_EQ(inventory.instances.size(), 1U);
  const auto& instance = inventory.instances[0];
  EXPECT_EQ(instance.instance_id, "i1");
  EXPECT_EQ(instance.server_id, "s1");
  EXPECT_EQ(instance.build_id, "b1");
  EXPECT_EQ(instance.state, InstanceRunState::kRunning);
  EXPECT_EQ(instance.supervisor, "process");
  ASSERT_TRUE(instance.pid.has_value());
  EXPECT_TRUE(instance.started_at.has_value());
  const auto pid = static_cast<pid_t>(*instance.pid);
  pids_.push_back(pid);

  ASSERT_EQ(inventory.backups.size(), 2U);
  EXPECT_EQ(inventory.backups[0].backup_id, "bk1");
  EXPECT_EQ(inventory.backups[0].instance_id, "i1");
  EXPECT_GT(inventory.backups[0].size_bytes, 0U);
  EXPECT_TRUE(inventory.backups[0].verified_at.has_value());
  EXPECT_EQ(inventory.backups[1].backup_id, "bk2");
  EXPECT_FALSE(inventory.backups[1].verified_at.has_value());

  // What the wire carries is what was collected.
  auto parsed = protocol::ParseHostInventory(protocol::ToJson(inventory));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, inventory);

  // The process dies behind the handlers' back: runtime.json still says running.
  ASSERT_EQ(::kill(-pid, SIGKILL), 0);
  ASSERT_TRUE(::orb::testing::WaitFor(
      [&] { return Collect().instances.at(0).state == InstanceRunState::kCrashed; }, 10s));
  const auto crashed = Collect();
  EXPECT_EQ(crashed.instances[0].pid, instance.pid);
  EXPECT_TRUE(protocol::DeservesInventoryEvent(inventory, crashed));

  // STOP_INSTANCE records it stopped.
  ASSERT_THAT(Run("STOP_INSTANCE", "{}"), IsOk());
  const auto stopped = Collect();
  EXPECT_EQ(stopped.instances.at(0).state, InstanceRunState::kStopped);
  EXPECT_FALSE(stopped.instances[0].pid.has_value());
}

// ---- InventorySchedule ----

TEST(InventoryScheduleTest, ChecksAtOnceThenEveryIntervalOrAfterARun) {
  ::orb::testing::ManualClock clock;
  InventorySchedule schedule(5s);
  EXPECT_TRUE(schedule.CheckDue(clock.Now()));
  schedule.Checked(clock.Now());
  EXPECT_FALSE(schedule.CheckDue(clock.Now()));
  clock.Advance(4999ms);
  EXPECT_FALSE(schedule.CheckDue(clock.Now()));
  clock.Advance(1ms);
  EXPECT_TRUE(schedule.CheckDue(clock.Now()));
  schedule.Checked(clock.Now());
  schedule.Wanted();  // a run ended
  EXPECT_TRUE(schedule.CheckDue(clock.Now()));
}

TEST(InventoryScheduleTest, SendsTheFirstAndThenOnlyChanges) {
  InventorySchedule schedule(5s);
  protocol::HostInventory inventory;
  inventory.disk = {50'000, 100'000};
  EXPECT_TRUE(schedule.ShouldSend(inventory));
  schedule.Delivered(inventory);
  protocol::HostInventory later = inventory;
  later.reported_at += 1h;
  later.disk.root_free_bytes += 500;  // 0.5 %: not worth a report
  EXPECT_FALSE(schedule.ShouldSend(later));
  later.instances.push_back({"i1", "s1", "b1", InstanceRunState::kCrashed, 7, {}, "process"});
  EXPECT_TRUE(schedule.ShouldSend(later));
  schedule.Unsupported();
  EXPECT_FALSE(schedule.ShouldSend(later));
}

}  // namespace
}  // namespace orb::agent
