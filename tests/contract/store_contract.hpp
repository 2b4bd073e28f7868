#pragma once

// The contract every Store implementation passes (store/store.hpp, protocol.md §2–§6): the
// fixture of the value-parameterized suite StoreContractTest, instantiated once over
// StoreFactories() (store_contract.cpp), and its tests by concern in store_*_test.cpp.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/ids.hpp"
#include "store/store.hpp"
#include "support/manual_clock.hpp"
#include "support/matchers.hpp"

namespace orb::store {

// Where one test keeps its store's data: each Open opens the same store again (a reopen, or one
// more instance on the same database where the store allows several).
class StoreHome {
 public:
  virtual ~StoreHome() = default;
  virtual Expected<std::unique_ptr<Store>> Open(StoreDeps deps) = 0;
};

struct StoreFactory {
  std::string name;
  std::function<Expected<std::unique_ptr<StoreHome>>()> make_home;  // a fresh, empty one
  bool several_instances = false;  // several stores may be open on one home at once
};

// Every store implementation; a test runs once for each.
std::vector<StoreFactory> StoreFactories();
// The stores of which several instances may share one home (PostgreSQL).
std::vector<StoreFactory> SeveralInstanceFactories();

inline void PrintTo(const StoreFactory& factory, std::ostream* out) {
  *out << factory.name;
}

using namespace std::chrono_literals;
using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using protocol::EventType;
using protocol::Job;
using protocol::JobStatus;
using protocol::RunStatus;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAreArray;

constexpr int kLease = 60;

class StoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    auto home = GetParam().make_home();
    ASSERT_THAT(home, IsOk());
    home_ = *std::move(home);
    Reopen();
  }

  void Reopen() {
    store_.reset();
    StoreDeps deps{&ids_,
                   [this] { return random_; },
                   [this](std::vector<AgentQueue> queues) {
                     const std::lock_guard lock(told_mutex_);
                     for (auto& queue : queues) {
                       told_order_.push_back(queue.agent_id);
                       told_[queue.agent_id] = std::move(queue.state);
                     }
                   },
                   {}};
    deps.run_log_cap = log_cap_;
    auto opened = home_->Open(std::move(deps));
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

  std::unique_ptr<StoreHome> home_;
  ::orb::testing::ManualClock clock_;
  IdGenerator ids_{clock_};
  double random_ = 0.5;  // no jitter: delays are exact
  // The run log cap of the next Reopen (StoreDeps::run_log_cap).
  protocol::LogCap log_cap_{kDefaultRunLogLines, kDefaultRunLogBytes};
  std::mutex told_mutex_;
  std::map<std::string, protocol::NotifyResponse> told_;  // by on_queues_committed
  std::vector<std::string> told_order_;
  std::unique_ptr<Store> store_;
};

}  // namespace orb::store
