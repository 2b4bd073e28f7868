// engine::OpQueue: which operations waiting for a store's writer go into its next batch
// (docs/decisions/0026 and 0027).

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/engine/batch.hpp"

namespace orb::store::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// An operation that is never run: only its lane and a name matter here.
OpPtr Op(Lane lane, std::string name) {
  return std::make_shared<TypedOp<std::string>>(
      std::vector<std::string>{std::move(name)}, Rank::kPlain, lane,
      [](ops::WriteContext&) -> Expected<std::string> { return std::string(); },
      [](Expected<Mutation<std::string>>) {});
}

std::vector<std::string> Names(const std::vector<OpPtr>& batch) {
  std::vector<std::string> names;
  for (const OpPtr& op : batch)
    names.push_back(op->agents().front());
  return names;
}

void Push(OpQueue& queue, Lane lane, const std::string& prefix, int count) {
  for (int i = 0; i < count; ++i)
    queue.Push(Op(lane, prefix + std::to_string(i)));
}

TEST(OpQueueTest, WithoutInteractiveOperationsABatchTakesEveryLaneUpToItsSize) {
  OpQueue queue;
  Push(queue, Lane::kBackground, "b", 2);
  Push(queue, Lane::kAgents, "a", 3);
  EXPECT_THAT(Names(queue.TakeBatch(100)), ElementsAre("a0", "b0", "a1", "a2", "b1"));
  EXPECT_TRUE(queue.empty());
}

TEST(OpQueueTest, AFullBatchStillHoldsOneOperationOfEveryWaitingLane) {
  OpQueue queue;
  Push(queue, Lane::kAgents, "a", 10);
  Push(queue, Lane::kBackground, "b", 1);
  EXPECT_THAT(Names(queue.TakeBatch(3)), ElementsAre("a0", "b0", "a1"));
  EXPECT_EQ(queue.size(), 8u);
}

TEST(OpQueueTest, ABatchWithInteractiveOperationsTakesOnlyAFewOfTheOthers) {
  OpQueue queue;
  Push(queue, Lane::kAgents, "a", 20);
  Push(queue, Lane::kBackground, "b", 20);
  Push(queue, Lane::kInteractive, "i", 2);
  const auto batch = queue.TakeBatch(512);
  // Both interactive operations, and kRideAlong of each other lane.
  EXPECT_THAT(Names(batch),
              ElementsAre("i0", "a0", "b0", "i1", "a1", "a2", "a3", "b1", "b2", "b3"));
  EXPECT_EQ(OpQueue::kRideAlong, 4u);
  // The next batch, with nobody waiting, takes the rest.
  EXPECT_EQ(queue.TakeBatch(512).size(), 32u);
  EXPECT_TRUE(queue.empty());
}

TEST(OpQueueTest, AStreamOfInteractiveOperationsSlowsTheOthersDownButNeverStopsThem) {
  OpQueue queue;
  Push(queue, Lane::kAgents, "a", 12);
  for (int round = 0; round < 3; ++round) {
    Push(queue, Lane::kInteractive, "i", 50);
    const auto batch = queue.TakeBatch(512);
    EXPECT_EQ(batch.size(), 54u);
  }
  EXPECT_TRUE(queue.empty());
  EXPECT_THAT(queue.TakeBatch(512), IsEmpty());
}

TEST(OpQueueTest, ABatchNeverExceedsItsSize) {
  OpQueue queue;
  Push(queue, Lane::kInteractive, "i", 10);
  Push(queue, Lane::kAgents, "a", 10);
  EXPECT_THAT(Names(queue.TakeBatch(2)), ElementsAre("i0", "a0"));
  EXPECT_THAT(Names(queue.TakeBatch(1)), ElementsAre("i1"));
  EXPECT_EQ(queue.size(), 17u);
}

}  // namespace
}  // namespace orb::store::engine
