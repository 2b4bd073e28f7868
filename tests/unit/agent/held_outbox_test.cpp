#include "agent/held_outbox.hpp"

#include <gtest/gtest.h>

#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::agent {
namespace held_outbox_test {  // named: the agent tests are built as one unity file

using testing::IsOk;

protocol::JobExecution Execution(const std::string& run_id) {
  protocol::JobExecution execution;
  execution.job_id = "job-" + run_id;
  execution.run_id = run_id;
  execution.type = "VERIFY_BACKUP";
  return execution;
}
protocol::ProgressUpdate Update(std::int64_t seq) {
  protocol::ProgressUpdate update;
  update.seq = seq;
  update.percent = static_cast<int>(seq);
  return update;
}
protocol::LogLine Line(std::int64_t seq, const std::string& message = "line") {
  protocol::LogLine line;
  line.seq = seq;
  line.message = message;
  return line;
}
protocol::FinalUpdate Final(std::int64_t seq) {
  protocol::FinalUpdate final_update;
  final_update.seq = seq;
  final_update.result_json = "{}";
  return final_update;
}

TEST(HeldOutboxTest, BatchesFollowTheJournalsPartAndTheFinalComesLast) {
  HeldOutbox held(1 << 20);
  EXPECT_TRUE(held.empty());
  held.HoldRun(Execution("r1"));
  EXPECT_TRUE(held.Holds("r1"));
  EXPECT_TRUE(held.RunsWithItems().empty());  // a start alone has nothing to deliver
  ASSERT_TRUE(held.HoldUpdate("r1", Update(1)));
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(held.HoldLog("r1", Line(i)));
  held.HoldFinal("r1", Final(2));
  EXPECT_EQ(held.items(), 5U);
  EXPECT_EQ(held.RunsWithItems(), std::vector<std::string>{"r1"});

  protocol::UpdatesRequest small;
  held.AppendTo("r1", small, 2);
  EXPECT_EQ(small.updates.size(), 1U);
  EXPECT_EQ(small.logs.size(), 2U);
  EXPECT_FALSE(small.final_update);  // a log line of the run is not in the batch yet

  protocol::UpdatesRequest all;
  held.AppendTo("r1", all, 100);
  EXPECT_EQ(all.logs.size(), 3U);
  ASSERT_TRUE(all.final_update);
  EXPECT_EQ(all.final_update->seq, 2);
}

TEST(HeldOutboxTest, MemoryIsBoundedButFinalsAndForcedLinesAreAlwaysKept) {
  HeldOutbox held(3 * HeldBytes(Line(1)));
  held.HoldRun(Execution("r1"));
  EXPECT_TRUE(held.HoldLog("r1", Line(1)));
  EXPECT_TRUE(held.HoldLog("r1", Line(2)));
  EXPECT_TRUE(held.HoldLog("r1", Line(3)));
  EXPECT_FALSE(held.HoldLog("r1", Line(4)));
  EXPECT_FALSE(held.HoldUpdate("r1", Update(1)));
  EXPECT_TRUE(held.HoldLog("r1", Line(4, "5 lines were dropped"), /*force=*/true));
  held.HoldFinal("r1", Final(1));
  EXPECT_EQ(held.items(), 5U);
  EXPECT_EQ(held.Acknowledge("r1", 1, 4), HeldOutbox::Acked::kDoneOutsideTheJournal);
  EXPECT_EQ(held.bytes(), 0U);
  EXPECT_TRUE(held.empty());
}

TEST(HeldOutboxTest, AcknowledgementsForgetWhatFleetCmdrHasAndSayWhatTheJournalOwes) {
  HeldOutbox held(1 << 20);
  // r1 is in the journal (no HoldRun), only its later items are held.
  ASSERT_TRUE(held.HoldLog("r1", Line(5)));
  ASSERT_TRUE(held.HoldLog("r1", Line(6)));
  held.HoldFinal("r1", Final(3));
  EXPECT_EQ(held.Acknowledge("r1", 2, 5), HeldOutbox::Acked::kMore);
  EXPECT_EQ(held.items(), 2U);
  EXPECT_EQ(held.Acknowledge("r1", 3, 6), HeldOutbox::Acked::kDoneInTheJournal);
  EXPECT_FALSE(held.Holds("r1"));
  // r2 never reached the journal: done means nothing is owed.
  held.HoldRun(Execution("r2"));
  held.HoldFinal("r2", Final(1));
  EXPECT_EQ(held.Acknowledge("r2", 1, 0), HeldOutbox::Acked::kDoneOutsideTheJournal);
  EXPECT_EQ(held.Acknowledge("unknown", 9, 9), HeldOutbox::Acked::kMore);
}

TEST(HeldOutboxTest, FlushWritesEverythingInOrderThenPaysTheJournalsDebts) {
  testing::TempDir dir;
  auto opened = Journal::Open(dir / "journal.sqlite");
  ASSERT_THAT(opened, IsOk());
  Journal& journal = **opened;
  // r0 was journaled before the disk failed, with two lines fleet-cmdr acknowledged since.
  ASSERT_THAT(journal.AddRun(Execution("r0")), IsOk());
  ASSERT_THAT(journal.AppendLog("r0", Line(1)), IsOk());
  ASSERT_THAT(journal.AppendLog("r0", Line(2)), IsOk());
  // r9 was journaled too, and has been abandoned since.
  ASSERT_THAT(journal.AddRun(Execution("r9")), IsOk());

  HeldOutbox held(1 << 20);
  held.OweAcknowledgement("r0", 0, 2);
  held.OweRemoval("r9");
  protocol::UpdatesRequest from_journal = *journal.NextBatch("r0");
  held.DropAcknowledged("r0", from_journal);
  EXPECT_TRUE(from_journal.logs.empty());  // fleet-cmdr has them: never sent again
  ASSERT_TRUE(held.HoldLog("r0", Line(3)));
  held.HoldRun(Execution("r1"));
  ASSERT_TRUE(held.HoldUpdate("r1", Update(1)));
  ASSERT_TRUE(held.HoldLog("r1", Line(1)));
  held.HoldFinal("r1", Final(2));

  ASSERT_THAT(held.FlushTo(journal), IsOk());
  EXPECT_TRUE(held.empty());
  EXPECT_EQ(held.bytes(), 0U);
  auto runs = journal.Runs();
  ASSERT_THAT(runs, IsOk());
  ASSERT_EQ(runs->size(), 2U);
  EXPECT_EQ((*runs)[0].execution.run_id, "r0");
  EXPECT_EQ((*runs)[0].last_log_seq, 3);
  EXPECT_EQ((*runs)[1].execution.run_id, "r1");
  EXPECT_TRUE((*runs)[1].has_final);
  auto r0 = journal.NextBatch("r0");
  ASSERT_EQ(r0->logs.size(), 1U);
  EXPECT_EQ(r0->logs[0].seq, 3);
  auto r1 = journal.NextBatch("r1");
  EXPECT_EQ(r1->updates.size(), 1U);
  EXPECT_EQ(r1->logs.size(), 1U);
  ASSERT_TRUE(r1->final_update);
  EXPECT_EQ(r1->final_update->seq, 2);
}

}  // namespace held_outbox_test
}  // namespace orb::agent
