// kill -9 of a real fleet-cmdr process, then a restart on the same data dir: everything that got a
// 2xx is still there and no job is handed out twice (a 2xx is sent only once the change is on
// disk).

#include <fstream>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "integration/cmdr_process.hpp"
#include "integration/test_cluster.hpp"
#include "protocol/codec.hpp"
#include "support/free_port.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {
namespace {

using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

TEST(KillRestartTest, KillNineLosesNothingAcknowledgedAndHandsOutNoJobTwice) {
  TempDir dir;
  const auto port = FreePort();
  std::set<std::string> dispatched;
  std::vector<std::string> jobs;
  std::vector<std::string> completed;
  std::string admin_token;
  std::string agent_token;
  {
    CmdrProcess cmdr(dir.path(), port);
    ASSERT_TRUE(cmdr.WaitHealthy());
    std::ifstream(dir.path() / "admin.token") >> admin_token;
    ApiClient admin(port, admin_token);
    auto enrolled = protocol::FromJson<protocol::EnrollResponse>(
        admin.Post("/v1/agents", R"({"agentId":"orb-1"})").body);
    ASSERT_TRUE(enrolled);
    agent_token = enrolled->token;
    FakeAgent agent(port, "orb-1", agent_token);
    ASSERT_EQ(agent.Hello({"BACKUP_INSTANCE"}, 64).status, 200);
    for (int i = 0; i < 40; ++i) {
      auto job = protocol::FromJson<protocol::Job>(
          admin.Post("/v1/jobs", JobBody("orb-1", "BACKUP_INSTANCE", fmt::format("mc-{}", i)))
              .body);
      ASSERT_TRUE(job);
      jobs.push_back(job->id);
    }
    for (int i = 0; i < 10; ++i) {
      auto run = agent.NextJob();
      ASSERT_TRUE(run);
      EXPECT_TRUE(dispatched.insert(run->job_id).second);
      if (i < 5) {
        ASSERT_EQ(agent.Complete(run->run_id).status, 200);
        completed.push_back(run->job_id);
      }
    }
    cmdr.Kill(SIGKILL);
  }
  CmdrProcess cmdr(dir.path(), port);
  ASSERT_TRUE(cmdr.WaitHealthy());
  ApiClient admin(port, admin_token);
  for (const auto& id : jobs) {
    auto reply = admin.Get("/v1/jobs/" + id);
    ASSERT_EQ(reply.status, 200) << id;
  }
  for (const auto& id : completed) {
    EXPECT_NE(admin.Get("/v1/jobs/" + id).body.find("\"status\":\"COMPLETED\""), std::string::npos);
  }
  FakeAgent agent(port, "orb-1", agent_token);
  ASSERT_EQ(agent.Hello({"BACKUP_INSTANCE"}, 64).status, 200);
  while (auto run = agent.NextJob()) {
    EXPECT_TRUE(dispatched.insert(run->job_id).second) << "dispatched twice: " << run->job_id;
  }
  EXPECT_EQ(dispatched.size(), jobs.size());
}

}  // namespace
}  // namespace orb::testing
