// Host inventory end to end (docs/protocol.md "Host inventory"): the shipped orb-jobs-agent (its
// real handlers, heartbeats every second) against a real fleet-cmdr. A server installed by
// INSTALL_SERVER from an uploaded tar.gz and an instance started by START_INSTANCE show up in
// GET /v1/agents/{id}/inventory with the instance's pid; once its process is killed behind the
// agent's back the inventory turns `crashed` and agent.inventory arrives on the stream; the agent
// list summarizes it. Who may read and write it is checked with real tokens.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "common/sha256.hpp"
#include "integration/agent/agent_cluster.hpp"
#include "integration/agent/fake_game_server.hpp"
#include "net/ws_client.hpp"
#include "protocol/codec.hpp"
#include "protocol/instance_json.hpp"
#include "protocol/inventory.hpp"
#include "support/files.hpp"

namespace orb::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

class InventoryAgentsTest : public ::testing::Test {
 protected:
  InventoryAgentsTest()
      : cluster_([](server::FleetCmdrOptions& options) { options.heartbeat_seconds = 1; }),
        agent_(dir_.path(), cluster_.url(), "host-1", cluster_.TokenOf("host-1"), ORB_AGENT_BIN,
               {"--instance-supervisor", "process"}) {
    agent_.CaptureOutput(dir_.path() / "agent.log");
  }
  ~InventoryAgentsTest() override {
    agent_.Kill(SIGTERM);
    agent_.Wait(seconds(30));
    if (pid_ > 0) ::kill(-pid_, SIGKILL);
  }

  // A tar.gz of bin/start.sh uploaded to fleet-cmdr's artifact store: the payload's artifact.
  std::string Artifact() {
    const fs::path tree = dir_.path() / "tree";
    fs::create_directories(tree / "bin");
    std::ofstream(tree / "bin/start.sh") << kFakeGameServerScript;
    fs::permissions(tree / "bin/start.sh", fs::perms::owner_all);
    const fs::path archive = dir_.path() / "build.tar.gz";
    const std::string tar = "tar -C '" + tree.string() + "' -czf '" + archive.string() + "' .";
    EXPECT_EQ(std::system(tar.c_str()), 0);
    const std::string bytes = ReadText(archive);
    const auto [status, body] = cluster_.Admin("PUT", "/v1/artifacts", bytes);
    EXPECT_TRUE(status == 200 || status == 201) << status << " " << body;
    const std::string sha = Sha256Hex(bytes);
    return fmt::format(R"({{"url": "/v1/artifacts/{}", "sha256": "{}", "size": {}}})", sha, sha,
                       bytes.size());
  }

  void RunJob(const std::string& type, const std::string& target, const std::string& payload) {
    protocol::CreateJobRequest request;
    request.agent_id = "host-1";
    request.type = type;
    if (type == "INSTALL_SERVER") {
      request.server_id = target;
    } else {
      request.instance_id = target;
    }
    request.payload_json = payload;
    request.timeout_seconds = 60;
    request.max_attempts = 1;
    const auto [status, body] = cluster_.Admin("POST", "/v1/jobs", protocol::ToJson(request));
    ASSERT_EQ(status, 201) << body;
    auto job = protocol::FromJson<protocol::Job>(body);
    ASSERT_TRUE(job.has_value()) << body;
    ASSERT_TRUE(WaitFor([&] { return cluster_.Status(job->id) == "COMPLETED"; }, seconds(30)))
        << type << " " << cluster_.Status(job->id) << " " << cluster_.LastError(job->id) << "\n"
        << ReadText(dir_.path() / "agent.log");
  }

  std::optional<protocol::HostInventory> Inventory() {
    const auto [status, body] = cluster_.Admin("GET", "/v1/agents/host-1/inventory");
    if (status != 200) return std::nullopt;
    auto inventory = protocol::ParseHostInventory(body);
    if (!inventory) return std::nullopt;
    return *inventory;
  }

  AgentCluster cluster_;
  TempDir dir_;
  AgentProcess agent_;
  pid_t pid_ = 0;
};

TEST_F(InventoryAgentsTest, AnInstanceKilledBehindTheAgentsBackTurnsCrashed) {
  ASSERT_TRUE(agent_.Start());
  // The first report comes right after hello: an empty host.
  ASSERT_TRUE(WaitFor([&] { return Inventory().has_value(); }, seconds(20)))
      << ReadText(dir_.path() / "agent.log");
  EXPECT_TRUE(Inventory()->instances.empty());

  RunJob("INSTALL_SERVER", "s1",
         fmt::format(R"({{"buildId": "b1", "activate": true, "artifact": {}}})", Artifact()));
  RunJob("START_INSTANCE", "i1", kFakeGameServerStart);
  auto runtime =
      protocol::ParseInstanceRuntime(ReadText(agent_.root() / "instances/i1/runtime.json"));
  ASSERT_TRUE(runtime && runtime->pid);
  pid_ = static_cast<pid_t>(*runtime->pid);

  // Reported after the run that changed it.
  std::optional<protocol::HostInventory> inventory;
  ASSERT_TRUE(WaitFor(
      [&] {
        inventory = Inventory();
        return inventory && inventory->instances.size() == 1 &&
               inventory->instances[0].state == protocol::InstanceRunState::kRunning;
      },
      seconds(10)));
  EXPECT_EQ(inventory->instances[0].pid, runtime->pid);
  EXPECT_EQ(inventory->instances[0].build_id, "b1");
  ASSERT_EQ(inventory->servers.size(), 1U);
  EXPECT_EQ(inventory->servers[0].current_build, "b1");
  ASSERT_EQ(inventory->servers[0].builds.size(), 1U);
  EXPECT_GT(inventory->disk.root_total_bytes, 0U);

  // The stream, from now on.
  net::WebSocketOptions ws_options;
  ws_options.base_url = cluster_.url();
  net::WebSocketClient ws(ws_options);
  ASSERT_TRUE(ws.Connect("/v1/stream").has_value());
  ASSERT_TRUE(ws.Send(fmt::format(R"({{"type":"subscribe","token":"{}"}})", cluster_.admin_token()))
                  .has_value());
  ASSERT_TRUE(ws.Receive(seconds(5)).has_value());  // ready

  // No job runs now: only the heartbeat check can notice (1 s here).
  ASSERT_EQ(::kill(-pid_, SIGKILL), 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        inventory = Inventory();
        return inventory && inventory->instances.size() == 1 &&
               inventory->instances[0].state == protocol::InstanceRunState::kCrashed;
      },
      seconds(10)))
      << ReadText(dir_.path() / "agent.log");
  std::optional<protocol::Event> announced;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto text = ws.Receive(std::chrono::milliseconds(200));
        if (!text) return false;
        auto message = protocol::ParseStreamMessage(*text);
        // The running instance's own event may still be on its way when the stream starts.
        if (message && message->event &&
            message->event->type == protocol::EventType::kAgentInventory &&
            message->event->message.value_or("").find("1 crashed") != std::string::npos) {
          announced = message->event;
        }
        return announced.has_value();
      },
      seconds(10)));
  ASSERT_TRUE(announced.has_value());
  EXPECT_EQ(announced->agent_id, "host-1");
  EXPECT_EQ(announced->message, "instances: 0 running, 0 stopped, 1 crashed");

  // The agent list summarizes it.
  const auto [list_status, list_body] = cluster_.Admin("GET", "/v1/agents");
  ASSERT_EQ(list_status, 200) << list_body;
  auto list = protocol::FromJson<protocol::AgentList>(list_body);
  ASSERT_TRUE(list.has_value()) << list_body;
  ASSERT_EQ(list->agents.size(), 1U);
  ASSERT_TRUE(list->agents[0].inventory.has_value()) << list_body;
  EXPECT_EQ(list->agents[0].inventory->crashed, 1);
  EXPECT_EQ(list->agents[0].last_job_status, protocol::JobStatus::kCompleted);
}

TEST_F(InventoryAgentsTest, AViewerReadsItAndAnotherAgentCannotWriteIt) {
  const std::string other = cluster_.TokenOf("host-2");
  const auto [created, token_body] =
      cluster_.Admin("POST", "/v1/tokens", R"({"role": "viewer", "name": "watcher"})");
  ASSERT_EQ(created, 201) << token_body;
  auto viewer = protocol::FromJson<protocol::TokenCreated>(token_body);
  ASSERT_TRUE(viewer.has_value());

  // Before any report: 404 naming the agent.
  const auto [missing, missing_body] =
      cluster_.CallAs(viewer->token, "GET", "/v1/agents/host-1/inventory");
  EXPECT_EQ(missing, 404);
  EXPECT_NE(missing_body.find("host-1"), std::string::npos) << missing_body;

  const std::string body =
      R"({"servers":[],"instances":[{"instanceId":"i9","serverId":"s1","state":"running",)"
      R"("pid":42,"supervisor":"process"}],"backups":[],)"
      R"("disk":{"rootFreeBytes":1,"rootTotalBytes":2},"reportedAt":"2026-12-06T14:00:00.000Z"})";
  EXPECT_EQ(cluster_.CallAs(other, "POST", "/v1/agents/host-1/inventory", body).first, 403);
  EXPECT_EQ(cluster_.CallAs(viewer->token, "POST", "/v1/agents/host-1/inventory", body).first, 403);
  // A bad body: 400 naming the field, nothing stored.
  const std::string own = cluster_.TokenOf("host-1");
  const auto [bad, bad_body] =
      cluster_.CallAs(own, "POST", "/v1/agents/host-1/inventory",
                      R"({"servers":[],"instances":[],"backups":[],"disk":)"
                      R"({"rootFreeBytes":1,"rootTotalBytes":2},"color":1})");
  EXPECT_EQ(bad, 400);
  EXPECT_NE(bad_body.find("color"), std::string::npos) << bad_body;
  EXPECT_EQ(cluster_.CallAs(viewer->token, "GET", "/v1/agents/host-1/inventory").first, 404);

  EXPECT_EQ(cluster_.CallAs(own, "POST", "/v1/agents/host-1/inventory", body).first, 204);
  const auto [read, read_body] =
      cluster_.CallAs(viewer->token, "GET", "/v1/agents/host-1/inventory");
  ASSERT_EQ(read, 200) << read_body;
  auto inventory = protocol::ParseHostInventory(read_body);
  ASSERT_TRUE(inventory.has_value()) << read_body;
  ASSERT_EQ(inventory->instances.size(), 1U);
  EXPECT_EQ(inventory->instances[0].pid, 42);
  // An agent cannot read it (reads are the staff's).
  EXPECT_EQ(cluster_.CallAs(own, "GET", "/v1/agents/host-1/inventory").first, 403);
}

// An idle host sends its inventory once: each heartbeat's check finds nothing new. Watched for
// 3.5 heartbeats (1 s each), so at least three checks ran after the first report.
TEST_F(InventoryAgentsTest, AnIdleAgentReportsOnceAndThenNothing) {
  auto& running = cluster_.StartAgent("idle-1", {});
  ASSERT_TRUE(
      WaitFor([&] { return cluster_.Admin("GET", "/v1/agents/idle-1/inventory").first == 200; },
              seconds(10)));
  EXPECT_EQ(running.agent->inventory_calls(), 1);
  EXPECT_FALSE(WaitFor([&] { return running.agent->inventory_calls() > 1; },
                       std::chrono::milliseconds(3500)));
}

}  // namespace
}  // namespace orb::testing
