#pragma once

// The client side of bench/fleet_cmdr_load (docs/benchmarks.md, "fleet-cmdr"): HTTP/1.1
// keep-alive connections as coroutines, the fleet-cmdr under test (started here or given), and
// setting up a fleet through the operator API (tokens, agents). The workloads are in
// fleet_cmdr_load.cpp and orchestration_load.cpp.
//
// Outside src/, so it may use Beast/Asio directly (it links orb_net, which compiles them once).
// A benchmark, not a test: nothing here is checked automatically.

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
#include <functional>
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
#include "load_cpu.hpp"
#include "protocol/codec.hpp"
#include "protocol/types.hpp"

namespace orb::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using Steady = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

// A job type whose payload validates and whose lock is shared, so jobs of one agent never block
// each other in the dispatch rule; the simulated agents never run anything.
inline constexpr std::string_view kJobType = "VERIFY_BACKUP";
inline constexpr std::string_view kJobPayload = R"({"backupId":"b-1","level":"quick"})";

inline double Seconds(Steady::duration d) {
  return std::chrono::duration<double>(d).count();
}
inline double Millis(Steady::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
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

inline std::runtime_error Unexpected(std::string_view what, const Reply& reply) {
  return std::runtime_error(fmt::format("{}: HTTP {} {}", what, reply.status, reply.body));
}

template <class T>
T Decode(std::string_view what, const Reply& reply) {
  auto value = protocol::FromJson<T>(reply.body);
  if (!value) throw std::runtime_error(fmt::format("{}: {}", what, value.error().Describe()));
  return std::move(*value);
}

// Sleeps without blocking the event loop.
inline awaitable<void> Pause(Steady::duration duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(duration);
  co_await timer.async_wait(use_awaitable);
}

// Runs `task` detached; the first exception is kept and stops the run (`io`, and `also` when the
// run has a second loop).
class TaskGroup {
 public:
  explicit TaskGroup(asio::io_context& io, asio::io_context* also = nullptr)
      : io_(io), also_(also) {}
  void Spawn(awaitable<void> task) {
    asio::co_spawn(io_, std::move(task), [this](std::exception_ptr error) {
      if (!error || failed_.exchange(true)) return;
      // Coroutines joined with && that failed together nest multiple_exceptions: the first
      // innermost one says why.
      for (;;) {
        try {
          std::rethrow_exception(error);
        } catch (const asio::multiple_exceptions& several) {
          error = several.first_exception();
          continue;
        } catch (const std::exception& e) {
          message_ = e.what();
        }
        break;
      }
      io_.stop();
      if (also_ != nullptr) also_->stop();
    });
  }
  // Throws the first failure, if any.
  void Check() const {
    if (failed_) throw std::runtime_error(message_);
  }

 private:
  asio::io_context& io_;
  asio::io_context* also_;
  std::atomic<bool> failed_{false};
  std::string message_;
};

// Runs the io_context on `threads` threads until it runs out of work or is stopped.
inline void RunLoop(asio::io_context& io, int threads) {
  std::vector<std::thread> extra;
  for (int i = 1; i < threads; ++i)
    extra.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& thread : extra)
    thread.join();
}

// ---- The server under test ----

struct Target {
  Endpoint endpoint;        // operators' requests, setup
  Endpoint agent_endpoint;  // the agents' requests: another replica with --replicas 2
  std::string admin_token;
  std::optional<pid_t> pid;  // set when we started it: its CPU is measured
  Measured measured;         // every replica started here, and the database (--database-pid)
  std::string label;         // the row's first two columns (--label), or the default
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
  // A connection for an agent: to the agents' replica (the operators' one unless --replicas 2).
  Connection ConnectAgent() { return ConnectAgent(io_.get_executor()); }
  // The same on another loop's executor.
  Connection ConnectAgent(asio::any_io_executor executor) {
    return Connection(std::move(executor), target_.agent_endpoint);
  }
  CpuUse Between(const CpuSample& from, const CpuSample& to) const {
    return CpuUse::Between(from, to, target_.measured.database.has_value());
  }

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
  // hello for each with the benchmark's job type and maxParallel 1. `labels(i)`, when given, are
  // agent i's labels.
  awaitable<std::vector<Agent>> Enroll(std::string prefix, int count, bool hello,
                                       std::function<protocol::Labels(int)> labels = nullptr) {
    if (admin_tokens_.empty()) admin_tokens_ = co_await CreateTokens(protocol::Role::kAdmin, 32);
    std::vector<Agent> agents(static_cast<std::size_t>(count));
    std::atomic<int> next{0};
    constexpr int kConcurrency = 32;
    auto enroller = [&](std::size_t worker) -> awaitable<void> {
      auto connection = Connect();
      auto agent_connection = ConnectAgent();
      const auto& admin = admin_tokens_[worker % admin_tokens_.size()];
      for (int i = next++; i < count; i = next++) {
        auto& agent = agents[static_cast<std::size_t>(i)];
        agent.id = fmt::format("{}-{}", prefix, i);
        protocol::EnrollRequest enroll;
        enroll.agent_id = agent.id;
        if (labels) enroll.labels = labels(i);
        auto body = protocol::ToJson(enroll);
        auto reply = co_await connection.SendPatiently(http::verb::post, "/v1/agents", admin,
                                                       std::move(body));
        if (reply.status != 201) throw Unexpected("POST /v1/agents", reply);
        agent.token = Decode<protocol::EnrollResponse>("POST /v1/agents", reply).token;
        if (!hello) continue;
        // && cancels the other enrollers when one fails, and reports a cancellation: say why.
        std::string failure;
        try {
          co_await Hello(agent_connection, agent);
        } catch (const std::exception& e) {
          failure = e.what();
        }
        if (!failure.empty()) {
          std::cerr << "enroll " << agent.id << ": " << failure << "\n";
          throw std::runtime_error(failure);
        }
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
    const auto path = AgentPath(agent, "hello");
    const auto body = protocol::ToJson(hello);
    // On another replica than the one that enrolled it, the token is unknown (401) until that
    // replica's token feed has it: within 250 ms (docs/decisions/0016). Those 401s count as
    // failed authentications of this client's address, so 32 agents enrolled at once can run
    // into that replica's limit on them (429, Retry-After): wait and ask again too.
    const auto deadline = Steady::now() + std::chrono::seconds(15);
    for (;;) {
      auto reply = co_await connection.Send(http::verb::post, path, agent.token, body);
      if (reply.status == 200) break;
      if ((reply.status != 401 && reply.status != 429) || Steady::now() > deadline) {
        throw Unexpected("POST hello", reply);
      }
      co_await Pause(reply.status == 429 ? std::chrono::seconds(std::max(1, reply.retry_after))
                                         : std::chrono::milliseconds(50));
    }
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

  // The lines of the server's /metrics that contain `part`.
  awaitable<std::string> MetricLines(Connection& connection, std::string_view part) {
    auto reply =
        co_await connection.SendPatiently(http::verb::get, "/metrics", target_.admin_token);
    std::string lines;
    std::size_t from = 0;
    while (from < reply.body.size()) {
      auto end = reply.body.find('\n', from);
      if (end == std::string::npos) end = reply.body.size();
      const std::string_view line(reply.body.data() + from, end - from);
      if (line.find(part) != std::string_view::npos) lines.append(line).append("\n");
      from = end + 1;
    }
    co_return lines;
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
inline double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace orb::bench
