// The store contract with several store instances on one database, as several fleet-cmdr
// replicas would have them, hammered at the same time: a job is dispatched once, an update
// applied once, an idempotency key makes one job, a reader sees dense seqs in commit order,
// presence flips are announced once, one admin token is created, one leader is elected, and each
// instance hears of the others' commits. Runs for the stores that allow several instances
// (StoreFactory::several_instances: PostgreSQL; one SQLite file has one fleet-cmdr).

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/sha256.hpp"
#include "contract/store_contract.hpp"
#include "support/wait_for.hpp"

namespace orb::store {
namespace {

constexpr int kInstances = 3;

class StoreInstancesTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    auto home = GetParam().make_home();
    ASSERT_THAT(home, IsOk());
    home_ = *std::move(home);
    for (int i = 0; i < kInstances; ++i)
      stores_.push_back(Open());
  }

  // One more instance, each with its own id generator as a replica has.
  std::unique_ptr<Store> Open(std::function<void(std::int64_t)> on_foreign_commit = {}) {
    ids_.push_back(std::make_unique<IdGenerator>(clock_));
    StoreDeps deps;
    deps.ids = ids_.back().get();
    deps.unit_random = [] { return 0.5; };
    deps.on_foreign_commit = std::move(on_foreign_commit);
    auto store = home_->Open(std::move(deps));
    EXPECT_THAT(store, IsOk());
    return store ? *std::move(store) : nullptr;
  }

  Store& store(int i) { return *stores_[static_cast<std::size_t>(i)]; }
  WallTime Now() const { return clock_.WallNow(); }

  void ReadyAgent(const std::string& agent_id, int max_parallel) {
    TokenRecord token{"tok-" + agent_id, agent_id,           protocol::Role::kAgent,
                      agent_id,          "hash-" + agent_id, Now(),
                      std::nullopt};
    ASSERT_THAT(store(0).EnrollAgent(agent_id, {}, token, Now()), IsOk());
    protocol::HelloRequest hello;
    hello.agent_version = "1.0.0";
    hello.job_types = {"VERIFY_BACKUP", "BACKUP_INSTANCE"};
    hello.max_parallel = max_parallel;
    ASSERT_THAT(store(0).RecordHello(agent_id, hello, Now()), IsOk());
  }

  std::vector<std::string> CreateJobs(const std::string& agent_id, int count) {
    CreateJobsCommand command;
    command.batch = true;
    for (int i = 0; i < count; ++i) {
      JobSpec spec;
      spec.agent_id = agent_id;
      spec.type = "VERIFY_BACKUP";
      spec.instance_id = "mc";
      spec.payload_json = R"({"n":1})";
      command.jobs.push_back(spec);
    }
    auto created = store(0).CreateJobs(command, Now());
    EXPECT_THAT(created, IsOk());
    std::vector<std::string> ids;
    if (created) {
      for (const auto& job : created->value.jobs)
        ids.push_back(job.id);
    }
    return ids;
  }

  // Runs `body(instance, thread)` on `threads` threads per instance at once.
  void Hammer(int threads, const std::function<void(int, int)>& body) {
    std::vector<std::thread> running;
    for (int i = 0; i < kInstances; ++i) {
      for (int t = 0; t < threads; ++t)
        running.emplace_back([&body, i, t] { body(i, t); });
    }
    for (auto& thread : running)
      thread.join();
  }

  std::unique_ptr<StoreHome> home_;
  ::orb::testing::ManualClock clock_;
  std::vector<std::unique_ptr<IdGenerator>> ids_;
  std::vector<std::unique_ptr<Store>> stores_;
};

TEST_P(StoreInstancesTest, NoJobIsDispatchedTwice) {
  constexpr int kAgents = 3;
  constexpr int kJobsPerAgent = 100;
  std::set<std::string> created;
  for (int a = 0; a < kAgents; ++a) {
    ReadyAgent("a" + std::to_string(a), 100000);
    for (auto& id : CreateJobs("a" + std::to_string(a), kJobsPerAgent))
      created.insert(id);
  }
  std::mutex mutex;
  std::multiset<std::string> handed_out;
  std::atomic<int> failures{0};
  Hammer(3, [&](int instance, int thread) {
    // Every agent is asked for from every instance.
    const std::string agent = "a" + std::to_string((instance + thread) % kAgents);
    for (;;) {
      auto next = store(instance).DispatchNext(agent, Now(), kLease);
      if (!next) {
        ADD_FAILURE() << next.error().Describe();
        ++failures;
        return;
      }
      if (!next->value) return;
      const std::lock_guard lock(mutex);
      handed_out.insert(next->value->execution.job_id);
    }
  });
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(handed_out.size(), created.size());
  EXPECT_EQ(std::set<std::string>(handed_out.begin(), handed_out.end()), created);
}

TEST_P(StoreInstancesTest, EachUpdateIsAppliedOnce) {
  ReadyAgent("a1", 100);
  CreateJobs("a1", 12);
  std::vector<std::string> runs;
  for (;;) {
    auto next = store(0).DispatchNext("a1", Now(), kLease);
    ASSERT_THAT(next, IsOk());
    if (!next->value) break;
    runs.push_back(next->value->execution.run_id);
  }
  ASSERT_EQ(runs.size(), 12u);
  // The same batches (progress, logs, then the final update) sent by every instance at once, as
  // an agent retrying through a load balancer would.
  std::atomic<int> failures{0};
  Hammer(2, [&](int instance, int thread) {
    for (std::size_t r = static_cast<std::size_t>(thread); r < runs.size(); r += 2) {
      protocol::UpdatesRequest progress;
      for (int seq = 1; seq <= 3; ++seq) {
        progress.updates.push_back(
            {seq, RunStatus::kRunning, seq * 20, "step", std::nullopt, Now()});
        progress.logs.push_back({seq, Now(), "info", "line " + std::to_string(seq)});
      }
      if (!store(instance).ApplyUpdates("a1", runs[r], progress, Now(), kLease)) ++failures;
      protocol::UpdatesRequest final_request;
      final_request.final_update = protocol::FinalUpdate{};
      final_request.final_update->seq = 4;
      final_request.final_update->status = RunStatus::kCompleted;
      final_request.final_update->timestamp = Now();
      auto done = store(instance).ApplyUpdates("a1", runs[r], final_request, Now(), kLease);
      if (!done) {
        ADD_FAILURE() << done.error().Describe();
        ++failures;
      } else if (done->value.acked_update_seq != 4) {
        ++failures;
      }
    }
  });
  EXPECT_EQ(failures.load(), 0);
  auto events = store(1).ReadEvents(0, 10000, {});
  ASSERT_THAT(events, IsOk());
  std::map<std::string, int> progress;
  std::map<std::string, int> completed;
  for (const auto& event : *events) {
    if (event.type == EventType::kJobProgress) ++progress[*event.run_id];
    if (event.type == EventType::kJobCompleted) ++completed[*event.run_id];
  }
  for (const std::string& run : runs) {
    EXPECT_EQ(progress[run], 3) << run;
    EXPECT_EQ(completed[run], 1) << run;
  }
  auto listed = store(2).ListJobs({.status = JobStatus::kCompleted}, 500, std::nullopt);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->jobs.size(), 12u);
  for (const auto& job : listed->jobs) {
    auto logs = store(2).ReadLogs({.job_id = job.id});
    ASSERT_THAT(logs, IsOk());
    EXPECT_EQ(logs->lines.size(), 3u);
  }
}

TEST_P(StoreInstancesTest, AnIdempotencyKeyMakesOneJob) {
  ReadyAgent("a1", 4);
  constexpr int kKeys = 8;
  std::mutex mutex;
  std::map<std::string, std::set<std::string>> jobs_by_key;
  std::atomic<int> failures{0};
  Hammer(3, [&](int instance, int) {
    for (int k = 0; k < kKeys; ++k) {
      CreateJobsCommand command;
      JobSpec spec;
      spec.agent_id = "a1";
      spec.type = "VERIFY_BACKUP";
      spec.instance_id = "mc-" + std::to_string(k);
      command.jobs.push_back(spec);
      command.idempotency_key = "key-" + std::to_string(k);
      command.request_fingerprint = "fp-" + std::to_string(k);
      auto created = store(instance).CreateJobs(command, Now());
      if (!created) {
        ADD_FAILURE() << created.error().Describe();
        ++failures;
        continue;
      }
      const std::lock_guard lock(mutex);
      jobs_by_key[*command.idempotency_key].insert(created->value.jobs.at(0).id);
    }
  });
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(jobs_by_key.size(), static_cast<std::size_t>(kKeys));
  for (const auto& [key, jobs] : jobs_by_key)
    EXPECT_EQ(jobs.size(), 1u) << key;
  auto listed = store(0).ListJobs({}, 500, std::nullopt);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->jobs.size(), static_cast<std::size_t>(kKeys));
  auto events = store(0).ReadEvents(0, 10000, {.job_id = std::nullopt});
  ASSERT_THAT(events, IsOk());
  EXPECT_EQ(std::count_if(events->begin(), events->end(),
                          [](const auto& e) { return e.type == EventType::kJobCreated; }),
            kKeys);
}

// A reader that follows the events with ReadEvents(after the last seq it saw) must never find a
// gap that fills later: seqs are given in commit order, so once seq N is visible every lower seq
// is too.
TEST_P(StoreInstancesTest, AConcurrentReaderSeesDenseSeqsInCommitOrder) {
  ReadyAgent("a1", 1000);
  std::atomic<bool> writing{true};
  std::atomic<int> gaps{0};
  std::int64_t last_seen = 0;
  auto start = store(0).LastEventSeq();
  ASSERT_THAT(start, IsOk());
  last_seen = *start;
  std::thread reader([&] {
    auto follow = [&] {
      auto events = store(1).ReadEvents(last_seen, 10000, {});
      if (!events) {
        ++gaps;
        return;
      }
      for (const auto& event : *events) {
        if (event.seq != last_seen + 1) ++gaps;
        last_seen = event.seq;
      }
    };
    while (writing.load())
      follow();
    follow();
  });
  std::atomic<int> failures{0};
  std::atomic<int> written{0};
  Hammer(3, [&](int instance, int thread) {
    for (int i = 0; i < 40; ++i) {
      if ((i + thread) % 2 == 0) {
        protocol::Event event;
        event.type = EventType::kAgentOnline;
        event.timestamp = Now();
        event.agent_id = "a1";
        if (store(instance).AppendEvents({event, event})) {
          written += 2;
        } else {
          ++failures;
        }
      } else {
        CreateJobsCommand command;
        JobSpec spec;
        spec.agent_id = "a1";
        spec.type = "VERIFY_BACKUP";
        spec.instance_id = "mc";
        command.jobs.push_back(spec);
        if (store(instance).CreateJobs(command, Now())) {
          written += 2;  // job.created, job.queued
        } else {
          ++failures;
        }
      }
    }
  });
  writing = false;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(gaps.load(), 0);
  EXPECT_EQ(last_seen, *start + written.load());
  auto last = store(2).LastEventSeq();
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(*last, last_seen);
}

TEST_P(StoreInstancesTest, EachPresenceChangeIsAnnouncedOnce) {
  ReadyAgent("a1", 1);
  for (int round = 0; round < 3; ++round) {
    std::atomic<int> flips{0};
    std::atomic<int> failures{0};
    Hammer(3, [&](int instance, int) {
      for (int i = 0; i < 5; ++i) {
        auto online = store(instance).MarkAgentOnline("a1", Now());
        if (!online) {
          ++failures;
        } else if (online->value) {
          ++flips;
          if (online->events.size() != 1) ++failures;
        }
      }
    });
    EXPECT_EQ(flips.load(), 1);
    clock_.Advance(60s);
    std::atomic<int> offline{0};
    Hammer(3, [&](int instance, int) {
      auto gone = store(instance).MarkAgentsOffline(Now(), Now() - 30s);
      if (!gone) {
        ++failures;
      } else {
        offline += gone->value;
      }
    });
    EXPECT_EQ(offline.load(), 1);
    EXPECT_EQ(failures.load(), 0);
  }
  auto events = store(0).ReadEvents(0, 10000, {.agent_id = "a1"});
  ASSERT_THAT(events, IsOk());
  EXPECT_EQ(std::count_if(events->begin(), events->end(),
                          [](const auto& e) { return e.type == EventType::kAgentOnline; }),
            3);
  EXPECT_EQ(std::count_if(events->begin(), events->end(),
                          [](const auto& e) { return e.type == EventType::kAgentOffline; }),
            3);
}

TEST_P(StoreInstancesTest, ReplicasStartingTogetherCreateOneAdminToken) {
  std::atomic<int> created{0};
  std::atomic<int> failures{0};
  Hammer(2, [&](int instance, int thread) {
    const std::string id = "admin-" + std::to_string(instance) + "-" + std::to_string(thread);
    TokenRecord token{id,    "bootstrap admin", protocol::Role::kAdmin, std::nullopt, "hash-" + id,
                      Now(), std::nullopt};
    auto made = store(instance).CreateFirstAdminToken(token);
    if (!made) {
      ADD_FAILURE() << made.error().Describe();
      ++failures;
    } else if (made->value) {
      ++created;
    }
  });
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(created.load(), 1);
  auto tokens = store(0).ListTokens();
  ASSERT_THAT(tokens, IsOk());
  EXPECT_EQ(tokens->size(), 1u);
}

TEST_P(StoreInstancesTest, OneLeaderIsElected) {
  std::mutex mutex;
  std::set<std::string> holders_seen;
  std::atomic<int> held{0};
  std::atomic<int> failures{0};
  Hammer(3, [&](int instance, int thread) {
    const std::string me = "replica-" + std::to_string(instance) + "-" + std::to_string(thread);
    for (int i = 0; i < 3; ++i) {
      auto leadership = store(instance).TryLeadership("timers", me, Now(), 30s);
      if (!leadership) {
        ++failures;
        continue;
      }
      if (leadership->held) ++held;
      const std::lock_guard lock(mutex);
      holders_seen.insert(leadership->holder);
    }
  });
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(holders_seen.size(), 1u);  // everyone saw the same leader...
  EXPECT_EQ(held.load(), 3);           // ...which took it once and renewed it twice
}

TEST_P(StoreInstancesTest, EachInstanceHearsOfTheOthersCommits) {
  std::mutex mutex;
  std::vector<std::int64_t> heard;
  auto listening = Open([&](std::int64_t last_seq) {
    const std::lock_guard lock(mutex);
    heard.push_back(last_seq);
  });
  ASSERT_NE(listening, nullptr);
  auto heard_at_least = [&](std::int64_t seq) {
    const std::lock_guard lock(mutex);
    return !heard.empty() && heard.back() >= seq;
  };
  // Once at the start (the current last seq), since it may have missed commits before.
  ASSERT_TRUE(::orb::testing::WaitFor([&] { return heard_at_least(0); }, 10s));

  protocol::Event event;
  event.type = EventType::kAgentOnline;
  event.timestamp = Now();
  auto own = listening->AppendEvents({event});
  ASSERT_THAT(own, IsOk());
  auto other = store(1).AppendEvents({event, event});
  ASSERT_THAT(other, IsOk());
  const std::int64_t other_last = other->events.back().seq;
  ASSERT_TRUE(::orb::testing::WaitFor([&] { return heard_at_least(other_last); }, 10s));
  // Notifications arrive in commit order, and the other commit came after the listener's own:
  // had its own commit been handed over too, it would be in the list by now.
  const std::lock_guard lock(mutex);
  EXPECT_EQ(std::count(heard.begin(), heard.end(), own->events.back().seq), 0);
}

TEST_P(StoreInstancesTest, AnArtifactUploadedThroughOneInstanceIsReadThroughAnother) {
  const std::string bytes(3 << 20, 'x');
  const std::string sha = Sha256Hex(bytes);
  std::size_t offset = 0;
  auto source = [&](std::span<char> buffer) -> Expected<std::size_t> {
    const std::size_t n = std::min(buffer.size(), bytes.size() - offset);
    std::copy_n(bytes.data() + offset, n, buffer.data());
    offset += n;
    return n;
  };
  ASSERT_THAT(store(0).PutArtifact(sha, bytes.size(), source), IsOk());
  std::string read;
  ASSERT_THAT(store(2).ReadArtifact(sha, 1000, bytes.size() - 2000,
                                    [&](std::span<const char> piece) -> Status {
                                      read.append(piece.data(), piece.size());
                                      return Ok();
                                    }),
              IsOk());
  EXPECT_TRUE(read == bytes.substr(1000, bytes.size() - 2000));
}

// Job dependencies across replicas (docs/decisions/0019): each dependent waits for one job on each
// of three agents, and every instance completes one agent's jobs at the same time, so the
// dependencies of one dependent complete concurrently in different transactions. Each dependent
// is queued exactly once, by the commit that completed its last dependency; meanwhile more
// dependents are created on another instance and none of them is left waiting.
TEST_P(StoreInstancesTest, ConcurrentCompletionsQueueEachDependentOnceAndStrandNone) {
  constexpr int kDependents = 12;
  std::vector<std::vector<std::string>> dependencies(kInstances);
  for (int i = 0; i < kInstances; ++i) {
    ReadyAgent("d" + std::to_string(i), 100000);
    dependencies[static_cast<std::size_t>(i)] = CreateJobs("d" + std::to_string(i), kDependents);
  }
  ReadyAgent("w", 100000);
  const auto create_dependent = [&](Store& on, int k) -> std::optional<protocol::Job> {
    JobSpec spec;
    spec.agent_id = "w";
    spec.type = "VERIFY_BACKUP";
    spec.instance_id = "mc-" + std::to_string(k);
    spec.payload_json = R"({"n":1})";
    for (int i = 0; i < kInstances; ++i)
      spec.depends_on.push_back(
          dependencies[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)]);
    CreateJobsCommand command;
    command.jobs.push_back(spec);
    auto created = on.CreateJobs(command, Now());
    EXPECT_THAT(created, IsOk());
    if (!created) return std::nullopt;
    return created->value.jobs[0];
  };
  std::vector<std::string> dependents;
  for (int k = 0; k < kDependents; ++k) {
    auto job = create_dependent(store(0), k);
    ASSERT_TRUE(job.has_value());
    EXPECT_EQ(job->status, JobStatus::kCreated);
    dependents.push_back(job->id);
  }

  std::mutex mutex;
  std::multiset<std::string> queued_events;  // job.queued of dependents, from every commit
  std::vector<std::string> late;             // created while the dependencies complete
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      const std::string agent = "d" + std::to_string(i);
      for (;;) {
        auto next = store(i).DispatchNext(agent, Now(), kLease);
        if (!next) {
          ADD_FAILURE() << next.error().Describe();
          ++failures;
          return;
        }
        if (!next->value) return;
        protocol::UpdatesRequest request;
        request.final_update = protocol::FinalUpdate{};
        request.final_update->seq = 1;
        request.final_update->status = RunStatus::kCompleted;
        request.final_update->timestamp = Now();
        auto done =
            store(i).ApplyUpdates(agent, next->value->execution.run_id, request, Now(), kLease);
        if (!done) {
          ADD_FAILURE() << done.error().Describe();
          ++failures;
          return;
        }
        const std::lock_guard lock(mutex);
        for (const auto& event : done->events) {
          if (event.type == EventType::kJobQueued) queued_events.insert(*event.job_id);
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int k = 0; k < kDependents; ++k) {
      auto job = create_dependent(store(kInstances - 1), k);
      if (!job) {
        ++failures;
        return;
      }
      const std::lock_guard lock(mutex);
      late.push_back(job->id);
    }
  });
  for (auto& thread : threads)
    thread.join();
  ASSERT_EQ(failures.load(), 0);

  for (const std::string& id : dependents) {
    EXPECT_EQ(queued_events.count(id), 1u) << id;
    auto job = store(1).GetJob(id);
    ASSERT_THAT(job, IsOk());
    EXPECT_EQ(job->job.status, JobStatus::kQueued) << id;
    EXPECT_TRUE(job->job.waiting_for.empty()) << id;
  }
  // A late dependent was queued at its creation or by a completion, never both, never neither.
  ASSERT_EQ(late.size(), static_cast<std::size_t>(kDependents));
  for (const std::string& id : late) {
    auto job = store(2).GetJob(id);
    ASSERT_THAT(job, IsOk());
    EXPECT_EQ(job->job.status, JobStatus::kQueued) << id;
    EXPECT_LE(queued_events.count(id), 1u) << id;
  }
  auto state = store(0).AgentQueueState("w");
  ASSERT_THAT(state, IsOk());
  EXPECT_EQ(state->pending, 2 * kDependents);
}

INSTANTIATE_TEST_SUITE_P(SeveralInstances, StoreInstancesTest,
                         ::testing::ValuesIn(SeveralInstanceFactories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace orb::store
