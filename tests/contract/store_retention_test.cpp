// The store contract: retention (docs/decisions/0018). Finished jobs older than a cutoff go with
// their runs, log lines, events and idempotency keys; unfinished and recent jobs stay; every
// call is bounded; idempotency keys and events go by age; artifacts named by an unfinished job
// are never deleted.

#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/sha256.hpp"
#include "contract/store_contract.hpp"

namespace orb::store {
namespace {

constexpr auto kDay = std::chrono::hours(24);

std::string Sha256Of(const std::string& bytes) {
  Sha256 hash;
  hash.Update(bytes.data(), bytes.size());
  return hash.FinishHex();
}

class StoreRetentionTest : public StoreContractTest {
 protected:
  // A create of one BACKUP_INSTANCE job of `agent` on `instance` under idempotency key `key`.
  CreateJobsCommand Keyed(const std::string& agent, const std::string& instance,
                          std::optional<std::string> key) {
    CreateJobsCommand command;
    command.jobs.push_back(Spec(agent, "BACKUP_INSTANCE", instance));
    command.idempotency_key = std::move(key);
    return command;
  }

  // A job of `agent` that ran and ended `status` (a failure with no retry left), with a log line.
  Job Finished(const std::string& agent, const std::string& instance, RunStatus status,
               std::optional<std::string> key = std::nullopt) {
    CreateJobsCommand command = Keyed(agent, instance, std::move(key));
    command.jobs[0].max_attempts = 1;
    auto created = store().CreateJobs(command, Now());
    EXPECT_THAT(created, IsOk());
    if (!created) return Job{};
    const Job job = created->value.jobs.at(0);
    auto dispatched = Dispatch(agent);
    EXPECT_TRUE(dispatched && dispatched->execution.job_id == job.id);
    if (!dispatched) return job;
    protocol::UpdatesRequest logs;
    logs.logs.push_back({1, Now(), "info", "a line"});
    EXPECT_THAT(store().ApplyUpdates(agent, dispatched->run.id, logs, Now(), kLease), IsOk());
    EXPECT_THAT(
        Finish(agent, dispatched->run.id, status,
               status == RunStatus::kFailed ? std::optional<protocol::RunError>(Retryable("broke"))
                                            : std::nullopt),
        IsOk());
    return job;
  }

  bool Exists(const std::string& job_id) {
    auto job = store().GetJob(job_id);
    EXPECT_TRUE(job || job.error().code == Errc::kNotFound);
    return job.has_value();
  }

  std::string PutArtifact(const std::string& bytes) {
    const std::string sha = Sha256Of(bytes);
    std::size_t offset = 0;
    auto put = store().PutArtifact(
        sha, bytes.size(), [&](std::span<char> buffer) -> Expected<std::size_t> {
          const std::size_t n = std::min(buffer.size(), bytes.size() - offset);
          std::memcpy(buffer.data(), bytes.data() + offset, n);
          offset += n;
          return n;
        });
    EXPECT_THAT(put, IsOk());
    return sha;
  }
};

TEST_P(StoreRetentionTest, FinishedJobsOlderThanTheCutoffGoWithTheirRunsLogsEventsAndKeys) {
  ReadyAgent("a1");
  const Job completed = Finished("a1", "i1", RunStatus::kCompleted, "key-completed");
  const Job failed = Finished("a1", "i2", RunStatus::kFailed);
  const Job cancelled = Create("a1", "BACKUP_INSTANCE", "i3");
  ASSERT_THAT(store().CancelJob(cancelled.id, Now()), IsOk());
  const Job running = Create("a1", "BACKUP_INSTANCE", "i4");
  ASSERT_TRUE(Dispatch("a1"));
  const Job queued = Create("a1", "BACKUP_INSTANCE", "i5");  // not dispatched: stays QUEUED
  JobSpec later = Spec("a1", "BACKUP_INSTANCE", "i6");
  later.not_before = Now() + 40 * kDay;
  const Job waiting = Create(later);  // CREATED until its notBefore
  EXPECT_EQ(StatusOf(running.id), JobStatus::kRunning);
  EXPECT_EQ(StatusOf(queued.id), JobStatus::kQueued);
  EXPECT_EQ(StatusOf(waiting.id), JobStatus::kCreated);

  clock_.Advance(31 * kDay);
  ReadyAgent("a2");  // a1's queued job would be dispatched first
  const Job recent = Finished("a2", "i7", RunStatus::kCompleted);
  const WallTime cutoff = Now() - 30 * kDay;

  auto pruned = store().PruneJobs(cutoff, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 3);
  for (const Job& gone : {completed, failed, cancelled}) {
    EXPECT_FALSE(Exists(gone.id)) << gone.id;
    EXPECT_THAT(store().JobEvents(gone.id), FailsWith(Errc::kNotFound));
    EXPECT_THAT(store().ReadLogs({gone.id}), FailsWith(Errc::kNotFound));
  }
  auto events = store().ReadEvents(0, 10'000, {});
  ASSERT_THAT(events, IsOk());
  for (const auto& event : *events) {
    EXPECT_NE(event.job_id, completed.id);
    EXPECT_NE(event.job_id, failed.id);
  }
  EXPECT_TRUE(Exists(running.id));
  EXPECT_TRUE(Exists(queued.id));
  EXPECT_TRUE(Exists(waiting.id));
  EXPECT_TRUE(Exists(recent.id));
  auto logs = store().ReadLogs({recent.id});
  ASSERT_THAT(logs, IsOk());
  EXPECT_EQ(logs->lines.size(), 1u);

  // The key went with its job: the same key with another request is a new create, not a conflict.
  const CreateJobsCommand again = Keyed("a1", "other", "key-completed");
  auto created = store().CreateJobs(again, Now());
  ASSERT_THAT(created, IsOk());
  EXPECT_FALSE(created->value.existing);

  // Nothing left to prune; a second pass changes nothing.
  pruned = store().PruneJobs(cutoff, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 0);
}

TEST_P(StoreRetentionTest, AFinishedJobRetriedIsNoLongerPruned) {
  ReadyAgent("a1");
  const Job failed = Finished("a1", "i1", RunStatus::kFailed);
  clock_.Advance(31 * kDay);
  ASSERT_THAT(store().RetryJob(failed.id, Now()), IsOk());
  auto pruned = store().PruneJobs(Now() - 30 * kDay, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 0);
  EXPECT_EQ(StatusOf(failed.id), JobStatus::kQueued);
}

// A finished job that an unfinished job depends on stays (that job's dependsOn names it); once
// the dependent is finished too, both go, with the dependent's dependency rows.
TEST_P(StoreRetentionTest, AJobAnUnfinishedJobDependsOnStays) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  const Job first = Finished("a1", "i1", RunStatus::kCompleted);
  const Job other = Create("a1", "BACKUP_INSTANCE", "i2");  // unfinished
  JobSpec spec = Spec("a2", "BACKUP_INSTANCE", "i3");
  spec.depends_on = {first.id, other.id};
  const Job waiting = Create(spec);
  ASSERT_EQ(StatusOf(waiting.id), JobStatus::kCreated);
  clock_.Advance(31 * kDay);
  auto pruned = store().PruneJobs(Now() - 30 * kDay, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 0);
  EXPECT_TRUE(Exists(first.id));

  // `other` fails for good: the waiting job is cancelled (dependency_failed); all three finished.
  ASSERT_THAT(store().CancelJob(other.id, Now()), IsOk());
  ASSERT_EQ(StatusOf(waiting.id), JobStatus::kCancelled);
  clock_.Advance(31 * kDay);
  pruned = store().PruneJobs(Now() - 30 * kDay, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 3);
  EXPECT_FALSE(Exists(first.id));
  EXPECT_FALSE(Exists(waiting.id));
}

TEST_P(StoreRetentionTest, AJobOfARolloutStillGoingOnStays) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  CreateRolloutCommand command;
  command.request.name = "backup both";
  command.request.target.agent_ids = {"a1", "a2"};
  command.request.job.type = "BACKUP_INSTANCE";
  command.request.job.instance_id = "main";
  command.request.job.max_attempts = 1;
  command.request.policy.max_in_flight = 1;
  auto created = store().CreateRollout(command, Now());
  ASSERT_THAT(created, IsOk());
  const std::string rollout = created->value.rollout.id;
  ASSERT_THAT(store().AdvanceRollout(rollout, Now()), IsOk());  // a1's job
  auto first = Dispatch("a1");
  ASSERT_TRUE(first.has_value());
  ASSERT_THAT(Finish("a1", first->run.id, RunStatus::kCompleted), IsOk());
  // Paused with a2 still to go: the finished job is part of what the rollout counts.
  ASSERT_THAT(store().PauseRollout(rollout, Now()), IsOk());
  clock_.Advance(31 * kDay);
  auto pruned = store().PruneJobs(Now() - 30 * kDay, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 0);
  EXPECT_TRUE(Exists(first->execution.job_id));

  // Aborted, the rollout is over: its jobs go like any others.
  ASSERT_THAT(store().AbortRollout(rollout, false, Now()), IsOk());
  ASSERT_THAT(store().AdvanceRollout(rollout, Now()), IsOk());
  pruned = store().PruneJobs(Now() - 30 * kDay, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 1);
  EXPECT_FALSE(Exists(first->execution.job_id));
}

TEST_P(StoreRetentionTest, EachPruneCallTakesAtMostItsLimit) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Finished(i % 2 == 0 ? "a1" : "a2", "i" + std::to_string(i),
                           i == 3 ? RunStatus::kFailed : RunStatus::kCompleted)
                      .id);
  }
  clock_.Advance(2 * kDay);
  std::vector<std::int64_t> calls;
  for (int i = 0; i < 4; ++i) {
    auto pruned = store().PruneJobs(Now() - kDay, 2);
    ASSERT_THAT(pruned, IsOk());
    calls.push_back(*pruned);
  }
  EXPECT_THAT(calls, ElementsAre(2, 2, 1, 0));
  for (const auto& id : ids)
    EXPECT_FALSE(Exists(id));
}

TEST_P(StoreRetentionTest, AJobFinishedAfterTheCutoffStaysThoughCreatedBeforeIt) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "i1");
  clock_.Advance(10 * kDay);
  auto dispatched = Dispatch("a1");
  ASSERT_TRUE(dispatched);
  ASSERT_THAT(Finish("a1", dispatched->run.id, RunStatus::kCompleted), IsOk());
  clock_.Advance(kDay);
  // Created 11 days ago, finished 1 day ago: a 5-day cutoff keeps it.
  auto pruned = store().PruneJobs(Now() - 5 * kDay, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 0);
  EXPECT_TRUE(Exists(job.id));
}

TEST_P(StoreRetentionTest, IdempotencyKeysExpireByTheirOwnAge) {
  ReadyAgent("a1");
  CreateJobsCommand command = Keyed("a1", "i1", "old-key");
  auto first = store().CreateJobs(command, Now());
  ASSERT_THAT(first, IsOk());
  clock_.Advance(8 * kDay);
  command.idempotency_key = "new-key";
  ASSERT_THAT(store().CreateJobs(command, Now()), IsOk());

  auto pruned = store().PruneIdempotencyKeys(Now() - 7 * kDay, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 1);
  EXPECT_TRUE(Exists(first->value.jobs[0].id));  // the job stays (it is not finished)

  CreateJobsCommand other = Keyed("a1", "i9", "old-key");
  auto reused = store().CreateJobs(other, Now());
  ASSERT_THAT(reused, IsOk());  // a new request now
  EXPECT_FALSE(reused->value.existing);
  other.idempotency_key = "new-key";
  EXPECT_THAT(store().CreateJobs(other, Now()), FailsWith(Errc::kIdempotencyConflict));
}

TEST_P(StoreRetentionTest, AKeyUsedAgainAfterItExpiredStaysWhenItsFirstJobIsPruned) {
  ReadyAgent("a1");
  const Job first = Finished("a1", "i1", RunStatus::kCompleted, "reused-key");
  clock_.Advance(8 * kDay);
  ASSERT_THAT(store().PruneIdempotencyKeys(Now() - 7 * kDay, 100), IsOk());
  const CreateJobsCommand again = Keyed("a1", "i2", "reused-key");
  auto second = store().CreateJobs(again, Now());
  ASSERT_THAT(second, IsOk());
  ASSERT_FALSE(second->value.existing);

  auto pruned = store().PruneJobs(Now() - 7 * kDay, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 1);
  EXPECT_FALSE(Exists(first.id));
  // The key still answers for the second request.
  auto resent = store().CreateJobs(again, Now());
  ASSERT_THAT(resent, IsOk());
  EXPECT_TRUE(resent->value.existing);
  ASSERT_EQ(resent->value.jobs.size(), 1u);
  EXPECT_EQ(resent->value.jobs[0].id, second->value.jobs[0].id);
}

TEST_P(StoreRetentionTest, ABatchsKeyGoesWithItsJobs) {
  ReadyAgent("a1");
  ReadyAgent("a2");
  CreateJobsCommand command;
  command.batch = true;
  command.idempotency_key = "batch-key";
  for (const char* agent : {"a1", "a2"}) {
    JobSpec spec = Spec(agent, "BACKUP_INSTANCE", "i1");
    spec.max_attempts = 1;
    command.jobs.push_back(spec);
  }
  auto created = store().CreateJobs(command, Now());
  ASSERT_THAT(created, IsOk());
  for (const auto& job : created->value.jobs)
    ASSERT_THAT(store().CancelJob(job.id, Now()), IsOk());
  clock_.Advance(2 * kDay);
  auto pruned = store().PruneJobs(Now() - kDay, 100);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 2);
  auto resent = store().CreateJobs(command, Now());  // a new batch now
  ASSERT_THAT(resent, IsOk());
  EXPECT_FALSE(resent->value.existing);
  EXPECT_EQ(resent->value.jobs.size(), 2u);
}

TEST_P(StoreRetentionTest, EventsGoByAgeOldestFirstInBoundedCallsAndSeqsAreNeverReused) {
  protocol::Event event;
  event.type = EventType::kAgentOnline;
  event.timestamp = Now();
  ASSERT_THAT(store().AppendEvents(std::vector<protocol::Event>(5, event)), IsOk());
  clock_.Advance(3 * kDay);
  event.timestamp = Now();
  ASSERT_THAT(store().AppendEvents(std::vector<protocol::Event>(2, event)), IsOk());
  auto last = store().LastEventSeq();
  ASSERT_THAT(last, IsOk());

  const WallTime cutoff = Now() - kDay;
  auto pruned = store().PruneEventsBefore(cutoff, 3);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 3);
  pruned = store().PruneEventsBefore(cutoff, 3);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 2);  // stops at the first recent event
  pruned = store().PruneEventsBefore(cutoff, 3);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 0);
  auto oldest = store().OldestEventSeq();
  ASSERT_THAT(oldest, IsOk());
  EXPECT_EQ(*oldest, *last - 1);
  auto kept = store().ReadEvents(0, 100, {});
  ASSERT_THAT(kept, IsOk());
  EXPECT_EQ(kept->size(), 2u);

  // Everything old and new pruned: the next event still gets a new seq, also after a reopen.
  ASSERT_THAT(store().PruneEventsBefore(Now() + kDay, 100), IsOk());
  Reopen();
  auto appended = store().AppendEvents({event});
  ASSERT_THAT(appended, IsOk());
  EXPECT_EQ(appended->events[0].seq, *last + 1);
}

TEST_P(StoreRetentionTest, AnArtifactNamedByAnUnfinishedJobIsListedAsSuchAndNeverDeleted) {
  ReadyAgent("a1");
  const std::string named = PutArtifact("named by a queued job");
  const std::string done = PutArtifact("named by a completed job");
  const std::string loose = PutArtifact("named by nobody");
  JobSpec spec = Spec("a1", "INSTALL_SERVER", "s1");
  spec.payload_json = R"({"artifact":{"sha256":")" + named + R"(","url":"/v1/artifacts/)" + named +
                      R"("},"buildId":"b1"})";
  const Job queued = Create(spec);
  spec.server_id = "s2";
  spec.payload_json = R"({"artifact":{"sha256":")" + done + R"("},"buildId":"b2"})";
  spec.max_attempts = 1;
  const Job finished = Create(spec);
  ASSERT_THAT(store().CancelJob(finished.id, Now()), IsOk());

  auto listed = store().ListArtifacts();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 3u);
  std::map<std::string, int> counts;
  for (const auto& entry : *listed) {
    counts[entry.stat.sha256] = entry.unfinished_jobs;
    EXPECT_GT(entry.stat.size, 0u);
  }
  EXPECT_EQ(counts[named], 1);  // once, though its payload names it twice
  EXPECT_EQ(counts[done], 0);
  EXPECT_EQ(counts[loose], 0);

  auto refused = store().DeleteArtifact(named);
  ASSERT_THAT(refused, FailsWith(Errc::kInvalidState));
  EXPECT_NE(refused.error().message.find(queued.id), std::string::npos) << refused.error().message;
  EXPECT_THAT(store().StatArtifact(named), IsOk());

  EXPECT_THAT(store().DeleteArtifact(done), IsOk());
  EXPECT_THAT(store().StatArtifact(done), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().DeleteArtifact(done), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().DeleteArtifact("not-a-sha256"), FailsWith(Errc::kNotFound));
}

TEST_P(StoreRetentionTest, PruningArtifactsTakesOnlyOldUnnamedOnesAndIsBounded) {
  ReadyAgent("a1");
  // Artifacts carry the real time of their upload (a file's mtime, a row's created_at).
  const WallTime past = std::chrono::system_clock::now() - kDay;
  const WallTime future = std::chrono::system_clock::now() + kDay;
  const std::string named = PutArtifact("named");
  const std::string first = PutArtifact("first");
  const std::string second = PutArtifact("second");
  JobSpec spec = Spec("a1", "INSTALL_SERVER", "s1");
  spec.payload_json =
      R"({"artifact":{"url":"https://fleet.example/v1/artifacts/)" + named + R"("}})";
  Create(spec);

  auto pruned = store().PruneArtifacts(past, 10);  // none is older than a day
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 0);
  pruned = store().PruneArtifacts(future, 1);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 1);
  pruned = store().PruneArtifacts(future, 10);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 1);
  auto listed = store().ListArtifacts();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).stat.sha256, named);
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreRetentionTest, ::testing::ValuesIn(StoreFactories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace orb::store
