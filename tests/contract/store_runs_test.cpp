// The store contract: updates, leases, automatic retries, cancel and retry (protocol.md §3–§5).

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

// ---- Updates (protocol.md §4) ----

TEST_P(StoreContractTest, UpdatesStoreProgressAndLogsOnceEach) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  const std::string run_id = run->execution.run_id;

  protocol::UpdatesRequest request;
  request.updates = {{1, RunStatus::kRunning, 10, "archiving", std::nullopt, Now()},
                     {2, RunStatus::kRunning, 42, "archiving more", std::nullopt, Now()}};
  request.logs = {{1, Now(), "info", "start"}, {2, Now(), "info", "step"}};
  auto first = store().ApplyUpdates("a1", run_id, request, Now(), kLease);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->value.acked_update_seq, 2);
  EXPECT_EQ(first->value.acked_log_seq, 2);
  EXPECT_FALSE(first->value.cancel_requested);
  EXPECT_THAT(Types(first->events), ElementsAre(EventType::kJobProgress, EventType::kJobProgress));
  EXPECT_EQ(first->events[1].percent, 42);
  EXPECT_EQ(first->events[1].run_id, run_id);
  EXPECT_EQ(first->events[1].instance_id, "mc-1");

  // Resent with one new item each: only the new ones count.
  request.updates.push_back({3, RunStatus::kRunning, std::nullopt, std::nullopt, "upload", Now()});
  request.logs.push_back({3, Now(), "warn", "slow"});
  auto second = store().ApplyUpdates("a1", run_id, request, Now(), kLease);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->value.acked_update_seq, 3);
  EXPECT_EQ(second->value.acked_log_seq, 3);
  ASSERT_EQ(second->events.size(), 1u);
  EXPECT_EQ(second->events[0].message, "upload");
  EXPECT_FALSE(second->events[0].percent);

  auto detail = store().GetJob(job.id);
  ASSERT_THAT(detail, IsOk());
  EXPECT_EQ(detail->runs[0].percent, 42);
  EXPECT_EQ(detail->runs[0].message, "upload");

  auto logs = store().ReadLogs({.job_id = job.id});
  ASSERT_THAT(logs, IsOk());
  ASSERT_EQ(logs->lines.size(), 3u);
  EXPECT_EQ(logs->lines[2].level, "warn");
  EXPECT_EQ(logs->lines[2].run_id, run_id);
  auto after = store().ReadLogs({.job_id = job.id, .run_id = run_id, .after_seq = 1, .limit = 1});
  ASSERT_THAT(after, IsOk());
  ASSERT_EQ(after->lines.size(), 1u);
  EXPECT_EQ(after->lines[0].seq, 2);
  EXPECT_THAT(store().ReadLogs({.job_id = "nope"}), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().ReadLogs({.job_id = job.id, .run_id = std::string("other")}),
              FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, AHeartbeatExtendsTheLease) {
  ReadyAgent("a1");
  Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  clock_.Advance(50s);
  ASSERT_THAT(store().ApplyUpdates("a1", run->execution.run_id, {}, Now(), kLease), IsOk());
  clock_.Advance(50s);  // 100 s after dispatch, 50 s after the heartbeat
  auto expired = store().ExpireLeases(Now());
  ASSERT_THAT(expired, IsOk());
  EXPECT_EQ(expired->value, 0);
  clock_.Advance(10s);
  expired = store().ExpireLeases(Now());
  ASSERT_THAT(expired, IsOk());
  EXPECT_EQ(expired->value, 1);
}

TEST_P(StoreContractTest, AFinalCompletedUpdateCompletesTheJob) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  auto done = Finish("a1", run->execution.run_id, RunStatus::kCompleted, std::nullopt, 5);
  ASSERT_THAT(done, IsOk());
  EXPECT_EQ(done->value.acked_update_seq, 5);
  EXPECT_THAT(Types(done->events), ElementsAre(EventType::kJobCompleted));
  EXPECT_EQ(done->events[0].status, "COMPLETED");

  auto detail = store().GetJob(job.id);
  ASSERT_THAT(detail, IsOk());
  EXPECT_EQ(detail->job.status, JobStatus::kCompleted);
  EXPECT_EQ(detail->job.result_json, R"({"ok":true})");
  EXPECT_EQ(detail->runs[0].status, RunStatus::kCompleted);
  EXPECT_EQ(detail->runs[0].finished_at, Now());
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_TRUE(agent->running_runs.empty());
  auto wake = store().NextWakeTime();
  ASSERT_THAT(wake, IsOk());
  EXPECT_FALSE(*wake);
}

TEST_P(StoreContractTest, ResendingAnAcknowledgedBatchToAFinalRunIsSafe) {
  ReadyAgent("a1");
  Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  const std::string run_id = run->execution.run_id;
  ASSERT_THAT(Finish("a1", run_id, RunStatus::kCompleted, std::nullopt, 5), IsOk());

  auto resent = Finish("a1", run_id, RunStatus::kCompleted, std::nullopt, 5);
  ASSERT_THAT(resent, IsOk());
  EXPECT_EQ(resent->value.acked_update_seq, 5);
  EXPECT_TRUE(resent->events.empty());

  protocol::UpdatesRequest fresh;
  fresh.logs = {{9, Now(), "info", "late"}};
  EXPECT_THAT(store().ApplyUpdates("a1", run_id, fresh, Now(), kLease),
              FailsWith(Errc::kRunNotActive));
  EXPECT_THAT(store().ApplyUpdates("a1", run_id, {}, Now(), kLease),
              FailsWith(Errc::kRunNotActive));
}

TEST_P(StoreContractTest, UpdatesAreFencedByRunAndAgent) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  EXPECT_THAT(store().ApplyUpdates("a2", run->execution.run_id, {}, Now(), kLease),
              FailsWith(Errc::kForbidden));
  EXPECT_THAT(store().ApplyUpdates("a1", "no-such-run", {}, Now(), kLease),
              FailsWith(Errc::kNotFound));
  protocol::UpdatesRequest bad;
  bad.final_update = protocol::FinalUpdate{1, RunStatus::kRunning, {}, {}, Now()};
  EXPECT_THAT(store().ApplyUpdates("a1", run->execution.run_id, bad, Now(), kLease),
              FailsWith(Errc::kInvalidRequest));
}

TEST_P(StoreContractTest, ANonRetryableFailureFailsTheJob) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  protocol::RunError error{"checksum_mismatch", "bad sha", {"download"}, false};
  auto failed = Finish("a1", run->execution.run_id, RunStatus::kFailed, error);
  ASSERT_THAT(failed, IsOk());
  EXPECT_THAT(Types(failed->events), ElementsAre(EventType::kJobFailed));
  EXPECT_EQ(failed->events[0].error, error);
  auto detail = store().GetJob(job.id);
  ASSERT_THAT(detail, IsOk());
  EXPECT_EQ(detail->job.status, JobStatus::kFailed);
  EXPECT_EQ(detail->job.last_error, error);
  EXPECT_EQ(detail->runs[0].error, error);
  EXPECT_EQ(detail->runs[0].status, RunStatus::kFailed);
}

TEST_P(StoreContractTest, AnAgentCancelledRunCancelsTheJob) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  auto cancelled = Finish("a1", run->execution.run_id, RunStatus::kCancelled);
  ASSERT_THAT(cancelled, IsOk());
  EXPECT_THAT(Types(cancelled->events), ElementsAre(EventType::kJobCancelled));
  EXPECT_EQ(StatusOf(job.id), JobStatus::kCancelled);
}

// ---- Leases, automatic retries, interrupted runs ----

TEST_P(StoreContractTest, ALostAgentsRunIsRetriedWithBackoffUntilAttemptsRunOut) {
  ReadyAgent("a1");
  JobSpec spec = Spec("a1", "BACKUP_INSTANCE", "mc-1");
  spec.max_attempts = 2;
  spec.retry_backoff_seconds = 10;
  const Job job = Create(spec);
  auto first = Dispatch("a1");
  ASSERT_TRUE(first);

  clock_.Advance(std::chrono::seconds(kLease));
  auto wake = store().NextWakeTime();
  ASSERT_THAT(wake, IsOk());
  EXPECT_EQ(*wake, Now());
  auto expired = store().ExpireLeases(Now());
  ASSERT_THAT(expired, IsOk());
  EXPECT_EQ(expired->value, 1);
  ASSERT_THAT(Types(expired->events), ElementsAre(EventType::kJobFailed, EventType::kJobRetried));
  EXPECT_EQ(expired->events[0].status, "FAILED");
  EXPECT_EQ(expired->events[0].error->code, "agent_lost");
  EXPECT_TRUE(expired->events[0].error->retryable);
  EXPECT_EQ(expired->events[1].status, "CREATED");

  auto detail = store().GetJob(job.id);
  ASSERT_THAT(detail, IsOk());
  EXPECT_EQ(detail->job.status, JobStatus::kCreated);
  EXPECT_EQ(detail->job.not_before, Now() + 10s);
  EXPECT_EQ(detail->job.last_error->code, "agent_lost");
  EXPECT_EQ(detail->runs[0].status, RunStatus::kFailed);

  // The lost agent comes back and reports: the run is no longer its to report on.
  EXPECT_THAT(store().ApplyUpdates("a1", first->execution.run_id, {}, Now(), kLease),
              FailsWith(Errc::kRunNotActive));

  wake = store().NextWakeTime();
  ASSERT_THAT(wake, IsOk());
  EXPECT_EQ(*wake, Now() + 10s);
  EXPECT_FALSE(Dispatch("a1"));
  clock_.Advance(10s);
  auto promoted = store().PromoteDue(Now());
  ASSERT_THAT(promoted, IsOk());
  EXPECT_EQ(promoted->value, 1);
  auto second = Dispatch("a1");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->execution.attempt, 2);
  EXPECT_NE(second->execution.run_id, first->execution.run_id);

  auto failed = Finish("a1", second->execution.run_id, RunStatus::kFailed, Retryable("network"));
  ASSERT_THAT(failed, IsOk());
  EXPECT_THAT(Types(failed->events), ElementsAre(EventType::kJobFailed));
  detail = store().GetJob(job.id);
  ASSERT_THAT(detail, IsOk());
  EXPECT_EQ(detail->job.status, JobStatus::kFailed);
  EXPECT_EQ(detail->job.attempts, 2);
  EXPECT_EQ(detail->runs.size(), 2u);
}

TEST_P(StoreContractTest, RetryBackoffDoublesAndTakesTheJitterFromTheStoreDeps) {
  ReadyAgent("a1");
  JobSpec spec = Spec("a1", "BACKUP_INSTANCE", "mc-1");
  spec.max_attempts = 5;
  spec.retry_backoff_seconds = 10;
  const Job job = Create(spec);
  random_ = 0.0;  // -20%
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto run = Dispatch("a1");
    ASSERT_TRUE(run);
    ASSERT_THAT(Finish("a1", run->execution.run_id, RunStatus::kFailed, Retryable("network")),
                IsOk());
    auto detail = store().GetJob(job.id);
    ASSERT_THAT(detail, IsOk());
    const auto expected = attempt == 1 ? 8s : 16s;
    EXPECT_EQ(detail->job.not_before, Now() + expected);
    clock_.Advance(expected);
    ASSERT_THAT(store().PromoteDue(Now()), IsOk());
  }
}

TEST_P(StoreContractTest, HelloFailsTheInterruptedRunsThatAreStillRunning) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  const Job done = Create("a1", "VERIFY_BACKUP", "mc-2");
  const Job foreign = Create("a2", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  auto done_run = Dispatch("a1");
  auto foreign_run = Dispatch("a2");
  ASSERT_TRUE(run && done_run && foreign_run);
  ASSERT_EQ(done_run->execution.job_id, done.id);
  ASSERT_THAT(Finish("a1", done_run->execution.run_id, RunStatus::kCompleted), IsOk());

  protocol::HelloRequest hello;
  hello.job_types = {"BACKUP_INSTANCE"};
  hello.max_parallel = 2;
  hello.interrupted_runs = {{run->execution.run_id, 3},
                            {done_run->execution.run_id, 9},
                            {foreign_run->execution.run_id, 1},
                            {"unknown", 1}};
  auto result = store().RecordHello("a1", hello, Now());
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(result->value.failed_runs, ElementsAre(run->execution.run_id));
  ASSERT_THAT(Types(result->events), ElementsAre(EventType::kJobFailed, EventType::kJobRetried));
  EXPECT_EQ(result->events[0].error->code, "agent_restarted");

  auto detail = store().GetJob(job.id);
  ASSERT_THAT(detail, IsOk());
  EXPECT_EQ(detail->job.status, JobStatus::kCreated);
  EXPECT_EQ(detail->runs[0].error->code, "agent_restarted");
  EXPECT_EQ(StatusOf(done.id), JobStatus::kCompleted);
  EXPECT_EQ(StatusOf(foreign.id), JobStatus::kRunning);
  EXPECT_THAT(store().RecordHello("ghost", hello, Now()), FailsWith(Errc::kNotFound));
}

// ---- Cancel and retry (protocol.md §5) ----

TEST_P(StoreContractTest, CancellingAQueuedJobCancelsIt) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto cancelled = store().CancelJob(job.id, Now());
  ASSERT_THAT(cancelled, IsOk());
  EXPECT_EQ(cancelled->value.outcome, CancelOutcome::kCancelled);
  EXPECT_EQ(cancelled->value.job.status, JobStatus::kCancelled);
  EXPECT_THAT(Types(cancelled->events), ElementsAre(EventType::kJobCancelled));
  EXPECT_FALSE(Dispatch("a1"));
  EXPECT_THAT(store().CancelJob(job.id, Now()), FailsWith(Errc::kInvalidState));
  EXPECT_THAT(store().CancelJob("nope", Now()), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, CancellingARunningJobRequestsTheCancelOnce) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  auto requested = store().CancelJob(job.id, Now());
  ASSERT_THAT(requested, IsOk());
  EXPECT_EQ(requested->value.outcome, CancelOutcome::kRequested);
  EXPECT_TRUE(requested->value.job.cancel_requested);
  EXPECT_THAT(Types(requested->events), ElementsAre(EventType::kJobCancelRequested));
  EXPECT_THAT(requested->touched_agents, ElementsAre("a1"));

  auto again = store().CancelJob(job.id, Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->value.outcome, CancelOutcome::kRequested);
  EXPECT_TRUE(again->events.empty());

  auto state = store().AgentQueueState("a1");
  ASSERT_THAT(state, IsOk());
  EXPECT_THAT(state->cancel, ElementsAre(run->execution.run_id));
  auto heartbeat = store().ApplyUpdates("a1", run->execution.run_id, {}, Now(), kLease);
  ASSERT_THAT(heartbeat, IsOk());
  EXPECT_TRUE(heartbeat->value.cancel_requested);

  // A retryable failure after a cancel request is not retried automatically.
  ASSERT_THAT(Finish("a1", run->execution.run_id, RunStatus::kFailed, Retryable("network")),
              IsOk());
  EXPECT_EQ(StatusOf(job.id), JobStatus::kFailed);
}

// The run of a job whose cancel was requested is lost (its dispatch's answer never reached the
// agent, or the agent went away): the job ends CANCELLED, as asked, with the loss as its last
// error, and is not retried. Before, it ended FAILED (agent_lost): an operator's cancel counted
// as a failure (in a rollout's abort rule too), and the fleet-cmdr chaos test saw it once.
TEST_P(StoreContractTest, ALostRunOfAJobWhoseCancelWasRequestedEndsItCancelled) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  ASSERT_TRUE(Dispatch("a1"));
  auto requested = store().CancelJob(job.id, Now());
  ASSERT_THAT(requested, IsOk());
  EXPECT_EQ(requested->value.outcome, CancelOutcome::kRequested);

  clock_.Advance(std::chrono::seconds(kLease));
  auto expired = store().ExpireLeases(Now());
  ASSERT_THAT(expired, IsOk());
  EXPECT_EQ(expired->value, 1);
  ASSERT_THAT(Types(expired->events), ElementsAre(EventType::kJobCancelled));
  EXPECT_EQ(expired->events[0].status, "CANCELLED");
  EXPECT_EQ(expired->events[0].error->code, "agent_lost");
  auto detail = store().GetJob(job.id);
  ASSERT_THAT(detail, IsOk());
  EXPECT_EQ(detail->job.status, JobStatus::kCancelled);
  EXPECT_EQ(detail->job.last_error->code, "agent_lost");
  EXPECT_EQ(detail->runs[0].status, RunStatus::kFailed);
  EXPECT_FALSE(Dispatch("a1"));
}

TEST_P(StoreContractTest, ANotCancellableRunningJobRefusesTheCancel) {
  ReadyAgent("a1");
  const Job job = Create("a1", "STOP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  EXPECT_FALSE(run->execution.cancellable);
  auto refused = store().CancelJob(job.id, Now());
  EXPECT_THAT(refused, FailsWith(Errc::kNotCancellable));
  EXPECT_FALSE((refused ? std::string() : refused.error().message).empty());
  EXPECT_EQ(StatusOf(job.id), JobStatus::kRunning);
}

TEST_P(StoreContractTest, RetryQueuesAFailedOrCancelledJobAgain) {
  ReadyAgent("a1");
  JobSpec spec = Spec("a1", "BACKUP_INSTANCE", "mc-1");
  spec.max_attempts = 1;
  const Job job = Create(spec);
  EXPECT_THAT(store().RetryJob(job.id, Now()), FailsWith(Errc::kInvalidState));
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  EXPECT_THAT(store().RetryJob(job.id, Now()), FailsWith(Errc::kInvalidState));
  ASSERT_THAT(Finish("a1", run->execution.run_id, RunStatus::kFailed, Retryable("network")),
              IsOk());
  EXPECT_EQ(StatusOf(job.id), JobStatus::kFailed);

  auto retried = store().RetryJob(job.id, Now());
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(retried->value.status, JobStatus::kQueued);
  EXPECT_THAT(Types(retried->events), ElementsAre(EventType::kJobRetried, EventType::kJobQueued));
  auto second = Dispatch("a1");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->execution.attempt, 2);
  ASSERT_THAT(Finish("a1", second->execution.run_id, RunStatus::kCompleted), IsOk());
  EXPECT_THAT(store().RetryJob(job.id, Now()), FailsWith(Errc::kInvalidState));

  const Job cancelled = Create("a1", "VERIFY_BACKUP", "mc-2");
  ASSERT_THAT(store().CancelJob(cancelled.id, Now()), IsOk());
  ASSERT_THAT(store().RetryJob(cancelled.id, Now()), IsOk());
  EXPECT_EQ(StatusOf(cancelled.id), JobStatus::kQueued);
  EXPECT_THAT(store().RetryJob("nope", Now()), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, AgentQueueStateCountsPendingJobs) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  Create("a1", "VERIFY_BACKUP", "mc-1");
  Create("a1", "VERIFY_BACKUP", "mc-2");
  Create("a2", "VERIFY_BACKUP", "mc-1");
  auto state = store().AgentQueueState("a1");
  ASSERT_THAT(state, IsOk());
  EXPECT_EQ(state->pending, 2);
  EXPECT_TRUE(state->cancel.empty());
  ASSERT_TRUE(Dispatch("a1"));
  state = store().AgentQueueState("a1");
  ASSERT_THAT(state, IsOk());
  EXPECT_EQ(state->pending, 1);
}

TEST_P(StoreContractTest, EveryCommitTellsTheQueuesItChanged) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const auto first = Create("a1", "VERIFY_BACKUP", "mc-1");
  EXPECT_EQ(Told("a1"), (protocol::NotifyResponse{1, {}}));
  EXPECT_EQ(Told("a2"), (protocol::NotifyResponse{0, {}}));  // from its hello
  Create("a1", "VERIFY_BACKUP", "mc-2");
  Create("a2", "VERIFY_BACKUP", "mc-1");
  EXPECT_EQ(Told("a1"), (protocol::NotifyResponse{2, {}}));
  EXPECT_EQ(Told("a2"), (protocol::NotifyResponse{1, {}}));
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  EXPECT_EQ(Told("a1"), (protocol::NotifyResponse{1, {}}));
  auto cancelled = store().CancelJob(run->execution.job_id, Now());
  ASSERT_THAT(cancelled, IsOk());
  EXPECT_EQ(Told("a1"), (protocol::NotifyResponse{1, {run->run.id}}));
  ASSERT_THAT(Finish("a1", run->run.id, RunStatus::kCancelled), IsOk());
  EXPECT_EQ(Told("a1"), (protocol::NotifyResponse{1, {}}));
  // A failed call changes nothing and tells nothing.
  const auto before = [&] {
    const std::lock_guard lock(told_mutex_);
    return told_order_.size();
  }();
  EXPECT_THAT(store().CancelJob("no-such-job", Now()), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().DispatchNext("no-such-agent", Now(), kLease), FailsWith(Errc::kNotFound));
  {
    const std::lock_guard lock(told_mutex_);
    EXPECT_EQ(told_order_.size(), before);
  }
  ExpectToldMatchesStore("a1");
  ExpectToldMatchesStore("a2");
  (void)first;
}

TEST_P(StoreContractTest, ConcurrentCommitsTellTheLastStateOfEveryQueue) {
  constexpr int kAgents = 3;
  constexpr int kThreads = 6;
  constexpr int kRounds = 40;
  for (int a = 0; a < kAgents; ++a)
    ReadyAgent("a" + std::to_string(a), 2);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string agent = "a" + std::to_string(t % kAgents);
      for (int i = 0; i < kRounds; ++i) {
        CreateJobsCommand command;
        command.jobs.push_back(Spec(agent, "VERIFY_BACKUP", "mc-" + std::to_string(i % 3)));
        if (!store().CreateJobs(command, Now())) ++failures;
        auto next = store().DispatchNext(agent, Now(), kLease);
        if (!next) {
          ++failures;
        } else if (next->value && i % 2 == 0) {
          protocol::UpdatesRequest request;
          request.final_update = protocol::FinalUpdate{};
          request.final_update->seq = 1;
          request.final_update->status = RunStatus::kCompleted;
          request.final_update->timestamp = Now();
          if (!store().ApplyUpdates(agent, next->value->run.id, request, Now(), kLease)) {
            ++failures;
          }
        }
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(failures.load(), 0);
  for (int a = 0; a < kAgents; ++a)
    ExpectToldMatchesStore("a" + std::to_string(a));
}

TEST_P(StoreContractTest, AsynchronousCallsCompleteAfterTheCommitWithTheSameResults) {
  ReadyAgent("a1");
  auto wait = [](auto& future) {
    EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
    return future.get();
  };
  CreateJobsCommand command;
  command.jobs.push_back(Spec("a1", "VERIFY_BACKUP", "mc-1"));
  std::promise<Expected<Mutation<CreatedJobs>>> created_promise;
  auto created_future = created_promise.get_future();
  store().CreateJobsAsync(command, Now(), [&](Expected<Mutation<CreatedJobs>> result) {
    // The listener heard of the commit before the caller does.
    EXPECT_EQ(Told("a1"), (protocol::NotifyResponse{1, {}}));
    created_promise.set_value(std::move(result));
  });
  auto created = wait(created_future);
  ASSERT_THAT(created, IsOk());
  ASSERT_EQ(created->value.jobs.size(), 1u);
  EXPECT_EQ(Types(created->events), (std::vector{EventType::kJobCreated, EventType::kJobQueued}));
  EXPECT_EQ(created->touched_agents, std::vector<std::string>{"a1"});
  const std::string job_id = created->value.jobs[0].id;
  EXPECT_EQ(StatusOf(job_id), JobStatus::kQueued);

  std::promise<Expected<Mutation<std::optional<Dispatched>>>> next_promise;
  auto next_future = next_promise.get_future();
  store().DispatchNextAsync("a1", Now(), kLease,
                            [&](auto result) { next_promise.set_value(std::move(result)); });
  auto next = wait(next_future);
  ASSERT_THAT(next, IsOk());
  ASSERT_TRUE(next->value.has_value());
  EXPECT_EQ(next->value->execution.job_id, job_id);
  EXPECT_EQ(StatusOf(job_id), JobStatus::kRunning);

  protocol::UpdatesRequest request;
  request.final_update = protocol::FinalUpdate{};
  request.final_update->seq = 1;
  request.final_update->status = RunStatus::kCompleted;
  request.final_update->timestamp = Now();
  std::promise<Expected<Mutation<protocol::UpdatesResponse>>> updates_promise;
  auto updates_future = updates_promise.get_future();
  store().ApplyUpdatesAsync("a1", next->value->run.id, request, Now(), kLease,
                            [&](auto result) { updates_promise.set_value(std::move(result)); });
  auto updates = wait(updates_future);
  ASSERT_THAT(updates, IsOk());
  EXPECT_EQ(StatusOf(job_id), JobStatus::kCompleted);

  // Errors come back the same way, found before any work or in the transaction.
  std::promise<Expected<Mutation<protocol::UpdatesResponse>>> again_promise;
  auto again_future = again_promise.get_future();
  request.final_update->seq = 2;
  store().ApplyUpdatesAsync("a1", next->value->run.id, request, Now(), kLease,
                            [&](auto result) { again_promise.set_value(std::move(result)); });
  EXPECT_THAT(wait(again_future), FailsWith(Errc::kRunNotActive));
  std::promise<Expected<Mutation<CreatedJobs>>> invalid_promise;
  auto invalid_future = invalid_promise.get_future();
  CreateJobsCommand two;
  two.jobs = {Spec("a1", "VERIFY_BACKUP", "mc-1"), Spec("a1", "VERIFY_BACKUP", "mc-2")};
  store().CreateJobsAsync(two, Now(),
                          [&](auto result) { invalid_promise.set_value(std::move(result)); });
  EXPECT_THAT(wait(invalid_future), FailsWith(Errc::kInvalidRequest));
  std::promise<Expected<Mutation<std::optional<Dispatched>>>> unknown_promise;
  auto unknown_future = unknown_promise.get_future();
  store().DispatchNextAsync("nobody", Now(), kLease,
                            [&](auto result) { unknown_promise.set_value(std::move(result)); });
  EXPECT_THAT(wait(unknown_future), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, CountJobsGroupsByTypeAndStatus) {
  auto counts = store().CountJobs();
  ASSERT_THAT(counts, IsOk());
  EXPECT_TRUE(counts->empty());
  ReadyAgent("a1");
  Create("a1", "VERIFY_BACKUP", "mc-1");
  Create("a1", "VERIFY_BACKUP", "mc-2");
  const auto cancelled = Create("a1", "PRUNE_BACKUPS", "mc-1");
  ASSERT_THAT(store().CancelJob(cancelled.id, Now()), IsOk());
  ASSERT_TRUE(Dispatch("a1"));
  counts = store().CountJobs();
  ASSERT_THAT(counts, IsOk());
  const std::vector<store::JobCount> expected = {
      {"PRUNE_BACKUPS", JobStatus::kCancelled, 1},
      {"VERIFY_BACKUP", JobStatus::kQueued, 1},
      {"VERIFY_BACKUP", JobStatus::kRunning, 1},
  };
  EXPECT_EQ(*counts, expected);
}

}  // namespace
}  // namespace orb::store
