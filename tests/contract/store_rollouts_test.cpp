// The store contract: rollouts (docs/protocol.md "Rollouts", docs/decisions/0021). Each test
// drives a rollout with AdvanceRollout at chosen times, as fleet-cmdr's leader does, and checks
// the hosts, the jobs and the events on both stores.

#include <string>
#include <vector>

#include "contract/store_contract.hpp"
#include "store/ops/rollouts.hpp"

namespace orb::store {
namespace {

using protocol::Rollout;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class StoreRolloutsTest : public StoreContractTest {
 protected:
  // Agents v1..v<count> labelled game=valheim, and one other agent that no selector here matches.
  void Fleet(int count) {
    for (int i = 1; i <= count; ++i) {
      const std::string id = "v" + std::to_string(i);
      Enroll(id, {{"game", "valheim"}});
      Hello(id, {"BACKUP_INSTANCE"});
    }
    Enroll("other", {{"game", "minecraft"}});
  }

  static CreateRolloutCommand Command(std::int64_t max_in_flight = 1) {
    CreateRolloutCommand command;
    command.request.name = "backup everywhere";
    command.request.target.selector = protocol::Labels{{"game", "valheim"}};
    command.request.job.type = "BACKUP_INSTANCE";
    command.request.job.instance_id = "main";
    command.request.job.max_attempts = 1;
    command.request.policy.max_in_flight = max_in_flight;
    return command;
  }

  Rollout MustCreate(const CreateRolloutCommand& command) {
    auto created = store().CreateRollout(command, Now());
    EXPECT_THAT(created, IsOk());
    if (!created) return Rollout{};
    EXPECT_FALSE(created->value.existing);
    EXPECT_THAT(Types(created->events), ElementsAre(EventType::kRolloutCreated));
    return created->value.rollout;
  }

  Mutation<RolloutAdvance> Advance(const std::string& id) {
    auto advanced = store().AdvanceRollout(id, Now());
    EXPECT_THAT(advanced, IsOk());
    if (!advanced) return {};
    return *std::move(advanced);
  }

  // The rollouts whose wake time has come (RolloutsDue at Now()).
  std::vector<std::string> Due() {
    auto due = store().RolloutsDue(Now());
    EXPECT_THAT(due, IsOk());
    return due ? *due : std::vector<std::string>{};
  }

  std::vector<protocol::RolloutHost> Hosts(const std::string& id,
                                           std::optional<std::string> status = std::nullopt) {
    auto hosts = store().ListRolloutHosts(id, status, 500, std::nullopt);
    EXPECT_THAT(hosts, IsOk());
    return hosts ? hosts->hosts : std::vector<protocol::RolloutHost>{};
  }

  std::vector<std::string> HostStatuses(const std::string& id) {
    std::vector<std::string> statuses;
    for (const auto& host : Hosts(id))
      statuses.push_back(host.status);
    return statuses;
  }

  // Runs the job of host `agent_id` to `status` (it must be the agent's next job).
  void Run(const std::string& id, const std::string& agent_id, RunStatus status) {
    std::optional<std::string> job_id;
    for (const auto& host : Hosts(id)) {
      if (host.agent_id == agent_id) job_id = host.job_id;
    }
    ASSERT_TRUE(job_id.has_value()) << agent_id;
    auto next = Dispatch(agent_id);
    ASSERT_TRUE(next.has_value()) << agent_id;
    ASSERT_EQ(next->execution.job_id, *job_id);
    std::optional<protocol::RunError> error;
    if (status == RunStatus::kFailed) error = protocol::RunError{"boom", "it broke", {}, false};
    ASSERT_THAT(Finish(agent_id, next->run.id, status, error), IsOk());
  }
};

TEST_P(StoreRolloutsTest, HostsAreASnapshotInAgentOrderAndStartAtMostMaxInFlight) {
  Fleet(5);
  const Rollout rollout = MustCreate(Command(2));
  EXPECT_EQ(rollout.status, "RUNNING");
  EXPECT_EQ(rollout.counts.total, 5);
  EXPECT_EQ(rollout.counts.pending, 5);
  EXPECT_THAT(HostStatuses(rollout.id),
              ElementsAre("pending", "pending", "pending", "pending", "pending"));
  // Enrolled later: not a host of this rollout.
  Enroll("v6", {{"game", "valheim"}});

  auto first = Advance(rollout.id);
  EXPECT_EQ(first.value.rollout.counts.queued, 2);
  EXPECT_EQ(first.value.rollout.counts.pending, 3);
  EXPECT_THAT(Types(first.events),
              ElementsAre(EventType::kJobCreated, EventType::kJobQueued, EventType::kJobCreated,
                          EventType::kJobQueued, EventType::kRolloutProgress));
  for (const auto& event : first.events)
    EXPECT_EQ(event.rollout_id, rollout.id);
  EXPECT_EQ(first.events.back().counts, first.value.rollout.counts);
  EXPECT_THAT(first.touched_agents, ElementsAre("v1", "v2"));
  const auto hosts = Hosts(rollout.id);
  ASSERT_EQ(hosts.size(), 5U);
  EXPECT_EQ(hosts[0].agent_id, "v1");
  EXPECT_EQ(hosts[4].agent_id, "v5");
  ASSERT_TRUE(hosts[0].job_id.has_value());
  auto job = store().GetJob(*hosts[0].job_id);
  ASSERT_THAT(job, IsOk());
  EXPECT_EQ(job->job.rollout_id, rollout.id);
  EXPECT_EQ(job->job.type, "BACKUP_INSTANCE");
  EXPECT_EQ(job->job.instance_id, "main");

  // Nothing changed: advancing again does nothing and says nothing.
  auto again = Advance(rollout.id);
  EXPECT_THAT(again.events, IsEmpty());

  // A job ending frees its slot for the next host, in order.
  Run(rollout.id, "v1", RunStatus::kCompleted);
  auto next = Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id),
              ElementsAre("completed", "queued", "queued", "pending", "pending"));
  EXPECT_EQ(next.value.rollout.counts.completed, 1);

  JobFilter filter;
  filter.rollout_id = rollout.id;
  auto jobs = store().ListJobs(filter, 50, std::nullopt);
  ASSERT_THAT(jobs, IsOk());
  EXPECT_EQ(jobs->jobs.size(), 3U);
}

TEST_P(StoreRolloutsTest, ABadTargetOrPolicyIsInvalidAndCreatesNothing) {
  Fleet(2);
  CreateRolloutCommand nobody = Command();
  nobody.request.target.selector = protocol::Labels{{"game", "factorio"}};
  auto none = store().CreateRollout(nobody, Now());
  EXPECT_THAT(none, FailsWith(Errc::kInvalidRequest));
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message, HasSubstr("target.selector"));

  CreateRolloutCommand unknown = Command();
  unknown.request.target.selector.reset();
  unknown.request.target.agent_ids = {"v1", "ghost"};
  auto ghost = store().CreateRollout(unknown, Now());
  ASSERT_FALSE(ghost);
  EXPECT_EQ(ghost.error().code, Errc::kInvalidRequest);
  ASSERT_EQ(ghost.error().details.size(), 1U);
  EXPECT_EQ(ghost.error().details[0].field, "target.agentIds[1]");

  CreateRolloutCommand phases = Command();
  phases.request.policy.phases = {{50, std::nullopt}, {40, std::nullopt}};
  auto bad = store().CreateRollout(phases, Now());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidRequest);
  EXPECT_EQ(bad.error().details[0].field, "policy.phases[1].percent");

  auto list = store().ListRollouts({}, 50, std::nullopt);
  ASSERT_THAT(list, IsOk());
  EXPECT_THAT(list->rollouts, IsEmpty());
}

TEST_P(StoreRolloutsTest, AnIdempotencyKeyAnswersTheFirstRollout) {
  Fleet(2);
  CreateRolloutCommand command = Command();
  command.request.idempotency_key = "key-1";
  const Rollout first = MustCreate(command);
  auto again = store().CreateRollout(command, Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->value.existing);
  EXPECT_EQ(again->value.rollout.id, first.id);
  EXPECT_THAT(again->events, IsEmpty());
  command.request.name = "another";
  EXPECT_THAT(store().CreateRollout(command, Now()), FailsWith(Errc::kIdempotencyConflict));
}

TEST_P(StoreRolloutsTest, TheAbortThresholdStopsTheRolloutAndCancelsItsQueuedJobs) {
  Fleet(6);
  CreateRolloutCommand command = Command(3);
  command.request.policy.abort = protocol::RolloutAbortSpec{50, 2};
  const Rollout rollout = MustCreate(command);
  Advance(rollout.id);
  Run(rollout.id, "v1", RunStatus::kFailed);
  Run(rollout.id, "v2", RunStatus::kFailed);
  auto aborted = Advance(rollout.id);
  EXPECT_EQ(aborted.value.rollout.status, "ABORTED");
  EXPECT_EQ(aborted.value.rollout.abort_reason,
            "the abort rule: 2 of 2 final hosts failed or were skipped (100% >= 50%, at least 2 "
            "final)");
  EXPECT_THAT(Types(aborted.events),
              ElementsAre(EventType::kJobCancelled, EventType::kRolloutAborted));
  EXPECT_EQ(aborted.events.back().counts->failed, 2);
  EXPECT_EQ(aborted.events.back().counts->cancelled, 1);
  EXPECT_THAT(HostStatuses(rollout.id),
              ElementsAre("failed", "failed", "cancelled", "pending", "pending", "pending"));
  auto stored = store().GetRollout(rollout.id);  // kept, as every later read shows it
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->abort_reason, aborted.value.rollout.abort_reason);
  EXPECT_FALSE(aborted.value.wake_at.has_value());
  // Nothing starts any more.
  EXPECT_THAT(Advance(rollout.id).events, IsEmpty());
  EXPECT_FALSE(Dispatch("v4"));
  EXPECT_THAT(store().PauseRollout(rollout.id, Now()), FailsWith(Errc::kInvalidState));
}

TEST_P(StoreRolloutsTest, PauseHoldsNewHostsResumeGoesOnAbortCancelsRunningOnRequest) {
  Fleet(4);
  const Rollout rollout = MustCreate(Command(1));
  Advance(rollout.id);
  auto paused = store().PauseRollout(rollout.id, Now());
  ASSERT_THAT(paused, IsOk());
  EXPECT_EQ(paused->value.status, "PAUSED");
  EXPECT_THAT(Types(paused->events), ElementsAre(EventType::kRolloutPaused));
  EXPECT_THAT(store().PauseRollout(rollout.id, Now()), FailsWith(Errc::kInvalidState));
  // Its queued job stays queued and runs; no new host starts while paused.
  Run(rollout.id, "v1", RunStatus::kCompleted);
  Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("completed", "pending", "pending", "pending"));

  auto resumed = store().ResumeRollout(rollout.id, Now());
  ASSERT_THAT(resumed, IsOk());
  EXPECT_THAT(Types(resumed->events), ElementsAre(EventType::kRolloutResumed));
  Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("completed", "queued", "pending", "pending"));
  ASSERT_TRUE(Dispatch("v2").has_value());  // running now

  auto aborted = store().AbortRollout(rollout.id, true, Now());
  ASSERT_THAT(aborted, IsOk());
  EXPECT_EQ(aborted->value.status, "ABORTED");
  EXPECT_EQ(aborted->value.abort_reason, "an operator aborted it");
  EXPECT_TRUE(aborted->value.cancel_running);
  EXPECT_THAT(Types(aborted->events), ElementsAre(EventType::kRolloutAborted));
  auto cleanup = Advance(rollout.id);
  // Its running job is asked to stop; the counts catch up with the dispatch since.
  EXPECT_THAT(Types(cleanup.events),
              ElementsAre(EventType::kJobCancelRequested, EventType::kRolloutProgress));
  EXPECT_THAT(Advance(rollout.id).events, IsEmpty());
  EXPECT_THAT(store().ResumeRollout(rollout.id, Now()), FailsWith(Errc::kInvalidState));
  EXPECT_THAT(store().AbortRollout(rollout.id, false, Now()), FailsWith(Errc::kInvalidState));
  EXPECT_THAT(store().PauseRollout("nope", Now()), FailsWith(Errc::kNotFound));
}

// An operator who aborted without cancelRunning can still stop the running jobs: a second abort
// with it (once; a third is refused).
TEST_P(StoreRolloutsTest, AnAbortedRolloutTakesCancelRunningLater) {
  Fleet(3);
  const Rollout rollout = MustCreate(Command(2));
  Advance(rollout.id);
  ASSERT_TRUE(Dispatch("v1").has_value());  // running
  auto aborted = store().AbortRollout(rollout.id, false, Now());
  ASSERT_THAT(aborted, IsOk());
  EXPECT_FALSE(aborted->value.cancel_running);
  Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("running", "cancelled", "pending"));

  auto again = store().AbortRollout(rollout.id, true, Now());
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->value.status, "ABORTED");
  EXPECT_TRUE(again->value.cancel_running);
  EXPECT_THAT(Types(again->events), ElementsAre(EventType::kRolloutAborted));
  EXPECT_THAT(Types(Advance(rollout.id).events), Contains(EventType::kJobCancelRequested));
  EXPECT_THAT(store().AbortRollout(rollout.id, true, Now()), FailsWith(Errc::kInvalidState));
  EXPECT_THAT(store().AbortRollout(rollout.id, false, Now()), FailsWith(Errc::kInvalidState));
}

TEST_P(StoreRolloutsTest, TimedOutAndUnenrolledHostsAreSkippedAndFreeTheirSlots) {
  Fleet(3);
  CreateRolloutCommand command = Command(1);
  command.request.policy.host_timeout_seconds = 60;
  const Rollout rollout = MustCreate(command);
  auto started = Advance(rollout.id);
  ASSERT_TRUE(started.value.wake_at.has_value());
  EXPECT_EQ(*started.value.wake_at, Now() + 60s);
  EXPECT_THAT(Due(), IsEmpty());

  clock_.Advance(61s);
  EXPECT_THAT(Due(), ElementsAre(rollout.id));
  auto skipped = Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("skipped", "queued", "pending"));
  EXPECT_EQ(skipped.events.front().type, EventType::kJobCancelled);
  EXPECT_EQ(skipped.value.rollout.counts.skipped, 1);

  ASSERT_THAT(store().RevokeAgent("v2", Now()), IsOk());
  Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("skipped", "skipped", "queued"));
  auto filtered = Hosts(rollout.id, "skipped");
  ASSERT_EQ(filtered.size(), 2U);
  EXPECT_EQ(filtered[1].agent_id, "v2");
}

// maxPerMinute is an even pace (orchestration::PaceOf): 6 a minute is one host every 10 s,
// whatever the free slots; the rollout wakes when the last start is 10 s old.
TEST_P(StoreRolloutsTest, MaxPerMinuteStartsHostsAtAnEvenPace) {
  Fleet(4);
  CreateRolloutCommand command = Command(4);
  command.request.policy.max_per_minute = 6;
  const Rollout rollout = MustCreate(command);
  EXPECT_EQ(rollout.policy.max_per_minute, 6);
  auto first = Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("queued", "pending", "pending", "pending"));
  ASSERT_TRUE(first.value.wake_at.has_value());
  EXPECT_EQ(*first.value.wake_at, Now() + 10s);
  // The first ends at once: its slot is free, the pace holds the next host for 10 s.
  Run(rollout.id, "v1", RunStatus::kCompleted);
  clock_.Advance(6s);
  auto held = Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("completed", "pending", "pending", "pending"));
  ASSERT_TRUE(held.value.wake_at.has_value());
  EXPECT_EQ(*held.value.wake_at, Now() + 4s);
  EXPECT_THAT(Due(), IsEmpty());
  clock_.Advance(4s);
  EXPECT_THAT(Due(), ElementsAre(rollout.id));
  Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("completed", "queued", "pending", "pending"));
  // 10 s later the next, with v2 still queued: the pace, not maxInFlight, sets the rhythm.
  clock_.Advance(10s);
  Advance(rollout.id);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("completed", "queued", "queued", "pending"));
}

TEST_P(StoreRolloutsTest, ARolloutCompletesWhenEveryHostIsFinalAndGoesOnAfterAReopen) {
  Fleet(3);
  const Rollout rollout = MustCreate(Command(2));
  Advance(rollout.id);
  Run(rollout.id, "v1", RunStatus::kCompleted);
  // A restart in the middle: the store is the whole state.
  Reopen();
  Advance(rollout.id);
  Run(rollout.id, "v2", RunStatus::kCompleted);
  Run(rollout.id, "v3", RunStatus::kFailed);
  auto done = Advance(rollout.id);
  EXPECT_EQ(done.value.rollout.status, "COMPLETED");
  EXPECT_THAT(Types(done.events), ElementsAre(EventType::kRolloutCompleted));
  EXPECT_EQ(done.events.back().counts->completed, 2);
  EXPECT_EQ(done.events.back().counts->failed, 1);
  auto active = store().RolloutsDue(std::nullopt);
  ASSERT_THAT(active, IsOk());
  EXPECT_THAT(*active, IsEmpty());
  auto got = store().GetRollout(rollout.id);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->status, "COMPLETED");
  EXPECT_EQ(got->counts, done.value.rollout.counts);
}

// Decision 0026: an advance reads the hosts not settled yet and the first pending ones; the
// settled ones are counts in the rollout's row. A manual retry must open a settled host again.
TEST_P(StoreRolloutsTest, ARetriedJobOfASettledHostCountsAgainUntilItEnds) {
  Fleet(3);
  const Rollout rollout = MustCreate(Command(3));
  Advance(rollout.id);
  Run(rollout.id, "v1", RunStatus::kFailed);
  EXPECT_EQ(Advance(rollout.id).value.rollout.counts.failed, 1);
  // Settled now: this advance reads only v2 and v3, and counts v1 from the rollout's row.
  auto settled = Advance(rollout.id);
  EXPECT_THAT(settled.events, IsEmpty());
  EXPECT_EQ(settled.value.rollout.counts.failed, 1);

  std::optional<std::string> job_id = Hosts(rollout.id).front().job_id;
  ASSERT_TRUE(job_id.has_value());
  ASSERT_THAT(store().RetryJob(*job_id, Now()), IsOk());
  auto retried = Advance(rollout.id);
  EXPECT_EQ(retried.value.rollout.counts.failed, 0);
  EXPECT_EQ(retried.value.rollout.counts.queued, 3);
  EXPECT_THAT(HostStatuses(rollout.id), ElementsAre("queued", "queued", "queued"));

  Run(rollout.id, "v1", RunStatus::kCompleted);
  Run(rollout.id, "v2", RunStatus::kCompleted);
  Run(rollout.id, "v3", RunStatus::kCompleted);
  auto done = Advance(rollout.id);
  EXPECT_EQ(done.value.rollout.status, "COMPLETED");
  EXPECT_EQ(done.value.rollout.counts.completed, 3);
  EXPECT_EQ(done.value.rollout.counts.failed, 0);
}

TEST_P(StoreRolloutsTest, MoreHostsThanOneCallStartsGoOnInBoundedCallsWithWholeCounts) {
  const int hosts = 2 * ops::kRolloutBatch + 7;
  Fleet(hosts);
  const Rollout rollout = MustCreate(Command(hosts));
  auto first = Advance(rollout.id);
  EXPECT_TRUE(first.value.more);
  EXPECT_EQ(first.value.rollout.counts.queued, ops::kRolloutBatch);
  EXPECT_EQ(first.value.rollout.counts.pending, hosts - ops::kRolloutBatch);
  EXPECT_TRUE(Advance(rollout.id).value.more);
  auto third = Advance(rollout.id);
  EXPECT_FALSE(third.value.more);
  EXPECT_EQ(third.value.rollout.counts.queued, hosts);
  EXPECT_EQ(third.value.rollout.counts.pending, 0);

  // Every other host fails, from the last one back; the counts stay whole while the finished
  // hosts are settled advance by advance.
  for (int i = hosts; i >= 1; --i)
    Run(rollout.id, "v" + std::to_string(i), i % 2 ? RunStatus::kFailed : RunStatus::kCompleted);
  auto done = Advance(rollout.id);
  EXPECT_EQ(done.value.rollout.status, "COMPLETED");
  EXPECT_EQ(done.value.rollout.counts.total, hosts);
  EXPECT_EQ(done.value.rollout.counts.completed, hosts / 2);
  EXPECT_EQ(done.value.rollout.counts.failed, hosts - hosts / 2);
  auto got = store().GetRollout(rollout.id);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->counts, done.value.rollout.counts);
}

// Each call asks at most one batch of running jobs to stop, and none twice: the hosts it asked
// are marked, so the next call reads the next ones (docs/decisions/0026, "Hosts by state").
TEST_P(StoreRolloutsTest, AnAbortOfMoreRunningHostsThanOneCallAsksEachOnceInBoundedCalls) {
  const int hosts = 2 * ops::kRolloutBatch + 7;
  Fleet(hosts);
  const Rollout rollout = MustCreate(Command(hosts));
  while (Advance(rollout.id).value.more) {
  }
  for (int i = 1; i <= hosts; ++i)
    ASSERT_TRUE(Dispatch("v" + std::to_string(i)).has_value());
  ASSERT_THAT(store().AbortRollout(rollout.id, true, Now()), IsOk());
  std::vector<int> asked;
  for (bool more = true; more;) {
    auto call = Advance(rollout.id);
    more = call.value.more;
    int requests = 0;
    for (const auto& event : call.events)
      requests += event.type == EventType::kJobCancelRequested ? 1 : 0;
    asked.push_back(requests);
    ASSERT_LE(asked.size(), 10U);
  }
  EXPECT_THAT(asked, ElementsAre(ops::kRolloutBatch, ops::kRolloutBatch, 7));
  EXPECT_THAT(Advance(rollout.id).events, IsEmpty());
  // The counts are whole: every host still running (their agents have not stopped them yet).
  auto got = store().GetRollout(rollout.id);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->counts.running, hosts);
  EXPECT_EQ(Hosts(rollout.id, "running").size(), static_cast<std::size_t>(hosts));
}

TEST_P(StoreRolloutsTest, APendingHostBeyondTheWindowIsSkippedWhenItsTurnComes) {
  const int hosts = ops::kRolloutBatch + 5;
  Fleet(hosts);
  const Rollout rollout = MustCreate(Command(1));
  Advance(rollout.id);
  const std::string last = Hosts(rollout.id).back().agent_id;
  ASSERT_THAT(store().RevokeAgent(last, Now()), IsOk());
  // Beyond the pending hosts an advance reads: still counted pending.
  EXPECT_EQ(Advance(rollout.id).value.rollout.counts.skipped, 0);
  for (int i = 1; i < hosts; ++i) {
    const auto queued = Hosts(rollout.id, "queued");
    ASSERT_EQ(queued.size(), 1U) << i;
    Run(rollout.id, queued.front().agent_id, RunStatus::kCompleted);
    Advance(rollout.id);
  }
  auto got = store().GetRollout(rollout.id);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->status, "COMPLETED");
  EXPECT_EQ(got->counts.completed, hosts - 1);
  EXPECT_EQ(got->counts.skipped, 1);
  EXPECT_EQ(Hosts(rollout.id, "skipped").front().agent_id, last);
}

TEST_P(StoreRolloutsTest, ListsPageByCursorAndFilterByStatus) {
  Fleet(3);
  const Rollout first = MustCreate(Command());
  const Rollout second = MustCreate(Command());
  ASSERT_THAT(store().PauseRollout(first.id, Now()), IsOk());
  auto page = store().ListRollouts({}, 1, std::nullopt);
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->rollouts.size(), 1U);
  EXPECT_EQ(page->rollouts[0].id, second.id);
  ASSERT_TRUE(page->next_cursor.has_value());
  auto rest = store().ListRollouts({}, 1, page->next_cursor);
  ASSERT_THAT(rest, IsOk());
  ASSERT_EQ(rest->rollouts.size(), 1U);
  EXPECT_EQ(rest->rollouts[0].id, first.id);
  EXPECT_FALSE(rest->next_cursor.has_value());
  auto paused = store().ListRollouts({"PAUSED"}, 50, std::nullopt);
  ASSERT_THAT(paused, IsOk());
  ASSERT_EQ(paused->rollouts.size(), 1U);
  EXPECT_EQ(paused->rollouts[0].id, first.id);
  EXPECT_THAT(store().ListRollouts({"DONE"}, 50, std::nullopt), FailsWith(Errc::kInvalidRequest));

  auto hosts = store().ListRolloutHosts(first.id, std::nullopt, 2, std::nullopt);
  ASSERT_THAT(hosts, IsOk());
  ASSERT_EQ(hosts->hosts.size(), 2U);
  ASSERT_TRUE(hosts->next_cursor.has_value());
  auto more = store().ListRolloutHosts(first.id, std::nullopt, 2, hosts->next_cursor);
  ASSERT_THAT(more, IsOk());
  ASSERT_EQ(more->hosts.size(), 1U);
  EXPECT_EQ(more->hosts[0].agent_id, "v3");
  EXPECT_FALSE(more->next_cursor.has_value());
  EXPECT_THAT(store().ListRolloutHosts(first.id, "done", 2, std::nullopt),
              FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(store().ListRolloutHosts("nope", std::nullopt, 2, std::nullopt),
              FailsWith(Errc::kNotFound));
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreRolloutsTest, ::testing::ValuesIn(StoreFactories()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace orb::store
