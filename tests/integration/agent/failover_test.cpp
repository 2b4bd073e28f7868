// orb-jobs-agent over a list of fleet-cmdr replicas (agent/server_failover.hpp): real fleet-cmdr
// processes, the real agent program, and an agent in process whose first server comes and goes.
//
// Two fleet-cmdr processes on one SQLite data dir, one at a time (one fleet-cmdr per SQLite file
// is the supported setup): A, killed, then B on another port, then A again. They share the
// database, so the agent's token and its runs are the same on both, as with replicas on one
// PostgreSQL database.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>

#include "integration/agent/agent_cluster.hpp"
#include "integration/cmdr_process.hpp"
#include "integration/test_cluster.hpp"
#include "protocol/codec.hpp"
#include "support/build_paths.hpp"
#include "support/free_port.hpp"
#include "support/tcp_relay.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kFailoverPayload = R"({"backupId":"b1"})";

std::string ReadAgentLog(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The operator's side, through one fleet-cmdr.
class Operator {
 public:
  Operator(std::uint16_t port, const std::string& admin_token) : api_(port, admin_token) {}

  std::string Enqueue(const std::string& instance) {
    auto job = protocol::FromJson<protocol::Job>(
        api_.Post("/v1/jobs", JobBody("host-1", "VERIFY_BACKUP", instance, kFailoverPayload)).body);
    EXPECT_TRUE(job.has_value());
    return job ? job->id : "";
  }
  std::string Status(const std::string& job_id) {
    auto detail = protocol::FromJson<protocol::JobDetail>(api_.Get("/v1/jobs/" + job_id).body);
    return detail ? std::string(protocol::ToString(detail->job.status)) : "?";
  }
  // The handler's "line N" messages, in the order fleet-cmdr keeps them.
  std::vector<std::string> HandlerLines(const std::string& job_id) {
    auto logs =
        protocol::FromJson<protocol::JobLogs>(api_.Get("/v1/jobs/" + job_id + "/logs").body);
    std::vector<std::string> messages;
    if (logs) {
      for (const auto& line : logs->lines) {
        if (line.message.rfind("line ", 0) == 0) messages.push_back(line.message);
      }
    }
    return messages;
  }
  ApiClient& api() { return api_; }

 private:
  ApiClient api_;
};

TEST(AgentFailoverTest, RunsGoOnThroughTheNextReplicaWhenOneDiesAndTheAgentComesBackToIt) {
  TempDir dir;
  const fs::path data = dir / "data";
  fs::create_directories(data);
  const std::uint16_t port_a = FreePort();
  const std::uint16_t port_b = FreePort();
  auto cmdr = std::make_unique<CmdrProcess>(data, port_a);
  ASSERT_TRUE(cmdr->WaitHealthy());
  std::string admin_token;
  std::ifstream(data / "admin.token") >> admin_token;
  const std::string url_a = cmdr->url();
  const std::string url_b = "http://127.0.0.1:" + std::to_string(port_b);

  auto through_a = std::make_unique<Operator>(port_a, admin_token);
  auto enrolled = protocol::FromJson<protocol::EnrollResponse>(
      through_a->api().Post("/v1/agents", R"({"agentId":"host-1"})").body);
  ASSERT_TRUE(enrolled.has_value());
  fs::create_directories(dir / "agent" / "root");
  AgentProcess agent(dir / "agent", url_a, "host-1", enrolled->token, ORB_AGENT_TESTBED_BIN,
                     {"--server", url_b});
  const fs::path agent_log = dir / "agent.log";
  agent.CaptureOutput(agent_log);
  ASSERT_TRUE(agent.Start());

  // A run starts through A, and A dies (kill -9) in the middle of it.
  const std::string first = through_a->Enqueue("mc-1");
  ASSERT_TRUE(WaitFor([&] { return agent.StartedRuns().size() == 1; }, seconds(10)));
  cmdr->Kill(SIGKILL);
  cmdr.reset();
  through_a.reset();

  // B takes over the data dir. The run's updates, some of them perhaps sent to A already, go to B:
  // every line arrives once, and the run completes.
  cmdr = std::make_unique<CmdrProcess>(data, port_b);
  ASSERT_TRUE(cmdr->WaitHealthy());
  Operator through_b(port_b, admin_token);
  std::ofstream(agent.root() / "release") << "go\n";
  EXPECT_TRUE(WaitFor([&] { return through_b.Status(first) == "COMPLETED"; }, seconds(30)))
      << through_b.Status(first);
  EXPECT_EQ(through_b.HandlerLines(first),
            (std::vector<std::string>{"line 0", "line 1", "line 2"}));

  // A job created through B runs through B.
  const std::string second = through_b.Enqueue("mc-2");
  EXPECT_TRUE(WaitFor([&] { return through_b.Status(second) == "COMPLETED"; }, seconds(30)))
      << through_b.Status(second);
  std::string log = ReadAgentLog(agent_log);
  EXPECT_NE(log.find("fleet-cmdr " + url_a + " failed ("), std::string::npos) << log;
  EXPECT_NE(log.find("moving to " + url_b), std::string::npos) << log;
  EXPECT_EQ(log.find(enrolled->token), std::string::npos) << "the token is in the log";

  // B stops and A is back: the agent goes back to A.
  EXPECT_EQ(cmdr->Stop(), 0);
  cmdr = std::make_unique<CmdrProcess>(data, port_a);
  ASSERT_TRUE(cmdr->WaitHealthy());
  Operator again(port_a, admin_token);
  const std::string third = again.Enqueue("mc-3");
  EXPECT_TRUE(WaitFor([&] { return again.Status(third) == "COMPLETED"; }, seconds(30)))
      << again.Status(third);
  log = ReadAgentLog(agent_log);
  EXPECT_NE(log.find("fleet-cmdr " + url_b + " failed ("), std::string::npos) << log;
  EXPECT_NE(log.find("moving to " + url_a + " (the first of the list)"), std::string::npos) << log;

  agent.Kill(SIGTERM);
  EXPECT_EQ(agent.Wait(seconds(30)), 0);
}

// Completes every run at once.
class InstantHandler final : public jobs::JobHandler {
 public:
  std::string_view type() const override { return "VERIFY_BACKUP"; }
  Expected<std::string> Run(jobs::HandlerContext&) override { return std::string("{}"); }
};

TEST(AgentFailoverTest, AnAgentMovedByAFailureDriftsBackToItsFirstServer) {
  // Short long-polls, so that the loop reaches its long-poll boundary every second.
  AgentCluster cluster([](server::FleetCmdrOptions& options) { options.long_poll_seconds = 1; });
  // The first server is a way to the same fleet-cmdr that is closed at first (a replica that is
  // down when the agent starts) and opens later.
  TcpRelay first({.upstream_port = cluster.port(), .port = FreePort(), .listen = false});
  std::vector<std::unique_ptr<jobs::JobHandler>> handlers;
  handlers.push_back(std::make_unique<InstantHandler>());
  auto& running =
      cluster.StartAgent("host-1", std::move(handlers), true, 4, [&](agent::AgentOptions& options) {
        options.config.servers = {first.Url(), cluster.url()};
        options.failover = {.return_after = seconds(1), .return_max = seconds(2)};
      });
  EXPECT_EQ(running.agent->server(), cluster.url());
  const std::string job = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-1", kFailoverPayload);
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(job) == "COMPLETED"; }, seconds(10)));
  EXPECT_EQ(first.connections(), 0);

  ASSERT_TRUE(first.Open());
  // Tries of the first come every 1-2 s (return_after, doubled while it was down, up to 2 s), at
  // the next long-poll boundary (1 s): back within 5 s.
  EXPECT_TRUE(WaitFor([&] { return running.agent->server() == first.Url(); }, seconds(5)));
  const std::string later = cluster.Enqueue("host-1", "VERIFY_BACKUP", "mc-2", kFailoverPayload);
  EXPECT_TRUE(WaitFor([&] { return cluster.Status(later) == "COMPLETED"; }, seconds(10)));
  EXPECT_GT(first.connections(), 0);
  EXPECT_EQ(running.agent->server(), first.Url());
}

}  // namespace
}  // namespace orb::testing
