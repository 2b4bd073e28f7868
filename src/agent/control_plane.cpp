#include "agent/control_plane.hpp"

#include <algorithm>
#include <utility>

#include "agent/config.hpp"
#include "agent/server_failover.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "net/http_client.hpp"
#include "net/retry.hpp"
#include "protocol/api_error.hpp"
#include "protocol/codec.hpp"

namespace orb::agent {
namespace {

class HttpControlPlane final : public ControlPlane {
 public:
  explicit HttpControlPlane(const ControlPlaneOptions& options)
      : options_(options),
        client_(MakeClientOptions(options)),
        client_server_(options.servers->Current().index),
        token_(options.token) {
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
    options_.servers->TryReturn();  // the long-poll boundary (agent/server_failover.hpp)
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

  Status SendInventory(const protocol::HostInventory& inventory, const CallHooks& hooks) override {
    constexpr int kInventoryAttempts = 3;
    auto response = Call("POST", prefix_ + "/inventory", protocol::ToJson(inventory), hooks, {},
                         kInventoryAttempts);
    if (!response) return Fail(std::move(response.error()));
    return Ok();
  }

  void Interrupt() override { client_.Cancel(); }
  void Resume() override { client_.Reset(); }

 private:
  static net::ClientOptions MakeClientOptions(const ControlPlaneOptions& options) {
    net::ClientOptions client;
    client.base_url = options.servers->Current().url;
    client.bearer_token = options.token;
    client.ca_file = options.ca_file;
    client.request_timeout = options.request_timeout;
    client.user_agent = options.user_agent;
    return client;
  }

  // Sends with retries and failover; a 2xx comes back as the response, anything else as the
  // server's Error. `max_attempts` (0: the policy's, which retries until should_stop) bounds the
  // retries.
  Expected<net::ClientResponse> Call(std::string method, std::string target, std::string body,
                                     const CallHooks& hooks,
                                     std::optional<std::chrono::milliseconds> timeout = {},
                                     int max_attempts = 0) {
    net::ClientRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.body = std::move(body);
    request.timeout = timeout;
    auto response = SendWithFailover(request, hooks, max_attempts);
    if (response && response->status == 401 && TokenFileChanged()) {
      response = SendWithFailover(request, hooks, max_attempts);
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

  // net::SendWithRetry's loop over the ServerSet (see control_plane.hpp): each attempt goes to the
  // current server; a failover reason moves on and tries the next server at once; a round of
  // failures over the whole list, or another retryable answer, waits net::NextDelay first.
  // Returns the last response (any status) or error; kCancelled when should_stop or Interrupt()
  // ended it.
  Expected<net::ClientResponse> SendWithFailover(net::ClientRequest& request,
                                                 const CallHooks& hooks, int max_attempts = 0) {
    ServerSet& servers = *options_.servers;
    net::RetryPolicy policy = policy_;
    if (max_attempts > 0) policy.max_attempts = max_attempts;
    const auto stopped = [&] {
      return client_.cancelled() || (hooks.should_stop && hooks.should_stop());
    };
    const auto stop_error = [&] {
      return MakeError(Errc::kCancelled, request.method + " " + request.target + ": stopped");
    };
    int waits = 0;                 // the backoff's attempt count: failures followed by a wait
    std::size_t round = 0;         // failover reasons in a row, since the last wait
    bool round_retryable = false;  // one of them is worth another round (a certificate is not)
    std::optional<std::chrono::milliseconds> round_retry_after;
    for (;;) {
      if (stopped()) return Fail(stop_error());
      const auto server = servers.Current();
      if (server.index != client_server_) {
        if (auto pointed = client_.SetBaseUrl(server.url); !pointed) return Fail(pointed.error());
        client_server_ = server.index;
      }
      request.bearer_token = token_;
      auto result = client_.Send(request);

      std::optional<std::chrono::milliseconds> retry_after;
      std::string what;
      bool failover = false;
      bool retryable = false;
      if (result) {
        failover = net::IsFailoverStatus(result->status);
        retryable = net::IsRetryableStatus(result->status);
        if (!failover) servers.Succeeded(server.index);
        if (!retryable) return result;
        if (auto header = result->Header("Retry-After")) {
          retry_after = net::ParseRetryAfter(*header, std::chrono::system_clock::now());
        }
        what = "HTTP " + std::to_string(result->status);
      } else {
        if (result.error().code == Errc::kCancelled) return result;
        failover = net::IsTransportFailure(result.error());
        retryable = result.error().retryable;
        if (!retryable && !failover) return result;
        what = result.error().Describe();
      }

      if (failover && servers.size() > 1) {
        servers.Failed(server.index, what);
        ++round;
        round_retryable = round_retryable || retryable;
        if (retry_after)
          round_retry_after = std::max(round_retry_after.value_or(*retry_after), *retry_after);
        if (round < servers.size()) {  // the next server, at once
          if (hooks.on_retry) hooks.on_retry();
          continue;
        }
        // Every server failed in a row: wait as the plain loop would, then go round again.
        if (!round_retryable) return result;
        retry_after = round_retry_after;
        round = 0;
        round_retryable = false;
        round_retry_after.reset();
      } else if (!retryable) {
        return result;
      } else {
        round = 0;
      }
      const auto delay = net::NextDelay(policy, ++waits, RandomUnit(), retry_after);
      if (!delay) return result;
      if (hooks.on_retry) hooks.on_retry();
      if (!Sleep(*delay, stopped)) return Fail(stop_error());
    }
  }

  // Waits `duration` in slices, so that should_stop is seen within 50 ms. False when stopped.
  template <class Stopped>
  bool Sleep(std::chrono::milliseconds duration, const Stopped& stopped) {
    const auto end = std::chrono::steady_clock::now() + duration;
    while (!stopped()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) return true;
      if (!client_.SleepUnlessCancelled(std::min(left, std::chrono::milliseconds(50)))) {
        return false;
      }
    }
    return false;
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
  std::size_t client_server_;  // the ServerSet index client_ points at
  std::string token_;          // the one sent; options_.token until the token file changes
  net::RetryPolicy policy_;
  std::string prefix_;
};

}  // namespace

std::unique_ptr<ControlPlane> MakeHttpControlPlane(const ControlPlaneOptions& options) {
  return std::make_unique<HttpControlPlane>(options);
}

}  // namespace orb::agent
