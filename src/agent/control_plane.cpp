#include "agent/control_plane.hpp"

#include <utility>

#include "agent/config.hpp"
#include "common/log.hpp"
#include "net/http_client.hpp"
#include "net/retry.hpp"
#include "protocol/api_error.hpp"
#include "protocol/codec.hpp"

namespace orb::agent {
namespace {

class HttpControlPlane final : public ControlPlane {
 public:
  explicit HttpControlPlane(const ControlPlaneOptions& options)
      : options_(options), client_(MakeClientOptions(options)), token_(options.token) {
    policy_.initial_delay = options.retry_initial_delay;
    policy_.max_delay = options.retry_max_delay;
    policy_.max_attempts = 0;
    prefix_ = "/v1/agents/" + options.agent_id;
  }

  Expected<protocol::HelloResponse> Hello(const protocol::HelloRequest& request,
                                          const CallHooks& hooks) override {
    auto response = Call("POST", prefix_ + "/hello", protocol::ToJson(request), hooks);
    if (!response) return Fail(std::move(response.error()));
    return protocol::FromJson<protocol::HelloResponse>(response->body);
  }

  Expected<protocol::NotifyResponse> Notify(int wait_seconds, const CallHooks& hooks) override {
    auto response = Call("GET", prefix_ + "/notify?wait=" + std::to_string(wait_seconds), "", hooks,
                         options_.request_timeout + std::chrono::seconds(wait_seconds));
    if (!response) return Fail(std::move(response.error()));
    return protocol::FromJson<protocol::NotifyResponse>(response->body);
  }

  Expected<std::optional<protocol::JobExecution>> Next(const protocol::NextRequest& request,
                                                       const CallHooks& hooks) override {
    auto response = Call("POST", prefix_ + "/jobs/next", protocol::ToJson(request), hooks);
    if (!response) return Fail(std::move(response.error()));
    if (response->status == 204) return std::optional<protocol::JobExecution>();
    auto execution = protocol::FromJson<protocol::JobExecution>(response->body);
    if (!execution) return Fail(std::move(execution.error()).WithContext("jobs/next response"));
    return std::optional<protocol::JobExecution>(std::move(*execution));
  }

  Expected<protocol::UpdatesResponse> SendUpdates(const std::string& run_id,
                                                  const protocol::UpdatesRequest& request,
                                                  const CallHooks& hooks) override {
    auto response =
        Call("POST", prefix_ + "/runs/" + run_id + "/updates", protocol::ToJson(request), hooks);
    if (!response) return Fail(std::move(response.error()));
    return protocol::FromJson<protocol::UpdatesResponse>(response->body);
  }

  Status SendStatus(const protocol::AgentStatusReport& report, const CallHooks& hooks) override {
    constexpr int kStatusAttempts = 3;
    auto response =
        Call("POST", prefix_ + "/status", protocol::ToJson(report), hooks, {}, kStatusAttempts);
    if (!response) return Fail(std::move(response.error()));
    return Ok();
  }

  void Interrupt() override { client_.Cancel(); }
  void Resume() override { client_.Reset(); }

 private:
  static net::ClientOptions MakeClientOptions(const ControlPlaneOptions& options) {
    net::ClientOptions client;
    client.base_url = options.server;
    client.bearer_token = options.token;
    client.ca_file = options.ca_file;
    client.request_timeout = options.request_timeout;
    client.user_agent = options.user_agent;
    return client;
  }

  // Sends with retries; a 2xx comes back as the response, anything else as the server's Error.
  // `max_attempts` (0: the policy's, which retries until should_stop) bounds the retries.
  Expected<net::ClientResponse> Call(std::string method, std::string target, std::string body,
                                     const CallHooks& hooks,
                                     std::optional<std::chrono::milliseconds> timeout = {},
                                     int max_attempts = 0) {
    net::ClientRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.body = std::move(body);
    request.timeout = timeout;
    net::RetryHooks retry_hooks;
    retry_hooks.should_stop = hooks.should_stop;
    if (hooks.on_retry) {
      retry_hooks.on_retry = [&hooks](int, std::chrono::milliseconds, const std::string&) {
        hooks.on_retry();
      };
    }
    request.bearer_token = token_;
    net::RetryPolicy policy = policy_;
    if (max_attempts > 0) policy.max_attempts = max_attempts;
    auto response = net::SendWithRetry(client_, request, policy, retry_hooks);
    if (response && response->status == 401 && TokenFileChanged()) {
      request.bearer_token = token_;
      response = net::SendWithRetry(client_, request, policy, retry_hooks);
    }
    if (!response) {
      return Fail(std::move(response.error()).WithContext(request.method + " " + request.target));
    }
    if (response->status >= 200 && response->status < 300) return response;
    auto error = protocol::ErrorFromBodyJson(response->body);
    Error result = error ? std::move(*error)
                         : MakeError(Errc::kHttp, "HTTP " + std::to_string(response->status));
    result.retryable = net::IsRetryableStatus(response->status);
    result.message = "HTTP " + std::to_string(response->status) + ": " + result.message;
    return Fail(std::move(result).WithContext(request.method + " " + request.target));
  }

  // After a 401: reads the token file; true (and token_ replaced) when it holds another token.
  bool TokenFileChanged() {
    if (!options_.token_file) return false;
    auto fresh = ReadToken(*options_.token_file);
    if (!fresh) {
      GetLogger("agent")->warn("401 from fleet-cmdr; cannot read the token file again: {}",
                               fresh.error().Describe());
      return false;
    }
    if (*fresh == token_) return false;
    GetLogger("agent")->info("401 from fleet-cmdr; {} holds a new token: using it",
                             options_.token_file->string());
    token_ = std::move(*fresh);
    return true;
  }

  ControlPlaneOptions options_;
  net::HttpClient client_;
  std::string token_;  // the one sent; options_.token until the token file changes
  net::RetryPolicy policy_;
  std::string prefix_;
};

}  // namespace

std::unique_ptr<ControlPlane> MakeHttpControlPlane(const ControlPlaneOptions& options) {
  return std::make_unique<HttpControlPlane>(options);
}

}  // namespace orb::agent
