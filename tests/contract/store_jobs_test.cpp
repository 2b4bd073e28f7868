// The store contract: jobs and the dispatch rule (protocol.md §3, §5).

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

// ---- Jobs ----

TEST_P(StoreContractTest, CreatesAQueuedJobAndReadsItBack) {
  ReadyAgent("a1");
  CreateJobsCommand command;
  command.jobs.push_back(Spec("a1", "BACKUP_INSTANCE", "mc-1"));
  auto created = store().CreateJobs(command, Now());
  ASSERT_THAT(created, IsOk());
  ASSERT_EQ(created->value.jobs.size(), 1u);
  EXPECT_FALSE(created->value.existing);
  EXPECT_FALSE(created->value.batch_id);
  const Job& job = created->value.jobs[0];
  EXPECT_TRUE(IsUuidV7(job.id));
  EXPECT_EQ(job.status, JobStatus::kQueued);
  EXPECT_EQ(job.attempts, 0);
  EXPECT_THAT(Types(created->events), ElementsAre(EventType::kJobCreated, EventType::kJobQueued));
  EXPECT_EQ(created->events[0].status, "CREATED");
  EXPECT_EQ(created->events[1].status, "QUEUED");
  EXPECT_LT(created->events[0].seq, created->events[1].seq);
  EXPECT_THAT(created->touched_agents, ElementsAre("a1"));

  auto detail = store().GetJob(job.id);
  ASSERT_THAT(detail, IsOk());
  EXPECT_EQ(detail->job, job);
  EXPECT_TRUE(detail->runs.empty());
  EXPECT_EQ(detail->job.payload_json, R"({"n":1})");
  EXPECT_EQ(detail->job.instance_id, "mc-1");
}

TEST_P(StoreContractTest, GetJobOfAnUnknownIdIsNotFound) {
  EXPECT_THAT(store().GetJob("nope"), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, RefusesAJobForAnAgentThatIsNotEnrolled) {
  CreateJobsCommand command;
  command.jobs.push_back(Spec("ghost", "BACKUP_INSTANCE", "mc-1"));
  EXPECT_THAT(store().CreateJobs(command, Now()), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, AJobWithAFutureNotBeforeWaitsAsCreatedUntilPromoted) {
  ReadyAgent("a1");
  JobSpec spec = Spec("a1", "BACKUP_INSTANCE", "mc-1");
  spec.not_before = Now() + 30s;
  CreateJobsCommand command;
  command.jobs.push_back(spec);
  auto created = store().CreateJobs(command, Now());
  ASSERT_THAT(created, IsOk());
  const Job job = created->value.jobs[0];
  EXPECT_EQ(job.status, JobStatus::kCreated);
  EXPECT_THAT(Types(created->events), ElementsAre(EventType::kJobCreated));
  EXPECT_FALSE(Dispatch("a1"));

  auto wake = store().NextWakeTime();
  ASSERT_THAT(wake, IsOk());
  EXPECT_EQ(*wake, spec.not_before);

  clock_.Advance(29s);
  auto early = store().PromoteDue(Now());
  ASSERT_THAT(early, IsOk());
  EXPECT_EQ(early->value, 0);
  clock_.Advance(1s);
  auto promoted = store().PromoteDue(Now());
  ASSERT_THAT(promoted, IsOk());
  EXPECT_EQ(promoted->value, 1);
  EXPECT_THAT(Types(promoted->events), ElementsAre(EventType::kJobQueued));
  EXPECT_THAT(promoted->touched_agents, ElementsAre("a1"));
  EXPECT_EQ(StatusOf(job.id), JobStatus::kQueued);
  auto none = store().NextWakeTime();
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(*none);
  EXPECT_TRUE(Dispatch("a1"));
}

TEST_P(StoreContractTest, ABatchIsCreatedAllOrNothing) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  CreateJobsCommand bad;
  bad.batch = true;
  bad.jobs = {Spec("a1", "VERIFY_BACKUP", "mc-1"), Spec("ghost", "VERIFY_BACKUP", "mc-1")};
  EXPECT_THAT(store().CreateJobs(bad, Now()), FailsWith(Errc::kNotFound));
  auto none = store().ListJobs({}, 50, std::nullopt);
  ASSERT_THAT(none, IsOk());
  EXPECT_TRUE(none->jobs.empty());

  CreateJobsCommand good;
  good.batch = true;
  good.jobs = {Spec("a1", "VERIFY_BACKUP", "mc-1"), Spec("a2", "VERIFY_BACKUP", "mc-1")};
  auto created = store().CreateJobs(good, Now());
  ASSERT_THAT(created, IsOk());
  ASSERT_TRUE(created->value.batch_id);
  ASSERT_EQ(created->value.jobs.size(), 2u);
  EXPECT_EQ(created->value.jobs[0].batch_id, created->value.batch_id);
  EXPECT_EQ(created->events.size(), 4u);
  EXPECT_THAT(created->touched_agents, UnorderedElementsAreArray({"a1", "a2"}));
  auto listed = store().ListJobs({.batch_id = created->value.batch_id}, 50, std::nullopt);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->jobs.size(), 2u);
}

TEST_P(StoreContractTest, TheSameIdempotencyKeyReturnsTheFirstJob) {
  ReadyAgent("a1");
  CreateJobsCommand command;
  command.jobs.push_back(Spec("a1", "BACKUP_INSTANCE", "mc-1"));
  command.idempotency_key = "key-1";
  command.request_fingerprint = "fp-1";
  auto first = store().CreateJobs(command, Now());
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->value.jobs[0].idempotency_key, "key-1");

  auto again = store().CreateJobs(command, Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->value.existing);
  ASSERT_EQ(again->value.jobs.size(), 1u);
  EXPECT_EQ(again->value.jobs[0].id, first->value.jobs[0].id);
  EXPECT_TRUE(again->events.empty());

  command.request_fingerprint = "fp-2";
  EXPECT_THAT(store().CreateJobs(command, Now()), FailsWith(Errc::kIdempotencyConflict));
  auto listed = store().ListJobs({}, 50, std::nullopt);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->jobs.size(), 1u);
}

TEST_P(StoreContractTest, WithoutAFingerprintTheStoreComparesTheJobs) {
  ReadyAgent("a1");
  CreateJobsCommand command;
  command.jobs.push_back(Spec("a1", "BACKUP_INSTANCE", "mc-1"));
  command.idempotency_key = "key-1";
  ASSERT_THAT(store().CreateJobs(command, Now()), IsOk());
  auto again = store().CreateJobs(command, Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->value.existing);
  command.jobs[0].priority = 5;
  EXPECT_THAT(store().CreateJobs(command, Now()), FailsWith(Errc::kIdempotencyConflict));
}

TEST_P(StoreContractTest, AnIdempotentBatchReturnsTheFirstBatch) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  CreateJobsCommand command;
  command.batch = true;
  command.jobs = {Spec("a1", "VERIFY_BACKUP", "mc-1"), Spec("a2", "VERIFY_BACKUP", "mc-1")};
  command.idempotency_key = "batch-key";
  command.request_fingerprint = "selector region=eu";
  auto first = store().CreateJobs(command, Now());
  ASSERT_THAT(first, IsOk());
  command.jobs.pop_back();  // the selector matches fewer agents now: still the same request
  auto again = store().CreateJobs(command, Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->value.existing);
  EXPECT_EQ(again->value.batch_id, first->value.batch_id);
  EXPECT_EQ(again->value.jobs.size(), 2u);
}

TEST_P(StoreContractTest, ListJobsPagesNewestFirstAndStaysStableUnderInserts) {
  ReadyAgent("a1");
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(Create("a1", "VERIFY_BACKUP", "mc-" + std::to_string(i)).id);
    clock_.Advance(1ms);
  }
  auto page1 = store().ListJobs({}, 3, std::nullopt);
  ASSERT_THAT(page1, IsOk());
  ASSERT_EQ(page1->jobs.size(), 3u);
  EXPECT_EQ(page1->jobs[0].id, ids[6]);
  EXPECT_EQ(page1->jobs[2].id, ids[4]);
  ASSERT_TRUE(page1->next_cursor);

  Create("a1", "VERIFY_BACKUP", "new");  // a concurrent insert between pages
  auto page2 = store().ListJobs({}, 3, page1->next_cursor);
  ASSERT_THAT(page2, IsOk());
  ASSERT_EQ(page2->jobs.size(), 3u);
  EXPECT_EQ(page2->jobs[0].id, ids[3]);
  EXPECT_EQ(page2->jobs[2].id, ids[1]);
  auto page3 = store().ListJobs({}, 3, page2->next_cursor);
  ASSERT_THAT(page3, IsOk());
  ASSERT_EQ(page3->jobs.size(), 1u);
  EXPECT_EQ(page3->jobs[0].id, ids[0]);
  EXPECT_FALSE(page3->next_cursor);
}

TEST_P(StoreContractTest, ListJobsFiltersByEveryField) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const Job backup = Create("a1", "BACKUP_INSTANCE", "mc-1");
  Create("a1", "VERIFY_BACKUP", "mc-2");
  Create("a2", "VERIFY_BACKUP", "mc-1");
  ASSERT_THAT(store().CancelJob(backup.id, Now()), IsOk());

  auto count = [&](const JobFilter& filter) {
    auto list = store().ListJobs(filter, 500, std::nullopt);
    EXPECT_THAT(list, IsOk());
    return list ? list->jobs.size() : 0u;
  };
  EXPECT_EQ(count({}), 3u);
  EXPECT_EQ(count({.agent_id = "a1"}), 2u);
  EXPECT_EQ(count({.status = JobStatus::kCancelled}), 1u);
  EXPECT_EQ(count({.status = JobStatus::kQueued}), 2u);
  EXPECT_EQ(count({.type = "VERIFY_BACKUP"}), 2u);
  EXPECT_EQ(count({.instance_id = "mc-1"}), 2u);
  EXPECT_EQ(count({.agent_id = "a2", .type = "VERIFY_BACKUP", .instance_id = "mc-1"}), 1u);
  EXPECT_EQ(count({.batch_id = "none"}), 0u);
}

TEST_P(StoreContractTest, ListJobsRejectsACursorItDidNotMake) {
  EXPECT_THAT(store().ListJobs({}, 10, std::string("garbage")), FailsWith(Errc::kInvalidRequest));
}

// ---- Dispatch rule (protocol.md §3) ----

TEST_P(StoreContractTest, DispatchCreatesARunAndHandsOutTheExecution) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto dispatched = store().DispatchNext("a1", Now(), kLease);
  ASSERT_THAT(dispatched, IsOk());
  ASSERT_TRUE(dispatched->value);
  const auto& execution = dispatched->value->execution;
  EXPECT_EQ(execution.job_id, job.id);
  EXPECT_EQ(execution.attempt, 1);
  EXPECT_EQ(execution.type, "BACKUP_INSTANCE");
  EXPECT_EQ(execution.instance_id, "mc-1");
  EXPECT_EQ(execution.payload_json, R"({"n":1})");
  EXPECT_EQ(execution.lease_seconds, kLease);
  EXPECT_TRUE(execution.cancellable);
  EXPECT_EQ(execution.created_at, job.created_at);
  EXPECT_THAT(Types(dispatched->events), ElementsAre(EventType::kJobRunning));
  EXPECT_EQ(dispatched->events[0].run_id, execution.run_id);
  EXPECT_EQ(dispatched->events[0].attempt, 1);

  auto detail = store().GetJob(job.id);
  ASSERT_THAT(detail, IsOk());
  EXPECT_EQ(detail->job.status, JobStatus::kRunning);
  EXPECT_EQ(detail->job.attempts, 1);
  EXPECT_EQ(detail->job.current_run_id, execution.run_id);
  ASSERT_EQ(detail->runs.size(), 1u);
  EXPECT_EQ(detail->runs[0], dispatched->value->run);
  EXPECT_EQ(detail->runs[0].status, RunStatus::kRunning);

  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_THAT(agent->running_runs, ElementsAre(execution.run_id));
  auto wake = store().NextWakeTime();
  ASSERT_THAT(wake, IsOk());
  EXPECT_EQ(*wake, Now() + std::chrono::seconds(kLease));
}

TEST_P(StoreContractTest, DispatchTakesHigherPriorityFirstThenFifo) {
  ReadyAgent("a1", 10);
  const Job low = Create("a1", "VERIFY_BACKUP", "mc-1");
  clock_.Advance(1ms);
  JobSpec high_spec = Spec("a1", "VERIFY_BACKUP", "mc-2");
  high_spec.priority = 50;
  const Job high = Create(high_spec);
  clock_.Advance(1ms);
  const Job low2 = Create("a1", "VERIFY_BACKUP", "mc-3");
  EXPECT_THAT(DispatchAll("a1"), ElementsAre(high.id, low.id, low2.id));
}

TEST_P(StoreContractTest, JobsOfTheSameInstanceNeverRunTogether) {
  ReadyAgent("a1", 10);
  const Job first = Create("a1", "BACKUP_INSTANCE", "mc-1");
  const Job second = Create("a1", "START_INSTANCE", "mc-1");
  const Job other = Create("a1", "START_INSTANCE", "mc-2");
  // mc-2 runs next to mc-1; the second mc-1 job waits for the first.
  EXPECT_THAT(DispatchAll("a1"), ElementsAre(first.id, other.id));
  auto detail = store().GetJob(first.id);
  ASSERT_THAT(detail, IsOk());
  ASSERT_THAT(Finish("a1", *detail->job.current_run_id, RunStatus::kCompleted), IsOk());
  EXPECT_THAT(DispatchAll("a1"), ElementsAre(second.id));
}

TEST_P(StoreContractTest, ALaterJobNeverOvertakesAnEarlierConflictingOne) {
  ReadyAgent("a1", 10);
  const Job running = Create("a1", "VERIFY_BACKUP", "mc-1");
  ASSERT_THAT(DispatchAll("a1"), ElementsAre(running.id));
  Create("a1", "PRUNE_BACKUPS", "mc-1");                     // waits: backups X vs running S
  const Job verify = Create("a1", "VERIFY_BACKUP", "mc-1");  // S, but behind the prune
  const Job elsewhere = Create("a1", "VERIFY_BACKUP", "mc-9");
  EXPECT_THAT(DispatchAll("a1"), ElementsAre(elsewhere.id));
  (void)verify;
}

TEST_P(StoreContractTest, AnExclusiveJobRunsAlone) {
  ReadyAgent("a1", 10);
  const Job a = Create("a1", "VERIFY_BACKUP", "mc-1");
  ASSERT_THAT(DispatchAll("a1"), ElementsAre(a.id));
  JobSpec exclusive_spec = Spec("a1", "VERIFY_BACKUP", "mc-2");
  exclusive_spec.exclusive = true;
  const Job exclusive = Create(exclusive_spec);
  const Job behind = Create("a1", "VERIFY_BACKUP", "mc-3");
  EXPECT_TRUE(DispatchAll("a1").empty());  // waits for `a`, and nothing overtakes it

  auto detail = store().GetJob(a.id);
  ASSERT_THAT(detail, IsOk());
  ASSERT_THAT(Finish("a1", *detail->job.current_run_id, RunStatus::kCompleted), IsOk());
  EXPECT_THAT(DispatchAll("a1"), ElementsAre(exclusive.id));  // and nothing starts next to it
  detail = store().GetJob(exclusive.id);
  ASSERT_THAT(detail, IsOk());
  ASSERT_THAT(Finish("a1", *detail->job.current_run_id, RunStatus::kCompleted), IsOk());
  EXPECT_THAT(DispatchAll("a1"), ElementsAre(behind.id));
}

TEST_P(StoreContractTest, DispatchRespectsMaxParallel) {
  ReadyAgent("a1", 2);
  for (int i = 0; i < 4; ++i)
    Create("a1", "VERIFY_BACKUP", "mc-" + std::to_string(i));
  EXPECT_EQ(DispatchAll("a1").size(), 2u);
}

TEST_P(StoreContractTest, DispatchSkipsTypesTheAgentDidNotDeclare) {
  Enroll("a1");
  Hello("a1", {"VERIFY_BACKUP"});
  Create("a1", "BACKUP_INSTANCE", "mc-1");
  const Job verify = Create("a1", "VERIFY_BACKUP", "mc-2");
  EXPECT_THAT(DispatchAll("a1"), ElementsAre(verify.id));
}

TEST_P(StoreContractTest, DispatchFindsAJobBehindALongQueueOfUndispatchableOnes) {
  Enroll("a1");
  Hello("a1", {"VERIFY_BACKUP"});
  for (int i = 0; i < 300; ++i)
    Create("a1", "BACKUP_INSTANCE", "mc-" + std::to_string(i));
  const Job verify = Create("a1", "VERIFY_BACKUP", "other");
  EXPECT_THAT(DispatchAll("a1"), ElementsAre(verify.id));
}

TEST_P(StoreContractTest, AnAgentWithoutHelloGetsNothing) {
  Enroll("a1");
  Create("a1", "VERIFY_BACKUP", "mc-1");
  EXPECT_FALSE(Dispatch("a1"));
  EXPECT_THAT(store().DispatchNext("ghost", Now(), kLease), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, ConcurrentDispatchNeverHandsOutAJobTwice) {
  constexpr int kAgents = 2;
  constexpr int kJobsPerAgent = 150;
  constexpr int kThreads = 8;
  std::set<std::string> created;
  for (int a = 0; a < kAgents; ++a) {
    const std::string agent = "a" + std::to_string(a);
    ReadyAgent(agent, 100000);
    CreateJobsCommand command;
    command.batch = true;
    for (int i = 0; i < kJobsPerAgent; ++i)
      command.jobs.push_back(Spec(agent, "VERIFY_BACKUP", "mc"));
    auto jobs = store().CreateJobs(command, Now());
    ASSERT_THAT(jobs, IsOk());
    for (const Job& job : jobs->value.jobs)
      created.insert(job.id);
  }
  std::mutex mutex;
  std::multiset<std::string> handed_out;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string agent = "a" + std::to_string(t % kAgents);
      for (;;) {
        auto next = store().DispatchNext(agent, Now(), kLease);
        if (!next) {
          ++failures;
          return;
        }
        if (!next->value) return;
        const std::lock_guard lock(mutex);
        handed_out.insert(next->value->execution.job_id);
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(handed_out.size(), created.size());
  EXPECT_EQ(std::set<std::string>(handed_out.begin(), handed_out.end()), created);
}

TEST_P(StoreContractTest, ConcurrentWritesThatFailDoNotUndoOthers) {
  ReadyAgent("a1", 1000);
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        CreateJobsCommand command;
        command.jobs.push_back(Spec(t % 2 == 0 ? "a1" : "ghost", "VERIFY_BACKUP", "mc"));
        auto created = store().CreateJobs(command, Now());
        if (created) {
          ++ok;
        } else if (created.error().code == Errc::kNotFound) {
          ++refused;
        }
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(refused.load(), 100);
  auto list = store().ListJobs({}, 500, std::nullopt);
  ASSERT_THAT(list, IsOk());
  EXPECT_EQ(list->jobs.size(), 100u);
}

}  // namespace
}  // namespace orb::store
