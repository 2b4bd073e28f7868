// The shipped orb-jobs-agent (its real handlers) against a real fleet-cmdr: an instance outlives
// the agent (job-types.md §2), through kill -9 and through SIGTERM, and a STOP_INSTANCE after the
// restart stops the instance started before it.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <signal.h>

#include "integration/agent/agent_cluster.hpp"
#include "integration/agent/fake_game_server.hpp"
#include "os/process.hpp"
#include "protocol/instance_json.hpp"
#include "support/build_paths.hpp"
#include "support/files.hpp"

namespace orb::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// A root with server s1 whose current build b1 is committed (job-types.md §1).
void MakeServer(const fs::path& root) {
  const fs::path build = root / "servers/s1/builds/b1";
  fs::create_directories(build / "bin");
  std::ofstream(build / "bin/start.sh") << kFakeGameServerScript;
  fs::permissions(build / "bin/start.sh", fs::perms::owner_all);
  std::ofstream(build / ".build.json") << R"({"buildId": "b1"})";
  fs::create_symlink("builds/b1", root / "servers/s1/current");
}

bool Alive(pid_t pid) {
  auto stat = os::ReadProcStat(pid);
  return pid > 0 && stat && stat->state != 'Z';
}

// The shipped agent's hello carries the build's version (main/build_info.hpp, the CMake project
// version) as agentVersion, which fleet-cmdr shows in its agent list.
TEST(ShippedAgentTest, HelloCarriesTheProjectVersionAsAgentVersion) {
  AgentCluster cluster;
  TempDir dir;
  AgentProcess agent(dir.path(), cluster.url(), "host-1", cluster.TokenOf("host-1"), ORB_AGENT_BIN,
                     {"--instance-supervisor", "process"});
  ASSERT_TRUE(agent.Start());
  const std::string wanted = R"("agentVersion":")" + std::string(ORB_PROJECT_VERSION) + R"(")";
  std::string body;
  EXPECT_TRUE(WaitFor(
      [&] {
        body = cluster.Admin("GET", "/v1/agents").second;
        return body.find(wanted) != std::string::npos;
      },
      seconds(10)))
      << body;
}

class InstanceRestartTest : public ::testing::TestWithParam<int> {};

TEST_P(InstanceRestartTest, TheInstanceOutlivesTheAgentAndTheNextAgentStopsIt) {
  const int signal = GetParam();
  AgentCluster cluster;
  TempDir dir;
  AgentProcess agent(dir.path(), cluster.url(), "host-1", cluster.TokenOf("host-1"), ORB_AGENT_BIN,
                     {"--instance-supervisor", "process"});
  MakeServer(agent.root());
  ASSERT_TRUE(agent.Start());

  const auto start = cluster.Enqueue("host-1", "START_INSTANCE", "i1", kFakeGameServerStart);
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(start) == "COMPLETED"; }, seconds(20)))
      << cluster.Status(start) << " " << cluster.LastError(start);
  auto runtime =
      protocol::ParseInstanceRuntime(ReadText(agent.root() / "instances/i1/runtime.json"));
  ASSERT_TRUE(runtime && runtime->pid);
  const auto pid = static_cast<pid_t>(*runtime->pid);
  ASSERT_TRUE(Alive(pid));

  agent.Kill(signal);
  const int exit_code = agent.Wait(seconds(30));
  if (signal == SIGTERM) {
    EXPECT_EQ(exit_code, 0);  // a drained stop
  }
  EXPECT_TRUE(Alive(pid)) << "the agent's end took the instance with it";

  ASSERT_TRUE(agent.Start());
  const auto again = cluster.Enqueue("host-1", "START_INSTANCE", "i1", "{}");
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(again) == "COMPLETED"; }, seconds(20)));
  const auto detail = cluster.Job(again);
  ASSERT_TRUE(detail && !detail->runs.empty() && detail->runs.back().result_json);
  EXPECT_NE(detail->runs.back().result_json->find(R"("alreadyRunning":true)"), std::string::npos)
      << *detail->runs.back().result_json;

  const auto stop = cluster.Enqueue("host-1", "STOP_INSTANCE", "i1", "{}");
  ASSERT_TRUE(WaitFor([&] { return cluster.Status(stop) == "COMPLETED"; }, seconds(20)))
      << cluster.Status(stop) << " " << cluster.LastError(stop);
  EXPECT_TRUE(WaitFor([&] { return !Alive(pid); }, seconds(10)));
  EXPECT_NE(ReadText(agent.root() / "instances/i1/console.log").find("saving"), std::string::npos);
  const auto stopped = cluster.Job(stop);
  ASSERT_TRUE(stopped && stopped->runs.back().result_json);
  EXPECT_NE(stopped->runs.back().result_json->find(R"("forced":false)"), std::string::npos)
      << *stopped->runs.back().result_json;

  agent.Kill(SIGTERM);
  EXPECT_EQ(agent.Wait(seconds(30)), 0);
}

INSTANTIATE_TEST_SUITE_P(AgentEnds, InstanceRestartTest, ::testing::Values(SIGKILL, SIGTERM),
                         [](const auto& param_info) {
                           return std::string(param_info.param == SIGKILL ? "kill9" : "sigterm");
                         });

}  // namespace
}  // namespace orb::testing
