// fleet_cmdr_load: a load generator for fleet-cmdr (docs/benchmarks.md, "fleet-cmdr").
//
// Simulates agents and operators over real HTTP/1.1 keep-alive connections against a real
// fleet-cmdr: either one given by --server/--admin-token, or (the default) the release binary,
// started here on 127.0.0.1 with a fresh data dir and stopped at the end. All clients are
// coroutines on one io_context, so 10,000 idle agents need 10,000 sockets, not threads.
// With --server-arg=--store --server-arg=postgresql://... it starts fleet-cmdr on PostgreSQL, and
// with --replicas 2 two of them on that one database: operators (setup, job creation) talk to the
// first, agents (hello, notify, jobs/next, updates) to the second (docs/decisions/0016).
// bench/run_pg_comparison.sh runs it that way beside a raw PostgreSQL queue (pg_queue_load).
//
// Workloads (sub-commands), defined as in bench/peers/README.md:
//   w1    enqueue --jobs jobs from 32 producers, then 32 agents loop jobs/next -> final update;
//   w2    create -> notify latency for one agent while --idle-agents others hold long-polls;
//   idle  notify?wait=0 requests/s over --connections keep-alive connections.
// Each prints one markdown table row on stdout (details go to stderr).

// The connections, the server under test and the fleet's setup are load_client.hpp's.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>

#include "load_client.hpp"
#include "orchestration_load.hpp"

namespace orb::bench {
namespace {

// ---- W1: throughput ----

struct W1Options {
  int jobs = 20'000;
  int agents = 32;
  int producers = 32;
  int tokens_per_producer = 8;
};

class W1Throughput {
 public:
  W1Throughput(asio::io_context& io, Fleet& fleet, W1Options options)
      : io_(io), fleet_(fleet), options_(options) {}

  void Run(int threads) {
    TaskGroup tasks(io_);
    tasks.Spawn(Main());
    RunLoop(io_, threads);
    tasks.Check();
  }

 private:
  awaitable<void> Main() {
    agents_ = co_await fleet_.Enroll("w1-agent", options_.agents, true);
    operator_tokens_ = co_await fleet_.CreateTokens(
        protocol::Role::kOperator, options_.producers * options_.tokens_per_producer);

    const auto enqueue_cpu = SampleCpu(fleet_.target().measured);
    auto producers = Producer();
    for (int p = 1; p < options_.producers; ++p)
      producers = std::move(producers) && Producer();
    co_await std::move(producers);
    const auto enqueued_cpu = SampleCpu(fleet_.target().measured);

    const auto consume_cpu = SampleCpu(fleet_.target().measured);
    auto consumers = Consumer(0);
    for (std::size_t a = 1; a < agents_.size(); ++a)
      consumers = std::move(consumers) && Consumer(a);
    co_await std::move(consumers);
    const auto consumed_cpu = SampleCpu(fleet_.target().measured);

    Report(fleet_.Between(enqueue_cpu, enqueued_cpu), fleet_.Between(consume_cpu, consumed_cpu),
           Seconds(enqueued_cpu.at - enqueue_cpu.at), Seconds(consumed_cpu.at - consume_cpu.at));
  }

  awaitable<void> Producer() {
    auto connection = fleet_.Connect();
    co_await connection.Connect();
    for (int i = next_job_++; i < options_.jobs; i = next_job_++) {
      const auto job = static_cast<std::size_t>(i);
      const auto& agent = agents_[job % agents_.size()];
      const auto& token = operator_tokens_[job % operator_tokens_.size()];
      for (;;) {
        auto reply = co_await Fleet::CreateJob(connection, token, agent.id);
        if (reply.status == 201) break;
        if (reply.status != 429) throw Unexpected("POST /v1/jobs", reply);
        ++rate_limited_;
        co_await Pause(std::chrono::seconds(std::max(1, reply.retry_after)));
      }
    }
  }

  awaitable<void> Consumer(std::size_t index) {
    auto connection = fleet_.ConnectAgent();
    co_await connection.Connect();
    const auto& agent = agents_[index];
    while (co_await Fleet::TakeOneJob(connection, agent))
      ++completed_;
  }

  void Report(const CpuUse& enqueue, const CpuUse& consume, double enqueue_s, double consume_s) {
    if (completed_ != options_.jobs) {
      throw std::runtime_error(
          fmt::format("completed {} of {} jobs", completed_.load(), options_.jobs));
    }
    const double enqueue_rate = options_.jobs / enqueue_s;
    const double e2e_rate = options_.jobs / consume_s;
    std::cerr << fmt::format(
        "w1: enqueue {:.2f} s, cores client/server/other {}, server {:.0f} us/job; "
        "429 answers {}\n",
        enqueue_s, enqueue.Cores(), enqueue.MicrosPer(options_.jobs), rate_limited_.load());
    std::cerr << fmt::format("w1: consume {:.2f} s, load average {}\n", consume_s, LoadAverage());
    const auto& label = fleet_.target().label;
    std::cout << "| "
              << (label.empty() ? fmt::format("fleet-cmdr | SQLite WAL, group commit, {} agents",
                                              options_.agents)
                                : label)
              << " | " << options_.jobs
              << fmt::format(" | {:.0f} | {:.0f} | {:.0f} | {} | {:.0f} |\n", e2e_rate,
                             enqueue_rate, consume.MicrosPer(options_.jobs), consume.Cores(),
                             enqueue.MicrosPer(options_.jobs));
  }

  asio::io_context& io_;
  Fleet& fleet_;
  W1Options options_;
  std::vector<Agent> agents_;
  std::vector<std::string> operator_tokens_;
  std::atomic<int> next_job_{0};
  std::atomic<int> completed_{0};
  std::atomic<int> rate_limited_{0};
};

// ---- W2: create -> notify latency among idle long-polling agents ----

struct W2Options {
  int idle_agents = 1000;
  int samples = 500;
  int wait_seconds = 30;
  std::string trace;  // --trace FILE: each sample's start (ms from the first) and latency
  OrchestrationOptions orchestration;  // --orchestration: a rollout and schedules beside W2
};

class W2Latency {
 public:
  W2Latency(asio::io_context& io, Fleet& fleet, W2Options options)
      : io_(io),
        fleet_(fleet),
        options_(options),
        tasks_(io, &load_io_),
        load_tasks_(load_io_, &io),
        orchestration_(fleet, options.orchestration) {}

  // The measured agent and the operator run on `io`; the idle agents (and with --orchestration
  // the jobs they take) on a loop of their own, on its own thread, as other machines would: a
  // burst of the idle agents' replies does not queue in front of the measured notify's reply.
  void Run(int threads) {
    auto keep = asio::make_work_guard(load_io_);
    std::thread load_thread([this] { load_io_.run(); });
    tasks_.Spawn(Main());
    RunLoop(io_, threads);
    load_io_.stop();
    load_thread.join();
    tasks_.Check();
    load_tasks_.Check();
  }

 private:
  awaitable<void> Main() {
    const auto measured_agents = co_await fleet_.Enroll("w2-measured", 1, true);
    const auto& measured = measured_agents.front();
    const auto operator_tokens = co_await fleet_.CreateTokens(protocol::Role::kOperator, 1);
    const auto& operator_token = operator_tokens.front();
    // With --orchestration the idle agents are the rollout's and the schedules' hosts: labelled,
    // and said hello, so that they can be given jobs.
    const bool orchestrated = options_.orchestration.enabled;
    const auto idle = co_await fleet_.Enroll(
        "w2-idle", options_.idle_agents, orchestrated,
        orchestrated ? [this](int i) { return orchestration_.AgentLabels(i); }
                     : std::function<protocol::Labels(int)>());
    std::cerr << fmt::format("w2: {} idle agents enrolled, connecting\n", idle.size());
    for (const auto& agent : idle)
      load_tasks_.Spawn(IdleAgent(agent));
    auto metrics = fleet_.ConnectAgent();
    // Idle agents whose wait just ran out are briefly not held: 99% is "all of them".
    while (co_await fleet_.HeldNotifies(metrics) < options_.idle_agents * 99 / 100) {
      co_await Pause(std::chrono::milliseconds(200));
    }
    const long held = co_await fleet_.HeldNotifies(metrics);
    std::cerr << fmt::format("w2: {} notify long-polls held\n", held);

    auto agent_connection = fleet_.ConnectAgent();
    auto notify_connection = fleet_.ConnectAgent();
    auto operator_connection = fleet_.Connect();
    if (orchestrated) co_await orchestration_.Start(operator_connection, operator_token);
    std::vector<double> latencies_ms;
    std::ofstream trace;
    if (!options_.trace.empty()) trace.open(options_.trace);
    const auto first = Steady::now();
    const auto from = SampleCpu(fleet_.target().measured);
    for (int i = 0; i < options_.samples; ++i) {
      const auto [arrived, sent] =
          co_await (WaitForNotify(notify_connection, measured) &&
                    CreateAfterPause(operator_connection, operator_token, measured.id));
      latencies_ms.push_back(Millis(arrived - sent));
      if (trace)
        trace << fmt::format("{:.1f}\t{:.3f}\n", Millis(sent - first), latencies_ms.back());
      if (!co_await Fleet::TakeOneJob(agent_connection, measured)) {
        throw std::runtime_error("w2: the measured agent found no job after its notify");
      }
    }
    const auto cpu = fleet_.Between(from, SampleCpu(fleet_.target().measured));
    if (orchestrated) co_await orchestration_.Report(operator_connection, operator_token);
    // The server's view of the samples' creates (submit -> durable commit; the orchestration's
    // jobs are not created through this call): the store's share of the latency.
    std::cerr << "w2: the server's create_jobs store latency (s):\n"
              << co_await fleet_.MetricLines(operator_connection, "operation=\"create_jobs\"");
    Report(std::move(latencies_ms), cpu);
    io_.stop();  // the idle agents' loops never end on their own
  }

  // The measured agent's long-poll: returns when a response saying pending > 0 arrives.
  awaitable<Steady::time_point> WaitForNotify(Connection& connection, const Agent& agent) {
    const auto path = Fleet::AgentPath(agent, fmt::format("notify?wait={}", options_.wait_seconds));
    for (;;) {
      auto reply = co_await connection.Send(http::verb::get, path, agent.token);
      const auto arrived = Steady::now();
      if (reply.status != 200) throw Unexpected("GET notify", reply);
      if (Decode<protocol::NotifyResponse>("notify", reply).pending > 0) co_return arrived;
    }
  }

  // Waits 10 ms (so the notify is held), stamps the time, then creates a job for the agent.
  awaitable<Steady::time_point> CreateAfterPause(Connection& connection, const std::string& token,
                                                 const std::string& agent_id) {
    co_await Pause(std::chrono::milliseconds(10));
    const auto sent = Steady::now();
    auto reply = co_await Fleet::CreateJob(connection, token, agent_id);
    if (reply.status != 201) throw Unexpected("POST /v1/jobs", reply);
    co_return sent;
  }

  // An idle agent: notify long-polls back to back. The first wait is spread over 1..wait s so
  // that re-issues are spread evenly in time, as with agents that started at different times.
  // With --orchestration, a notify saying jobs are pending makes it take and finish them first.
  awaitable<void> IdleAgent(Agent agent) {
    auto connection = std::make_shared<Connection>(fleet_.ConnectAgent(load_io_.get_executor()));
    co_await connection->Connect();
    int wait =
        1 + static_cast<int>(RandomU64() % static_cast<std::uint64_t>(options_.wait_seconds));
    // On another replica than the one that enrolled it, the token is unknown (401) until that
    // replica's token feed has it: within 250 ms (docs/decisions/0016).
    const auto known_by = Steady::now() + std::chrono::seconds(15);
    bool answered = false;
    for (;;) {
      auto path = Fleet::AgentPath(agent, fmt::format("notify?wait={}", wait));
      auto reply = co_await connection->Send(http::verb::get, std::move(path), agent.token);
      if ((reply.status == 401 || reply.status == 429) && !answered && Steady::now() < known_by) {
        // As in Fleet::Hello: not known there yet, or too many 401s from this address.
        co_await Pause(reply.status == 429 ? std::chrono::seconds(std::max(1, reply.retry_after))
                                           : std::chrono::milliseconds(50));
        continue;
      }
      if (reply.status == 503) {
        // fleet-cmdr sheds load while 10,000 agents connect at once (its queue of store calls is
        // full); a real agent waits as told and asks again.
        co_await Pause(std::chrono::seconds(std::max(1, reply.retry_after)));
        continue;
      }
      if (reply.status != 200) throw Unexpected("idle GET notify", reply);
      answered = true;
      ++idle_answers_;
      wait = options_.wait_seconds;
      if (options_.orchestration.enabled &&
          Decode<protocol::NotifyResponse>("idle notify", reply).pending > 0) {
        while (co_await Fleet::TakeOneJob(*connection, agent))
          ++orchestration_jobs_;
      }
    }
  }

  void Report(std::vector<double> latencies_ms, const CpuUse& cpu) {
    std::sort(latencies_ms.begin(), latencies_ms.end());
    std::cerr << fmt::format(
        "w2: {} samples, idle notify answers during the run {}, jobs the idle agents finished {}, "
        "cores client/server/other {}, server {:.0f} us/sample, load average {}\n",
        latencies_ms.size(), idle_answers_.load(), orchestration_jobs_.load(), cpu.Cores(),
        cpu.MicrosPer(static_cast<std::int64_t>(latencies_ms.size())), LoadAverage());
    const auto& label = fleet_.target().label;
    std::cout << fmt::format(
        "| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {} |\n",
        label.empty() ? fmt::format("fleet-cmdr | notify?wait={}, {} idle agents long-polling{}",
                                    options_.wait_seconds, options_.idle_agents,
                                    options_.orchestration.enabled
                                        ? ", a rollout over them and schedules firing"
                                        : "")
                      : label,
        latencies_ms.size(), Percentile(latencies_ms, 50), Percentile(latencies_ms, 95),
        Percentile(latencies_ms, 99), latencies_ms.back(), cpu.Cores());
  }

  asio::io_context& io_;
  Fleet& fleet_;
  W2Options options_;
  asio::io_context load_io_{1};
  TaskGroup tasks_;
  TaskGroup load_tasks_;
  OrchestrationLoad orchestration_;
  std::atomic<long> idle_answers_{0};
  std::atomic<long> orchestration_jobs_{0};
};

// ---- (c): idle notify requests/s at keep-alive ----

struct IdleOptions {
  int connections = 64;
  int warmup_seconds = 2;
  int seconds = 10;
};

class IdleNotify {
 public:
  IdleNotify(asio::io_context& io, Fleet& fleet, IdleOptions options)
      : io_(io), fleet_(fleet), options_(options) {}

  void Run(int threads) {
    TaskGroup tasks(io_);
    tasks.Spawn(Main(tasks));
    RunLoop(io_, threads);
    tasks.Check();
  }

 private:
  awaitable<void> Main(TaskGroup& tasks) {
    const auto agents = co_await fleet_.Enroll("idle-agent", options_.connections, false);
    for (const auto& agent : agents) {
      auto connection = std::make_shared<Connection>(fleet_.ConnectAgent());
      co_await connection->Connect();
      tasks.Spawn(Poller(connection, agent));
    }
    co_await Pause(std::chrono::seconds(options_.warmup_seconds));
    const long before = answered_;
    const auto from = SampleCpu(fleet_.target().measured);
    co_await Pause(std::chrono::seconds(options_.seconds));
    const long answers = answered_ - before;
    const auto to = SampleCpu(fleet_.target().measured);
    stop_ = true;
    const auto cpu = fleet_.Between(from, to);
    const double rate = static_cast<double>(answers) / Seconds(to.at - from.at);
    std::cerr << fmt::format("idle: {} answers in {:.2f} s, load average {}\n", answers,
                             Seconds(to.at - from.at), LoadAverage());
    std::cout << fmt::format(
        "| fleet-cmdr notify?wait=0 | {} | keep-alive | {:.0f} | {} | {:.1f} |\n",
        options_.connections, rate, cpu.Cores(), cpu.MicrosPer(answers));
    io_.stop();
  }

  // notify?wait=0 back to back: nothing is ever pending, so each is answered at once (§4).
  awaitable<void> Poller(std::shared_ptr<Connection> connection, Agent agent) {
    const auto path = Fleet::AgentPath(agent, "notify?wait=0");
    while (!stop_) {
      auto reply = co_await connection->Send(http::verb::get, path, agent.token);
      if (reply.status != 200) throw Unexpected("GET notify?wait=0", reply);
      ++answered_;
    }
  }

  asio::io_context& io_;
  Fleet& fleet_;
  IdleOptions options_;
  std::atomic<long> answered_{0};
  std::atomic<bool> stop_{false};
};

// ---- main ----

void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  std::cerr << fmt::format("open file limit: {}\n", limit.rlim_cur);
}

struct CommonOptions {
  std::string server;  // host:port of a running fleet-cmdr; empty: start one
  std::string admin_token;
  std::string server_binary = "build/release/src/main/fleet-cmdr";
  std::vector<std::string> server_args;
  bool keep_data = false;
  int replicas = 1;
  pid_t database_pid = 0;
  std::string label;
  int client_threads = 1;
  double quiet_cores = 0.25;
  int quiet_wait_seconds = 180;
};

Target ExternalTarget(const CommonOptions& options) {
  const auto colon = options.server.rfind(':');
  if (colon == std::string::npos || options.admin_token.empty()) {
    throw std::runtime_error("--server needs host:port and --admin-token");
  }
  Target target;
  target.endpoint.host = options.server.substr(0, colon);
  target.endpoint.port = static_cast<std::uint16_t>(std::stoi(options.server.substr(colon + 1)));
  target.admin_token = options.admin_token;
  return target;
}

// Starts (or finds) the server, then runs `workload` against it.
template <class Workload, class Options>
int RunWorkload(const CommonOptions& common, const Options& options) {
  const double busy =
      WaitForQuietMachine(common.quiet_cores, std::chrono::seconds(common.quiet_wait_seconds));
  std::cerr << fmt::format("machine before the run: {:.2f} busy cores, load average {}\n", busy,
                           LoadAverage());
  std::vector<std::unique_ptr<LocalServer>> local;
  Target target;
  if (common.server.empty()) {
    const bool shared_store = std::find(common.server_args.begin(), common.server_args.end(),
                                        "--store") != common.server_args.end();
    if (common.replicas > 1 && !shared_store) {
      throw std::runtime_error("--replicas 2 needs a shared store: --server-arg=--store ...");
    }
    // One after the other: the first creates the admin token in the store, the others find it.
    for (int i = 0; i < common.replicas; ++i) {
      local.push_back(std::make_unique<LocalServer>(common.server_binary, common.server_args,
                                                    common.keep_data));
    }
    target = local.front()->target();
    target.agent_endpoint = local.back()->target().endpoint;
    for (const auto& server : local)
      target.measured.servers.push_back(*server->target().pid);
  } else {
    target = ExternalTarget(common);
    target.agent_endpoint = target.endpoint;
  }
  if (common.database_pid > 0) target.measured.database = common.database_pid;
  target.label = common.label;
  asio::io_context io;
  Fleet fleet(io, target);
  Workload workload(io, fleet, options);
  workload.Run(common.client_threads);
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"fleet_cmdr_load: simulated agents and operators against fleet-cmdr"};
  app.require_subcommand(1);
  CommonOptions common;
  app.add_option("--server", common.server,
                 "host:port of a running fleet-cmdr (default: start one)");
  app.add_option("--admin-token", common.admin_token, "its admin token (with --server)");
  app.add_option("--server-binary", common.server_binary, "fleet-cmdr to start")
      ->capture_default_str();
  app.add_option("--server-arg", common.server_args, "extra argument for `fleet-cmdr serve`")
      ->allow_extra_args(false);
  app.add_flag("--keep-data", common.keep_data, "keep the started server's data dir and log");
  app.add_option("--replicas", common.replicas,
                 "fleet-cmdr processes to start on the one store (--server-arg=--store URL); "
                 "operators use the first, agents the last")
      ->capture_default_str()
      ->check(CLI::Range(1, 2));
  app.add_option("--database-pid", common.database_pid,
                 "PostgreSQL's postmaster: its CPU and its backends' are reported too");
  app.add_option("--label", common.label,
                 "the row's first two columns, e.g. 'fleet-cmdr | PostgreSQL, 1 replica'");
  app.add_option("--client-threads", common.client_threads, "threads running the client loop")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app.add_option("--quiet-cores", common.quiet_cores,
                 "before starting, wait until at most this many cores are busy")
      ->capture_default_str();
  app.add_option("--quiet-wait", common.quiet_wait_seconds, "wait at most this long (s) for quiet")
      ->capture_default_str();

  W1Options w1;
  auto* w1_cmd = app.add_subcommand("w1", "throughput: enqueue, then agents next -> final");
  w1_cmd->add_option("--jobs,--backlog", w1.jobs, "jobs to create")->capture_default_str();
  w1_cmd->add_option("--agents", w1.agents, "simulated agents")->capture_default_str();
  w1_cmd->add_option("--producers", w1.producers, "concurrent producers")->capture_default_str();
  w1_cmd
      ->add_option("--tokens-per-producer", w1.tokens_per_producer,
                   "operator tokens per producer (each token is rate-limited separately)")
      ->capture_default_str();
  W2Options w2;
  auto* w2_cmd = app.add_subcommand("w2", "latency: POST /v1/jobs -> the agent's notify returns");
  w2_cmd->add_option("--idle-agents", w2.idle_agents, "agents holding notify long-polls")
      ->capture_default_str();
  w2_cmd->add_option("--samples", w2.samples, "measured creates")->capture_default_str();
  w2_cmd->add_option("--wait", w2.wait_seconds, "notify wait=S")->capture_default_str();
  w2_cmd->add_option("--trace", w2.trace,
                     "writes each sample's start (ms) and latency (ms) to FILE");
  w2_cmd->add_flag("--orchestration", w2.orchestration.enabled,
                   "meanwhile: a rollout over the idle agents (which then take jobs) and "
                   "schedules of chained steps over groups of them, firing during the samples");
  w2_cmd->add_option("--schedules", w2.orchestration.schedules, "with --orchestration")
      ->capture_default_str();
  w2_cmd
      ->add_option("--hosts-per-schedule", w2.orchestration.hosts_per_schedule,
                   "with --orchestration")
      ->capture_default_str();
  w2_cmd->add_option("--steps", w2.orchestration.steps, "with --orchestration: steps per schedule")
      ->capture_default_str();
  w2_cmd
      ->add_option("--rollout-in-flight", w2.orchestration.max_in_flight_percent,
                   "with --orchestration: the rollout's maxInFlight, percent")
      ->capture_default_str();
  w2_cmd
      ->add_option("--rollout-per-minute", w2.orchestration.max_per_minute,
                   "with --orchestration: the rollout's maxPerMinute (0: none)")
      ->capture_default_str();
  w2_cmd
      ->add_option("--fire-after", w2.orchestration.fire_after_seconds,
                   "with --orchestration: seconds from the start to the schedules' fire")
      ->capture_default_str();
  IdleOptions idle;
  auto* idle_cmd = app.add_subcommand("idle", "notify?wait=0 requests/s at keep-alive");
  idle_cmd->add_option("--connections", idle.connections, "connections (one agent each)")
      ->capture_default_str();
  idle_cmd->add_option("--seconds", idle.seconds, "measured duration")->capture_default_str();
  idle_cmd->add_option("--warmup", idle.warmup_seconds, "unmeasured seconds first")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  RaiseOpenFileLimit();
  signal(SIGPIPE, SIG_IGN);
  try {
    if (w1_cmd->parsed()) return RunWorkload<W1Throughput>(common, w1);
    if (w2_cmd->parsed()) return RunWorkload<W2Latency>(common, w2);
    return RunWorkload<IdleNotify>(common, idle);
  } catch (const std::exception& e) {
    std::cerr << "fleet_cmdr_load: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace
}  // namespace orb::bench

int main(int argc, char** argv) {
  return orb::bench::Main(argc, argv);
}
