// The store contract: events (protocol.md §6) and durability.

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

// ---- Events (protocol.md §6) ----

TEST_P(StoreContractTest, EventsHaveIncreasingSeqAndMatchTheTransitions) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  protocol::UpdatesRequest request;
  request.updates = {{1, RunStatus::kRunning, 50, "half", std::nullopt, Now()}};
  ASSERT_THAT(store().ApplyUpdates("a1", run->execution.run_id, request, Now(), kLease), IsOk());
  ASSERT_THAT(Finish("a1", run->execution.run_id, RunStatus::kCompleted), IsOk());

  auto events = store().JobEvents(job.id);
  ASSERT_THAT(events, IsOk());
  EXPECT_THAT(Types(*events),
              ElementsAre(EventType::kJobCreated, EventType::kJobQueued, EventType::kJobRunning,
                          EventType::kJobProgress, EventType::kJobCompleted));
  for (std::size_t i = 1; i < events->size(); ++i) {
    EXPECT_LT((*events)[i - 1].seq, (*events)[i].seq);
  }
  for (const auto& event : *events) {
    EXPECT_EQ(event.job_id, job.id);
    EXPECT_EQ(event.agent_id, "a1");
    EXPECT_EQ(event.job_type, "BACKUP_INSTANCE");
    EXPECT_EQ(event.instance_id, "mc-1");
  }
  EXPECT_THAT(store().JobEvents("nope"), FailsWith(Errc::kNotFound));

  auto last = store().LastEventSeq();
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(*last, events->back().seq);
  auto all = store().ReadEvents(0, 100, {});
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->front().type, EventType::kAgentEnrolled);
  auto after = store().ReadEvents((*events)[2].seq, 2, {.job_id = job.id});
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(Types(*after), ElementsAre(EventType::kJobProgress, EventType::kJobCompleted));
  auto by_agent = store().ReadEvents(0, 100, {.agent_id = "a1"});
  ASSERT_THAT(by_agent, IsOk());
  EXPECT_EQ(by_agent->size(), all->size());
  auto other = store().ReadEvents(0, 100, {.agent_id = "a9"});
  ASSERT_THAT(other, IsOk());
  EXPECT_TRUE(other->empty());
}

TEST_P(StoreContractTest, AppendedEventsGetTheNextSeq) {
  auto before = store().LastEventSeq();
  ASSERT_THAT(before, IsOk());
  protocol::Event online;
  online.type = EventType::kAgentOnline;
  online.timestamp = Now();
  online.agent_id = "a1";
  online.status = "online";
  auto appended = store().AppendEvents({online, online});
  ASSERT_THAT(appended, IsOk());
  ASSERT_EQ(appended->events.size(), 2u);
  EXPECT_EQ(appended->events[0].seq, *before + 1);
  EXPECT_EQ(appended->events[1].seq, *before + 2);
  auto read = store().ReadEvents(*before, 10, {});
  ASSERT_THAT(read, IsOk());
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0], appended->events[0]);
}

TEST_P(StoreContractTest, PruningKeepsTheNewestEventsAndNeverReusesSeq) {
  protocol::Event event;
  event.type = EventType::kAgentOnline;
  event.timestamp = Now();
  std::vector<protocol::Event> ten(10, event);
  ASSERT_THAT(store().AppendEvents(ten), IsOk());
  auto last = store().LastEventSeq();
  ASSERT_THAT(last, IsOk());
  auto pruned = store().PruneEvents(3);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 7);
  auto oldest = store().OldestEventSeq();
  ASSERT_THAT(oldest, IsOk());
  EXPECT_EQ(*oldest, *last - 2);

  ASSERT_THAT(store().PruneEvents(0), IsOk());
  oldest = store().OldestEventSeq();
  ASSERT_THAT(oldest, IsOk());
  EXPECT_EQ(*oldest, *last + 1);
  auto appended = store().AppendEvents({event});
  ASSERT_THAT(appended, IsOk());
  EXPECT_EQ(appended->events[0].seq, *last + 1);
}

// ---- Durability ----

TEST_P(StoreContractTest, EverythingIsStillThereAfterReopening) {
  ReadyAgent("a1");
  TokenRecord admin{"t1", "bootstrap", protocol::Role::kAdmin, std::nullopt, "h1", Now(), {}};
  ASSERT_THAT(store().CreateToken(admin), IsOk());
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  protocol::UpdatesRequest request;
  request.updates = {{1, RunStatus::kRunning, 20, "x", std::nullopt, Now()}};
  request.logs = {{1, Now(), "info", "hello"}};
  ASSERT_THAT(store().ApplyUpdates("a1", run->execution.run_id, request, Now(), kLease), IsOk());
  auto before = store().GetJob(job.id);
  ASSERT_THAT(before, IsOk());
  auto last = store().LastEventSeq();
  ASSERT_THAT(last, IsOk());

  Reopen();
  Reopen();

  auto after = store().GetJob(job.id);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(*after, *before);
  auto last_after = store().LastEventSeq();
  ASSERT_THAT(last_after, IsOk());
  EXPECT_EQ(*last_after, *last);
  ASSERT_THAT(store().FindTokenByHash("h1"), IsOk());
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_EQ(agent->max_parallel, 4);
  auto logs = store().ReadLogs({.job_id = job.id});
  ASSERT_THAT(logs, IsOk());
  EXPECT_EQ(logs->lines.size(), 1u);
  // Fencing state survived too: the acked seqs.
  auto resent = store().ApplyUpdates("a1", run->execution.run_id, request, Now(), kLease);
  ASSERT_THAT(resent, IsOk());
  EXPECT_TRUE(resent->events.empty());
  EXPECT_EQ(resent->value.acked_update_seq, 1);
}

}  // namespace
}  // namespace orb::store
