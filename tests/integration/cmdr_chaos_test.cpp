// fleet-cmdr on its embedded SQLite store under load, killed with SIGKILL at random moments many
// times (docs/reliability.md): creators resending with idempotency keys, three real agents
// (orb-jobs-agent-testbed) taking and finishing jobs, cancels, and a stream client reconnecting
// with `since`. After the last restart every acknowledged create exists once, every acknowledged
// cancel held, every job ended with exactly one completing run that its agent started once, and the
// stream saw every stored state change once with no gap. The PostgreSQL replicas' counterpart is
// replicas_chaos_test.cpp.
//
// ORB_CMDR_CHAOS_KILLS (default 6) sets the kills, ORB_CHAOS_JOBS (default 1500) the jobs,
// ORB_CMDR_CHAOS_SEED the random seed (printed).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include "integration/agent/agent_cluster.hpp"
#include "integration/cmdr_process.hpp"
#include "integration/creators.hpp"
#include "integration/replica_set.hpp"
#include "integration/test_cluster.hpp"
#include "support/build_paths.hpp"
#include "support/free_port.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)
using Steady = std::chrono::steady_clock;

int EnvInt(const char* name, int fallback) {
  const char* text = std::getenv(name);
  const int value = text != nullptr ? std::atoi(text) : 0;
  return value > 0 ? value : fallback;
}

// The first column of the first row of `sql` on the SQLite file `db` ("" when none), read-only.
std::string Query(const fs::path& db, const std::string& sql) {
  sqlite3* handle = nullptr;
  std::string value;
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << db << ": " << sqlite3_errmsg(handle);
  } else {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(handle);
    } else if (sqlite3_step(statement) == SQLITE_ROW &&
               sqlite3_column_type(statement, 0) != SQLITE_NULL) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(handle);
  return value;
}
std::int64_t Count(const fs::path& db, const std::string& sql) {
  const std::string value = Query(db, sql);
  return value.empty() ? -1 : std::stoll(value);
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// Cancels every 7th job the creators acknowledged, through whichever fleet-cmdr is up, and
// records the ones answered 200 (cancelled before they ran: they must stay CANCELLED).
class Cancellers {
 public:
  Cancellers(std::string url, std::string token, const Creators& creators, int jobs)
      : thread_([this, url = std::move(url), token = std::move(token), &creators, jobs] {
          net::ClientOptions options;
          options.base_url = url;
          options.bearer_token = token;
          options.connect_timeout = 2s;
          options.request_timeout = 10s;
          net::HttpClient client(options);
          for (int i = 0; i < jobs && !stop_.load(); i += 7) {
            std::string id;
            // The create is acknowledged later, or never if the creators gave up.
            if (!WaitFor([&] { return !(id = creators.acked()[i]).empty() || stop_.load(); }, 60s))
              continue;
            if (id.empty()) continue;
            for (int attempt = 0; attempt < 500 && !stop_.load(); ++attempt) {
              auto reply = client.Send({.method = "POST", .target = "/v1/jobs/" + id + "/cancel"});
              if (reply && reply->status < 500 && reply->status != 429) {
                const std::lock_guard lock(mutex_);
                (reply->status == 200 ? cancelled_ : other_).push_back(id);
                break;
              }
              std::this_thread::sleep_for(20ms);  // paces the resends while fleet-cmdr is down
            }
          }
        }) {}
  ~Cancellers() { Join(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  void Stop() { stop_ = true; }
  std::vector<std::string> cancelled() const {
    const std::lock_guard lock(mutex_);
    return cancelled_;
  }
  std::size_t answered() const {
    const std::lock_guard lock(mutex_);
    return cancelled_.size() + other_.size();
  }

 private:
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> cancelled_;
  std::vector<std::string> other_;
  std::thread thread_;
};

TEST(CmdrChaosTest, OnSqliteKilledAtRandomMomentsUnderLoadItLosesNothing) {
  const auto test_started = Steady::now();
  const int jobs = EnvInt("ORB_CHAOS_JOBS", 1500);
  const int kills = EnvInt("ORB_CMDR_CHAOS_KILLS", 6);
  const auto seed = static_cast<unsigned>(
      EnvInt("ORB_CMDR_CHAOS_SEED", static_cast<int>(std::random_device{}() & 0x7fffffff)));
  std::cout << "ORB_CMDR_CHAOS_SEED=" << seed << "\n";
  std::mt19937 random(seed);
  constexpr int kAgents = 3;

  TempDir dir;
  const auto port = FreePort();
  const fs::path data = dir.path() / "data";
  const fs::path db = data / "fleet-cmdr.db";
  const std::vector<std::string> flags = {"--lease-seconds",     "5", "--heartbeat-seconds", "1",
                                          "--long-poll-seconds", "5"};
  auto start_cmdr = [&] {
    auto cmdr = std::make_unique<CmdrProcess>(data, port, flags, dir.path() / "cmdr.log");
    EXPECT_TRUE(cmdr->WaitHealthy());
    return cmdr;
  };
  auto cmdr = start_cmdr();
  std::string admin_token;
  std::ifstream(data / "admin.token") >> admin_token;
  ASSERT_FALSE(admin_token.empty());
  ApiClient admin(port, admin_token);

  std::vector<std::unique_ptr<AgentProcess>> agents;
  for (int a = 0; a < kAgents; ++a) {
    const std::string id = fmt::format("host-{}", a);
    auto enrolled = protocol::FromJson<protocol::EnrollResponse>(
        admin.Post("/v1/agents", fmt::format(R"({{"agentId":"{}"}})", id)).body);
    ASSERT_TRUE(enrolled);
    const fs::path agent_dir = dir.path() / id;
    fs::create_directories(agent_dir / "root");
    std::ofstream(agent_dir / "root" / "release") << "go\n";  // its runs finish at once
    agents.push_back(std::make_unique<AgentProcess>(
        agent_dir, cmdr->url(), id, enrolled->token, ORB_AGENT_TESTBED_BIN,
        std::vector<std::string>{"--max-parallel", "8"}));
    agents.back()->CaptureOutput(agent_dir / "agent.log");
    ASSERT_TRUE(agents.back()->Start());
  }
  StreamFollower stream({cmdr->url()}, admin_token);
  ASSERT_TRUE(WaitFor([&] { return stream.subscriptions() >= 1; }, 10s));

  const auto create_started = Steady::now();
  Creators creators({cmdr->url()}, admin_token, jobs, kAgents, 4);
  Cancellers cancellers(cmdr->url(), admin_token, creators, jobs);
  // The kills, spread over the creates: each after a random 0.2-1.5 s of load (the fault's moment,
  // not a wait for a condition), then a restart on the same data dir and port.
  std::uniform_int_distribution<int> pause_ms(200, 1500);
  int done_kills = 0;
  for (; done_kills < kills; ++done_kills) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
    cmdr.reset();  // SIGKILL
    cmdr = start_cmdr();
    ASSERT_TRUE(cmdr);
  }
  creators.Join();
  const auto create_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - create_started).count();
  const auto create_problems = creators.problems();
  EXPECT_TRUE(create_problems.empty())
      << create_problems.size() << " creates failed, the first: " << create_problems.front();
  cancellers.Join();

  // Every job ends: a dispatch whose answer died with fleet-cmdr comes back by lease expiry (5 s).
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(db,
                     "SELECT count(*) FROM jobs WHERE status NOT IN "
                     "('COMPLETED', 'FAILED', 'CANCELLED')") == 0;
      },
      120s, 100ms))
      << Query(db,
               "SELECT group_concat(id || ' ' || status, ', ') FROM jobs WHERE status NOT IN "
               "('COMPLETED', 'FAILED', 'CANCELLED')");
  const auto done_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - create_started).count();
  const std::int64_t last_seq = Count(db, "SELECT max(seq) FROM events");
  ASSERT_TRUE(WaitFor([&] { return stream.last_seq() >= last_seq; }, 30s))
      << stream.last_seq() << " of " << last_seq;
  stream.Stop();
  for (auto& agent : agents)
    agent->Kill(SIGTERM);
  EXPECT_EQ(cmdr->Stop(), 0);

  // Every acknowledged create exists, once.
  int acknowledged = 0;
  std::string ids;
  for (const auto& id : creators.acked()) {
    if (id.empty()) continue;
    ++acknowledged;
    ids += fmt::format("{}'{}'", ids.empty() ? "" : ",", id);
  }
  EXPECT_EQ(acknowledged, jobs);
  EXPECT_EQ(Count(db, fmt::format("SELECT count(*) FROM jobs WHERE id IN ({})", ids)),
            acknowledged);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM jobs"), jobs);
  // Every acknowledged cancel (200: cancelled before it ran) held; every other job completed.
  const auto cancelled = cancellers.cancelled();
  std::string cancelled_ids;
  for (const auto& id : cancelled)
    cancelled_ids += fmt::format("{}'{}'", cancelled_ids.empty() ? "" : ",", id);
  if (!cancelled.empty()) {
    EXPECT_EQ(
        Count(db, fmt::format("SELECT count(*) FROM jobs WHERE id IN ({}) AND status = 'CANCELLED'",
                              cancelled_ids)),
        static_cast<std::int64_t>(cancelled.size()));
  }
  EXPECT_EQ(Count(db, "SELECT count(*) FROM jobs WHERE status NOT IN ('COMPLETED', 'CANCELLED')"),
            0)
      << Query(db,
               "SELECT group_concat(j.id || ' ' || j.status || ' (last error ' || "
               "COALESCE(j.last_error_json, '-') || '; runs ' || (SELECT group_concat(r.attempt "
               "|| ' ' || r.status || ' ' || COALESCE(r.error_json, '-'), ', ') FROM runs r "
               "WHERE r.job_id = j.id) || ')', '; ') FROM jobs j "
               "WHERE j.status NOT IN ('COMPLETED', 'CANCELLED')");
  // A completed job has exactly one completing run, its runs are attempts 1..n, the earlier ones
  // lost with fleet-cmdr (agent_lost) or cancelled.
  EXPECT_EQ(Count(db,
                  "SELECT count(*) FROM (SELECT job_id FROM runs GROUP BY job_id HAVING "
                  "count(*) <> max(attempt) OR count(DISTINCT attempt) <> count(*) OR "
                  "sum(status = 'COMPLETED') > 1)"),
            0);
  EXPECT_EQ(Count(db,
                  "SELECT count(*) FROM jobs j WHERE status = 'COMPLETED' AND (SELECT "
                  "count(*) FROM runs r WHERE r.job_id = j.id AND r.status = 'COMPLETED') <> 1"),
            0);
  EXPECT_EQ(Count(db,
                  "SELECT count(*) FROM jobs j WHERE attempts <> (SELECT count(*) FROM runs r "
                  "WHERE r.job_id = j.id)"),
            0);
  // No run handed out twice: one job.running event per run, and each agent started each run once
  // (root/started-<runId>), every completed run among them.
  EXPECT_EQ(Count(db,
                  "SELECT count(*) FROM (SELECT run_id FROM events WHERE type = "
                  "'job.running' GROUP BY run_id HAVING count(*) <> 1)"),
            0);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM events WHERE type = 'job.running'"),
            Count(db, "SELECT count(*) FROM runs"));
  std::vector<std::string> started;
  for (const auto& agent : agents) {
    auto some = agent->StartedRuns();
    started.insert(started.end(), some.begin(), some.end());
  }
  const std::set<std::string> started_once(started.begin(), started.end());
  EXPECT_EQ(started_once.size(), started.size());
  for (const auto& run :
       Split(Query(db, "SELECT group_concat(id, ',') FROM runs WHERE status = 'COMPLETED'")))
    EXPECT_EQ(started_once.count(run), 1U) << run;

  // The stream across its reconnections: every stored state change once, in order, no gap.
  EXPECT_EQ(stream.problems(), std::vector<std::string>{});
  const auto seen = stream.events();
  std::set<std::int64_t> seen_seqs;
  for (const auto& event : seen)
    seen_seqs.insert(event.seq);
  EXPECT_EQ(seen_seqs.size(), seen.size());
  // Up to the last seq of when every job had ended: what comes after it (an agent's inventory
  // or its going offline as the test stops it) the stream was not asked to see.
  const std::string up_to = " seq <= " + std::to_string(last_seq);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM events WHERE" + up_to), last_seq);
  EXPECT_EQ(Count(db, "SELECT min(seq) FROM events"), 1);
  std::size_t missing = 0;
  for (const auto& seq : Split(Query(db,
                                     "SELECT group_concat(seq, ',') FROM events WHERE type <> "
                                     "'job.progress' AND" +
                                         up_to)))
    missing += seen_seqs.count(std::stoll(seq)) == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0U);

  std::cout << fmt::format(
      "[ figure ] {} jobs through fleet-cmdr on SQLite killed {} times (seed {}), {} agents; "
      "creates resent {} times ({} answered 200 for a stored key), slowest create {} ms; {} "
      "cancels answered, {} cancelled before they ran; {} stream subscriptions, {} events seen of "
      "{}; creates took {} ms, all final after {} ms; test {} ms\n",
      jobs, done_kills, seed, kAgents, creators.resent(), creators.replayed(),
      creators.slowest_ms(), cancellers.answered(), cancelled.size(), stream.subscriptions(),
      seen.size(), last_seq, create_ms, done_ms,
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - test_started).count());
}

}  // namespace
}  // namespace orb::testing
