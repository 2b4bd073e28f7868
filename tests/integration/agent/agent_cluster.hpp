#pragma once

// An in-process fleet-cmdr (orb::server::FleetCmdr on 127.0.0.1:0, TempDir data dir) plus
// in-process agents with test-defined handlers. The only place that touches FleetCmdr's API:
// adapt StartFleetCmdr() if that class's interface differs.

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>

#include "agent/agent.hpp"
#include "common/clock.hpp"
#include "net/http_client.hpp"
#include "protocol/codec.hpp"
#include "server/fleet_cmdr.hpp"
#include "support/build_paths.hpp"
#include "support/child_process.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {

class AgentCluster {
 public:
  using Configure = std::function<void(server::FleetCmdrOptions&)>;

  explicit AgentCluster(Configure configure = {}) : configure_(std::move(configure)) {
    StartFleetCmdr();
  }
  ~AgentCluster() {
    for (auto& agent : agents_)
      StopAgent(*agent);
    StopFleetCmdr();
  }

  void StartFleetCmdr() {
    server::FleetCmdrOptions options;
    options.address = "127.0.0.1";
    options.port = port_;  // 0 at first; the same port again after a restart
    options.data_dir = data_.path();
    if (configure_) configure_(options);
    auto created = server::FleetCmdr::Create(options, RealClock());
    ASSERT_TRUE(created.has_value()) << created.error().Describe();
    fleet_ = std::move(*created);
    auto started = fleet_->Start();
    ASSERT_TRUE(started.has_value()) << started.error().Describe();
    port_ = fleet_->port();
    std::ifstream in(data_.path() / "admin.token");
    std::getline(in, admin_token_);
  }
  void StopFleetCmdr() {
    if (fleet_) fleet_->Stop();
    fleet_.reset();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const { return port_; }
  const std::string& admin_token() const { return admin_token_; }

  // POST/GET with the admin token; returns {status, body}.
  std::pair<int, std::string> Admin(const std::string& method, const std::string& target,
                                    const std::string& body = "") {
    return CallAs(admin_token_, method, target, body);
  }

  // The same with `token` (a viewer's, an agent's, another agent's, ...).
  std::pair<int, std::string> CallAs(const std::string& token, const std::string& method,
                                     const std::string& target, const std::string& body = "") {
    net::ClientOptions options;
    options.base_url = url();
    options.bearer_token = token;
    net::HttpClient client(options);
    net::ClientRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    auto response = client.Send(request);
    if (!response) return {0, response.error().Describe()};
    return {response->status, response->body};
  }

  std::string Enroll(const std::string& agent_id) {
    auto [status, body] =
        Admin("POST", "/v1/agents", protocol::ToJson(protocol::EnrollRequest{agent_id, {}}));
    EXPECT_EQ(status, 201) << body;
    auto enrolled = protocol::FromJson<protocol::EnrollResponse>(body);
    if (enrolled) tokens_[agent_id] = enrolled->token;
    return enrolled ? enrolled->token : "";
  }

  std::string Enqueue(const std::string& agent_id, const std::string& type,
                      const std::string& instance, const std::string& payload,
                      int timeout_seconds = 60, int max_attempts = 1) {
    protocol::CreateJobRequest request;
    request.agent_id = agent_id;
    request.type = type;
    request.instance_id = instance;
    request.payload_json = payload;
    request.timeout_seconds = timeout_seconds;
    request.max_attempts = max_attempts;
    request.retry_backoff_seconds = 1;  // the smallest allowed: a retry is queued after ~1 s
    auto [status, body] = Admin("POST", "/v1/jobs", protocol::ToJson(request));
    EXPECT_EQ(status, 201) << body;
    auto job = protocol::FromJson<protocol::Job>(body);
    return job ? job->id : "";
  }

  std::optional<protocol::JobDetail> Job(const std::string& id) {
    auto [status, body] = Admin("GET", "/v1/jobs/" + id);
    auto detail = protocol::FromJson<protocol::JobDetail>(body);
    if (status != 200 || !detail) return std::nullopt;
    return *detail;
  }
  std::string Status(const std::string& id) {
    auto detail = Job(id);
    return detail ? std::string(protocol::ToString(detail->job.status)) : "?";
  }
  // The code of the job's last error, "" when none.
  std::string LastError(const std::string& id) {
    auto detail = Job(id);
    return detail && detail->job.last_error ? detail->job.last_error->code : "";
  }
  std::vector<protocol::JobLogLine> Logs(const std::string& id) {
    auto [status, body] = Admin("GET", "/v1/jobs/" + id + "/logs");
    auto logs = protocol::FromJson<protocol::JobLogs>(body);
    return logs ? logs->lines : std::vector<protocol::JobLogLine>{};
  }

  struct RunningAgent {
    TempDir dir;
    std::unique_ptr<agent::Agent> agent;
    std::thread thread;
    orb::Status result;
  };

  // `configure` may change the options last (other servers, failover times).
  RunningAgent& StartAgent(const std::string& agent_id,
                           std::vector<std::unique_ptr<jobs::JobHandler>> handlers,
                           bool long_poll = true, int max_parallel = 4,
                           const std::function<void(agent::AgentOptions&)>& configure = {}) {
    auto running = std::make_unique<RunningAgent>();
    agent::AgentOptions options;
    options.config.servers = {url()};
    options.config.agent_id = agent_id;
    options.config.token_file = running->dir / "token";
    options.config.root = running->dir / "root";
    options.config.state_dir = running->dir / "state";
    options.config.long_poll = long_poll;
    options.config.max_parallel = max_parallel;
    options.token = tokens_.count(agent_id) > 0 ? tokens_[agent_id] : Enroll(agent_id);
    options.retry_initial_delay = std::chrono::milliseconds(50);
    options.retry_max_delay = std::chrono::milliseconds(500);
    options.flush_timeout = std::chrono::seconds(10);
    if (configure) configure(options);
    running->agent =
        std::make_unique<agent::Agent>(std::move(options), std::move(handlers), RealClock());
    auto* raw = running.get();
    raw->thread = std::thread([raw] { raw->result = raw->agent->Run(); });
    agents_.push_back(std::move(running));
    EXPECT_TRUE(WaitFor([raw] { return raw->agent->ready(); }, std::chrono::seconds(10)));
    return *raw;
  }

  static void StopAgent(RunningAgent& running) {
    if (!running.thread.joinable()) return;
    running.agent->Stop();
    running.thread.join();
  }

  // The token of an enrolled agent (enrolling it first if needed).
  std::string TokenOf(const std::string& agent_id) {
    return tokens_.count(agent_id) > 0 ? tokens_[agent_id] : Enroll(agent_id);
  }

 private:
  Configure configure_;
  TempDir data_;
  std::unique_ptr<server::FleetCmdr> fleet_;
  std::uint16_t port_ = 0;
  std::string admin_token_;
  std::map<std::string, std::string> tokens_;
  std::vector<std::unique_ptr<RunningAgent>> agents_;
};

// A real agent program as a child process, for kill -9 and SIGTERM: by default the testbed
// (tests/integration/agent/testbed_main.cpp: AgentMain with a test handler), or `binary` (the
// shipped orb-jobs-agent) with `extra_flags`. Its root and state dir live in `dir` and survive a
// restart.
class AgentProcess {
 public:
  AgentProcess(const std::filesystem::path& dir, std::string server, std::string agent_id,
               const std::string& token, std::string binary = ORB_AGENT_TESTBED_BIN,
               std::vector<std::string> extra_flags = {})
      : dir_(dir),
        server_(std::move(server)),
        agent_id_(std::move(agent_id)),
        binary_(std::move(binary)),
        extra_flags_(std::move(extra_flags)) {
    std::ofstream(dir_ / "token") << token << '\n';
  }
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  bool Start() {
    std::vector<std::string> args = {binary_,
                                     "--server",
                                     server_,
                                     "--agent-id",
                                     agent_id_,
                                     "--token-file",
                                     (dir_ / "token").string(),
                                     "--root",
                                     (dir_ / "root").string(),
                                     "--state-dir",
                                     (dir_ / "state").string(),
                                     "--log-level",
                                     "debug"};
    args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
    return process_.Start(std::move(args), output_);
  }
  // From the next Start on, the program's output (its log) is appended to `path`.
  void CaptureOutput(std::filesystem::path path) { output_ = std::move(path); }
  void Kill(int signal) { process_.Kill(signal); }
  int Wait(std::chrono::milliseconds timeout) { return process_.Wait(timeout); }

  std::filesystem::path root() const { return dir_ / "root"; }
  std::filesystem::path state() const { return dir_ / "state"; }

  // The run ids the handler has started (root/started-<runId>).
  std::vector<std::string> StartedRuns() const {
    std::vector<std::string> runs;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root(), ec)) {
      const auto name = entry.path().filename().string();
      if (name.rfind("started-", 0) == 0) runs.push_back(name.substr(8));
    }
    return runs;
  }

 private:
  std::filesystem::path dir_;
  std::string server_;
  std::string agent_id_;
  std::string binary_;
  std::vector<std::string> extra_flags_;
  std::filesystem::path output_;
  ChildProcess process_;
};

}  // namespace orb::testing
