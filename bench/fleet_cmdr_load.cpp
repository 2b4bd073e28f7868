// fleet_cmdr_load: a load generator for fleet-cmdr (docs/benchmarks.md, "fleet-cmdr").
//
// Simulates agents and operators over real HTTP/1.1 keep-alive connections against a real
// fleet-cmdr: either one given by --server/--admin-token, or (the default) the release binary,
// started here on 127.0.0.1 with a fresh data dir and stopped at the end. All clients are
// coroutines on one io_context, so 10,000 idle agents need 10,000 sockets, not threads.
//
// Workloads (sub-commands), defined as in bench/peers/README.md:
//   w1    enqueue --jobs jobs from 32 producers, then 32 agents loop jobs/next -> final update;
//   w2    create -> notify latency for one agent while --idle-agents others hold long-polls;
//   idle  notify?wait=0 requests/s over --connections keep-alive connections.
// Each prints one markdown table row on stdout (details go to stderr).
//
// This file is outside src/, so it may use Beast/Asio directly (it links orb_net, which compiles
// them once). It is a benchmark, not a test: nothing here is checked automatically.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/random.hpp"
#include "common/time.hpp"
#include "protocol/codec.hpp"
#include "protocol/types.hpp"

namespace orb::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using Steady = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

// A job type whose payload validates and whose lock is shared, so jobs of one agent never block
// each other in the dispatch rule; the simulated agents never run anything.
constexpr std::string_view kJobType = "VERIFY_BACKUP";
constexpr std::string_view kJobPayload = R"({"backupId":"b-1","level":"quick"})";

double Seconds(Steady::duration d) {
  return std::chrono::duration<double>(d).count();
}
double Millis(Steady::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// ---- CPU accounting: who used the cores while a phase ran (as the peers report it) ----

struct CpuSample {
  Steady::time_point at;
  double server = 0;   // fleet-cmdr's utime+stime (+ reaped children), seconds
  double client = 0;   // this process's rusage, seconds
  double machine = 0;  // all cores busy (/proc/stat minus idle and iowait), seconds
};

double ClockTicks() {
  return static_cast<double>(sysconf(_SC_CLK_TCK));
}

double ProcessCpuSeconds(std::optional<pid_t> pid) {
  if (!pid) return 0;
  std::ifstream in("/proc/" + std::to_string(*pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  double ticks = 0;
  // After "pid (comm) ": state is field 3; utime, stime, cutime, cstime are fields 14-17.
  for (int index = 3; index <= 17 && fields >> field; ++index) {
    if (index >= 14) ticks += std::stod(field);
  }
  return ticks / ClockTicks();
}

double MachineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  double total = 0;
  double idle = 0;
  for (int index = 0; index < 8; ++index) {
    double value = 0;
    in >> value;
    total += value;
    if (index == 3 || index == 4) idle += value;  // idle, iowait
  }
  return (total - idle) / ClockTicks();
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

CpuSample SampleCpu(std::optional<pid_t> server_pid) {
  return {Steady::now(), ProcessCpuSeconds(server_pid), SelfCpuSeconds(), MachineBusySeconds()};
}

// Cores used between two samples, and the server's CPU per unit of work.
struct CpuUse {
  double client = 0;
  double server = 0;
  double other = 0;
  double server_seconds = 0;

  static CpuUse Between(const CpuSample& from, const CpuSample& to) {
    const double elapsed = std::max(1e-9, Seconds(to.at - from.at));
    CpuUse use;
    use.server_seconds = to.server - from.server;
    use.client = (to.client - from.client) / elapsed;
    use.server = use.server_seconds / elapsed;
    use.other = std::max(0.0, (to.machine - from.machine) / elapsed - use.client - use.server);
    return use;
  }
  std::string Cores() const {
    return fmt::format("{:.2f} / {:.2f} / {:.2f}", client, server, other);
  }
  double MicrosPer(std::int64_t units) const {
    return units > 0 ? server_seconds * 1e6 / static_cast<double>(units) : 0;
  }
};

// Waits (up to `max_wait`) until the machine has at most `max_cores` busy over 2 s, as the
// peers' harness does; returns the busy cores last seen.
double WaitForQuietMachine(double max_cores, std::chrono::seconds max_wait) {
  const auto deadline = Steady::now() + max_wait;
  double busy = 0;
  do {
    const auto from = SampleCpu(std::nullopt);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const auto to = SampleCpu(std::nullopt);
    busy = (to.machine - from.machine) / Seconds(to.at - from.at);
  } while (busy > max_cores && Steady::now() < deadline);
  return busy;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  std::string five;
  in >> one >> five;
  return one + " " + five;
}

// ---- HTTP: one keep-alive connection, one request at a time ----

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

struct Reply {
  unsigned status = 0;
  std::string body;
  int retry_after = 0;  // seconds, from a 429's Retry-After
};

class Connection {
 public:
  Connection(asio::any_io_executor executor, Endpoint endpoint)
      : stream_(std::move(executor)),
        endpoint_(std::move(endpoint)),
        host_header_(fmt::format("{}:{}", endpoint_.host, endpoint_.port)) {}

  awaitable<void> Connect() {
    const asio::ip::tcp::endpoint address(asio::ip::make_address(endpoint_.host), endpoint_.port);
    co_await stream_.async_connect(address, use_awaitable);
    stream_.socket().set_option(asio::ip::tcp::no_delay(true));
    connected_ = true;
  }

  // Sends one request and reads its response. Network errors throw boost::system::system_error.
  awaitable<Reply> Send(http::verb verb, std::string target, std::string_view token,
                        std::string body = {}) {
    if (!connected_) co_await Connect();
    http::request<http::string_body> request{verb, target, 11};
    request.set(http::field::host, host_header_);
    request.set(http::field::authorization, fmt::format("Bearer {}", token));
    if (!body.empty()) request.set(http::field::content_type, "application/json");
    request.body() = std::move(body);
    request.keep_alive(true);
    request.prepare_payload();
    co_await http::async_write(stream_, request, use_awaitable);
    http::response<http::string_body> response;
    co_await http::async_read(stream_, buffer_, response, use_awaitable);
    Reply reply{response.result_int(), std::move(response.body()), 0};
    if (const auto it = response.find(http::field::retry_after); it != response.end()) {
      reply.retry_after = std::atoi(std::string(it->value()).c_str());
    }
    if (!response.keep_alive()) connected_ = false;
    co_return reply;
  }

  // As Send, but waits out 429 rate_limited answers (Retry-After) and tries again: for setup.
  awaitable<Reply> SendPatiently(http::verb verb, std::string target, std::string_view token,
                                 std::string body = {}) {
    for (;;) {
      auto reply = co_await Send(verb, target, token, body);
      if (reply.status != 429) co_return reply;
      asio::steady_timer timer(stream_.get_executor());
      timer.expires_after(std::chrono::seconds(std::max(1, reply.retry_after)));
      co_await timer.async_wait(use_awaitable);
    }
  }

 private:
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  Endpoint endpoint_;
  std::string host_header_;
  bool connected_ = false;
};

std::runtime_error Unexpected(std::string_view what, const Reply& reply) {
  return std::runtime_error(fmt::format("{}: HTTP {} {}", what, reply.status, reply.body));
}

template <class T>
T Decode(std::string_view what, const Reply& reply) {
  auto value = protocol::FromJson<T>(reply.body);
  if (!value) throw std::runtime_error(fmt::format("{}: {}", what, value.error().Describe()));
  return std::move(*value);
}

// Sleeps without blocking the event loop.
awaitable<void> Pause(Steady::duration duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(duration);
  co_await timer.async_wait(use_awaitable);
}

// Runs `task` detached; the first exception is kept and stops the run.
class TaskGroup {
 public:
  explicit TaskGroup(asio::io_context& io) : io_(io) {}
  void Spawn(awaitable<void> task) {
    asio::co_spawn(io_, std::move(task), [this](std::exception_ptr error) {
      if (!error || failed_.exchange(true)) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        message_ = e.what();
      }
      io_.stop();
    });
  }
  // Throws the first failure, if any.
  void Check() const {
    if (failed_) throw std::runtime_error(message_);
  }

 private:
  asio::io_context& io_;
  std::atomic<bool> failed_{false};
  std::string message_;
};

// Runs the io_context on `threads` threads until it runs out of work or is stopped.
void RunLoop(asio::io_context& io, int threads) {
  std::vector<std::thread> extra;
  for (int i = 1; i < threads; ++i)
    extra.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& thread : extra)
    thread.join();
}

// ---- The server under test ----

struct Target {
  Endpoint endpoint;
  std::string admin_token;
  std::optional<pid_t> pid;  // set when we started it: its CPU is measured
};

// Starts fleet-cmdr serve on 127.0.0.1 with a fresh data dir; stops it (SIGTERM) when destroyed.
class LocalServer {
 public:
  LocalServer(const std::filesystem::path& binary, const std::vector<std::string>& extra_args,
              bool keep_data)
      : keep_data_(keep_data) {
    if (!std::filesystem::exists(binary)) {
      throw std::runtime_error(binary.string() +
                               " not found: build the release preset or give --server-binary");
    }
    std::string pattern =
        (std::filesystem::temp_directory_path() / "fleet-cmdr-load-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    target_.endpoint.port = FreePort();
    target_.admin_token = RandomHex(32);
    std::vector<std::string> args = {
        binary.string(), "serve",
        "--listen",      fmt::format("127.0.0.1:{}", target_.endpoint.port),
        "--data-dir",    (dir_ / "data").string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    const auto log_path = (dir_ / "fleet-cmdr.log").string();
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the generator
      Exec(args, log_path, target_.admin_token);
    }
    target_.pid = pid;
    WaitUntilHealthy();
    std::cerr << fmt::format("started {} (pid {}) on port {}, data and log in {}\n",
                             binary.string(), pid, target_.endpoint.port, dir_.string());
  }
  ~LocalServer() {
    kill(*target_.pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(*target_.pid, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (waitpid(*target_.pid, &status, WNOHANG) == 0) {
      kill(*target_.pid, SIGKILL);
      waitpid(*target_.pid, &status, 0);
    }
    std::error_code ec;
    if (!keep_data_) std::filesystem::remove_all(dir_, ec);
  }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  const Target& target() const { return target_; }

 private:
  [[noreturn]] static void Exec(const std::vector<std::string>& args, const std::string& log_path,
                                const std::string& admin_token) {
    setenv("FLEET_CMDR_ADMIN_TOKEN", admin_token.c_str(), 1);
    if (std::freopen(log_path.c_str(), "w", stdout) == nullptr) _exit(126);
    dup2(STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> argv;
    for (const auto& arg : args)
      argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }

  static std::uint16_t FreePort() {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
  }

  void WaitUntilHealthy() {
    const auto deadline = Steady::now() + std::chrono::seconds(30);
    while (Steady::now() < deadline) {
      int status = 0;
      if (waitpid(*target_.pid, &status, WNOHANG) != 0) {
        throw std::runtime_error("fleet-cmdr exited at start; see " +
                                 (dir_ / "fleet-cmdr.log").string());
      }
      try {
        asio::io_context io;
        beast::tcp_stream stream(io);
        stream.connect({asio::ip::make_address("127.0.0.1"), target_.endpoint.port});
        http::request<http::empty_body> request{http::verb::get, "/healthz", 11};
        http::write(stream, request);
        beast::flat_buffer buffer;
        http::response<http::string_body> response;
        http::read(stream, buffer, response);
        if (response.result_int() == 200) return;
      } catch (const std::exception&) {
        // not listening yet
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("fleet-cmdr did not become healthy within 30 s");
  }

  Target target_;
  std::filesystem::path dir_;
  bool keep_data_ = false;
};

// ---- Setting up a fleet: tokens and agents through the operator API (protocol.md §2, §5) ----

struct Agent {
  std::string id;
  std::string token;
};

class Fleet {
 public:
  Fleet(asio::io_context& io, Target target) : io_(io), target_(std::move(target)) {}

  const Target& target() const { return target_; }
  Connection Connect() { return Connection(io_.get_executor(), target_.endpoint); }

  // `count` new tokens of `role`. Each token has its own rate-limit bucket (protocol.md §1 429),
  // so load from many simulated operators is spread over many tokens.
  awaitable<std::vector<std::string>> CreateTokens(protocol::Role role, int count) {
    auto connection = Connect();
    std::vector<std::string> tokens;
    for (int i = 0; i < count; ++i) {
      // Bodies are built before co_await: g++ 12 mis-destroys aggregate temporaries inside a
      // co_await expression.
      protocol::TokenCreateRequest create;
      create.role = role;
      create.name = fmt::format("load-{}-{}", protocol::ToString(role), i);
      auto body = protocol::ToJson(create);
      auto reply = co_await connection.SendPatiently(http::verb::post, "/v1/tokens",
                                                     target_.admin_token, std::move(body));
      if (reply.status != 201) throw Unexpected("POST /v1/tokens", reply);
      tokens.push_back(Decode<protocol::TokenCreated>("POST /v1/tokens", reply).token);
    }
    co_return tokens;
  }

  // Enrolls agents prefix-0 .. prefix-(count-1), `concurrency` at a time, and (if `hello`) says
  // hello for each with the benchmark's job type and maxParallel 1.
  awaitable<std::vector<Agent>> Enroll(std::string prefix, int count, bool hello) {
    if (admin_tokens_.empty()) admin_tokens_ = co_await CreateTokens(protocol::Role::kAdmin, 32);
    std::vector<Agent> agents(static_cast<std::size_t>(count));
    std::atomic<int> next{0};
    constexpr int kConcurrency = 32;
    auto enroller = [&](std::size_t worker) -> awaitable<void> {
      auto connection = Connect();
      const auto& admin = admin_tokens_[worker % admin_tokens_.size()];
      for (int i = next++; i < count; i = next++) {
        auto& agent = agents[static_cast<std::size_t>(i)];
        agent.id = fmt::format("{}-{}", prefix, i);
        protocol::EnrollRequest enroll;
        enroll.agent_id = agent.id;
        auto body = protocol::ToJson(enroll);
        auto reply = co_await connection.SendPatiently(http::verb::post, "/v1/agents", admin,
                                                       std::move(body));
        if (reply.status != 201) throw Unexpected("POST /v1/agents", reply);
        agent.token = Decode<protocol::EnrollResponse>("POST /v1/agents", reply).token;
        if (hello) co_await Hello(connection, agent);
      }
    };
    auto all = enroller(0);
    for (std::size_t w = 1; w < kConcurrency; ++w)
      all = std::move(all) && enroller(w);
    co_await std::move(all);
    co_return agents;
  }

  awaitable<void> Hello(Connection& connection, const Agent& agent) {
    protocol::HelloRequest hello;
    hello.agent_version = "load-generator";
    hello.job_types = {std::string(kJobType)};
    hello.max_parallel = 1;
    auto path = AgentPath(agent, "hello");
    auto body = protocol::ToJson(hello);
    auto reply =
        co_await connection.Send(http::verb::post, std::move(path), agent.token, std::move(body));
    if (reply.status != 200) throw Unexpected("POST hello", reply);
  }

  // POST /v1/jobs: a cheap job for `agent_id`; returns the reply (201 expected).
  static awaitable<Reply> CreateJob(Connection& connection, std::string_view operator_token,
                                    const std::string& agent_id) {
    protocol::CreateJobRequest create;
    create.agent_id = agent_id;
    create.type = std::string(kJobType);
    create.instance_id = "mc-1";
    create.payload_json = std::string(kJobPayload);
    auto body = protocol::ToJson(create);
    co_return co_await connection.Send(http::verb::post, "/v1/jobs", operator_token,
                                       std::move(body));
  }

  // One agent cycle: jobs/next, then (if a job came) one final COMPLETED update.
  // Returns false when the agent got 204 (nothing dispatchable).
  static awaitable<bool> TakeOneJob(Connection& connection, const Agent& agent) {
    auto next_path = AgentPath(agent, "jobs/next");
    auto next = co_await connection.Send(http::verb::post, std::move(next_path), agent.token,
                                         R"({"running":[]})");
    if (next.status == 204) co_return false;
    if (next.status != 200) throw Unexpected("POST jobs/next", next);
    const auto execution = Decode<protocol::JobExecution>("jobs/next", next);
    protocol::UpdatesRequest updates;
    protocol::FinalUpdate final_update;
    final_update.seq = 1;
    final_update.status = protocol::RunStatus::kCompleted;
    final_update.result_json = "{}";
    final_update.timestamp = std::chrono::system_clock::now();
    updates.final_update = final_update;
    auto path = AgentPath(agent, "runs/" + execution.run_id + "/updates");
    auto body = protocol::ToJson(updates);
    auto done =
        co_await connection.Send(http::verb::post, std::move(path), agent.token, std::move(body));
    if (done.status != 200) throw Unexpected("POST updates", done);
    co_return true;
  }

  static std::string AgentPath(const Agent& agent, std::string_view rest) {
    return fmt::format("/v1/agents/{}/{}", agent.id, rest);
  }

  // The server's fleet_cmdr_notify_waiters gauge (held long-polls).
  awaitable<long> HeldNotifies(Connection& connection) {
    auto reply =
        co_await connection.SendPatiently(http::verb::get, "/metrics", target_.admin_token);
    const std::string_view name = "\nfleet_cmdr_notify_waiters ";
    const auto at = reply.body.find(name);
    if (at == std::string::npos) co_return -1;
    co_return std::atol(reply.body.c_str() + at + name.size());
  }

 private:
  asio::io_context& io_;
  Target target_;
  std::vector<std::string> admin_tokens_;
};

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

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

    const auto enqueue_cpu = SampleCpu(fleet_.target().pid);
    auto producers = Producer();
    for (int p = 1; p < options_.producers; ++p)
      producers = std::move(producers) && Producer();
    co_await std::move(producers);
    const auto enqueued_cpu = SampleCpu(fleet_.target().pid);

    const auto consume_cpu = SampleCpu(fleet_.target().pid);
    auto consumers = Consumer(0);
    for (std::size_t a = 1; a < agents_.size(); ++a)
      consumers = std::move(consumers) && Consumer(a);
    co_await std::move(consumers);
    const auto consumed_cpu = SampleCpu(fleet_.target().pid);

    Report(CpuUse::Between(enqueue_cpu, enqueued_cpu), CpuUse::Between(consume_cpu, consumed_cpu),
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
    auto connection = fleet_.Connect();
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
    std::cout << "| fleet-cmdr | SQLite WAL, group commit, " << options_.agents << " agents | "
              << options_.jobs
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
};

class W2Latency {
 public:
  W2Latency(asio::io_context& io, Fleet& fleet, W2Options options)
      : io_(io), fleet_(fleet), options_(options), tasks_(io) {}

  void Run(int threads) {
    tasks_.Spawn(Main());
    RunLoop(io_, threads);
    tasks_.Check();
  }

 private:
  awaitable<void> Main() {
    const auto measured_agents = co_await fleet_.Enroll("w2-measured", 1, true);
    const auto& measured = measured_agents.front();
    const auto operator_tokens = co_await fleet_.CreateTokens(protocol::Role::kOperator, 1);
    const auto& operator_token = operator_tokens.front();
    const auto idle = co_await fleet_.Enroll("w2-idle", options_.idle_agents, false);
    std::cerr << fmt::format("w2: {} idle agents enrolled, connecting\n", idle.size());
    for (const auto& agent : idle) {
      auto connection = std::make_shared<Connection>(fleet_.Connect());
      co_await connection->Connect();
      tasks_.Spawn(IdleAgent(connection, agent));
    }
    auto metrics = fleet_.Connect();
    // Idle agents whose wait just ran out are briefly not held: 99% is "all of them".
    while (co_await fleet_.HeldNotifies(metrics) < options_.idle_agents * 99 / 100) {
      co_await Pause(std::chrono::milliseconds(200));
    }
    const long held = co_await fleet_.HeldNotifies(metrics);
    std::cerr << fmt::format("w2: {} notify long-polls held\n", held);

    auto agent_connection = fleet_.Connect();
    auto notify_connection = fleet_.Connect();
    auto operator_connection = fleet_.Connect();
    std::vector<double> latencies_ms;
    const auto from = SampleCpu(fleet_.target().pid);
    for (int i = 0; i < options_.samples; ++i) {
      const auto [arrived, sent] =
          co_await (WaitForNotify(notify_connection, measured) &&
                    CreateAfterPause(operator_connection, operator_token, measured.id));
      latencies_ms.push_back(Millis(arrived - sent));
      if (!co_await Fleet::TakeOneJob(agent_connection, measured)) {
        throw std::runtime_error("w2: the measured agent found no job after its notify");
      }
    }
    const auto cpu = CpuUse::Between(from, SampleCpu(fleet_.target().pid));
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
  awaitable<void> IdleAgent(std::shared_ptr<Connection> connection, Agent agent) {
    int wait =
        1 + static_cast<int>(RandomU64() % static_cast<std::uint64_t>(options_.wait_seconds));
    for (;;) {
      auto path = Fleet::AgentPath(agent, fmt::format("notify?wait={}", wait));
      auto reply = co_await connection->Send(http::verb::get, std::move(path), agent.token);
      if (reply.status != 200) throw Unexpected("idle GET notify", reply);
      ++idle_answers_;
      wait = options_.wait_seconds;
    }
  }

  void Report(std::vector<double> latencies_ms, const CpuUse& cpu) {
    std::sort(latencies_ms.begin(), latencies_ms.end());
    std::cerr << fmt::format(
        "w2: {} samples, idle notify answers during the run {}, cores client/server/other {}, "
        "server {:.0f} us/sample, load average {}\n",
        latencies_ms.size(), idle_answers_.load(), cpu.Cores(),
        cpu.MicrosPer(static_cast<std::int64_t>(latencies_ms.size())), LoadAverage());
    std::cout << fmt::format(
        "| fleet-cmdr | notify?wait={}, {} idle agents long-polling | {} | {:.2f} | {:.2f} | "
        "{:.2f} | {:.2f} |\n",
        options_.wait_seconds, options_.idle_agents, latencies_ms.size(),
        Percentile(latencies_ms, 50), Percentile(latencies_ms, 95), Percentile(latencies_ms, 99),
        latencies_ms.back());
  }

  asio::io_context& io_;
  Fleet& fleet_;
  W2Options options_;
  TaskGroup tasks_;
  std::atomic<long> idle_answers_{0};
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
      auto connection = std::make_shared<Connection>(fleet_.Connect());
      co_await connection->Connect();
      tasks.Spawn(Poller(connection, agent));
    }
    co_await Pause(std::chrono::seconds(options_.warmup_seconds));
    const long before = answered_;
    const auto from = SampleCpu(fleet_.target().pid);
    co_await Pause(std::chrono::seconds(options_.seconds));
    const long answers = answered_ - before;
    const auto to = SampleCpu(fleet_.target().pid);
    stop_ = true;
    const auto cpu = CpuUse::Between(from, to);
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
  std::optional<LocalServer> local;
  Target target;
  if (common.server.empty()) {
    local.emplace(common.server_binary, common.server_args, common.keep_data);
    target = local->target();
  } else {
    target = ExternalTarget(common);
  }
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
