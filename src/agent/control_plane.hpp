#pragma once

// The agent's side of protocol.md §4: hello, notify, jobs/next and updates, as blocking calls
// with deadlines and retries (exponential backoff with jitter, Retry-After). One ControlPlane per
// thread (the loop has one, the reporter another); both follow one shared ServerSet.
//
// Replicas (agent/server_failover.hpp): every attempt goes to the ServerSet's current server. A
// transport failure or a 502/503/504 moves the agent to the next server and is tried there at
// once; only when every server of the list failed in a row does the call wait, with the backoff
// of net::NextDelay (the longest Retry-After of that round honoured). Other retryable answers (429,
// 500, 408) wait and retry on the same server. With one server this is the plain retry loop.
// Repeating a call on another replica is safe: hello, notify and jobs/next are idempotent or
// fenced by the server, and updates are seq-fenced (at-least-once, exactly-once effect).
//
// Errors of every call: the HTTP client's (kNetwork, kTimeout after the retries gave up,
// kCancelled when should_stop or Interrupt() ended it; a certificate failure on every server);
// a non-2xx answer becomes the server's error (its code from the §1 body: kUnauthenticated,
// kForbidden, kRunNotActive, ...), not retryable. Retryable statuses (5xx, 429, 408) are retried
// until should_stop says stop.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/expected.hpp"
#include "protocol/inventory.hpp"
#include "protocol/types.hpp"

namespace orb::agent {

struct CallHooks {
  std::function<bool()> should_stop{};  // true: give up retrying (kCancelled)
  std::function<void()> on_retry{};     // before each further attempt (watchdog pings)
};

class ControlPlane {
 public:
  virtual ~ControlPlane() = default;
  virtual Expected<protocol::HelloResponse> Hello(const protocol::HelloRequest& request,
                                                  const CallHooks& hooks) = 0;
  // GET notify?wait=S; the request deadline is S plus the normal request timeout, so a long-poll
  // on a server that went silent ends by then and fails over. Notify is the loop's long-poll
  // boundary: the one place where the agent goes back to its first server (ServerSet::TryReturn).
  virtual Expected<protocol::NotifyResponse> Notify(int wait_seconds, const CallHooks& hooks) = 0;
  // nullopt on 204 (nothing dispatchable).
  virtual Expected<std::optional<protocol::JobExecution>> Next(const protocol::NextRequest& request,
                                                               const CallHooks& hooks) = 0;
  virtual Expected<protocol::UpdatesResponse> SendUpdates(const std::string& run_id,
                                                          const protocol::UpdatesRequest& request,
                                                          const CallHooks& hooks) = 0;
  // POST .../status (docs/protocol.md). Tried a few times only: the caller tries again at
  // its next due time. An older fleet-cmdr answers kNotFound (or kMethodNotAllowed).
  virtual Status SendStatus(const protocol::AgentStatusReport& report, const CallHooks& hooks) = 0;
  // POST .../inventory (docs/protocol.md "Host inventory"), tried a few times like SendStatus;
  // the caller tries again at its next check. An older fleet-cmdr answers kNotFound.
  virtual Status SendInventory(const protocol::HostInventory& inventory,
                               const CallHooks& hooks) = 0;
  // Thread-safe: aborts the call in flight (kCancelled) and every later one until Resume().
  virtual void Interrupt() = 0;
  virtual void Resume() = 0;
};

class ServerSet;

struct ControlPlaneOptions {
  std::shared_ptr<ServerSet> servers;  // fleet-cmdr's base URLs; shared by the agent's planes
  std::string agent_id;
  std::string token;
  // Read again after a 401: when it holds another token (the agent was enrolled again), the call
  // is repeated once with it and later calls use it, without restarting the agent.
  std::optional<std::filesystem::path> token_file;
  std::optional<std::filesystem::path> ca_file;
  std::string user_agent = "orb-jobs-agent";
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds retry_initial_delay{500};
  std::chrono::milliseconds retry_max_delay{10000};
};

// The real one, over net::HttpClient (keep-alive, TLS with caFile).
std::unique_ptr<ControlPlane> MakeHttpControlPlane(const ControlPlaneOptions& options);

}  // namespace orb::agent
