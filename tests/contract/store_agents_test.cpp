// The store contract: tokens and agents (protocol.md §2, §4, §5).

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "contract/store_contract.hpp"

namespace orb::store {
namespace {

// ---- Tokens and agents (protocol.md §2, §5) ----

TEST_P(StoreContractTest, TokensAreFoundByHashUntilRevoked) {
  auto has_admin = store().HasAdminToken();
  ASSERT_THAT(has_admin, IsOk());
  EXPECT_FALSE(*has_admin);
  TokenRecord admin{"t1", "bootstrap", protocol::Role::kAdmin, std::nullopt, "h1", Now(), {}};
  ASSERT_THAT(store().CreateToken(admin), IsOk());
  EXPECT_THAT(store().CreateToken(admin), FailsWith(Errc::kAlreadyExists));
  has_admin = store().HasAdminToken();
  ASSERT_THAT(has_admin, IsOk());
  EXPECT_TRUE(*has_admin);

  auto found = store().FindTokenByHash("h1");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(*found, admin);
  EXPECT_THAT(store().FindTokenByHash("h2"), FailsWith(Errc::kNotFound));

  ASSERT_THAT(store().RevokeToken("t1", Now()), IsOk());
  ASSERT_THAT(store().RevokeToken("t1", Now()), IsOk());
  EXPECT_THAT(store().RevokeToken("t9", Now()), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().FindTokenByHash("h1"), FailsWith(Errc::kNotFound));
  has_admin = store().HasAdminToken();
  ASSERT_THAT(has_admin, IsOk());
  EXPECT_FALSE(*has_admin);
  auto tokens = store().ListTokens();
  ASSERT_THAT(tokens, IsOk());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].revoked_at, Now());
}

TEST_P(StoreContractTest, EnrollingAnAgentTwiceIsRefused) {
  TokenRecord token{"t-a1", "a1", protocol::Role::kAgent, "a1", "h-a1", Now(), {}};
  auto enrolled = store().EnrollAgent("a1", {{"region", "eu"}}, token, Now());
  ASSERT_THAT(enrolled, IsOk());
  EXPECT_EQ(enrolled->value.agent_id, "a1");
  EXPECT_EQ(enrolled->value.labels.at("region"), "eu");
  EXPECT_THAT(Types(enrolled->events), ElementsAre(EventType::kAgentEnrolled));
  EXPECT_EQ(enrolled->events[0].agent_id, "a1");
  auto found = store().FindTokenByHash("h-a1");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(found->role, protocol::Role::kAgent);
  EXPECT_EQ(found->agent_id, "a1");

  token.id = "t-a1b";
  token.token_hash = "h-a1b";
  EXPECT_THAT(store().EnrollAgent("a1", {}, token, Now()), FailsWith(Errc::kAlreadyExists));
}

TEST_P(StoreContractTest, RevokingAnAgentRevokesItsTokensAndAllowsReenrollment) {
  Enroll("a1", {{"region", "eu"}});
  ASSERT_THAT(store().FindTokenByHash("hash-a1"), IsOk());
  ASSERT_THAT(store().RevokeAgent("a1", Now()), IsOk());
  EXPECT_THAT(store().RevokeAgent("ghost", Now()), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().FindTokenByHash("hash-a1"), FailsWith(Errc::kNotFound));
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_TRUE(agent->revoked);
  EXPECT_THAT(store().RecordHello("a1", {}, Now()), FailsWith(Errc::kForbidden));

  TokenRecord token{"t2", "a1", protocol::Role::kAgent, "a1", "hash-a1-new", Now(), {}};
  ASSERT_THAT(store().EnrollAgent("a1", {{"region", "us"}}, token, Now()), IsOk());
  agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_FALSE(agent->revoked);
  EXPECT_EQ(agent->labels.at("region"), "us");
}

TEST_P(StoreContractTest, HelloStoresWhatTheAgentDeclared) {
  Enroll("a1", {{"region", "eu"}, {"tier", "gold"}});
  protocol::HelloRequest hello;
  hello.agent_version = "1.4.0";
  hello.job_types = {"BACKUP_INSTANCE", "VERIFY_BACKUP"};
  hello.max_parallel = 3;
  hello.labels = {{"region", "us"}, {"os", "debian"}};
  ASSERT_THAT(store().RecordHello("a1", hello, Now()), IsOk());
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_EQ(agent->agent_version, "1.4.0");
  EXPECT_EQ(agent->job_types, hello.job_types);
  EXPECT_EQ(agent->max_parallel, 3);
  EXPECT_EQ(agent->last_seen_at, Now());
  EXPECT_EQ(agent->labels,
            (protocol::Labels{{"region", "us"}, {"tier", "gold"}, {"os", "debian"}}));
  EXPECT_FALSE(agent->online);
  EXPECT_THAT(store().GetAgent("ghost"), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, ListAgentsMatchesSelectorsAndSkipsRevokedOnRequest) {
  Enroll("a1", {{"region", "eu"}});
  Enroll("a2", {{"region", "eu"}, {"tier", "gold"}});
  Enroll("a3", {{"region", "us"}});
  ASSERT_THAT(store().RevokeAgent("a1", Now()), IsOk());
  auto ids = [&](const AgentFilter& filter) {
    std::vector<std::string> out;
    auto agents = store().ListAgents(filter);
    EXPECT_THAT(agents, IsOk());
    if (agents) {
      for (const auto& agent : *agents)
        out.push_back(agent.agent_id);
    }
    return out;
  };
  EXPECT_THAT(ids({}), ElementsAre("a1", "a2", "a3"));
  EXPECT_THAT(ids({.labels = {{"region", "eu"}}, .include_revoked = false}), ElementsAre("a2"));
  EXPECT_THAT(ids({.labels = {{"region", "eu"}}}), ElementsAre("a1", "a2"));
  EXPECT_THAT(ids({.labels = {{"tier", "gold"}, {"region", "us"}}}), ElementsAre());
}

TEST_P(StoreContractTest, TouchAgentsNeverMovesLastSeenBack) {
  Enroll("a1");
  const WallTime later = Now() + 10s;
  const std::vector<AgentSeen> seen{{"a1", later}, {"ghost", later}};
  ASSERT_THAT(store().TouchAgents(seen), IsOk());
  const std::vector<AgentSeen> earlier{{"a1", Now()}};
  ASSERT_THAT(store().TouchAgents(earlier), IsOk());
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_EQ(agent->last_seen_at, later);
}

}  // namespace
}  // namespace orb::store
