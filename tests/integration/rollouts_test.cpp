// The rollout routes (docs/protocol.md "Rollouts") of a real fleet-cmdr over HTTP, with
// test-side agents: roles, bad input, the lifecycle through pause / resume / abort, and the
// leader's timer moving a rollout on when its jobs end.

#include <chrono>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "integration/test_cluster.hpp"
#include "protocol/codec.hpp"
#include "protocol/rollout_codec.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {
namespace {

using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

// A rollout of BACKUP_INSTANCE main over `target` (JSON) with `policy` (JSON).
std::string RolloutBody(const std::string& target, const std::string& policy,
                        const std::string& extra = "") {
  return fmt::format(
      R"({{"name":"backups","target":{},"job":{{"type":"BACKUP_INSTANCE","instanceId":"main",)"
      R"("payload":{{}},"maxAttempts":1}},"policy":{}{}}})",
      target, policy, extra);
}

protocol::Rollout MustParse(const Reply& reply) {
  auto rollout = protocol::ParseRollout(reply.body);
  EXPECT_TRUE(rollout.has_value()) << reply.body;
  return rollout ? *rollout : protocol::Rollout{};
}

class RolloutApiTest : public ::testing::Test {
 protected:
  // Agents v1..v3 labelled game=valheim, saying hello as test-side agents.
  void SetUp() override {
    for (int i = 1; i <= 3; ++i) {
      const std::string id = "v" + std::to_string(i);
      const std::string token = cluster_.Enroll(id, {{"game", "valheim"}});
      agents_.push_back(std::make_unique<FakeAgent>(cluster_.port(), id, token));
      ASSERT_EQ(agents_.back()->Hello({"BACKUP_INSTANCE"}).status, 200);
    }
  }

  protocol::Rollout Get(const std::string& id) {
    return MustParse(cluster_.admin().Get("/v1/rollouts/" + id));
  }

  TestCluster cluster_;
  std::vector<std::unique_ptr<FakeAgent>> agents_;
};

TEST_F(RolloutApiTest, BadInputIs400NamingTheFieldAndCreatesNothing) {
  auto& admin = cluster_.admin();
  const std::string valheim = R"({"selector":{"labels":{"game":"valheim"}}})";
  struct Case {
    std::string body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {R"({"target":{"agentIds":["v1"]},"job":{"type":"BACKUP_INSTANCE","instanceId":"m"}})",
       "name"},
      {RolloutBody(valheim, R"({"maxInFlight":"lots"})"), "policy.maxInFlight"},
      {RolloutBody(valheim, R"({"phases":[{"percent":50},{"percent":40}]})"),
       "policy.phases[1].percent"},
      {RolloutBody(valheim, R"({"abort":{"failedPercent":0}})"), "policy.abort.failedPercent"},
      {RolloutBody(R"({"agentIds":["v1","ghost"]})", "{}"), "target.agentIds[1]"},
      {RolloutBody(R"({"selector":{"labels":{"game":"factorio"}}})", "{}"), "target.selector"},
      {RolloutBody(valheim, "{}", R"(,"order":"sideways")"), "order"},
      {R"({"name":"x","target":{"agentIds":["v1"]},"job":{"type":"BACKUP_INSTANCE"}})",
       "job.instanceId"},
      {R"({"name":"x","target":{"agentIds":["v1"]},"job":{"type":"BACKUP_INSTANCE",)"
       R"("instanceId":"m","agentId":"v2"}})",
       "job.agentId"},
  };
  for (const Case& c : cases) {
    auto reply = admin.Post("/v1/rollouts", c.body);
    EXPECT_EQ(reply.status, 400) << c.body << "\n" << reply.body;
    EXPECT_NE(reply.body.find("\"" + c.field + "\""), std::string::npos)
        << c.field << ": " << reply.body;
  }
  auto unknown_type = admin.Post(
      "/v1/rollouts", R"({"name":"x","target":{"agentIds":["v1"]},"job":{"type":"NOPE"}})");
  EXPECT_EQ(unknown_type.status, 400) << unknown_type.body;
  EXPECT_EQ(unknown_type.error_code, "unknown_job_type");

  auto list = protocol::ParseRolloutList(admin.Get("/v1/rollouts").body);
  ASSERT_TRUE(list.has_value());
  EXPECT_TRUE(list->rollouts.empty());
  auto jobs = admin.Get("/v1/jobs");
  EXPECT_EQ(jobs.body.find("BACKUP_INSTANCE"), std::string::npos) << jobs.body;
}

TEST_F(RolloutApiTest, OperatorsWriteViewersReadAndTheLeaderMovesItOnAsJobsEnd) {
  ApiClient viewer(cluster_.port(), cluster_.CreateToken("viewer"));
  ApiClient operator_client(cluster_.port(), cluster_.CreateToken("operator"));
  const std::string body =
      RolloutBody(R"({"selector":{"labels":{"game":"valheim"}}})", R"({"maxInFlight":2})");
  EXPECT_EQ(viewer.Post("/v1/rollouts", body).status, 403);
  auto created = operator_client.Post("/v1/rollouts", body);
  ASSERT_EQ(created.status, 201) << created.body;
  const protocol::Rollout rollout = MustParse(created);
  // The answer shows the first hosts started.
  EXPECT_EQ(rollout.status, "RUNNING");
  EXPECT_EQ(rollout.counts.total, 3);
  EXPECT_EQ(rollout.counts.queued, 2);
  EXPECT_EQ(rollout.counts.pending, 1);
  EXPECT_EQ(rollout.policy.max_in_flight, 2);

  EXPECT_EQ(viewer.Get("/v1/rollouts/" + rollout.id).status, 200);
  auto listed = protocol::ParseRolloutList(viewer.Get("/v1/rollouts?status=RUNNING").body);
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->rollouts.size(), 1U);
  EXPECT_EQ(viewer.Get("/v1/rollouts?status=SLEEPING").status, 400);
  EXPECT_EQ(viewer.Get("/v1/rollouts/nope").status, 404);
  auto hosts = protocol::ParseRolloutHostList(
      viewer.Get("/v1/rollouts/" + rollout.id + "/hosts?status=queued").body);
  ASSERT_TRUE(hosts.has_value());
  ASSERT_EQ(hosts->hosts.size(), 2U);
  EXPECT_EQ(hosts->hosts[0].agent_id, "v1");
  auto jobs =
      protocol::FromJson<protocol::JobList>(viewer.Get("/v1/jobs?rolloutId=" + rollout.id).body);
  ASSERT_TRUE(jobs.has_value());
  ASSERT_EQ(jobs->jobs.size(), 2U);
  EXPECT_EQ(jobs->jobs[0].rollout_id, rollout.id);

  // v1 finishes its job: the leader's round starts v3 (no request does it).
  auto run = agents_[0]->NextJob();
  ASSERT_TRUE(run.has_value());
  ASSERT_EQ(agents_[0]->Complete(run->run_id).status, 200);
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto now = Get(rollout.id);
        return now.counts.completed == 1 && now.counts.pending == 0;
      },
      5s));

  EXPECT_EQ(viewer.Post("/v1/rollouts/" + rollout.id + "/pause").status, 403);
  auto paused = operator_client.Post("/v1/rollouts/" + rollout.id + "/pause", "");
  ASSERT_EQ(paused.status, 200) << paused.body;
  EXPECT_EQ(MustParse(paused).status, "PAUSED");
  auto again = operator_client.Post("/v1/rollouts/" + rollout.id + "/pause", "");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.error_code, "invalid_state");
  auto resumed = operator_client.Post("/v1/rollouts/" + rollout.id + "/resume", "");
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  EXPECT_EQ(MustParse(resumed).status, "RUNNING");
  EXPECT_EQ(operator_client.Post("/v1/rollouts/" + rollout.id + "/abort", R"({"bogus":1})").status,
            400);
  auto aborted = operator_client.Post("/v1/rollouts/" + rollout.id + "/abort", "");
  ASSERT_EQ(aborted.status, 200) << aborted.body;
  const protocol::Rollout after = MustParse(aborted);
  EXPECT_EQ(after.status, "ABORTED");
  // Its queued jobs were cancelled by the abort's advance.
  EXPECT_EQ(after.counts.queued, 0);
  EXPECT_EQ(after.counts.cancelled, 2);
  EXPECT_EQ(operator_client.Post("/v1/rollouts/" + rollout.id + "/resume", "").status, 409);
  EXPECT_EQ(operator_client.Post("/v1/rollouts/nope/abort", "").status, 404);
}

TEST_F(RolloutApiTest, AnIdempotencyKeyAnswersTheFirstRolloutWith200) {
  const std::string body = RolloutBody(R"({"agentIds":["v2","v1"]})", R"({"maxInFlight":"50%"})",
                                       R"(,"idempotencyKey":"k1","order":"random")");
  auto first = cluster_.admin().Post("/v1/rollouts", body);
  ASSERT_EQ(first.status, 201) << first.body;
  auto second = cluster_.admin().Post("/v1/rollouts", body);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(MustParse(first).id, MustParse(second).id);
  EXPECT_EQ(MustParse(second).policy.max_in_flight_percent, true);
  auto other = cluster_.admin().Post(
      "/v1/rollouts", RolloutBody(R"({"agentIds":["v1"]})", "{}", R"(,"idempotencyKey":"k1")"));
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(other.error_code, "idempotency_conflict");
}

}  // namespace
}  // namespace orb::testing
