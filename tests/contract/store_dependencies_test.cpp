// The store contract: job dependencies (docs/protocol.md "Job dependencies", docs/decisions/0019).
// Dependencies live on other agents than their dependents throughout, so every test also covers
// the batch taking the other agents' locks.

#include <string>
#include <vector>

#include "contract/store_contract.hpp"

namespace orb::store {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class StoreDependenciesTest : public StoreContractTest {
 protected:
  // A BACKUP_INSTANCE job with no retry: its first failure is final.
  JobSpec Once(const std::string& agent_id, const std::string& instance) {
    JobSpec spec = Spec(agent_id, "BACKUP_INSTANCE", instance);
    spec.max_attempts = 1;
    return spec;
  }

  JobSpec Dependent(const std::string& agent_id, const std::string& instance,
                    std::vector<std::string> depends_on) {
    JobSpec spec = Spec(agent_id, "VERIFY_BACKUP", instance);
    spec.depends_on = std::move(depends_on);
    return spec;
  }

  Expected<Mutation<CreatedJobs>> TryCreate(JobSpec spec) {
    CreateJobsCommand command;
    command.jobs.push_back(std::move(spec));
    return store().CreateJobs(command, Now());
  }

  Job Get(const std::string& job_id) {
    auto detail = store().GetJob(job_id);
    EXPECT_THAT(detail, IsOk());
    return detail ? detail->job : Job{};
  }

  // Dispatches `job_id` on its agent (it must be the agent's next job) and returns the run id.
  std::string Start(const std::string& agent_id, const std::string& job_id) {
    auto next = Dispatch(agent_id);
    EXPECT_TRUE(next.has_value());
    if (!next) return "";
    EXPECT_EQ(next->execution.job_id, job_id);
    return next->run.id;
  }

  // Events of `job_id` among `events`.
  static std::vector<protocol::Event> Of(const std::vector<protocol::Event>& events,
                                         const std::string& job_id) {
    std::vector<protocol::Event> of;
    for (const auto& event : events) {
      if (event.job_id == job_id) of.push_back(event);
    }
    return of;
  }

  static protocol::RunError Fatal() { return protocol::RunError{"boom", "it broke", {}, false}; }
};

TEST_P(StoreDependenciesTest, ADependentWaitsAndIsQueuedWhenItsLastDependencyCompletes) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const Job first = Create("a1", "BACKUP_INSTANCE", "mc-1");
  const Job second = Create("a1", "BACKUP_INSTANCE", "mc-2");
  auto created = TryCreate(Dependent("a2", "mc-9", {first.id, second.id}));
  ASSERT_THAT(created, IsOk());
  const Job waiting = created->value.jobs[0];
  EXPECT_EQ(waiting.status, JobStatus::kCreated);
  EXPECT_THAT(waiting.depends_on, ElementsAre(first.id, second.id));
  EXPECT_THAT(waiting.waiting_for, ElementsAre(first.id, second.id));
  EXPECT_THAT(Types(created->events), ElementsAre(EventType::kJobCreated));
  EXPECT_EQ(Get(waiting.id), waiting);

  // Waiting is not a time: no timer for it, PromoteDue leaves it, a2 gets nothing.
  auto wake = store().NextWakeTime();
  ASSERT_THAT(wake, IsOk());
  EXPECT_FALSE(*wake);
  auto promoted = store().PromoteDue(Now() + 24h);
  ASSERT_THAT(promoted, IsOk());
  EXPECT_EQ(promoted->value, 0);
  EXPECT_FALSE(Dispatch("a2"));

  auto done = Finish("a1", Start("a1", first.id), RunStatus::kCompleted);
  ASSERT_THAT(done, IsOk());
  EXPECT_THAT(Of(done->events, waiting.id), IsEmpty());
  EXPECT_EQ(Get(waiting.id).status, JobStatus::kCreated);
  EXPECT_THAT(Get(waiting.id).waiting_for, ElementsAre(second.id));

  auto last = Finish("a1", Start("a1", second.id), RunStatus::kCompleted);
  ASSERT_THAT(last, IsOk());
  // The dependent is queued by the same commit that completed its last dependency.
  EXPECT_THAT(Types(last->events), ElementsAre(EventType::kJobCompleted, EventType::kJobQueued));
  EXPECT_EQ(last->events[1].job_id, waiting.id);
  EXPECT_EQ(last->events[1].status, "QUEUED");
  EXPECT_THAT(last->touched_agents, UnorderedElementsAreArray({"a1", "a2"}));
  ExpectToldMatchesStore("a2");
  const Job queued = Get(waiting.id);
  EXPECT_EQ(queued.status, JobStatus::kQueued);
  EXPECT_THAT(queued.depends_on, ElementsAre(first.id, second.id));
  EXPECT_THAT(queued.waiting_for, IsEmpty());
  Start("a2", waiting.id);
}

TEST_P(StoreDependenciesTest, ACompletedDependencyQueuesAtOnceAndAFutureNotBeforeStillHolds) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const Job dependency = Create("a1", "BACKUP_INSTANCE", "mc-1");
  ASSERT_THAT(Finish("a1", Start("a1", dependency.id), RunStatus::kCompleted), IsOk());
  const Job now = Create(Dependent("a2", "mc-2", {dependency.id}));
  EXPECT_EQ(now.status, JobStatus::kQueued);
  EXPECT_THAT(now.waiting_for, IsEmpty());

  // Waiting for a dependency, with a notBefore that passes meanwhile, then done: queued at once.
  const Job other = Create("a1", "BACKUP_INSTANCE", "mc-3");
  JobSpec early = Dependent("a2", "mc-4", {other.id});
  early.not_before = Now() + 10s;
  const Job timed = Create(early);
  EXPECT_EQ(timed.status, JobStatus::kCreated);
  clock_.Advance(20s);
  auto due = store().PromoteDue(Now());
  ASSERT_THAT(due, IsOk());
  EXPECT_EQ(due->value, 0);  // its time came, its dependency did not
  auto wake = store().NextWakeTime();
  ASSERT_THAT(wake, IsOk());
  EXPECT_FALSE(*wake);

  // The other way round: the dependency completes before notBefore; then PromoteDue queues it.
  const Job third = Create("a1", "BACKUP_INSTANCE", "mc-5");
  JobSpec late = Dependent("a2", "mc-6", {third.id});
  late.not_before = Now() + 60s;
  const Job later = Create(late);
  ASSERT_THAT(Finish("a1", Start("a1", other.id), RunStatus::kCompleted), IsOk());
  EXPECT_EQ(Get(timed.id).status, JobStatus::kQueued);
  auto done = Finish("a1", Start("a1", third.id), RunStatus::kCompleted);
  ASSERT_THAT(done, IsOk());
  EXPECT_THAT(Of(done->events, later.id), IsEmpty());
  EXPECT_EQ(Get(later.id).status, JobStatus::kCreated);
  EXPECT_THAT(Get(later.id).waiting_for, IsEmpty());
  wake = store().NextWakeTime();
  ASSERT_THAT(wake, IsOk());
  EXPECT_EQ(*wake, late.not_before);
  clock_.Advance(60s);
  due = store().PromoteDue(Now());
  ASSERT_THAT(due, IsOk());
  EXPECT_EQ(due->value, 1);
  EXPECT_EQ(Get(later.id).status, JobStatus::kQueued);
}

TEST_P(StoreDependenciesTest, AFailureCancelsTheDependentsDownTheChainInOneCommit) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  ReadyAgent("a3");
  const JobSpec root_spec = Once("a1", "mc-1");
  const Job root = Create(root_spec);
  const Job child = Create(Dependent("a2", "mc-2", {root.id}));
  const Job grandchild = Create(Dependent("a3", "mc-3", {child.id}));
  const Job sibling = Create(Dependent("a1", "mc-4", {root.id}));
  const Job unrelated = Create("a3", "BACKUP_INSTANCE", "mc-5");

  auto failed = Finish("a1", Start("a1", root.id), RunStatus::kFailed, Fatal());
  ASSERT_THAT(failed, IsOk());
  EXPECT_THAT(Types(failed->events),
              ElementsAre(EventType::kJobFailed, EventType::kJobCancelled, EventType::kJobCancelled,
                          EventType::kJobCancelled));
  for (const Job& job : {child, grandchild, sibling}) {
    const auto events = Of(failed->events, job.id);
    ASSERT_EQ(events.size(), 1u) << job.id;
    EXPECT_EQ(events[0].status, "CANCELLED");
    ASSERT_TRUE(events[0].error.has_value());
    EXPECT_EQ(events[0].error->code, "dependency_failed");
    const Job now = Get(job.id);
    EXPECT_EQ(now.status, JobStatus::kCancelled);
    ASSERT_TRUE(now.last_error.has_value());
    EXPECT_EQ(now.last_error->code, "dependency_failed");
    EXPECT_FALSE(now.last_error->retryable);
    EXPECT_THAT(now.waiting_for, IsEmpty());
  }
  // Each names the dependency that ended it.
  EXPECT_THAT(Get(child.id).last_error->message, HasSubstr(root.id + " ended FAILED"));
  EXPECT_THAT(Get(grandchild.id).last_error->message, HasSubstr(child.id + " ended CANCELLED"));
  EXPECT_EQ(Get(unrelated.id).status, JobStatus::kQueued);
  auto events = store().JobEvents(grandchild.id);
  ASSERT_THAT(events, IsOk());
  EXPECT_THAT(Types(*events), ElementsAre(EventType::kJobCreated, EventType::kJobCancelled));
}

TEST_P(StoreDependenciesTest, ARetryableFailureKeepsTheDependentsWaiting) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const Job dependency = Create("a1", "BACKUP_INSTANCE", "mc-1");  // max_attempts 3
  const Job dependent = Create(Dependent("a2", "mc-2", {dependency.id}));
  auto failed =
      Finish("a1", Start("a1", dependency.id), RunStatus::kFailed, Retryable("network_error"));
  ASSERT_THAT(failed, IsOk());
  EXPECT_THAT(Types(failed->events), ElementsAre(EventType::kJobFailed, EventType::kJobRetried));
  EXPECT_EQ(Get(dependent.id).status, JobStatus::kCreated);
  clock_.Advance(1h);
  ASSERT_THAT(store().PromoteDue(Now()), IsOk());
  EXPECT_EQ(Get(dependent.id).status, JobStatus::kCreated);  // PromoteDue took only the retry
  ASSERT_THAT(Finish("a1", Start("a1", dependency.id), RunStatus::kCompleted), IsOk());
  EXPECT_EQ(Get(dependent.id).status, JobStatus::kQueued);
}

TEST_P(StoreDependenciesTest, ALostLeaseWithNoRetryLeftCancelsTheDependents) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const JobSpec spec = Once("a1", "mc-1");
  const Job dependency = Create(spec);
  const Job dependent = Create(Dependent("a2", "mc-2", {dependency.id}));
  Start("a1", dependency.id);
  clock_.Advance(std::chrono::seconds(kLease + 1));
  auto expired = store().ExpireLeases(Now());
  ASSERT_THAT(expired, IsOk());
  EXPECT_EQ(expired->value, 1);
  EXPECT_THAT(Types(expired->events), ElementsAre(EventType::kJobFailed, EventType::kJobCancelled));
  EXPECT_EQ(Get(dependent.id).status, JobStatus::kCancelled);
}

TEST_P(StoreDependenciesTest, CancellingADependencyCancelsItsDependents) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  // Cancelled while queued (POST /cancel) ...
  const Job queued = Create("a1", "BACKUP_INSTANCE", "mc-1");
  const Job first = Create(Dependent("a2", "mc-2", {queued.id}));
  auto cancelled = store().CancelJob(queued.id, Now());
  ASSERT_THAT(cancelled, IsOk());
  EXPECT_THAT(Types(cancelled->events),
              ElementsAre(EventType::kJobCancelled, EventType::kJobCancelled));
  EXPECT_EQ(Get(first.id).status, JobStatus::kCancelled);
  EXPECT_THAT(Get(first.id).last_error->message, HasSubstr(queued.id + " ended CANCELLED"));

  // ... or while running (the agent reports CANCELLED) ...
  const Job running = Create("a1", "BACKUP_INSTANCE", "mc-3");
  const Job second = Create(Dependent("a2", "mc-4", {running.id}));
  const std::string run = Start("a1", running.id);
  ASSERT_THAT(store().CancelJob(running.id, Now()), IsOk());
  EXPECT_EQ(Get(second.id).status, JobStatus::kCreated);  // only requested so far
  ASSERT_THAT(Finish("a1", run, RunStatus::kCancelled), IsOk());
  EXPECT_EQ(Get(second.id).status, JobStatus::kCancelled);

  // ... and a waiting dependent cancelled by hand takes its own dependents with it.
  const Job root = Create("a1", "BACKUP_INSTANCE", "mc-5");
  const Job middle = Create(Dependent("a2", "mc-6", {root.id}));
  const Job leaf = Create(Dependent("a1", "mc-7", {middle.id}));
  auto by_hand = store().CancelJob(middle.id, Now());
  ASSERT_THAT(by_hand, IsOk());
  EXPECT_EQ(by_hand->value.job.status, JobStatus::kCancelled);
  EXPECT_EQ(Get(leaf.id).status, JobStatus::kCancelled);
  EXPECT_EQ(Get(root.id).status, JobStatus::kQueued);
}

TEST_P(StoreDependenciesTest, ADependencyAlreadyFailedOrCancelledCancelsTheNewJobAtOnce) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const JobSpec spec = Once("a1", "mc-1");
  const Job failed = Create(spec);
  ASSERT_THAT(Finish("a1", Start("a1", failed.id), RunStatus::kFailed, Fatal()), IsOk());
  const Job cancelled = Create("a1", "BACKUP_INSTANCE", "mc-2");
  ASSERT_THAT(store().CancelJob(cancelled.id, Now()), IsOk());
  const Job fine = Create("a1", "BACKUP_INSTANCE", "mc-3");

  for (const auto& [dependency, status] :
       {std::pair{failed.id, "FAILED"}, std::pair{cancelled.id, "CANCELLED"}}) {
    auto created = TryCreate(Dependent("a2", "mc-9", {fine.id, dependency}));
    ASSERT_THAT(created, IsOk());
    const Job job = created->value.jobs[0];
    EXPECT_EQ(job.status, JobStatus::kCancelled);
    EXPECT_THAT(Types(created->events),
                ElementsAre(EventType::kJobCreated, EventType::kJobCancelled));
    EXPECT_EQ(created->events[0].status, "CREATED");
    ASSERT_TRUE(created->events[1].error.has_value());
    EXPECT_EQ(created->events[1].error->code, "dependency_failed");
    ASSERT_TRUE(job.last_error.has_value());
    EXPECT_THAT(job.last_error->message, HasSubstr(dependency + " ended " + status));
    EXPECT_EQ(Get(job.id), job);
  }
  EXPECT_FALSE(Dispatch("a2"));
}

TEST_P(StoreDependenciesTest, RetriesNeverRunADependentWithoutItsDependencies) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const JobSpec spec = Once("a1", "mc-1");
  const Job dependency = Create(spec);
  const Job dependent = Create(Dependent("a2", "mc-2", {dependency.id}));
  ASSERT_THAT(Finish("a1", Start("a1", dependency.id), RunStatus::kFailed, Fatal()), IsOk());
  ASSERT_EQ(Get(dependent.id).status, JobStatus::kCancelled);

  auto refused = store().RetryJob(dependent.id, Now());
  EXPECT_THAT(refused, FailsWith(Errc::kInvalidState));
  EXPECT_THAT(refused.error().message, HasSubstr("dependency"));
  // Retrying the dependency does not revive the dependent, not even once it completes.
  auto retried = store().RetryJob(dependency.id, Now());
  ASSERT_THAT(retried, IsOk());
  EXPECT_THAT(Of(retried->events, dependent.id), IsEmpty());
  ASSERT_THAT(Finish("a1", Start("a1", dependency.id), RunStatus::kCompleted), IsOk());
  EXPECT_EQ(Get(dependent.id).status, JobStatus::kCancelled);
  EXPECT_THAT(store().RetryJob(dependent.id, Now()), FailsWith(Errc::kInvalidState));
  EXPECT_FALSE(Dispatch("a2"));

  // A waiting job cancelled by hand cannot be retried while its dependency is unfinished; once
  // the dependency completed, it can (it then runs after it, as it was meant to).
  const Job later = Create("a1", "BACKUP_INSTANCE", "mc-3");
  const Job waiting = Create(Dependent("a2", "mc-4", {later.id}));
  ASSERT_THAT(store().CancelJob(waiting.id, Now()), IsOk());
  EXPECT_THAT(store().RetryJob(waiting.id, Now()), FailsWith(Errc::kInvalidState));
  ASSERT_THAT(Finish("a1", Start("a1", later.id), RunStatus::kCompleted), IsOk());
  auto again = store().RetryJob(waiting.id, Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->value.status, JobStatus::kQueued);
  EXPECT_THAT(again->value.depends_on, ElementsAre(later.id));
  Start("a2", waiting.id);
}

TEST_P(StoreDependenciesTest, AnUnknownDependencyCreatesNothing) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const Job known = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto last_seq = store().LastEventSeq();
  ASSERT_THAT(last_seq, IsOk());

  auto single = TryCreate(Dependent("a2", "mc-2", {known.id, "no-such-job"}));
  EXPECT_THAT(single, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(single.error().message, HasSubstr("no-such-job"));
  ASSERT_EQ(single.error().details.size(), 1u);
  EXPECT_EQ(single.error().details[0].field, "dependsOn[1]");

  CreateJobsCommand batch;
  batch.batch = true;
  batch.jobs = {Dependent("a1", "mc-3", {known.id}), Dependent("a2", "mc-3", {"ghost"})};
  EXPECT_THAT(store().CreateJobs(batch, Now()), FailsWith(Errc::kInvalidRequest));

  auto listed = store().ListJobs({}, 50, std::nullopt);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->jobs.size(), 1u);
  EXPECT_EQ(listed->jobs[0].id, known.id);
  auto after = store().LastEventSeq();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(*after, *last_seq);
  // The known job did not become a dependency either: completing it queues nothing.
  auto done = Finish("a1", Start("a1", known.id), RunStatus::kCompleted);
  ASSERT_THAT(done, IsOk());
  EXPECT_THAT(Types(done->events), ElementsAre(EventType::kJobCompleted));
}

TEST_P(StoreDependenciesTest, ABatchOfDependentsAndTheListShowWhatEachWaitsFor) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  ReadyAgent("a3");
  const Job dependency = Create("a1", "BACKUP_INSTANCE", "mc-1");
  CreateJobsCommand batch;
  batch.batch = true;
  batch.idempotency_key = "deps-1";
  batch.jobs = {Dependent("a2", "mc-2", {dependency.id}), Dependent("a3", "mc-2", {dependency.id})};
  auto created = store().CreateJobs(batch, Now());
  ASSERT_THAT(created, IsOk());
  ASSERT_EQ(created->value.jobs.size(), 2u);
  for (const Job& job : created->value.jobs) {
    EXPECT_EQ(job.status, JobStatus::kCreated);
    EXPECT_THAT(job.waiting_for, ElementsAre(dependency.id));
  }
  // The idempotent answer and the list carry the dependencies too.
  auto again = store().CreateJobs(batch, Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->value.existing);
  EXPECT_EQ(again->value.jobs, created->value.jobs);
  auto listed = store().ListJobs({.batch_id = created->value.batch_id}, 50, std::nullopt);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->jobs.size(), 2u);
  for (const Job& job : listed->jobs)
    EXPECT_THAT(job.waiting_for, ElementsAre(dependency.id));

  auto done = Finish("a1", Start("a1", dependency.id), RunStatus::kCompleted);
  ASSERT_THAT(done, IsOk());
  EXPECT_THAT(Types(done->events),
              ElementsAre(EventType::kJobCompleted, EventType::kJobQueued, EventType::kJobQueued));
  EXPECT_THAT(done->touched_agents, UnorderedElementsAreArray({"a1", "a2", "a3"}));
  ExpectToldMatchesStore("a2");
  ExpectToldMatchesStore("a3");
  Start("a2", created->value.jobs[0].id);
  Start("a3", created->value.jobs[1].id);
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreDependenciesTest, ::testing::ValuesIn(StoreFactories()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace orb::store
