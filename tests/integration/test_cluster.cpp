#include "integration/test_cluster.hpp"

#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "protocol/api_error.hpp"
#include "protocol/codec.hpp"

namespace orb::testing {

ApiClient::ApiClient(std::uint16_t port, std::optional<std::string> token)
    : client_([&] {
        net::ClientOptions options;
        options.base_url = fmt::format("http://127.0.0.1:{}", port);
        options.bearer_token = std::move(token);
        options.request_timeout = std::chrono::seconds(30);
        return options;
      }()) {}

Reply ApiClient::Call(const std::string& method, const std::string& target, const std::string& body,
                      std::optional<std::chrono::milliseconds> timeout,
                      const std::string& content_type) {
  net::ClientRequest request;
  request.method = method;
  request.target = target;
  request.body = body;
  request.content_type = content_type;
  request.timeout = timeout;
  auto response = client_.Send(request);
  Reply reply;
  if (!response) {
    ADD_FAILURE() << method << " " << target << ": " << response.error().Describe();
    return reply;
  }
  reply.status = response->status;
  reply.body = response->body;
  reply.retry_after = response->Header("Retry-After");
  if (reply.status >= 400) {
    if (auto error = protocol::ErrorFromBodyJson(reply.body)) {
      reply.error_code = std::string(ToString(error->code));
    } else {
      ADD_FAILURE() << "error response without the §1 body: " << reply.body;
    }
  }
  return reply;
}

FakeAgent::FakeAgent(std::uint16_t port, std::string agent_id, std::string token)
    : id_(std::move(agent_id)), client_(port, std::move(token)) {}

Reply FakeAgent::Hello(const std::vector<std::string>& job_types, int max_parallel,
                       const std::string& interrupted_json) {
  std::string types;
  for (const auto& type : job_types)
    types += (types.empty() ? "\"" : ",\"") + type + "\"";
  return client_.Post(fmt::format("/v1/agents/{}/hello", id_),
                      fmt::format(R"({{"agentVersion":"test","jobTypes":[{}],"maxParallel":{},)"
                                  R"("labels":{{}},"interruptedRuns":{}}})",
                                  types, max_parallel, interrupted_json));
}

Reply FakeAgent::Notify(int wait_seconds) {
  return client_.Call("GET", fmt::format("/v1/agents/{}/notify?wait={}", id_, wait_seconds), "",
                      std::chrono::seconds(wait_seconds + 10));
}

Reply FakeAgent::Next() {
  return client_.Post(fmt::format("/v1/agents/{}/jobs/next", id_), R"({"running":[]})");
}

std::optional<protocol::JobExecution> FakeAgent::NextJob() {
  auto reply = Next();
  if (reply.status != 200) return std::nullopt;
  auto execution = protocol::FromJson<protocol::JobExecution>(reply.body);
  if (!execution) {
    ADD_FAILURE() << "bad JobExecution: " << reply.body;
    return std::nullopt;
  }
  return *execution;
}

Reply FakeAgent::Update(const std::string& run_id, const std::string& body) {
  return client_.Post(fmt::format("/v1/agents/{}/runs/{}/updates", id_, run_id), body);
}

Reply FakeAgent::Complete(const std::string& run_id, std::int64_t seq, const std::string& result) {
  return Update(run_id,
                fmt::format(R"({{"updates":[],"logs":[],"final":{{"seq":{},"status":"COMPLETED",)"
                            R"("result":{},"timestamp":"2026-11-22T10:00:00.000Z"}}}})",
                            seq, result));
}

Reply FakeAgent::Fail(const std::string& run_id, bool retryable, std::int64_t seq) {
  return Update(
      run_id,
      fmt::format(R"({{"updates":[],"logs":[],"final":{{"seq":{},"status":"FAILED",)"
                  R"("error":{{"code":"network_error","message":"boom","stack":["download"],)"
                  R"("retryable":{}}},"timestamp":"2026-11-22T10:00:00.000Z"}}}})",
                  seq, retryable ? "true" : "false"));
}

server::FleetCmdrOptions TestCluster::DefaultOptions() {
  server::FleetCmdrOptions options;
  options.port = 0;
  options.tick = std::chrono::milliseconds(20);
  options.worker_threads = 4;
  return options;
}

TestCluster::TestCluster(server::FleetCmdrOptions options) : options_(std::move(options)) {
  options_.data_dir = dir_.path() / "cmdr";
  options_.store_url = store_.url();
  auto cmdr = server::FleetCmdr::Create(options_, RealClock());
  if (!cmdr) throw std::runtime_error("FleetCmdr::Create: " + cmdr.error().Describe());
  cmdr_ = std::move(*cmdr);
  if (auto started = cmdr_->Start(); !started) {
    throw std::runtime_error("FleetCmdr::Start: " + started.error().Describe());
  }
  std::ifstream in(options_.data_dir / "admin.token");
  std::getline(in, admin_token_);
  admin_ = std::make_unique<ApiClient>(port(), admin_token_);
}

TestCluster::~TestCluster() {
  agents_.clear();
  admin_.reset();
  if (cmdr_) cmdr_->Stop();
}

void TestCluster::Restart() {
  Stop();
  StartAgain();
}

void TestCluster::Stop() {
  stopped_port_ = port();
  cmdr_->Stop();
  cmdr_.reset();
}

void TestCluster::StartAgain() {
  auto options = options_;
  options.port = stopped_port_;  // agents and clients keep their address
  auto cmdr = server::FleetCmdr::Create(options, RealClock());
  if (!cmdr) throw std::runtime_error("FleetCmdr::Create: " + cmdr.error().Describe());
  cmdr_ = std::move(*cmdr);
  if (auto started = cmdr_->Start(); !started) {
    throw std::runtime_error("FleetCmdr::Start: " + started.error().Describe());
  }
  admin_ = std::make_unique<ApiClient>(port(), admin_token_);
}

std::string TestCluster::Enroll(const std::string& agent_id, const protocol::Labels& labels) {
  auto reply =
      admin_->Post("/v1/agents", protocol::ToJson(protocol::EnrollRequest{agent_id, labels}));
  EXPECT_EQ(reply.status, 201) << reply.body;
  auto enrolled = protocol::FromJson<protocol::EnrollResponse>(reply.body);
  if (!enrolled) {
    ADD_FAILURE() << reply.body;
    return "";
  }
  return enrolled->token;
}

FakeAgent& TestCluster::StartAgent(const std::string& agent_id,
                                   const std::vector<std::string>& job_types, int max_parallel) {
  auto token = Enroll(agent_id);
  agents_.push_back(std::make_unique<FakeAgent>(port(), agent_id, token));
  auto hello = agents_.back()->Hello(job_types, max_parallel);
  EXPECT_EQ(hello.status, 200) << hello.body;
  return *agents_.back();
}

protocol::Job TestCluster::Enqueue(const std::string& body) {
  auto reply = admin_->Post("/v1/jobs", body);
  EXPECT_TRUE(reply.status == 201 || reply.status == 200) << reply.status << " " << reply.body;
  auto job = protocol::FromJson<protocol::Job>(reply.body);
  if (!job) {
    ADD_FAILURE() << "not a job: " << reply.body;
    return {};
  }
  return *job;
}

protocol::Job TestCluster::Job(const std::string& job_id) {
  auto reply = admin_->Get("/v1/jobs/" + job_id);
  auto detail = protocol::FromJson<protocol::JobDetail>(reply.body);
  if (!detail) {
    ADD_FAILURE() << "GET job: " << reply.status << " " << reply.body;
    return {};
  }
  return detail->job;
}

std::string TestCluster::Status(const std::string& job_id) {
  return std::string(protocol::ToString(Job(job_id).status));
}

std::string TestCluster::CreateToken(const std::string& role) {
  auto reply =
      admin_->Post("/v1/tokens", fmt::format(R"({{"role":"{}","name":"test {}"}})", role, role));
  EXPECT_EQ(reply.status, 201) << reply.body;
  auto created = protocol::FromJson<protocol::TokenCreated>(reply.body);
  return created ? created->token : "";
}

std::string JobBody(const std::string& agent_id, const std::string& type,
                    const std::string& instance_id, const std::string& payload,
                    const std::string& extra) {
  return fmt::format(R"({{"agentId":"{}","type":"{}","instanceId":"{}","payload":{}{}}})", agent_id,
                     type, instance_id, payload, extra.empty() ? "" : "," + extra);
}

}  // namespace orb::testing
