// fleet-cmdr replicas on one PostgreSQL database under faults (docs/decisions/0016,
// docs/reliability.md): real fleet-cmdr processes killed with SIGKILL and restarted, the leader
// among them, real agents failing over between them, a stream client that reconnects to whichever
// replica is alive, and a LISTEN connection terminated under a held long-poll. The database is a
// fresh one on the test run's cluster (the ctest fixture `postgres`, support/postgres.hpp).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "integration/agent/agent_cluster.hpp"
#include "integration/creators.hpp"
#include "integration/replica_set.hpp"
#include "integration/test_cluster.hpp"
#include "net/http_client.hpp"
#include "protocol/codec.hpp"
#include "support/build_paths.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

constexpr const char* kPayload = R"({"backupId":"b1"})";

long long MillisSince(Steady::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Steady::now() - start).count();
}

std::string Enroll(ApiClient& admin, const std::string& agent_id) {
  auto reply = admin.Post("/v1/agents", fmt::format(R"({{"agentId":"{}"}})", agent_id));
  EXPECT_EQ(reply.status, 201) << reply.body;
  auto enrolled = protocol::FromJson<protocol::EnrollResponse>(reply.body);
  return enrolled ? enrolled->token : "";
}

// A real agent (orb-jobs-agent-testbed) whose VERIFY_BACKUP runs finish at once (the handler's
// release file exists before it starts), with every replica in its server list, `first` first.
std::unique_ptr<AgentProcess> StartAgent(const ReplicaSet& replicas, int first,
                                         const std::string& agent_id, const std::string& token,
                                         int max_parallel = 8) {
  const fs::path dir = replicas.dir() / agent_id;
  fs::create_directories(dir / "root");
  std::ofstream(dir / "root" / "release") << "go\n";
  std::vector<std::string> flags = {"--max-parallel", std::to_string(max_parallel)};
  for (int k = 1; k < replicas.size(); ++k) {
    flags.push_back("--server");
    flags.push_back(replicas.url((first + k) % replicas.size()));
  }
  auto agent = std::make_unique<AgentProcess>(dir, replicas.url(first), agent_id, token,
                                              ORB_AGENT_TESTBED_BIN, flags);
  agent->CaptureOutput(dir / "agent.log");
  EXPECT_TRUE(agent->Start());
  return agent;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The logs of agents host-0..host-<count-1>, for a failure message.
std::string AgentLogs(const ReplicaSet& replicas, int count) {
  std::string logs;
  for (int a = 0; a < count; ++a) {
    const std::string id = fmt::format("host-{}", a);
    logs += "--- " + id + "\n" + ReadFile(replicas.dir() / id / "agent.log");
  }
  return logs;
}

// The number of jobs of the chaos test: ORB_CHAOS_JOBS, 2000 by default.
int ChaosJobCount() {
  const char* text = std::getenv("ORB_CHAOS_JOBS");
  const int count = text != nullptr ? std::atoi(text) : 0;
  return count > 0 ? count : 2000;
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// The run ids the agent's handler started (root/started-<runId>), from every agent.
std::vector<std::string> StartedRuns(const std::vector<std::unique_ptr<AgentProcess>>& agents) {
  std::vector<std::string> runs;
  for (const auto& agent : agents) {
    auto some = agent->StartedRuns();
    runs.insert(runs.end(), some.begin(), some.end());
  }
  return runs;
}

TEST(ReplicasChaosTest, JobsThroughThreeReplicasSurviveKilledReplicasAndAKilledLeader) {
  const auto test_started = Steady::now();
  const int jobs = ChaosJobCount();
  constexpr int kAgents = 3;
  ReplicaSet replicas(3, {"--store-writers", "2", "--lease-seconds", "5", "--heartbeat-seconds",
                          "1", "--long-poll-seconds", "5"});
  ASSERT_TRUE(replicas.Start());
  ASSERT_TRUE(WaitFor([&] { return replicas.Leader().has_value(); }, seconds(10)));
  // Agent a prefers replica a, and is enrolled through it: a token is known on the other
  // replicas only after their token poll (250 ms), and a hello told 401 is retried after 30 s.
  std::vector<std::unique_ptr<AgentProcess>> agents;
  for (int a = 0; a < kAgents; ++a) {
    const std::string id = fmt::format("host-{}", a);
    const int first = a % replicas.size();
    ApiClient admin(replicas.port(first), replicas.admin_token());
    agents.push_back(StartAgent(replicas, first, id, Enroll(admin, id)));
  }
  ASSERT_TRUE(WaitFor(
      [&] { return replicas.Count("SELECT count(*) FROM agents WHERE online = 1") == kAgents; },
      seconds(20)))
      << AgentLogs(replicas, kAgents);
  // The faults, while the creates go on: a replica that is not the leader (the victim) is killed
  // at a quarter of the creates and restarted at half; the leader is killed at three quarters, and
  // restarted once another replica has taken the lease. The stream client starts on the victim
  // and moves to the leader next, so that both kills cut its connection.
  const auto first_leader = replicas.Leader();
  ASSERT_TRUE(first_leader.has_value());
  const int victim = (*first_leader + 1) % replicas.size();
  const int bystander = (*first_leader + 2) % replicas.size();
  StreamFollower stream(
      {replicas.url(victim), replicas.url(*first_leader), replicas.url(bystander)},
      replicas.admin_token());
  ASSERT_TRUE(WaitFor([&] { return stream.subscriptions() >= 1; }, seconds(10)));

  const auto create_started = Steady::now();
  Creators creators(replicas.urls(), replicas.admin_token(), jobs, kAgents, 3);
  ASSERT_TRUE(WaitFor([&] { return creators.started() >= jobs / 4; }, seconds(60)));
  replicas.Kill(victim);
  const auto victim_killed_ms = MillisSince(create_started);
  ASSERT_TRUE(WaitFor([&] { return creators.started() >= jobs / 2; }, seconds(60)));
  ASSERT_TRUE(replicas.Restart(victim));
  const auto victim_back_ms = MillisSince(create_started);
  ASSERT_TRUE(WaitFor([&] { return creators.started() >= 3 * jobs / 4; }, seconds(60)));
  const auto leader = replicas.Leader();
  ASSERT_TRUE(leader.has_value());
  replicas.Kill(*leader);
  const auto leader_killed = Steady::now();
  std::optional<int> next_leader;
  ASSERT_TRUE(WaitFor(
      [&] {
        next_leader = replicas.Leader();
        return next_leader.has_value() && *next_leader != *leader;
      },
      seconds(20)));
  const auto takeover_ms = MillisSince(leader_killed);
  ASSERT_TRUE(replicas.Restart(*leader));
  creators.Join();
  const auto create_ms = MillisSince(create_started);
  const auto create_problems = creators.problems();
  EXPECT_TRUE(create_problems.empty())
      << create_problems.size() << " creates failed, the first: " << create_problems.front();

  // Every job ends: lost dispatches (a jobs/next answer that died with its replica) come back
  // through lease expiry (5 s) once a leader runs the timers.
  ASSERT_TRUE(WaitFor(
      [&] {
        return replicas.Count(
                   "SELECT count(*) FROM jobs WHERE status NOT IN "
                   "('COMPLETED', 'FAILED', 'CANCELLED')") == 0;
      },
      seconds(120), milliseconds(100)))
      << replicas.Query(
             "SELECT string_agg(id || ' ' || status, ', ') FROM jobs WHERE status NOT IN "
             "('COMPLETED', 'FAILED', 'CANCELLED')");
  const auto done_ms = MillisSince(create_started);
  const std::int64_t last_seq =
      replicas.Count("SELECT value FROM store_meta WHERE key = 'events_last'");
  ASSERT_TRUE(WaitFor([&] { return stream.last_seq() >= last_seq; }, seconds(30)))
      << stream.last_seq() << " of " << last_seq;
  stream.Stop();

  // Every acknowledged create exists, once: as many jobs as creates, retries included.
  const auto acked = creators.acked();
  std::string ids;
  int acknowledged = 0;
  for (const auto& id : acked) {
    if (id.empty()) continue;
    ++acknowledged;
    ids += (ids.empty() ? "" : ",") + id;
  }
  EXPECT_EQ(acknowledged, jobs);
  EXPECT_EQ(replicas.Count(fmt::format(
                "SELECT count(*) FROM jobs WHERE id = ANY(string_to_array('{}', ','))", ids)),
            acknowledged);
  EXPECT_EQ(replicas.Count("SELECT count(*) FROM jobs"), jobs);
  // Every job completed, by exactly one run: its runs are attempts 1..n, the last COMPLETED and
  // the earlier ones lost (agent_lost); the job counts as many attempts as it has runs.
  EXPECT_EQ(replicas.Count("SELECT count(*) FROM jobs WHERE status <> 'COMPLETED'"), 0)
      << replicas.Query(
             "SELECT string_agg(id || ' ' || status, ', ') FROM jobs "
             "WHERE status <> 'COMPLETED'");
  EXPECT_EQ(replicas.Count("SELECT count(*) FROM (SELECT job_id FROM runs GROUP BY job_id HAVING "
                           "count(*) <> max(attempt) OR count(DISTINCT attempt) <> count(*) OR "
                           "count(*) FILTER (WHERE status = 'COMPLETED') <> 1) bad"),
            0);
  EXPECT_EQ(replicas.Count("SELECT count(*) FROM jobs j WHERE attempts <> "
                           "(SELECT count(*) FROM runs r WHERE r.job_id = j.id)"),
            0);
  EXPECT_EQ(replicas.Count("SELECT count(*) FROM runs WHERE status <> 'COMPLETED' AND "
                           "coalesce(error_json, '') NOT LIKE '%agent_lost%'"),
            0)
      << replicas.Query(
             "SELECT string_agg(id || ' ' || status || ' ' || coalesce(error_json, ''), "
             "', ') FROM runs WHERE status <> 'COMPLETED'");
  // No run dispatched twice: one job.running event per run, one job.completed per job; and the
  // agents started each run at most once, every completed run among them.
  EXPECT_EQ(replicas.Count("SELECT count(*) FROM (SELECT run_id FROM events WHERE type = "
                           "'job.running' GROUP BY run_id HAVING count(*) <> 1) bad"),
            0);
  const std::int64_t runs = replicas.Count("SELECT count(*) FROM runs");
  EXPECT_EQ(replicas.Count("SELECT count(*) FROM events WHERE type = 'job.running'"), runs);
  EXPECT_EQ(replicas.Count("SELECT count(DISTINCT job_id) FROM events WHERE type = "
                           "'job.completed'"),
            jobs);
  EXPECT_EQ(replicas.Count("SELECT count(*) FROM events WHERE type = 'job.completed'"), jobs);
  const auto started = StartedRuns(agents);
  const std::set<std::string> started_once(started.begin(), started.end());
  EXPECT_EQ(started_once.size(), started.size());
  const auto completed_runs =
      Split(replicas.Query("SELECT string_agg(id, ',') FROM runs WHERE status = 'COMPLETED'"));
  EXPECT_EQ(completed_runs.size(), static_cast<std::size_t>(jobs));
  for (const auto& run : completed_runs)
    EXPECT_EQ(started_once.count(run), 1u) << run;

  // The stream, across its reconnections: every stored event once, in seq order (a progress
  // event may be coalesced away for a slow client, protocol.md §6; a state change never), and the
  // stored seqs have no gap.
  EXPECT_EQ(stream.problems(), std::vector<std::string>{});
  const auto seen = stream.events();
  std::set<std::int64_t> seen_seqs;
  for (const auto& event : seen)
    seen_seqs.insert(event.seq);
  EXPECT_EQ(seen_seqs.size(), seen.size());
  // Up to the last seq of when every job had ended: what comes after it (an agent's inventory
  // or presence as the test stops things) the stream was not asked to see.
  const std::string up_to = " seq <= " + std::to_string(last_seq);
  EXPECT_EQ(replicas.Count("SELECT count(*) FROM events WHERE" + up_to), last_seq);
  EXPECT_EQ(replicas.Count("SELECT min(seq) FROM events"), 1);
  std::set<std::int64_t> state_seqs;
  for (const auto& seq :
       Split(replicas.Query("SELECT string_agg(seq::text, ',') FROM events WHERE type <> "
                            "'job.progress' AND" +
                            up_to))) {
    state_seqs.insert(std::stoll(seq));
  }
  std::size_t missing = 0;
  for (const auto seq : state_seqs)
    missing += seen_seqs.count(seq) == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0u);
  EXPECT_TRUE(seen_seqs.empty() || *seen_seqs.rbegin() <= last_seq);

  std::cout << fmt::format(
      "[ figure ] {} jobs ({} runs) through 3 replicas and {} agents; 2 replicas killed (one the "
      "leader), {} stream subscriptions; creates resent {} times ({} answered 200 for a stored "
      "key); leader takeover {} ms after its SIGKILL; creates took {} ms, all final after {} ms; "
      "{} events streamed of {}; test {} ms (victim killed at {} ms, back at {} ms, leader killed "
      "at {} ms; slowest create {} ms)\n",
      jobs, runs, kAgents, stream.subscriptions(), creators.resent(), creators.replayed(),
      takeover_ms, create_ms, done_ms, seen.size(), last_seq, MillisSince(test_started),
      victim_killed_ms, victim_back_ms,
      std::chrono::duration_cast<milliseconds>(leader_killed - create_started).count(),
      creators.slowest_ms());
}

// The run's state and the leader lease in one read: "<run status> <lease overdue: true, false, or
// none once final> <holder>", the holder being "" when no replica holds an unexpired leader lease.
std::string RunAndLeader(const ReplicaSet& replicas, const std::string& run_id) {
  return replicas.Query(fmt::format(
      "WITH now_ms AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms) "
      "SELECT r.status || ' ' || coalesce((r.lease_expires_ms < n.ms)::text, 'none') || ' ' || "
      "coalesce((SELECT "
      "holder FROM leases WHERE name = 'fleet-timers' AND expires_ms > n.ms), '') "
      "FROM runs r, now_ms n WHERE r.id = '{}'",
      run_id));
}

std::string LeaseHolder(const ReplicaSet& replicas) {
  return replicas.Query("SELECT holder FROM leases WHERE name = 'fleet-timers'");
}

// Waits until the run is no longer RUNNING and a replica other than the one holding `old_holder`
// holds the leader lease. Returns the ms from `since` to the first read that showed the new holder,
// and whether a read showed the run past its lease, still RUNNING, while no other replica held the
// leader lease (so: not expired by a replica that was not the leader).
struct Takeover {
  bool done = false;
  long long ms = -1;
  bool overdue_without_leader = false;
};
Takeover WatchTakeover(const ReplicaSet& replicas, const std::string& run_id,
                       const std::string& old_holder, Steady::time_point since) {
  Takeover takeover;
  takeover.done = WaitFor(
      [&] {
        const std::string state = RunAndLeader(replicas, run_id);
        const std::string holder = state.substr(state.rfind(' ') + 1);
        const bool new_leader = !holder.empty() && holder != old_holder;
        if (new_leader && takeover.ms < 0) takeover.ms = MillisSince(since);
        if (!new_leader && state.starts_with("RUNNING true ")) {
          takeover.overdue_without_leader = true;
        }
        return new_leader && !state.starts_with("RUNNING ");
      },
      seconds(30), milliseconds(50));
  return takeover;
}

// A job for host-1 through `api`, at most two attempts, retried 1 s after a lost run.
std::string CreateJob(ApiClient& api, const std::string& instance) {
  auto reply = api.Post("/v1/jobs", JobBody("host-1", "VERIFY_BACKUP", instance, kPayload,
                                            R"("maxAttempts":2,"retryBackoffSeconds":1)"));
  EXPECT_EQ(reply.status, 201) << reply.body;
  auto job = protocol::FromJson<protocol::Job>(reply.body);
  return job ? job->id : "";
}

TEST(ReplicasChaosTest, AnotherReplicaRunsTheTimersWithinTheLeaseAfterTheLeaderIsKilled) {
  // Run leases of 5 s; the leader lease is the product's (10 s, renewed every 2 s).
  ReplicaSet replicas(3,
                      {"--store-writers", "1", "--lease-seconds", "5", "--heartbeat-seconds", "1"});
  ASSERT_TRUE(replicas.Start());
  std::optional<int> leader;
  ASSERT_TRUE(WaitFor(
      [&] {
        leader = replicas.Leader();
        return leader.has_value();
      },
      seconds(10)));
  const int other = (*leader + 1) % replicas.size();
  ApiClient admin(replicas.port(other), replicas.admin_token());
  const std::string token = Enroll(admin, "host-1");
  FakeAgent agent(replicas.port(other), "host-1", token);
  ASSERT_EQ(agent.Hello({"VERIFY_BACKUP"}).status, 200);
  const std::string job_id = CreateJob(admin, "mc-1");
  auto run = agent.NextJob();
  ASSERT_TRUE(run.has_value());

  // The agent goes silent with its run, and the leader dies: the run's lease runs out 5 s after
  // its dispatch, the leader lease 8-10 s after the kill (its last renewal + 10 s).
  const std::string old_holder = LeaseHolder(replicas);
  replicas.Kill(*leader);
  const auto killed_at = Steady::now();
  const Takeover takeover = WatchTakeover(replicas, run->run_id, old_holder, killed_at);
  ASSERT_TRUE(takeover.done) << RunAndLeader(replicas, run->run_id);
  std::cout << "[ figure ] leader killed -> another replica holds the timers after " << takeover.ms
            << " ms\n";
  EXPECT_LE(takeover.ms, 15000);
  // Nobody expired the run while no replica held the lease: only the leader runs the timers.
  EXPECT_TRUE(takeover.overdue_without_leader);
  EXPECT_EQ(replicas
                .Query(fmt::format("SELECT status || ' ' || coalesce(error_json, '') FROM runs "
                                   "WHERE id = '{}'",
                                   run->run_id))
                .find("FAILED"),
            0u);
  // The agent that comes back with the lost run is told to stop it; the retry (attempt 2, queued
  // by the new leader after the 1 s backoff) is dispatched and completes.
  EXPECT_EQ(agent.Complete(run->run_id).status, 409);
  std::optional<protocol::JobExecution> retry;
  ASSERT_TRUE(WaitFor(
      [&] {
        retry = agent.NextJob();
        return retry.has_value();
      },
      seconds(10), milliseconds(100)));
  EXPECT_EQ(retry->job_id, job_id);
  EXPECT_EQ(retry->attempt, 2);
  EXPECT_EQ(agent.Complete(retry->run_id).status, 200);

  // Two live leaders: the new leader is paused (SIGSTOP) past its lease, so that the third replica
  // takes over and expires a second lost run; then it resumes, with a timer round that may have
  // been cut between "I lead" and the expiry. Every duty is one transaction on the store, so the
  // resumed replica can expire nothing twice, and it gives up the role at its next ask.
  const std::optional<int> paused = replicas.Leader();
  ASSERT_TRUE(paused.has_value());
  ASSERT_NE(*paused, *leader);
  // The operator and the agent go on through the live replica that is not paused.
  const int live = 3 - *leader - *paused;
  ApiClient admin_live(replicas.port(live), replicas.admin_token());
  FakeAgent agent_live(replicas.port(live), "host-1", token);
  const std::string second_job = CreateJob(admin_live, "mc-2");
  auto second = agent_live.NextJob();
  ASSERT_TRUE(second.has_value());
  const std::string paused_holder = LeaseHolder(replicas);
  replicas.Signal(*paused, SIGSTOP);
  const auto paused_at = Steady::now();
  const Takeover third = WatchTakeover(replicas, second->run_id, paused_holder, paused_at);
  replicas.Signal(*paused, SIGCONT);
  ASSERT_TRUE(third.done) << RunAndLeader(replicas, second->run_id);
  EXPECT_LE(third.ms, 15000);
  std::cout << "[ figure ] leader paused -> the third replica holds the timers after " << third.ms
            << " ms\n";
  EXPECT_TRUE(WaitFor(
      [&] {
        return replicas.Log(*paused).find("not running the fleet's timers") != std::string::npos;
      },
      seconds(10)));
  std::optional<protocol::JobExecution> second_retry;
  ASSERT_TRUE(WaitFor(
      [&] {
        second_retry = agent_live.NextJob();
        return second_retry.has_value();
      },
      seconds(10), milliseconds(100)));
  EXPECT_EQ(agent_live.Complete(second_retry->run_id).status, 200);
  // Each lost run failed once, each job completed once, by its second run.
  for (const auto& id : {job_id, second_job}) {
    EXPECT_EQ(replicas.Count(fmt::format(
                  "SELECT count(*) FROM events WHERE job_id = '{}' AND type = 'job.failed'", id)),
              1);
    EXPECT_EQ(
        replicas.Count(fmt::format(
            "SELECT count(*) FROM events WHERE job_id = '{}' AND type = 'job.completed'", id)),
        1);
    EXPECT_EQ(replicas.Count(fmt::format("SELECT count(*) FROM runs WHERE job_id = '{}'", id)), 2);
    EXPECT_EQ(replicas.Query(fmt::format("SELECT status FROM jobs WHERE id = '{}'", id)),
              "COMPLETED");
  }
  // The first leader, restarted, finds the lease held and stays a follower (it asks every 2 s;
  // watched for 3 s).
  ASSERT_TRUE(replicas.Restart(*leader));
  const std::string holder = LeaseHolder(replicas);
  EXPECT_FALSE(
      WaitFor([&] { return LeaseHolder(replicas) != holder; }, seconds(3), milliseconds(100)));
}

std::int64_t PresenceEvents(const ReplicaSet& replicas, const std::string& type) {
  return replicas.Count(
      fmt::format("SELECT count(*) FROM events WHERE agent_id = 'host-1' AND type = '{}'", type));
}

TEST(ReplicasChaosTest, AnAgentMovingBetweenReplicasComesOnlineAndGoesOfflineOncePerChange) {
  // Long-polls of 1 s: an agent silent for 3 s is offline.
  ReplicaSet replicas(2, {"--store-writers", "1", "--long-poll-seconds", "1", "--heartbeat-seconds",
                          "1", "--lease-seconds", "5"});
  ASSERT_TRUE(replicas.Start());
  std::optional<int> leader;
  ASSERT_TRUE(WaitFor(
      [&] {
        leader = replicas.Leader();
        return leader.has_value();
      },
      seconds(10)));
  // The agent prefers the replica that is not the leader, which is then killed: it moves to the
  // leader (its second server), which keeps marking agents offline.
  const int first = 1 - *leader;
  ApiClient admin_first(replicas.port(first), replicas.admin_token());
  auto agent = StartAgent(replicas, first, "host-1", Enroll(admin_first, "host-1"), 4);
  ASSERT_TRUE(WaitFor([&] { return PresenceEvents(replicas, "agent.online") == 1; }, seconds(10)));

  replicas.Kill(first);
  ApiClient admin_leader(replicas.port(*leader), replicas.admin_token());
  const std::string job_id = CreateJob(admin_leader, "mc-1");
  ASSERT_TRUE(WaitFor(
      [&] {
        return replicas.Query(fmt::format("SELECT status FROM jobs WHERE id = '{}'", job_id)) ==
               "COMPLETED";
      },
      seconds(20), milliseconds(50)));
  // Moving from one replica to the other is no change: the stored flag says online already.
  EXPECT_EQ(PresenceEvents(replicas, "agent.online"), 1);
  EXPECT_EQ(PresenceEvents(replicas, "agent.offline"), 0);

  agent->Kill(SIGTERM);
  (void)agent->Wait(seconds(30));
  const auto stopped_at = Steady::now();
  ASSERT_TRUE(WaitFor([&] { return PresenceEvents(replicas, "agent.offline") == 1; }, seconds(15)));
  std::cout << "[ figure ] agent stopped -> agent.offline after " << MillisSince(stopped_at)
            << " ms (offline after 3 s of silence)\n";

  // Back, through the restarted first replica: online once more.
  ASSERT_TRUE(replicas.Restart(first));
  ASSERT_TRUE(agent->Start());
  ASSERT_TRUE(WaitFor([&] { return PresenceEvents(replicas, "agent.online") == 2; }, seconds(15)));
  // Watched for 3 s (the offline threshold; both replicas flush last-seen times every second and
  // the leader checks every round): no other presence event while the agent stays.
  EXPECT_FALSE(WaitFor(
      [&] {
        return PresenceEvents(replicas, "agent.online") != 2 ||
               PresenceEvents(replicas, "agent.offline") != 1;
      },
      seconds(3), milliseconds(100)));
  agent->Kill(SIGTERM);
  (void)agent->Wait(seconds(30));
}

// Terminates the LISTEN connection of replica `i` (pg_terminate_backend), once it has one: the
// store's listener runs LISTEN, then reads the last seq, and then only waits, so that read is its
// last query. A pooled reader whose last call was the same read goes too, which costs nothing (the
// pool replaces a dead connection). False when none was found within 10 s.
bool TerminateListener(const ReplicaSet& replicas, int i) {
  const std::string where = fmt::format(
      "FROM pg_stat_activity WHERE application_name = 'replica-{}' AND query LIKE "
      "'SELECT value FROM store_meta WHERE key = ''events_last''%'",
      i);
  return WaitFor([&] { return replicas.Count("SELECT count(*) " + where) >= 1; }, seconds(10),
                 milliseconds(50)) &&
         replicas.Count("SELECT count(pg_terminate_backend(pid)) " + where) >= 1;
}

TEST(ReplicasChaosTest, AJobReachesALongPollOnBWhoseListenConnectionWasKilled) {
  ReplicaSet replicas(2, {"--store-writers", "1"});
  ASSERT_TRUE(replicas.Start());
  ApiClient through_a(replicas.port(0), replicas.admin_token());
  ApiClient through_b(replicas.port(1), replicas.admin_token());
  FakeAgent agent(replicas.port(1), "host-1", Enroll(through_b, "host-1"));
  ASSERT_EQ(agent.Hello({"VERIFY_BACKUP"}).status, 200);
  EXPECT_EQ(agent.Notify(0).status, 200);  // idle: answered at once, and B knows its state now
  auto held = std::async(std::launch::async, [&] {
    auto reply = agent.Notify(20);
    return std::make_pair(reply, Steady::now());
  });
  ASSERT_TRUE(WaitFor(
      [&] {
        return through_b.Get("/metrics").body.find("fleet_cmdr_notify_waiters 1") !=
               std::string::npos;
      },
      seconds(5)));

  // B's LISTEN connection is terminated. It reconnects after a 500 ms pause, so the job created
  // through A right after commits while B listens to nothing: its NOTIFY is lost for B.
  ASSERT_TRUE(TerminateListener(replicas, 1));
  const auto created_at = Steady::now();
  const std::string job_id = CreateJob(through_a, "mc-1");
  ASSERT_EQ(held.wait_for(seconds(20)), std::future_status::ready);
  const auto [reply, answered_at] = held.get();
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_NE(reply.body.find("\"pending\":1"), std::string::npos) << reply.body;
  const auto wake = std::chrono::duration_cast<milliseconds>(answered_at - created_at);
  std::cout << "[ figure ] NOTIFY lost: job through A -> long-poll on B answered in "
            << wake.count() << " ms\n";
  // B catches up without the notification: its listener reports the last seq when it is back
  // (500 ms pause), and its catch-up poll runs every second in any case. 2.5 s is that second,
  // plus the create's round trip and the read of the agent's queue, with room for a loaded or
  // sanitized build; a lost wake-up would hold the long-poll for its whole 20 s.
  EXPECT_LE(wake.count(), 2500);
  auto run = agent.NextJob();
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->job_id, job_id);
}

// Subscribes to /v1/stream at `url` with `since`; the first message after ready, or "" when none
// came within `timeout`.
std::string FirstStreamMessage(const std::string& url, const std::string& token, std::int64_t since,
                               milliseconds timeout) {
  net::WebSocketOptions options;
  options.base_url = url;
  net::WebSocketClient ws(options);
  EXPECT_TRUE(ws.Connect("/v1/stream").has_value());
  EXPECT_TRUE(
      ws.Send(fmt::format(R"({{"type":"subscribe","token":"{}","since":{}}})", token, since))
          .has_value());
  auto ready = ws.Receive(seconds(5));
  EXPECT_TRUE(ready.has_value());
  auto next = ws.Receive(timeout);
  return next ? *next : "";
}

TEST(ReplicasChaosTest, AStreamClientMovingToAReplicaThatLagsBehindIsNotToldToResync) {
  ReplicaSet replicas(2, {"--store-writers", "1"});
  ASSERT_TRUE(replicas.Start());
  ApiClient through_a(replicas.port(0), replicas.admin_token());
  Enroll(through_a, "host-1");
  // B deaf to A's commits for a while: its LISTEN connection terminated (it reconnects after
  // 500 ms; its catch-up poll runs every second).
  ASSERT_TRUE(TerminateListener(replicas, 1));
  CreateJob(through_a, "mc-1");
  const std::int64_t seen =
      replicas.Count("SELECT value FROM store_meta WHERE key = 'events_last'");
  // A client that saw that job's events on A moves to B at once, with since = the last of them:
  // B may not have published them yet, but they are in the store it shares with A. The next
  // event after `seen` follows, and no resync (which would make the client reload everything).
  auto next = std::async(std::launch::async, [&] {
    return FirstStreamMessage(replicas.url(1), replicas.admin_token(), seen, seconds(10));
  });
  CreateJob(through_a, "mc-2");
  const std::string message = next.get();
  auto parsed = protocol::ParseStreamMessage(message);
  ASSERT_TRUE(parsed.has_value()) << message << "\nB:\n" << replicas.Log(1);
  ASSERT_EQ(parsed->kind, protocol::StreamMessage::Kind::kEvent) << message << "\nB:\n"
                                                                 << replicas.Log(1);
  EXPECT_EQ(parsed->event->seq, seen + 1);
}

}  // namespace
}  // namespace orb::testing
