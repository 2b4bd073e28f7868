#include "agent/journal.hpp"

#include <gtest/gtest.h>

#include "support/files.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::agent {
namespace {

using testing::IsOk;

protocol::JobExecution Execution(const std::string& run_id) {
  protocol::JobExecution execution;
  execution.job_id = "job-" + run_id;
  execution.run_id = run_id;
  execution.type = "VERIFY_BACKUP";
  execution.instance_id = "mc-1";
  return execution;
}

protocol::LogLine Line(const std::string& message) {
  protocol::LogLine line;
  line.message = message;
  return line;
}

TEST(JournalTest, ItsFilesAreItsOwnersOnlyWhateverTheUmask) {
  // The journal holds every payload in flight, an instance's environment among them.
  testing::TempDir dir;
  testing::ScopedUmask no_mask(0);
  auto journal = Journal::Open(dir / "journal.sqlite");
  ASSERT_THAT(journal, IsOk());
  ASSERT_THAT((*journal)->AddRun(Execution("r1")), IsOk());
  EXPECT_EQ(testing::Mode(dir / "journal.sqlite"), 0600U);
  EXPECT_EQ(testing::Mode(dir / "journal.sqlite-wal"), 0600U);
  EXPECT_EQ(testing::Mode(dir / "journal.sqlite-shm"), 0600U);
}

TEST(JournalTest, SurvivesReopenAndDeliversInOrder) {
  testing::TempDir dir;
  {
    auto journal = Journal::Open(dir / "journal.sqlite");
    ASSERT_THAT(journal, IsOk());
    ASSERT_THAT((*journal)->AddRun(Execution("r1")), IsOk());
    protocol::ProgressUpdate update;
    update.percent = 10;
    EXPECT_EQ(*(*journal)->AppendUpdate("r1", update), 1);
    EXPECT_EQ(*(*journal)->AppendLog("r1", Line("one")), 1);
    EXPECT_EQ(*(*journal)->AppendLog("r1", Line("two")), 2);
  }
  auto journal = Journal::Open(dir / "journal.sqlite");
  ASSERT_THAT(journal, IsOk());
  auto runs = (*journal)->Runs();
  ASSERT_THAT(runs, IsOk());
  ASSERT_EQ(runs->size(), 1U);
  EXPECT_EQ((*runs)[0].execution, Execution("r1"));
  EXPECT_EQ((*runs)[0].last_update_seq, 1);
  EXPECT_FALSE((*runs)[0].has_final);
  // Sequences continue after the reopen.
  EXPECT_EQ(*(*journal)->AppendLog("r1", Line("three")), 3);
  auto batch = (*journal)->NextBatch("r1");
  ASSERT_THAT(batch, IsOk());
  ASSERT_EQ(batch->updates.size(), 1U);
  ASSERT_EQ(batch->logs.size(), 3U);
  EXPECT_EQ(batch->logs[0].message, "one");
  EXPECT_EQ(batch->logs[2].seq, 3);
}

TEST(JournalTest, DeletesOnlyWhatWasAcknowledged) {
  testing::TempDir dir;
  auto journal = std::move(*Journal::Open(dir / "j.sqlite"));
  ASSERT_THAT(journal->AddRun(Execution("r1")), IsOk());
  for (int i = 0; i < 5; ++i)
    ASSERT_THAT(journal->AppendLog("r1", Line(std::to_string(i))), IsOk());
  auto done = journal->Acknowledge("r1", 0, 3);
  ASSERT_THAT(done, IsOk());
  EXPECT_FALSE(*done);
  auto batch = journal->NextBatch("r1");
  ASSERT_EQ(batch->logs.size(), 2U);
  EXPECT_EQ(batch->logs[0].seq, 4);
}

TEST(JournalTest, SendsTheFinalOnlyAfterEverythingBeforeIt) {
  testing::TempDir dir;
  auto journal = std::move(*Journal::Open(dir / "j.sqlite"));
  ASSERT_THAT(journal->AddRun(Execution("r1")), IsOk());
  for (int i = 0; i < 3; ++i)
    ASSERT_THAT(journal->AppendLog("r1", Line("l")), IsOk());
  protocol::FinalUpdate final_update;
  final_update.status = protocol::RunStatus::kCompleted;
  final_update.result_json = "{}";
  EXPECT_EQ(*journal->AppendFinal("r1", final_update), 1);
  EXPECT_THAT(journal->AppendLog("r1", Line("late")), testing::FailsWith(Errc::kInvalidState));

  auto partial = journal->NextBatch("r1", 2);
  EXPECT_EQ(partial->logs.size(), 2U);
  EXPECT_FALSE(partial->final_update);
  auto full = journal->NextBatch("r1", 10);
  ASSERT_TRUE(full->final_update);
  EXPECT_EQ(full->final_update->seq, 1);

  auto runs = journal->Runs();
  ASSERT_TRUE((*runs)[0].has_final);
  auto finished = journal->Acknowledge("r1", 1, 3);
  ASSERT_THAT(finished, IsOk());
  EXPECT_TRUE(*finished);
  EXPECT_TRUE(journal->Runs()->empty());
  EXPECT_TRUE(journal->RunsWithPending()->empty());
}

TEST(JournalTest, RemoveRunForgetsItsOutbox) {
  testing::TempDir dir;
  auto journal = std::move(*Journal::Open(dir / "j.sqlite"));
  ASSERT_THAT(journal->AddRun(Execution("r1")), IsOk());
  ASSERT_THAT(journal->AddRun(Execution("r2")), IsOk());
  ASSERT_THAT(journal->AppendLog("r1", Line("x")), IsOk());
  ASSERT_THAT(journal->AppendLog("r2", Line("y")), IsOk());
  EXPECT_EQ(*journal->RunsWithPending(), (std::vector<std::string>{"r1", "r2"}));
  ASSERT_THAT(journal->RemoveRun("r1"), IsOk());
  EXPECT_EQ(*journal->RunsWithPending(), std::vector<std::string>{"r2"});
  EXPECT_THAT(journal->AppendLog("r1", Line("z")), testing::FailsWith(Errc::kInvalidRequest));
}

}  // namespace
}  // namespace orb::agent
