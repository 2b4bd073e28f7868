// The store contract: the calls that let several fleet-cmdr replicas share one store — presence,
// the first admin token, the token change feed, the leader lease. One store instance here; the
// same calls raced by several instances are in store_instances_test.cpp.

#include <string>
#include <vector>

#include "contract/store_contract.hpp"

namespace orb::store {
namespace {

// ---- Presence ----

TEST_P(StoreContractTest, PresenceIsAnnouncedOncePerChange) {
  Enroll("a1");
  auto online = store().MarkAgentOnline("a1", Now());
  ASSERT_THAT(online, IsOk());
  EXPECT_TRUE(online->value);
  ASSERT_THAT(Types(online->events), ElementsAre(EventType::kAgentOnline));
  EXPECT_EQ(online->events[0].agent_id, "a1");
  EXPECT_EQ(online->events[0].status, "online");
  EXPECT_EQ(online->events[0].timestamp, Now());

  clock_.Advance(5s);
  auto again = store().MarkAgentOnline("a1", Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->value);
  EXPECT_TRUE(again->events.empty());
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_EQ(agent->last_seen_at, Now());  // seen again, still online

  // Seen 5 s ago: not gone for a cutoff of 10 s ago, gone for one of 1 s ago.
  auto kept = store().MarkAgentsOffline(Now(), Now() - 10s);
  ASSERT_THAT(kept, IsOk());
  EXPECT_EQ(kept->value, 0);
  clock_.Advance(5s);
  auto gone = store().MarkAgentsOffline(Now(), Now() - 1s);
  ASSERT_THAT(gone, IsOk());
  EXPECT_EQ(gone->value, 1);
  ASSERT_THAT(Types(gone->events), ElementsAre(EventType::kAgentOffline));
  EXPECT_EQ(gone->events[0].agent_id, "a1");
  EXPECT_EQ(gone->events[0].status, "offline");
  auto twice = store().MarkAgentsOffline(Now(), Now() - 1s);
  ASSERT_THAT(twice, IsOk());
  EXPECT_EQ(twice->value, 0);
  EXPECT_TRUE(twice->events.empty());

  auto back = store().MarkAgentOnline("a1", Now());
  ASSERT_THAT(back, IsOk());
  EXPECT_TRUE(back->value);
  EXPECT_THAT(store().MarkAgentOnline("ghost", Now()), FailsWith(Errc::kNotFound));
}

// ---- Health ----

TEST_P(StoreContractTest, AgentHealthIsKeptAndAnnouncedOncePerChange) {
  Enroll("a1");
  const protocol::AgentStatusReport healthy{true, {}, Now()};
  const protocol::AgentStatusReport full_disk{
      false,
      {{"journal_unwritable", "the journal cannot be written: No space left on device"}},
      Now()};
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_FALSE(agent->health);  // never reported

  auto first = store().SetAgentHealth("a1", healthy, Now());  // healthy from the start: quiet
  ASSERT_THAT(first, IsOk());
  EXPECT_FALSE(first->value);
  EXPECT_TRUE(first->events.empty());
  agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_EQ(agent->health, healthy);

  clock_.Advance(1s);
  auto sick = store().SetAgentHealth("a1", full_disk, Now());
  ASSERT_THAT(sick, IsOk());
  EXPECT_TRUE(sick->value);
  ASSERT_THAT(Types(sick->events), ElementsAre(EventType::kAgentHealth));
  EXPECT_EQ(sick->events[0].agent_id, "a1");
  EXPECT_EQ(sick->events[0].status, "unhealthy");
  EXPECT_EQ(sick->events[0].message,
            "journal_unwritable: the journal cannot be written: No space left on device");
  EXPECT_EQ(sick->events[0].timestamp, Now());

  // The same problem again (every heartbeat while unhealthy): kept, not announced.
  clock_.Advance(10s);
  protocol::AgentStatusReport still = full_disk;
  still.reported_at = Now();
  auto repeat = store().SetAgentHealth("a1", still, Now());
  ASSERT_THAT(repeat, IsOk());
  EXPECT_FALSE(repeat->value);
  EXPECT_TRUE(repeat->events.empty());
  auto listed = store().ListAgents(AgentFilter{});
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ((*listed)[0].health, still);

  auto well = store().SetAgentHealth("a1", healthy, Now());
  ASSERT_THAT(well, IsOk());
  EXPECT_TRUE(well->value);
  ASSERT_THAT(Types(well->events), ElementsAre(EventType::kAgentHealth));
  EXPECT_EQ(well->events[0].status, "healthy");
  EXPECT_FALSE(well->events[0].message);

  EXPECT_THAT(store().SetAgentHealth("ghost", healthy, Now()), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, AnAgentNeverSeenOnlineIsNotMarkedOffline) {
  Enroll("a1");
  Enroll("a2");
  ASSERT_THAT(store().MarkAgentOnline("a2", Now()), IsOk());
  clock_.Advance(60s);
  auto gone = store().MarkAgentsOffline(Now(), Now());
  ASSERT_THAT(gone, IsOk());
  EXPECT_EQ(gone->value, 1);
  ASSERT_EQ(gone->events.size(), 1u);
  EXPECT_EQ(gone->events[0].agent_id, "a2");
}

// ---- The first admin token ----

TEST_P(StoreContractTest, TheFirstAdminTokenIsCreatedOnlyWhileThereIsNoLiveOne) {
  TokenRecord first{"t1", "bootstrap admin", protocol::Role::kAdmin, std::nullopt, "h1", Now(), {}};
  auto created = store().CreateFirstAdminToken(first);
  ASSERT_THAT(created, IsOk());
  EXPECT_TRUE(created->value);
  TokenRecord second = first;
  second.id = "t2";
  second.token_hash = "h2";
  auto refused = store().CreateFirstAdminToken(second);
  ASSERT_THAT(refused, IsOk());
  EXPECT_FALSE(refused->value);
  EXPECT_THAT(store().FindTokenByHash("h2"), FailsWith(Errc::kNotFound));
  auto found = store().FindTokenByHash("h1");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(*found, first);

  // An operator token does not count; a revoked admin token does not either.
  TokenRecord op{"t3", "ops", protocol::Role::kOperator, std::nullopt, "h3", Now(), {}};
  ASSERT_THAT(store().CreateToken(op), IsOk());
  ASSERT_THAT(store().RevokeToken("t1", Now()), IsOk());
  auto again = store().CreateFirstAdminToken(second);
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->value);
  EXPECT_THAT(store().FindTokenByHash("h2"), IsOk());
  TokenRecord taken = second;
  taken.id = "t9";
  ASSERT_THAT(store().RevokeToken("t2", Now()), IsOk());
  EXPECT_THAT(store().CreateFirstAdminToken(taken), FailsWith(Errc::kAlreadyExists));
}

// ---- The token change feed ----

TEST_P(StoreContractTest, TokenChangesFollowCreationsAndRevocations) {
  auto start = store().TokenChangesSince(0);
  ASSERT_THAT(start, IsOk());
  EXPECT_TRUE(start->tokens.empty());
  const std::int64_t v0 = start->version;

  TokenRecord op{"t1", "ops", protocol::Role::kOperator, std::nullopt, "h1", Now(), {}};
  ASSERT_THAT(store().CreateToken(op), IsOk());
  Enroll("a1");
  auto created = store().TokenChangesSince(v0);
  ASSERT_THAT(created, IsOk());
  ASSERT_EQ(created->tokens.size(), 2u);
  EXPECT_EQ(created->tokens[0], op);
  EXPECT_EQ(created->tokens[1].agent_id, "a1");
  EXPECT_GT(created->version, v0);
  const std::int64_t v1 = created->version;

  auto none = store().TokenChangesSince(v1);
  ASSERT_THAT(none, IsOk());
  EXPECT_TRUE(none->tokens.empty());
  EXPECT_EQ(none->version, v1);

  ASSERT_THAT(store().RevokeToken("t1", Now()), IsOk());
  ASSERT_THAT(store().RevokeAgent("a1", Now()), IsOk());
  auto revoked = store().TokenChangesSince(v1);
  ASSERT_THAT(revoked, IsOk());
  ASSERT_EQ(revoked->tokens.size(), 2u);
  EXPECT_EQ(revoked->tokens[0].id, "t1");
  EXPECT_EQ(revoked->tokens[0].revoked_at, Now());
  EXPECT_EQ(revoked->tokens[1].agent_id, "a1");
  EXPECT_EQ(revoked->tokens[1].revoked_at, Now());
  EXPECT_GT(revoked->version, v1);

  // Revoking what is revoked changes nothing, so the feed has nothing new either.
  ASSERT_THAT(store().RevokeToken("t1", Now()), IsOk());
  auto quiet = store().TokenChangesSince(revoked->version);
  ASSERT_THAT(quiet, IsOk());
  EXPECT_TRUE(quiet->tokens.empty());
}

// ---- The leader lease ----

TEST_P(StoreContractTest, TheLeaderLeaseIsHeldByOneHolderUntilItExpires) {
  auto first = store().TryLeadership("timers", "r1", Now(), 10s);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(*first, (Leadership{true, "r1", Now() + 10s}));
  auto other = store().TryLeadership("timers", "r2", Now(), 10s);
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(*other, (Leadership{false, "r1", Now() + 10s}));
  // Another lease name is another lease.
  auto elsewhere = store().TryLeadership("pruning", "r2", Now(), 10s);
  ASSERT_THAT(elsewhere, IsOk());
  EXPECT_TRUE(elsewhere->held);

  clock_.Advance(5s);
  auto renewed = store().TryLeadership("timers", "r1", Now(), 10s);
  ASSERT_THAT(renewed, IsOk());
  EXPECT_EQ(*renewed, (Leadership{true, "r1", Now() + 10s}));

  clock_.Advance(9s);  // 1 s left
  other = store().TryLeadership("timers", "r2", Now(), 10s);
  ASSERT_THAT(other, IsOk());
  EXPECT_FALSE(other->held);
  clock_.Advance(1s);  // expired now: taken over
  other = store().TryLeadership("timers", "r2", Now(), 10s);
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(*other, (Leadership{true, "r2", Now() + 10s}));
  first = store().TryLeadership("timers", "r1", Now(), 10s);
  ASSERT_THAT(first, IsOk());
  EXPECT_FALSE(first->held);
  EXPECT_EQ(first->holder, "r2");

  // Given up on shutdown: the next one takes it at once. Releasing another's lease does nothing.
  ASSERT_THAT(store().ReleaseLeadership("timers", "r1"), IsOk());
  first = store().TryLeadership("timers", "r1", Now(), 10s);
  ASSERT_THAT(first, IsOk());
  EXPECT_FALSE(first->held);
  ASSERT_THAT(store().ReleaseLeadership("timers", "r2"), IsOk());
  first = store().TryLeadership("timers", "r1", Now(), 10s);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->held);
}

}  // namespace
}  // namespace orb::store
