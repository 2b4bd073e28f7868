// agent_latency: from POST /v1/jobs to the agent's handler starting (docs/benchmarks.md).
//
// One in-process fleet-cmdr (SQLite in a temporary dir, 127.0.0.1:0) and one in-process agent,
// long-polling, with a handler that records when it starts and returns at once. Each sample stamps
// the time just before sending the create and stops when the handler starts; after the run has
// finished (the agent is back in its long-poll) it waits 10 ms before the next one.
//
//   agent_latency [--samples N]      prints p50/p95/p99/max in ms as a markdown row
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "agent/agent.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "net/http_client.hpp"
#include "protocol/codec.hpp"
#include "server/fleet_cmdr.hpp"

namespace {

using Steady = std::chrono::steady_clock;

// Records each start; returns at once.
class StampHandler final : public orb::jobs::JobHandler {
 public:
  std::string_view type() const override { return "VERIFY_BACKUP"; }
  orb::Expected<std::string> Run(orb::jobs::HandlerContext&) override {
    const auto now = Steady::now();
    {
      const std::lock_guard lock(mutex_);
      starts_.push_back(now);
    }
    changed_.notify_all();
    return std::string("{}");
  }
  // Waits for start number `n` (1-based); nullopt after 10 s.
  std::optional<Steady::time_point> WaitForStart(std::size_t n) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, std::chrono::seconds(10), [&] { return starts_.size() >= n; }))
      return std::nullopt;
    return starts_[n - 1];
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Steady::time_point> starts_;
};

double Percentile(std::vector<double> sorted, double p) {
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "agent_latency: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"create -> handler start latency of orb-jobs-agent against fleet-cmdr"};
  int samples = 500;
  app.add_option("--samples", samples, "how many jobs to time")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);
  orb::SetupLogging(orb::LogFormat::kText,
                    std::getenv("ORB_BENCH_LOG") ? std::getenv("ORB_BENCH_LOG") : "warn");

  char dir_template[] = "/tmp/orb-agent-latency-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) return Fail("mkdtemp failed");
  const std::filesystem::path dir(dir_template);

  orb::server::FleetCmdrOptions options;
  options.port = 0;
  options.data_dir = dir / "cmdr";
  auto cmdr = orb::server::FleetCmdr::Create(options, orb::RealClock());
  if (!cmdr) return Fail(cmdr.error().Describe());
  if (auto started = (*cmdr)->Start(); !started) return Fail(started.error().Describe());
  const std::string url = "http://127.0.0.1:" + std::to_string((*cmdr)->port());
  std::string admin_token;
  std::getline(std::ifstream(options.data_dir / "admin.token"), admin_token);

  orb::net::HttpClient admin({url, admin_token});
  auto enrolled = admin.Send(
      {"POST", "/v1/agents", orb::protocol::ToJson(orb::protocol::EnrollRequest{"bench-1", {}})});
  if (!enrolled || enrolled->status != 201) return Fail("cannot enroll the agent");
  const auto enrollment = orb::protocol::FromJson<orb::protocol::EnrollResponse>(enrolled->body);
  if (!enrollment) return Fail(enrollment.error().Describe());

  orb::agent::AgentOptions agent_options;
  agent_options.config.servers = {url};
  agent_options.config.agent_id = "bench-1";
  agent_options.config.root = dir / "root";
  agent_options.config.state_dir = dir / "state";
  agent_options.config.max_parallel = 1;
  agent_options.token = enrollment->token;
  auto handler = std::make_unique<StampHandler>();
  auto* stamps = handler.get();
  std::vector<std::unique_ptr<orb::jobs::JobHandler>> handlers;
  handlers.push_back(std::move(handler));
  orb::agent::Agent agent(agent_options, std::move(handlers), orb::RealClock());
  std::thread loop([&] { (void)agent.Run(); });
  while (agent.notify_calls() < 1)
    std::this_thread::yield();

  orb::protocol::CreateJobRequest create;
  create.agent_id = "bench-1";
  create.type = "VERIFY_BACKUP";
  create.instance_id = "mc-1";
  create.payload_json = R"({"backupId":"b1"})";
  const std::string body = orb::protocol::ToJson(create);
  std::vector<double> latencies_ms;
  for (int i = 1; i <= samples; ++i) {
    const int polls_before = agent.notify_calls();
    const auto sent = Steady::now();
    auto created = admin.Send({"POST", "/v1/jobs", body});
    if (!created || created->status != 201) return Fail("create failed");
    const auto started = stamps->WaitForStart(static_cast<std::size_t>(i));
    if (!started) return Fail("the handler did not start within 10 s");
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(*started - sent).count());
    // Back in its long-poll (the run is reported and jobs/next said 204), then 10 ms of quiet.
    while (agent.notify_calls() <= polls_before)
      std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  agent.Stop();
  loop.join();
  (*cmdr)->Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::printf("| create → handler start | %d | %.2f | %.2f | %.2f | %.2f |\n", samples,
              Percentile(latencies_ms, 0.50), Percentile(latencies_ms, 0.95),
              Percentile(latencies_ms, 0.99), latencies_ms.back());
  return 0;
}
