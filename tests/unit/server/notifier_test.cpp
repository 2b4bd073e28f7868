#include "server/notifier.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace orb::server {
namespace {

// Records the answers a waiter got; a waiter must be answered at most once.
struct Answers {
  std::vector<AgentQueueState> got;
  NotifyCallback Callback() {
    return [this](const AgentQueueState& state) { got.push_back(state); };
  }
};

TEST(NotifierTest, AnswersAtOnceWhenJobsArePending) {
  Notifier notifier;
  notifier.Update("orb-7", {2, {}});
  Answers answers;
  const auto id = notifier.Wait("orb-7", answers.Callback());
  ASSERT_EQ(answers.got.size(), 1u);
  EXPECT_EQ(answers.got[0], (AgentQueueState{2, {}}));
  EXPECT_EQ(notifier.WaiterCount(), 0u);
  EXPECT_FALSE(notifier.Expire(id));  // already answered
  EXPECT_EQ(answers.got.size(), 1u);
}

TEST(NotifierTest, AnswersAtOnceWhenACancelIsPending) {
  Notifier notifier;
  notifier.Update("orb-7", {0, {"run-1"}});
  Answers answers;
  notifier.Wait("orb-7", answers.Callback());
  ASSERT_EQ(answers.got.size(), 1u);
  EXPECT_EQ(answers.got[0].ToResponse(), (protocol::NotifyResponse{0, {"run-1"}}));
}

// A run past its point of no return ignores its cancel and stays RUNNING: the agent's next
// notify must not come back at once for the same cancel, or the agent asks without pause.
TEST(NotifierTest, ACancelAnsweredOnceNoLongerAnswersAtOnceButStaysListed) {
  Notifier notifier;
  notifier.Update("orb-7", {0, {"run-1"}});
  Answers first;
  notifier.Wait("orb-7", first.Callback());
  ASSERT_EQ(first.got.size(), 1u);

  Answers again;
  const auto held = notifier.Wait("orb-7", again.Callback());
  EXPECT_TRUE(again.got.empty());
  EXPECT_EQ(notifier.WaiterCount(), 1u);
  notifier.Update("orb-7", {0, {"run-1"}});  // the same state again: still held
  EXPECT_TRUE(again.got.empty());
  EXPECT_TRUE(notifier.Expire(held));  // the wait ran out: the answer lists it
  ASSERT_EQ(again.got.size(), 1u);
  EXPECT_EQ(again.got[0], (AgentQueueState{0, {"run-1"}}));

  Answers next;
  notifier.Wait("orb-7", next.Callback());
  EXPECT_TRUE(next.got.empty());
  notifier.AddCancel("orb-7", "run-2");  // a new cancel answers at once, with both
  ASSERT_EQ(next.got.size(), 1u);
  EXPECT_EQ(next.got[0], (AgentQueueState{0, {"run-1", "run-2"}}));

  Answers queued;
  notifier.AdjustPending("orb-7", 1);  // jobs pending answer at once, told cancels or not
  notifier.Wait("orb-7", queued.Callback());
  ASSERT_EQ(queued.got.size(), 1u);
  EXPECT_EQ(queued.got[0], (AgentQueueState{1, {"run-1", "run-2"}}));
}

TEST(NotifierTest, ACancelToldStaysToldAcrossAReloadFromTheStore) {
  Notifier notifier;
  notifier.Update("orb-7", {0, {"run-1"}});
  Answers first;
  notifier.Wait("orb-7", first.Callback());
  ASSERT_EQ(first.got.size(), 1u);
  notifier.Invalidate("orb-7");  // another replica changed the agent's queue
  ASSERT_TRUE(notifier.Load("orb-7", {0, {"run-1"}}, notifier.Version("orb-7")));
  Answers after;
  notifier.Wait("orb-7", after.Callback());
  EXPECT_TRUE(after.got.empty());
  EXPECT_EQ(notifier.WaiterCount(), 1u);
}

TEST(NotifierTest, HoldsAnIdleAgentsWaiterUntilAJobIsQueued) {
  Notifier notifier;
  notifier.Update("orb-7", {});
  Answers answers;
  notifier.Wait("orb-7", answers.Callback());
  EXPECT_TRUE(answers.got.empty());
  EXPECT_EQ(notifier.WaiterCount(), 1u);

  notifier.Update("orb-7", {});        // a change that leaves nothing pending keeps it held
  notifier.AdjustPending("orb-8", 1);  // another agent
  EXPECT_TRUE(answers.got.empty());

  notifier.AdjustPending("orb-7", 1);
  ASSERT_EQ(answers.got.size(), 1u);
  EXPECT_EQ(answers.got[0], (AgentQueueState{1, {}}));
  EXPECT_EQ(notifier.WaiterCount(), 0u);
}

TEST(NotifierTest, WakesEveryWaiterOfTheAgentOnACancel) {
  Notifier notifier;
  notifier.Update("orb-7", {});
  Answers first;
  Answers second;
  notifier.Wait("orb-7", first.Callback());
  notifier.Wait("orb-7", second.Callback());
  notifier.AddCancel("orb-7", "run-9");
  ASSERT_EQ(first.got.size(), 1u);
  ASSERT_EQ(second.got.size(), 1u);
  EXPECT_EQ(second.got[0], (AgentQueueState{0, {"run-9"}}));
}

TEST(NotifierTest, ExpireAnswersWithTheCurrentStateOnce) {
  Notifier notifier;
  notifier.Update("orb-7", {});
  Answers answers;
  const auto id = notifier.Wait("orb-7", answers.Callback());
  EXPECT_TRUE(notifier.Expire(id));
  ASSERT_EQ(answers.got.size(), 1u);
  EXPECT_EQ(answers.got[0], AgentQueueState{});
  EXPECT_FALSE(notifier.Expire(id));
  notifier.AdjustPending("orb-7", 1);
  EXPECT_EQ(answers.got.size(), 1u);
  EXPECT_EQ(notifier.WaiterCount(), 0u);
}

TEST(NotifierTest, CancelDropsAWaiterWithoutAnsweringIt) {
  Notifier notifier;
  notifier.Update("orb-7", {});
  Answers answers;
  const auto id = notifier.Wait("orb-7", answers.Callback());
  EXPECT_TRUE(notifier.Cancel(id));
  EXPECT_FALSE(notifier.Cancel(id));
  EXPECT_FALSE(notifier.Expire(id));
  notifier.AdjustPending("orb-7", 1);
  EXPECT_TRUE(answers.got.empty());
  EXPECT_EQ(notifier.WaiterCount(), 0u);
}

TEST(NotifierTest, IncrementalChangesKeepTheStateCurrent) {
  Notifier notifier;
  notifier.Update("orb-7", {1, {}});
  notifier.AdjustPending("orb-7", 2);
  notifier.AdjustPending("orb-7", -1);
  notifier.AddCancel("orb-7", "run-1");
  notifier.AddCancel("orb-7", "run-1");  // once only
  notifier.AddCancel("orb-7", "run-2");
  notifier.RemoveCancel("orb-7", "run-1");
  EXPECT_EQ(notifier.State("orb-7"), (AgentQueueState{2, {"run-2"}}));
  notifier.AdjustPending("orb-7", -5);
  EXPECT_EQ(notifier.State("orb-7")->pending, 0);  // never negative
}

TEST(NotifierTest, UnknownAgentsIgnoreIncrementsUntilLoaded) {
  Notifier notifier;
  EXPECT_FALSE(notifier.IsKnown("orb-7"));
  EXPECT_EQ(notifier.State("orb-7"), std::nullopt);
  notifier.AdjustPending("orb-7", 1);  // not known: cannot apply a delta to nothing
  EXPECT_FALSE(notifier.IsKnown("orb-7"));

  const auto version = notifier.Version("orb-7");
  EXPECT_TRUE(notifier.Load("orb-7", {3, {}}, version));
  EXPECT_TRUE(notifier.IsKnown("orb-7"));
  EXPECT_EQ(notifier.State("orb-7"), (AgentQueueState{3, {}}));
}

TEST(NotifierTest, LoadIsRefusedWhenAChangeRacedWithTheStoreRead) {
  Notifier notifier;
  const auto version = notifier.Version("orb-7");
  // ... the server reads the store; meanwhile another request queues a job for orb-7:
  notifier.AdjustPending("orb-7", 1);
  EXPECT_FALSE(notifier.Load("orb-7", {0, {}}, version));  // the read may miss that job
  EXPECT_FALSE(notifier.IsKnown("orb-7"));
  EXPECT_TRUE(notifier.Load("orb-7", {1, {}}, notifier.Version("orb-7")));
}

TEST(NotifierTest, HeldWaiterOfAnUnknownAgentIsAnsweredByItsLoad) {
  Notifier notifier;
  Answers answers;
  notifier.Wait("orb-7", answers.Callback());
  EXPECT_TRUE(answers.got.empty());
  EXPECT_TRUE(notifier.Load("orb-7", {1, {}}, notifier.Version("orb-7")));
  ASSERT_EQ(answers.got.size(), 1u);
}

TEST(NotifierTest, InvalidateForgetsTheStateButKeepsWaiters) {
  Notifier notifier;
  notifier.Update("orb-7", {});
  Answers answers;
  notifier.Wait("orb-7", answers.Callback());
  const auto before = notifier.Version("orb-7");
  notifier.Invalidate("orb-7");
  EXPECT_FALSE(notifier.IsKnown("orb-7"));
  EXPECT_GT(notifier.Version("orb-7"), before);
  EXPECT_EQ(notifier.WaiterCount(), 1u);
  notifier.Update("orb-7", {1, {}});
  EXPECT_EQ(answers.got.size(), 1u);
}

TEST(NotifierTest, CallbacksMayCallBackIntoTheNotifier) {
  Notifier notifier;
  notifier.Update("orb-7", {});
  int answered = 0;
  notifier.Wait("orb-7", [&](const AgentQueueState&) {
    ++answered;
    notifier.Wait("orb-7", [&](const AgentQueueState&) { ++answered; });  // re-poll at once
  });
  notifier.AdjustPending("orb-7", 1);
  EXPECT_EQ(answered, 2);
}

TEST(NotifierTest, EachWaiterIsAnsweredExactlyOnceWhenUpdateAndExpireRace) {
  constexpr int kRounds = 100;
  constexpr int kWaiters = 50;
  for (int round = 0; round < kRounds; ++round) {
    Notifier notifier;
    notifier.Update("orb-7", {});
    std::vector<std::atomic<int>> calls(kWaiters);
    std::vector<WaiterId> ids;
    for (int i = 0; i < kWaiters; ++i) {
      ids.push_back(notifier.Wait("orb-7", [&calls, i](const AgentQueueState&) { ++calls[i]; }));
    }
    std::atomic<bool> go{false};
    std::thread expirer([&] {
      while (!go) {
      }
      for (const auto id : ids)
        notifier.Expire(id);
    });
    std::thread reverse_expirer([&] {
      while (!go) {
      }
      for (auto it = ids.rbegin(); it != ids.rend(); ++it)
        notifier.Expire(*it);
    });
    go = true;
    notifier.AdjustPending("orb-7", 1);
    expirer.join();
    reverse_expirer.join();
    for (int i = 0; i < kWaiters; ++i)
      ASSERT_EQ(calls[i].load(), 1) << "round " << round;
    ASSERT_EQ(notifier.WaiterCount(), 0u);
  }
}

TEST(NotifierTest, HoldsTensOfThousandsOfWaitersAndWakesOnlyTheChangedAgent) {
  constexpr int kAgents = 1000;
  constexpr int kPerAgent = 30;
  Notifier notifier;
  std::vector<int> answered(kAgents, 0);
  for (int a = 0; a < kAgents; ++a)
    notifier.Update("agent-" + std::to_string(a), {});
  std::vector<WaiterId> ids;
  for (int a = 0; a < kAgents; ++a) {
    for (int w = 0; w < kPerAgent; ++w) {
      ids.push_back(notifier.Wait("agent-" + std::to_string(a),
                                  [&answered, a](const AgentQueueState&) { ++answered[a]; }));
    }
  }
  EXPECT_EQ(notifier.WaiterCount(), static_cast<std::size_t>(kAgents * kPerAgent));

  notifier.AdjustPending("agent-17", 1);
  EXPECT_EQ(answered[17], kPerAgent);
  EXPECT_EQ(answered[18], 0);
  EXPECT_EQ(notifier.WaiterCount(), static_cast<std::size_t>((kAgents - 1) * kPerAgent));

  int expired = 0;
  for (const auto id : ids)
    expired += notifier.Expire(id) ? 1 : 0;
  EXPECT_EQ(expired, (kAgents - 1) * kPerAgent);
  EXPECT_EQ(notifier.WaiterCount(), 0u);
  for (int a = 0; a < kAgents; ++a)
    EXPECT_EQ(answered[a], kPerAgent) << a;
}

}  // namespace
}  // namespace orb::server
