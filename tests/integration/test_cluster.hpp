#pragma once

// A real fleet-cmdr for tests: FleetCmdr on 127.0.0.1:0 with its data dir in a TempDir, over SQLite
// there or a fresh PostgreSQL database (TestStore, integration/test_store.hpp), plus clients that
// speak its APIs over real HTTP (an operator client and test-side agents).

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "integration/test_store.hpp"
#include "net/http_client.hpp"
#include "protocol/types.hpp"
#include "server/fleet_cmdr.hpp"
#include "support/temp_dir.hpp"

namespace orb::testing {

struct Reply {
  int status = 0;
  std::string body;
  std::string error_code;  // the §1 error code when status >= 400
  std::optional<std::string> retry_after;
};

// Blocking HTTP calls with a bearer token; fails the test on a transport error.
class ApiClient {
 public:
  ApiClient(std::uint16_t port, std::optional<std::string> token);
  Reply Call(const std::string& method, const std::string& target, const std::string& body = "",
             std::optional<std::chrono::milliseconds> timeout = std::nullopt,
             const std::string& content_type = "application/json");
  Reply Get(const std::string& target) { return Call("GET", target); }
  Reply Post(const std::string& target, const std::string& body = "{}") {
    return Call("POST", target, body);
  }

 private:
  net::HttpClient client_;
};

// A test-side agent that speaks protocol.md §4 step by step.
class FakeAgent {
 public:
  FakeAgent(std::uint16_t port, std::string agent_id, std::string token);
  Reply Hello(const std::vector<std::string>& job_types, int max_parallel = 4,
              const std::string& interrupted_json = "[]");
  Reply Notify(int wait_seconds);
  // 200 with a JobExecution, or 204.
  Reply Next();
  std::optional<protocol::JobExecution> NextJob();
  Reply Update(const std::string& run_id, const std::string& body);
  Reply Complete(const std::string& run_id, std::int64_t seq = 100,
                 const std::string& result = R"({"ok":true})");
  Reply Fail(const std::string& run_id, bool retryable, std::int64_t seq = 100);

  const std::string& id() const { return id_; }
  ApiClient& client() { return client_; }

 private:
  std::string id_;
  ApiClient client_;
};

class TestCluster {
 public:
  explicit TestCluster(server::FleetCmdrOptions options = DefaultOptions());
  ~TestCluster();

  static server::FleetCmdrOptions DefaultOptions();

  void Restart();  // Stop + Create + Start on the same data dir and store (a clean restart)
  // Restart in two halves, for an outage of a chosen length: the port stays reserved meanwhile
  // only by convention (nothing else binds it in these tests).
  void Stop();
  void StartAgain();
  std::uint16_t port() const { return cmdr_->port(); }
  const std::string& admin_token() const { return admin_token_; }
  const std::filesystem::path& data_dir() const { return options_.data_dir; }
  const TestStore& store() const { return store_; }
  ApiClient& admin() { return *admin_; }
  server::FleetCmdr& cmdr() { return *cmdr_; }

  // Enrolls an agent, returns its token.
  std::string Enroll(const std::string& agent_id, const protocol::Labels& labels = {});
  FakeAgent& StartAgent(const std::string& agent_id, const std::vector<std::string>& job_types,
                        int max_parallel = 4);
  // POST /v1/jobs; returns the job (fails the test on an error status).
  protocol::Job Enqueue(const std::string& body);
  protocol::Job Job(const std::string& job_id);
  std::string Status(const std::string& job_id);
  std::string CreateToken(const std::string& role);

 private:
  TempDir dir_;
  TestStore store_;  // outlives cmdr_: the database is dropped last
  server::FleetCmdrOptions options_;
  std::unique_ptr<server::FleetCmdr> cmdr_;
  std::uint16_t stopped_port_ = 0;
  std::string admin_token_;
  std::unique_ptr<ApiClient> admin_;
  std::vector<std::unique_ptr<FakeAgent>> agents_;
};

// {"agentId":..,"type":..,"instanceId":..,"payload":..} for the common case.
std::string JobBody(const std::string& agent_id, const std::string& type,
                    const std::string& instance_id, const std::string& payload = "{}",
                    const std::string& extra = "");

}  // namespace orb::testing
