// The contract every Store implementation passes (store/store.hpp, protocol.md §2–§6). The suite
// is value-parameterized over StoreFactories(): a PostgreSQL store joins with one more line there.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/ids.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"
#include "support/manual_clock.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::store {
namespace {

using namespace std::chrono_literals;
using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using protocol::EventType;
using protocol::Job;
using protocol::JobStatus;
using protocol::RunStatus;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAreArray;

// Opens the store kept in `dir` (the same dir again reopens the same data).
struct StoreFactory {
  std::string name;
  std::function<Expected<std::unique_ptr<Store>>(const std::filesystem::path& dir, StoreDeps)> open;
};

std::vector<StoreFactory> StoreFactories() {
  return {
      {"Sqlite",
       [](const std::filesystem::path& dir, StoreDeps deps) -> Expected<std::unique_ptr<Store>> {
         auto store = SqliteStore::Open({.data_dir = dir / "data"}, std::move(deps));
         if (!store) return Fail(store.error());
         return std::unique_ptr<Store>(std::move(*store));
       }},
  };
}

constexpr int kLease = 60;

class StoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    StoreDeps deps{&ids_, [this] { return random_; },
                   [this](std::vector<AgentQueue> queues) {
                     const std::lock_guard lock(told_mutex_);
                     for (auto& queue : queues) {
                       told_order_.push_back(queue.agent_id);
                       told_[queue.agent_id] = std::move(queue.state);
                     }
                   }};
    auto opened = GetParam().open(dir_.path(), std::move(deps));
    ASSERT_THAT(opened, IsOk());
    store_ = std::move(*opened);
  }

  Store& store() { return *store_; }
  WallTime Now() const { return clock_.WallNow(); }

  void Enroll(const std::string& agent_id, const protocol::Labels& labels = {}) {
    TokenRecord token{"tok-" + agent_id, agent_id,           protocol::Role::kAgent,
                      agent_id,          "hash-" + agent_id, Now(),
                      std::nullopt};
    ASSERT_THAT(store().EnrollAgent(agent_id, labels, token, Now()), IsOk());
  }

  void Hello(const std::string& agent_id, std::vector<std::string> types, int max_parallel = 4,
             std::vector<protocol::InterruptedRun> interrupted = {}) {
    protocol::HelloRequest hello;
    hello.agent_version = "1.0.0";
    hello.job_types = std::move(types);
    hello.max_parallel = max_parallel;
    hello.interrupted_runs = std::move(interrupted);
    ASSERT_THAT(store().RecordHello(agent_id, hello, Now()), IsOk());
  }

  // An agent that runs every type used here.
  void ReadyAgent(const std::string& agent_id, int max_parallel = 4) {
    Enroll(agent_id);
    Hello(agent_id,
          {"BACKUP_INSTANCE", "VERIFY_BACKUP", "START_INSTANCE", "STOP_INSTANCE", "INSTALL_SERVER",
           "PRUNE_BACKUPS"},
          max_parallel);
  }

  static JobSpec Spec(const std::string& agent_id, const std::string& type,
                      const std::string& instance_id) {
    JobSpec spec;
    spec.agent_id = agent_id;
    spec.type = type;
    if (type == "INSTALL_SERVER") {
      spec.server_id = instance_id;
    } else {
      spec.instance_id = instance_id;
    }
    spec.payload_json = R"({"n":1})";
    spec.max_attempts = 3;
    return spec;
  }

  Job Create(JobSpec spec) {
    CreateJobsCommand command;
    command.jobs.push_back(std::move(spec));
    auto created = store().CreateJobs(command, Now());
    EXPECT_THAT(created, IsOk());
    if (!created || created->value.jobs.empty()) return Job{};
    return created->value.jobs[0];
  }

  Job Create(const std::string& agent_id, const std::string& type, const std::string& instance) {
    return Create(Spec(agent_id, type, instance));
  }

  std::optional<Dispatched> Dispatch(const std::string& agent_id) {
    auto dispatched = store().DispatchNext(agent_id, Now(), kLease);
    EXPECT_THAT(dispatched, IsOk());
    if (!dispatched) return std::nullopt;
    return dispatched->value;
  }

  // The job ids handed out, one DispatchNext after another, until nothing is dispatchable.
  std::vector<std::string> DispatchAll(const std::string& agent_id) {
    std::vector<std::string> ids;
    while (auto next = Dispatch(agent_id))
      ids.push_back(next->execution.job_id);
    return ids;
  }

  Expected<Mutation<protocol::UpdatesResponse>> Finish(
      const std::string& agent_id, const std::string& run_id, RunStatus status,
      std::optional<protocol::RunError> error = std::nullopt, std::int64_t seq = 100) {
    protocol::UpdatesRequest request;
    protocol::FinalUpdate final_update;
    final_update.seq = seq;
    final_update.status = status;
    final_update.error = std::move(error);
    if (status == RunStatus::kCompleted) final_update.result_json = R"({"ok":true})";
    final_update.timestamp = Now();
    request.final_update = final_update;
    return store().ApplyUpdates(agent_id, run_id, request, Now(), kLease);
  }

  JobStatus StatusOf(const std::string& job_id) {
    auto detail = store().GetJob(job_id);
    EXPECT_THAT(detail, IsOk());
    return detail ? detail->job.status : JobStatus::kCreated;
  }

  static std::vector<EventType> Types(const std::vector<protocol::Event>& events) {
    std::vector<EventType> types;
    for (const auto& event : events)
      types.push_back(event.type);
    return types;
  }

  static protocol::RunError Retryable(const std::string& code) {
    return protocol::RunError{code, "it broke", {"ctx"}, true};
  }

  // What on_queues_committed last said about `agent_id` (nullopt: never told).
  std::optional<protocol::NotifyResponse> Told(const std::string& agent_id) {
    const std::lock_guard lock(told_mutex_);
    auto found = told_.find(agent_id);
    if (found == told_.end()) return std::nullopt;
    return found->second;
  }
  // True when what the listener last said about `agent_id` is what the store reads now.
  void ExpectToldMatchesStore(const std::string& agent_id) {
    auto state = store().AgentQueueState(agent_id);
    ASSERT_THAT(state, IsOk());
    auto told = Told(agent_id);
    ASSERT_TRUE(told.has_value()) << agent_id;
    EXPECT_EQ(told->pending, state->pending) << agent_id;
    EXPECT_EQ(told->cancel, state->cancel) << agent_id;
  }

  ::orb::testing::TempDir dir_;
  ::orb::testing::ManualClock clock_;
  IdGenerator ids_{clock_};
  double random_ = 0.5;  // no jitter: delays are exact
  std::mutex told_mutex_;
  std::map<std::string, protocol::NotifyResponse> told_;  // by on_queues_committed
  std::vector<std::string> told_order_;
  std::unique_ptr<Store> store_;
};

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

// ---- Tokens and agents (protocol.md §2, §5) ----

TEST_P(StoreContractTest, TokensAreFoundByHashUntilRevoked) {
  auto has_admin = store().HasAdminToken();
  ASSERT_THAT(has_admin, IsOk());
  EXPECT_FALSE(*has_admin);
  TokenRecord admin{"t1", "bootstrap", protocol::Role::kAdmin, std::nullopt, "h1", Now(), {}};
  ASSERT_THAT(store().CreateToken(admin), IsOk());
  EXPECT_THAT(store().CreateToken(admin), FailsWith(Errc::kAlreadyExists));
  has_admin = store().HasAdminToken();
  ASSERT_THAT(has_admin, IsOk());
  EXPECT_TRUE(*has_admin);

  auto found = store().FindTokenByHash("h1");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(*found, admin);
  EXPECT_THAT(store().FindTokenByHash("h2"), FailsWith(Errc::kNotFound));

  ASSERT_THAT(store().RevokeToken("t1", Now()), IsOk());
  ASSERT_THAT(store().RevokeToken("t1", Now()), IsOk());
  EXPECT_THAT(store().RevokeToken("t9", Now()), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().FindTokenByHash("h1"), FailsWith(Errc::kNotFound));
  has_admin = store().HasAdminToken();
  ASSERT_THAT(has_admin, IsOk());
  EXPECT_FALSE(*has_admin);
  auto tokens = store().ListTokens();
  ASSERT_THAT(tokens, IsOk());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].revoked_at, Now());
}

TEST_P(StoreContractTest, EnrollingAnAgentTwiceIsRefused) {
  TokenRecord token{"t-a1", "a1", protocol::Role::kAgent, "a1", "h-a1", Now(), {}};
  auto enrolled = store().EnrollAgent("a1", {{"region", "eu"}}, token, Now());
  ASSERT_THAT(enrolled, IsOk());
  EXPECT_EQ(enrolled->value.agent_id, "a1");
  EXPECT_EQ(enrolled->value.labels.at("region"), "eu");
  EXPECT_THAT(Types(enrolled->events), ElementsAre(EventType::kAgentEnrolled));
  EXPECT_EQ(enrolled->events[0].agent_id, "a1");
  auto found = store().FindTokenByHash("h-a1");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(found->role, protocol::Role::kAgent);
  EXPECT_EQ(found->agent_id, "a1");

  token.id = "t-a1b";
  token.token_hash = "h-a1b";
  EXPECT_THAT(store().EnrollAgent("a1", {}, token, Now()), FailsWith(Errc::kAlreadyExists));
}

TEST_P(StoreContractTest, RevokingAnAgentRevokesItsTokensAndAllowsReenrollment) {
  Enroll("a1", {{"region", "eu"}});
  ASSERT_THAT(store().FindTokenByHash("hash-a1"), IsOk());
  ASSERT_THAT(store().RevokeAgent("a1", Now()), IsOk());
  EXPECT_THAT(store().RevokeAgent("ghost", Now()), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().FindTokenByHash("hash-a1"), FailsWith(Errc::kNotFound));
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_TRUE(agent->revoked);
  EXPECT_THAT(store().RecordHello("a1", {}, Now()), FailsWith(Errc::kForbidden));

  TokenRecord token{"t2", "a1", protocol::Role::kAgent, "a1", "hash-a1-new", Now(), {}};
  ASSERT_THAT(store().EnrollAgent("a1", {{"region", "us"}}, token, Now()), IsOk());
  agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_FALSE(agent->revoked);
  EXPECT_EQ(agent->labels.at("region"), "us");
}

TEST_P(StoreContractTest, HelloStoresWhatTheAgentDeclared) {
  Enroll("a1", {{"region", "eu"}, {"tier", "gold"}});
  protocol::HelloRequest hello;
  hello.agent_version = "1.4.0";
  hello.job_types = {"BACKUP_INSTANCE", "VERIFY_BACKUP"};
  hello.max_parallel = 3;
  hello.labels = {{"region", "us"}, {"os", "debian"}};
  ASSERT_THAT(store().RecordHello("a1", hello, Now()), IsOk());
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_EQ(agent->agent_version, "1.4.0");
  EXPECT_EQ(agent->job_types, hello.job_types);
  EXPECT_EQ(agent->max_parallel, 3);
  EXPECT_EQ(agent->last_seen_at, Now());
  EXPECT_EQ(agent->labels,
            (protocol::Labels{{"region", "us"}, {"tier", "gold"}, {"os", "debian"}}));
  EXPECT_FALSE(agent->online);
  EXPECT_THAT(store().GetAgent("ghost"), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, ListAgentsMatchesSelectorsAndSkipsRevokedOnRequest) {
  Enroll("a1", {{"region", "eu"}});
  Enroll("a2", {{"region", "eu"}, {"tier", "gold"}});
  Enroll("a3", {{"region", "us"}});
  ASSERT_THAT(store().RevokeAgent("a1", Now()), IsOk());
  auto ids = [&](const AgentFilter& filter) {
    std::vector<std::string> out;
    auto agents = store().ListAgents(filter);
    EXPECT_THAT(agents, IsOk());
    if (agents) {
      for (const auto& agent : *agents)
        out.push_back(agent.agent_id);
    }
    return out;
  };
  EXPECT_THAT(ids({}), ElementsAre("a1", "a2", "a3"));
  EXPECT_THAT(ids({.labels = {{"region", "eu"}}, .include_revoked = false}), ElementsAre("a2"));
  EXPECT_THAT(ids({.labels = {{"region", "eu"}}}), ElementsAre("a1", "a2"));
  EXPECT_THAT(ids({.labels = {{"tier", "gold"}, {"region", "us"}}}), ElementsAre());
}

TEST_P(StoreContractTest, TouchAgentsNeverMovesLastSeenBack) {
  Enroll("a1");
  const WallTime later = Now() + 10s;
  const std::vector<AgentSeen> seen{{"a1", later}, {"ghost", later}};
  ASSERT_THAT(store().TouchAgents(seen), IsOk());
  const std::vector<AgentSeen> earlier{{"a1", Now()}};
  ASSERT_THAT(store().TouchAgents(earlier), IsOk());
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_EQ(agent->last_seen_at, later);
}

// ---- Events (protocol.md §6) ----

TEST_P(StoreContractTest, EventsHaveIncreasingSeqAndMatchTheTransitions) {
  ReadyAgent("a1");
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  protocol::UpdatesRequest request;
  request.updates = {{1, RunStatus::kRunning, 50, "half", std::nullopt, Now()}};
  ASSERT_THAT(store().ApplyUpdates("a1", run->execution.run_id, request, Now(), kLease), IsOk());
  ASSERT_THAT(Finish("a1", run->execution.run_id, RunStatus::kCompleted), IsOk());

  auto events = store().JobEvents(job.id);
  ASSERT_THAT(events, IsOk());
  EXPECT_THAT(Types(*events),
              ElementsAre(EventType::kJobCreated, EventType::kJobQueued, EventType::kJobRunning,
                          EventType::kJobProgress, EventType::kJobCompleted));
  for (std::size_t i = 1; i < events->size(); ++i) {
    EXPECT_LT((*events)[i - 1].seq, (*events)[i].seq);
  }
  for (const auto& event : *events) {
    EXPECT_EQ(event.job_id, job.id);
    EXPECT_EQ(event.agent_id, "a1");
    EXPECT_EQ(event.job_type, "BACKUP_INSTANCE");
    EXPECT_EQ(event.instance_id, "mc-1");
  }
  EXPECT_THAT(store().JobEvents("nope"), FailsWith(Errc::kNotFound));

  auto last = store().LastEventSeq();
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(*last, events->back().seq);
  auto all = store().ReadEvents(0, 100, {});
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->front().type, EventType::kAgentEnrolled);
  auto after = store().ReadEvents((*events)[2].seq, 2, {.job_id = job.id});
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(Types(*after), ElementsAre(EventType::kJobProgress, EventType::kJobCompleted));
  auto by_agent = store().ReadEvents(0, 100, {.agent_id = "a1"});
  ASSERT_THAT(by_agent, IsOk());
  EXPECT_EQ(by_agent->size(), all->size());
  auto other = store().ReadEvents(0, 100, {.agent_id = "a9"});
  ASSERT_THAT(other, IsOk());
  EXPECT_TRUE(other->empty());
}

TEST_P(StoreContractTest, AppendedEventsGetTheNextSeq) {
  auto before = store().LastEventSeq();
  ASSERT_THAT(before, IsOk());
  protocol::Event online;
  online.type = EventType::kAgentOnline;
  online.timestamp = Now();
  online.agent_id = "a1";
  online.status = "online";
  auto appended = store().AppendEvents({online, online});
  ASSERT_THAT(appended, IsOk());
  ASSERT_EQ(appended->events.size(), 2u);
  EXPECT_EQ(appended->events[0].seq, *before + 1);
  EXPECT_EQ(appended->events[1].seq, *before + 2);
  auto read = store().ReadEvents(*before, 10, {});
  ASSERT_THAT(read, IsOk());
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0], appended->events[0]);
}

TEST_P(StoreContractTest, PruningKeepsTheNewestEventsAndNeverReusesSeq) {
  protocol::Event event;
  event.type = EventType::kAgentOnline;
  event.timestamp = Now();
  std::vector<protocol::Event> ten(10, event);
  ASSERT_THAT(store().AppendEvents(ten), IsOk());
  auto last = store().LastEventSeq();
  ASSERT_THAT(last, IsOk());
  auto pruned = store().PruneEvents(3);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_EQ(*pruned, 7);
  auto oldest = store().OldestEventSeq();
  ASSERT_THAT(oldest, IsOk());
  EXPECT_EQ(*oldest, *last - 2);

  ASSERT_THAT(store().PruneEvents(0), IsOk());
  oldest = store().OldestEventSeq();
  ASSERT_THAT(oldest, IsOk());
  EXPECT_EQ(*oldest, *last + 1);
  auto appended = store().AppendEvents({event});
  ASSERT_THAT(appended, IsOk());
  EXPECT_EQ(appended->events[0].seq, *last + 1);
}

// ---- Durability ----

TEST_P(StoreContractTest, EverythingIsStillThereAfterReopening) {
  ReadyAgent("a1");
  TokenRecord admin{"t1", "bootstrap", protocol::Role::kAdmin, std::nullopt, "h1", Now(), {}};
  ASSERT_THAT(store().CreateToken(admin), IsOk());
  const Job job = Create("a1", "BACKUP_INSTANCE", "mc-1");
  auto run = Dispatch("a1");
  ASSERT_TRUE(run);
  protocol::UpdatesRequest request;
  request.updates = {{1, RunStatus::kRunning, 20, "x", std::nullopt, Now()}};
  request.logs = {{1, Now(), "info", "hello"}};
  ASSERT_THAT(store().ApplyUpdates("a1", run->execution.run_id, request, Now(), kLease), IsOk());
  auto before = store().GetJob(job.id);
  ASSERT_THAT(before, IsOk());
  auto last = store().LastEventSeq();
  ASSERT_THAT(last, IsOk());

  Reopen();
  Reopen();

  auto after = store().GetJob(job.id);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(*after, *before);
  auto last_after = store().LastEventSeq();
  ASSERT_THAT(last_after, IsOk());
  EXPECT_EQ(*last_after, *last);
  ASSERT_THAT(store().FindTokenByHash("h1"), IsOk());
  auto agent = store().GetAgent("a1");
  ASSERT_THAT(agent, IsOk());
  EXPECT_EQ(agent->max_parallel, 4);
  auto logs = store().ReadLogs({.job_id = job.id});
  ASSERT_THAT(logs, IsOk());
  EXPECT_EQ(logs->lines.size(), 1u);
  // Fencing state survived too: the acked seqs.
  auto resent = store().ApplyUpdates("a1", run->execution.run_id, request, Now(), kLease);
  ASSERT_THAT(resent, IsOk());
  EXPECT_TRUE(resent->events.empty());
  EXPECT_EQ(resent->value.acked_update_seq, 1);
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreContractTest, ::testing::ValuesIn(StoreFactories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace orb::store
