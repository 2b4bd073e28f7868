// The store contract: the per-run log cap (StoreDeps::run_log_cap, docs/decisions/0020). Lines
// past it are acknowledged like the others but not stored, and counted in the run's logsDropped.

#include <string>
#include <vector>

#include "contract/store_contract.hpp"

namespace orb::store {
namespace {

class StoreRunLogsTest : public StoreContractTest {
 protected:
  // A RUNNING run of a new job on agent a1, with the store reopened under `cap`.
  std::string StartRun(protocol::LogCap cap) {
    log_cap_ = cap;
    Reopen();
    ReadyAgent("a1");
    job_ = Create("a1", "BACKUP_INSTANCE", "mc-1");
    auto run = Dispatch("a1");
    EXPECT_TRUE(run);
    return run ? run->execution.run_id : std::string();
  }

  // Sends `messages` as log lines first_seq, first_seq + 1, ...; value: the acked log seq.
  std::int64_t SendLogs(const std::string& run_id, std::int64_t first_seq,
                        const std::vector<std::string>& messages) {
    protocol::UpdatesRequest request;
    for (const auto& message : messages)
      request.logs.push_back({first_seq++, Now(), "info", message});
    auto acked = store().ApplyUpdates("a1", run_id, request, Now(), kLease);
    EXPECT_THAT(acked, IsOk());
    return acked ? acked->value.acked_log_seq : -1;
  }

  std::vector<std::int64_t> StoredSeqs(const std::string& run_id) {
    auto logs = store().ReadLogs({.job_id = job_.id, .run_id = run_id});
    EXPECT_THAT(logs, IsOk());
    std::vector<std::int64_t> seqs;
    if (logs) {
      for (const auto& line : logs->lines)
        seqs.push_back(line.seq);
    }
    return seqs;
  }

  std::int64_t DroppedInRun() {
    auto detail = store().GetJob(job_.id);
    EXPECT_THAT(detail, IsOk());
    if (!detail || detail->runs.empty()) return -1;
    return detail->runs.back().logs_dropped;
  }

  Job job_;
};

TEST_P(StoreRunLogsTest, LinesPastTheLineCapAreAckedCountedAndNotStored) {
  const std::string run_id = StartRun({3, 0});
  EXPECT_EQ(SendLogs(run_id, 1, {"a", "b"}), 2);
  EXPECT_EQ(SendLogs(run_id, 3, {"c", "d", "e"}), 5);  // acked all: the agent must not resend
  EXPECT_THAT(StoredSeqs(run_id), ElementsAre(1, 2, 3));
  EXPECT_EQ(DroppedInRun(), 2);

  auto logs = store().ReadLogs({.job_id = job_.id, .run_id = run_id});
  ASSERT_THAT(logs, IsOk());
  EXPECT_EQ(logs->logs_dropped, 2);
  EXPECT_EQ(logs->log_cap, (protocol::LogCap{3, 0}));
  auto whole_job = store().ReadLogs({.job_id = job_.id});
  ASSERT_THAT(whole_job, IsOk());
  EXPECT_EQ(whole_job->logs_dropped, 2);

  // The final update keeps the counts, and a line it brings past the cap is counted too.
  protocol::UpdatesRequest last;
  last.logs = {{6, Now(), "info", "f"}};
  last.final_update = protocol::FinalUpdate{1, RunStatus::kCompleted, "{}", std::nullopt, Now()};
  ASSERT_THAT(store().ApplyUpdates("a1", run_id, last, Now(), kLease), IsOk());
  EXPECT_EQ(DroppedInRun(), 3);
  EXPECT_THAT(StoredSeqs(run_id), ElementsAre(1, 2, 3));
}

TEST_P(StoreRunLogsTest, ResendingAnAckedBatchChangesNoCounter) {
  const std::string run_id = StartRun({2, 0});
  const std::vector<std::string> batch{"a", "b", "c", "d"};
  EXPECT_EQ(SendLogs(run_id, 1, batch), 4);
  EXPECT_EQ(DroppedInRun(), 2);
  // The same batch again (a lost answer): nothing new is stored or counted.
  EXPECT_EQ(SendLogs(run_id, 1, batch), 4);
  EXPECT_EQ(DroppedInRun(), 2);
  EXPECT_THAT(StoredSeqs(run_id), ElementsAre(1, 2));

  // Out of order and repeated within one batch: each new seq counts once.
  protocol::UpdatesRequest mixed;
  mixed.logs = {{6, Now(), "info", "x"}, {5, Now(), "info", "y"}, {6, Now(), "info", "x"}};
  auto acked = store().ApplyUpdates("a1", run_id, mixed, Now(), kLease);
  ASSERT_THAT(acked, IsOk());
  EXPECT_EQ(acked->value.acked_log_seq, 6);
  EXPECT_EQ(DroppedInRun(), 4);

  // Resent once the run ended: answered with the acks, and still nothing counted.
  ASSERT_THAT(Finish("a1", run_id, RunStatus::kCompleted), IsOk());
  EXPECT_EQ(SendLogs(run_id, 1, batch), 6);
  EXPECT_EQ(DroppedInRun(), 4);
}

TEST_P(StoreRunLogsTest, TheByteCapCountsMessageBytesAndKeepsAPrefix) {
  const std::string run_id = StartRun({0, 10});
  EXPECT_EQ(SendLogs(run_id, 1, {"12345", "1234"}), 2);  // 9 bytes
  // 11 bytes would pass the cap; the short line after it fits but is dropped as well, so the
  // stored lines stay a prefix of the run's log.
  EXPECT_EQ(SendLogs(run_id, 3, {"12", "1"}), 4);
  EXPECT_THAT(StoredSeqs(run_id), ElementsAre(1, 2));
  EXPECT_EQ(DroppedInRun(), 2);
  auto logs = store().ReadLogs({.job_id = job_.id, .run_id = run_id});
  ASSERT_THAT(logs, IsOk());
  EXPECT_EQ(logs->log_cap, (protocol::LogCap{0, 10}));
}

TEST_P(StoreRunLogsTest, ACapOfZeroStoresEveryLine) {
  const std::string run_id = StartRun({0, 0});
  std::vector<std::string> many(300, std::string(100, 'x'));
  EXPECT_EQ(SendLogs(run_id, 1, many), 300);
  EXPECT_EQ(StoredSeqs(run_id).size(), 300u);
  EXPECT_EQ(DroppedInRun(), 0);
  auto logs = store().ReadLogs({.job_id = job_.id});
  ASSERT_THAT(logs, IsOk());
  EXPECT_EQ(logs->logs_dropped, 0);
  EXPECT_FALSE(logs->log_cap.has_value());
}

TEST_P(StoreRunLogsTest, EachRunHasItsOwnCap) {
  const std::string first = StartRun({2, 0});
  EXPECT_EQ(SendLogs(first, 1, {"a", "b", "c"}), 3);
  ASSERT_THAT(Finish("a1", first, RunStatus::kCancelled), IsOk());
  ASSERT_THAT(store().RetryJob(job_.id, Now()), IsOk());
  auto second = Dispatch("a1");
  ASSERT_TRUE(second);
  EXPECT_EQ(SendLogs(second->execution.run_id, 1, {"d", "e"}), 2);
  EXPECT_THAT(StoredSeqs(second->execution.run_id), ElementsAre(1, 2));
  auto detail = store().GetJob(job_.id);
  ASSERT_THAT(detail, IsOk());
  ASSERT_EQ(detail->runs.size(), 2u);
  EXPECT_EQ(detail->runs[0].logs_dropped, 1);
  EXPECT_EQ(detail->runs[1].logs_dropped, 0);
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreRunLogsTest, ::testing::ValuesIn(StoreFactories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace orb::store
