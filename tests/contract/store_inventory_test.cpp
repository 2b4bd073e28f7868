// The store contract: host inventory (docs/protocol.md "Host inventory", docs/decisions/0024):
// the latest report per agent, replaced by the next, its event when it deserves one, and the
// summary in the agent list.

#include <string>
#include <vector>

#include "contract/store_contract.hpp"
#include "protocol/inventory.hpp"

namespace orb::store {
namespace {

using protocol::HostInventory;
using protocol::InstanceRunState;

class StoreInventoryTest : public StoreContractTest {
 protected:
  // What the host holds is fixed in time; only reportedAt follows the clock.
  HostInventory Inventory(InstanceRunState main_state) {
    const WallTime then = WallTime(std::chrono::milliseconds(1'795'000'000'000));
    HostInventory inventory;
    inventory.servers.push_back({"valheim", "b1", {{"b1", then, 1'000}}});
    inventory.instances.push_back({"main", "valheim", "b1", main_state, 4242, then, "process"});
    inventory.instances.push_back({"spare", "valheim", "b1", InstanceRunState::kStopped,
                                   std::nullopt, std::nullopt, "process"});
    inventory.backups.push_back({"main", "backup-1", then, 77, std::nullopt});
    inventory.disk = {50'000, 100'000};
    inventory.reported_at = Now();
    return inventory;
  }

  protocol::AgentInfo Listed(const std::string& agent_id) {
    auto agents = store().ListAgents(AgentFilter{});
    EXPECT_THAT(agents, IsOk());
    if (agents) {
      for (const auto& agent : *agents) {
        if (agent.agent_id == agent_id) return agent;
      }
    }
    ADD_FAILURE() << agent_id << " is not listed";
    return {};
  }
};

TEST_P(StoreInventoryTest, PutThenGetAnswersTheLatestAndAnnouncesTheFirst) {
  Enroll("a1");
  auto none = store().GetInventory("a1");
  ASSERT_THAT(none, FailsWith(Errc::kNotFound));
  EXPECT_THAT(none.error().message, ::testing::HasSubstr("no inventory"));
  EXPECT_THAT(store().GetInventory("nobody"), FailsWith(Errc::kNotFound));

  const HostInventory first = Inventory(InstanceRunState::kRunning);
  auto put = store().PutInventory("a1", first, Now());
  ASSERT_THAT(put, IsOk());
  EXPECT_TRUE(put->value);
  ASSERT_EQ(put->events.size(), 1U);
  EXPECT_EQ(put->events[0].type, EventType::kAgentInventory);
  EXPECT_EQ(put->events[0].agent_id, "a1");
  EXPECT_EQ(put->events[0].message, "instances: 1 running, 1 stopped, 0 crashed");
  EXPECT_GT(put->events[0].seq, 0);
  auto got = store().GetInventory("a1");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(*got, first);

  // The event is stored like every other: a reader of the stream finds it.
  auto events = store().ReadEvents(put->events[0].seq - 1, 10, EventFilter{});
  ASSERT_THAT(events, IsOk());
  ASSERT_FALSE(events->empty());
  EXPECT_EQ(events->front().type, EventType::kAgentInventory);
  EXPECT_EQ(events->front().message, put->events[0].message);
}

TEST_P(StoreInventoryTest, APutReplacesTheOneBeforeAndOnlyAChangeIsAnnounced) {
  Enroll("a1");
  ASSERT_THAT(store().PutInventory("a1", Inventory(InstanceRunState::kRunning), Now()), IsOk());

  clock_.Advance(std::chrono::seconds(5));
  HostInventory same = Inventory(InstanceRunState::kRunning);  // a later reportedAt only
  auto repeat = store().PutInventory("a1", same, Now());
  ASSERT_THAT(repeat, IsOk());
  EXPECT_FALSE(repeat->value);
  EXPECT_TRUE(repeat->events.empty());
  auto got = store().GetInventory("a1");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->reported_at, same.reported_at);

  HostInventory crashed = Inventory(InstanceRunState::kCrashed);
  auto changed = store().PutInventory("a1", crashed, Now());
  ASSERT_THAT(changed, IsOk());
  EXPECT_TRUE(changed->value);
  ASSERT_EQ(changed->events.size(), 1U);
  EXPECT_EQ(changed->events[0].message, "instances: 0 running, 1 stopped, 1 crashed");
  got = store().GetInventory("a1");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(*got, crashed);
}

TEST_P(StoreInventoryTest, AnUnknownAgentsInventoryIsRefusedAndNothingIsStored) {
  EXPECT_THAT(store().PutInventory("ghost", Inventory(InstanceRunState::kRunning), Now()),
              FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().GetInventory("ghost"), FailsWith(Errc::kNotFound));
}

TEST_P(StoreInventoryTest, TheAgentListCarriesEachSummaryAndLastJobStatus) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  Enroll("a3");  // neither an inventory nor a job
  ASSERT_THAT(store().PutInventory("a1", Inventory(InstanceRunState::kCrashed), Now()), IsOk());
  HostInventory two = Inventory(InstanceRunState::kRunning);
  two.instances.push_back(
      {"extra", "valheim", "b1", InstanceRunState::kRunning, 99, Now(), "systemd"});
  ASSERT_THAT(store().PutInventory("a2", two, Now()), IsOk());

  const Job old_job = Create("a1", "BACKUP_INSTANCE", "main");
  const auto run = Dispatch("a1");
  ASSERT_TRUE(run.has_value());
  ASSERT_THAT(Finish("a1", run->run.id, RunStatus::kCompleted), IsOk());
  clock_.Advance(std::chrono::milliseconds(10));
  Create("a1", "START_INSTANCE", "main");  // the newest: QUEUED
  const Job a2_job = Create("a2", "BACKUP_INSTANCE", "main");
  const auto a2_run = Dispatch("a2");
  ASSERT_TRUE(a2_run.has_value());
  ASSERT_THAT(Finish("a2", a2_run->run.id, RunStatus::kFailed, Retryable("boom"), 100), IsOk());
  (void)old_job;
  (void)a2_job;

  const protocol::AgentInfo a1 = Listed("a1");
  ASSERT_TRUE(a1.inventory.has_value());
  EXPECT_EQ(a1.inventory->running, 0);
  EXPECT_EQ(a1.inventory->stopped, 1);
  EXPECT_EQ(a1.inventory->crashed, 1);
  EXPECT_EQ(a1.last_job_status, JobStatus::kQueued);

  const protocol::AgentInfo a2 = Listed("a2");
  ASSERT_TRUE(a2.inventory.has_value());
  EXPECT_EQ(a2.inventory->running, 2);
  EXPECT_EQ(a2.inventory->stopped, 1);
  EXPECT_EQ(a2.inventory->crashed, 0);
  // Its one job failed with a retry left: CREATED, waiting for its backoff.
  EXPECT_EQ(a2.last_job_status, StatusOf(a2_job.id));

  const protocol::AgentInfo a3 = Listed("a3");
  EXPECT_FALSE(a3.inventory.has_value());
  EXPECT_FALSE(a3.last_job_status.has_value());
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreInventoryTest, ::testing::ValuesIn(StoreFactories()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace orb::store
