// pg_queue_load: W1 and W2 (docs/benchmarks.md) against a raw PostgreSQL queue, the baseline
// fleet-cmdr on PostgreSQL is measured against (bench/run_pg_comparison.sh): one table, jobs
// claimed with `SELECT ... FOR UPDATE SKIP LOCKED`, every operation its own transaction
// (autocommit) and synchronous_commit on (the server's setting; scripts/pg-test-cluster.sh sets
// it), prepared statements, one connection per simulated client.
//
//   pg_queue_load w1 --url URL [--jobs 20000 --agents 32 --producers 32]
//       `producers` threads insert `jobs` jobs (job i for agent i % agents), then `agents`
//       threads, one per agent, loop claim (UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP
//       LOCKED) RETURNING) -> complete (UPDATE) until their queue is empty: W1's jobs/next ->
//       final update, two transactions per job.
//   pg_queue_load w2 --url URL [--samples 500]
//       one agent LISTENs; each sample waits 10 ms, then inserts a job and pg_notify()s in one
//       transaction; the latency is from before the insert to the notification's arrival; then
//       the agent claims and completes the job. (No idle agents: each would hold a backend.)
//   common: --database-pid PID (the postmaster, for the cores columns), --label TEXT.
// Prints one markdown row on stdout, details on stderr. A benchmark, not a test.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>

#include "load_cpu.hpp"

namespace orb::bench {
namespace {

using Steady = std::chrono::steady_clock;

constexpr const char* kPayload = R"({"backupId":"b-1","level":"quick"})";

struct Options {
  std::string url;
  std::string label;
  pid_t database_pid = 0;
  int jobs = 20'000;
  int agents = 32;
  int producers = 32;
  int samples = 500;
};

double Seconds(Steady::duration d) {
  return std::chrono::duration<double>(d).count();
}

// One libpq connection with the queue's prepared statements; throws on any error.
class Client {
 public:
  explicit Client(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) Throw("connect");
    Prepare("enqueue",
            "INSERT INTO raw_queue (agent_id, type, payload) "
            "VALUES ($1, 'VERIFY_BACKUP', $2::jsonb) RETURNING id");
    Prepare("enqueue_notify",
            "WITH job AS (INSERT INTO raw_queue (agent_id, type, payload) "
            "VALUES ($1, 'VERIFY_BACKUP', $2::jsonb) RETURNING id) "
            "SELECT pg_notify('raw_queue_' || $1, id::text) FROM job");
    Prepare("claim",
            "UPDATE raw_queue SET status = 'RUNNING', started_at = now() WHERE id = ("
            "SELECT id FROM raw_queue WHERE agent_id = $1 AND status = 'QUEUED' "
            "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, payload");
    Prepare("complete",
            "UPDATE raw_queue SET status = 'COMPLETED', result = $2::jsonb, finished_at = now() "
            "WHERE id = $1");
  }
  ~Client() { PQfinish(conn_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs a prepared statement; returns the first column of the first row ("" when none).
  std::string Run(const char* name, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const auto& param : params)
      values.push_back(param.c_str());
    PGresult* result = PQexecPrepared(conn_, name, static_cast<int>(values.size()), values.data(),
                                      nullptr, nullptr, 0);
    const auto status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      PQclear(result);
      Throw(name);
    }
    std::string value = PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "";
    PQclear(result);
    return value;
  }
  void Exec(const std::string& sql) {
    PGresult* result = PQexec(conn_, sql.c_str());
    const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    if (!ok) Throw(sql);
  }
  // Claims the oldest queued job of `agent` and completes it; false when there was none.
  bool TakeOneJob(const std::string& agent) {
    const auto id = Run("claim", {agent});
    if (id.empty()) return false;
    Run("complete", {id, "{}"});
    return true;
  }
  PGconn* conn() { return conn_; }

 private:
  void Prepare(const char* name, const char* sql) {
    PGresult* result = PQprepare(conn_, name, sql, 0, nullptr);
    const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    if (!ok) Throw(std::string("prepare ") + name);
  }
  [[noreturn]] void Throw(const std::string& what) {
    throw std::runtime_error(what + ": " + PQerrorMessage(conn_));
  }
  PGconn* conn_;
};

void CreateSchema(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  PGresult* result = PQexec(conn,
                            "DROP TABLE IF EXISTS raw_queue;"
                            "CREATE TABLE raw_queue (id bigserial PRIMARY KEY, "
                            "agent_id text NOT NULL, type text NOT NULL, payload jsonb NOT NULL, "
                            "status text NOT NULL DEFAULT 'QUEUED', result jsonb, "
                            "created_at timestamptz NOT NULL DEFAULT now(), "
                            "started_at timestamptz, finished_at timestamptz);"
                            "CREATE INDEX raw_queue_queued ON raw_queue (agent_id, id) "
                            "WHERE status = 'QUEUED';");
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  const std::string error = PQerrorMessage(conn);
  PQclear(result);
  PQfinish(conn);
  if (!ok) throw std::runtime_error("schema: " + error);
}

std::string AgentId(int index) {
  return fmt::format("agent-{}", index);
}

// Runs `count` threads of `body(index)`; rethrows the first failure.
template <class Body>
void RunThreads(int count, Body body) {
  std::mutex mutex;
  std::string failure;
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      try {
        body(i);
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex);
        if (failure.empty()) failure = e.what();
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  if (!failure.empty()) throw std::runtime_error(failure);
}

Measured Database(const Options& options) {
  Measured measured;
  if (options.database_pid > 0) measured.database = options.database_pid;
  return measured;
}

int RunW1(const Options& options) {
  CreateSchema(options.url);
  const auto measured = Database(options);
  // Connections first, outside the measured phases (fleet_cmdr_load's are made in setup too).
  std::vector<std::unique_ptr<Client>> producers;
  std::vector<std::unique_ptr<Client>> agents;
  for (int i = 0; i < options.producers; ++i)
    producers.push_back(std::make_unique<Client>(options.url));
  for (int i = 0; i < options.agents; ++i)
    agents.push_back(std::make_unique<Client>(options.url));

  std::atomic<int> next{0};
  const auto enqueue_from = SampleCpu(measured);
  RunThreads(options.producers, [&](int p) {
    auto& client = *producers[static_cast<std::size_t>(p)];
    for (int i = next++; i < options.jobs; i = next++)
      client.Run("enqueue", {AgentId(i % options.agents), kPayload});
  });
  const auto enqueue_to = SampleCpu(measured);

  std::atomic<int> completed{0};
  const auto consume_from = SampleCpu(measured);
  RunThreads(options.agents, [&](int a) {
    auto& client = *agents[static_cast<std::size_t>(a)];
    while (client.TakeOneJob(AgentId(a)))
      ++completed;
  });
  const auto consume_to = SampleCpu(measured);
  if (completed != options.jobs) {
    throw std::runtime_error(
        fmt::format("completed {} of {} jobs", completed.load(), options.jobs));
  }
  const bool has_db = measured.database.has_value();
  const auto enqueue = CpuUse::Between(enqueue_from, enqueue_to, has_db);
  const auto consume = CpuUse::Between(consume_from, consume_to, has_db);
  const double enqueue_s = Seconds(enqueue_to.at - enqueue_from.at);
  const double consume_s = Seconds(consume_to.at - consume_from.at);
  std::cerr << fmt::format(
      "raw w1: enqueue {:.2f} s (cores {}), consume {:.2f} s (cores {}), load average {}\n",
      enqueue_s, enqueue.Cores(), consume_s, consume.Cores(), LoadAverage());
  const std::string label =
      options.label.empty() ? fmt::format("PostgreSQL raw | SKIP LOCKED, {} agents", options.agents)
                            : options.label;
  std::cout << fmt::format("| {} | {} | {:.0f} | {:.0f} | {:.0f} | {} | {:.0f} |\n", label,
                           options.jobs, options.jobs / consume_s, options.jobs / enqueue_s,
                           consume.MicrosPer(options.jobs), consume.Cores(),
                           enqueue.MicrosPer(options.jobs));
  return 0;
}

// The agent's LISTEN connection on a thread of its own: the arrival time of each notification.
class Listener {
 public:
  Listener(const std::string& url, const std::string& agent) : client_(url) {
    client_.Exec("LISTEN \"raw_queue_" + agent + "\"");
    thread_ = std::thread([this] { Loop(); });
  }
  ~Listener() {
    stop_ = true;
    thread_.join();
  }
  // The next notification's arrival (waits up to 10 s).
  Steady::time_point Next() {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, std::chrono::seconds(10), [&] { return !arrivals_.empty(); })) {
      throw std::runtime_error("no notification within 10 s");
    }
    const auto at = arrivals_.front();
    arrivals_.pop_front();
    return at;
  }

 private:
  void Loop() {
    PGconn* conn = client_.conn();
    while (!stop_) {
      pollfd fd{PQsocket(conn), POLLIN, 0};
      if (::poll(&fd, 1, 100) <= 0) continue;
      PQconsumeInput(conn);
      while (PGnotify* notify = PQnotifies(conn)) {
        const auto at = Steady::now();
        PQfreemem(notify);
        std::lock_guard lock(mutex_);
        arrivals_.push_back(at);
        ready_.notify_one();
      }
    }
  }

  Client client_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Steady::time_point> arrivals_;
  std::thread thread_;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

int RunW2(const Options& options) {
  CreateSchema(options.url);
  const auto measured = Database(options);
  const std::string agent = AgentId(0);
  Client producer(options.url);
  Client consumer(options.url);
  Listener listener(options.url, agent);
  std::vector<double> latencies_ms;
  const auto from = SampleCpu(measured);
  for (int i = 0; i < options.samples; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const auto sent = Steady::now();
    producer.Run("enqueue_notify", {agent, kPayload});
    const auto arrived = listener.Next();
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(arrived - sent).count());
    if (!consumer.TakeOneJob(agent)) throw std::runtime_error("notified, but no job to claim");
  }
  const auto cpu = CpuUse::Between(from, SampleCpu(measured), measured.database.has_value());
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::cerr << fmt::format("raw w2: {} samples, cores {}, load average {}\n", latencies_ms.size(),
                           cpu.Cores(), LoadAverage());
  const std::string label =
      options.label.empty() ? "PostgreSQL raw | LISTEN/NOTIFY, SKIP LOCKED" : options.label;
  std::cout << fmt::format("| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {} |\n", label,
                           latencies_ms.size(), Percentile(latencies_ms, 50),
                           Percentile(latencies_ms, 95), Percentile(latencies_ms, 99),
                           latencies_ms.back(), cpu.Cores());
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"pg_queue_load: W1 and W2 against a raw PostgreSQL SKIP LOCKED queue"};
  app.require_subcommand(1);
  Options options;
  app.add_option("--url", options.url, "postgresql://... of an empty database")->required();
  app.add_option("--label", options.label, "the row's first two columns");
  app.add_option("--database-pid", options.database_pid,
                 "the postmaster: its CPU and its backends' are reported");
  auto* w1 = app.add_subcommand("w1", "throughput: enqueue, then agents claim -> complete");
  w1->add_option("--jobs", options.jobs, "jobs to create")->capture_default_str();
  w1->add_option("--agents", options.agents, "agents (threads, connections)")
      ->capture_default_str();
  w1->add_option("--producers", options.producers, "producers (threads, connections)")
      ->capture_default_str();
  auto* w2 = app.add_subcommand("w2", "latency: insert + pg_notify -> the agent's notification");
  w2->add_option("--samples", options.samples, "measured jobs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return w1->parsed() ? RunW1(options) : RunW2(options);
  } catch (const std::exception& e) {
    std::cerr << "pg_queue_load: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace
}  // namespace orb::bench

int main(int argc, char** argv) {
  return orb::bench::Main(argc, argv);
}
