#pragma once

// Internals of FleetCmdr shared by its .cpp files (fleet_cmdr.cpp: life cycle and timers;
// agent_api.cpp: protocol.md §4; operator_api.cpp: §5; stream_api.cpp: §6). Not a public header.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/ids.hpp"
#include "net/http_server.hpp"
#include "net/worker_pool.hpp"
#include "protocol/types.hpp"
#include "server/auth.hpp"
#include "server/fleet_cmdr.hpp"
#include "server/metrics.hpp"
#include "server/notifier.hpp"
#include "server/rate_limiter.hpp"
#include "server/stream_hub.hpp"
#include "store/store.hpp"

namespace orb::server {

using net::HttpRequest;
using net::HttpResponse;
using net::Responder;
using ResponderPtr = std::shared_ptr<Responder>;

// A request after routing and authentication.
struct Call {
  HttpRequest request;
  ResponderPtr responder;
  std::optional<Principal> principal;
  std::vector<std::string> segments;  // path split on '/', without the leading "v1"
  std::string route;                  // route label for metrics, e.g. "POST /v1/jobs"
};

class FleetCmdr::Impl {
 public:
  Impl(FleetCmdrOptions options, const Clock& clock);
  ~Impl();

  // Opens the store (its queue listener feeds notifier_), then: admin token bootstrap, token
  // cache, artifact dir.
  Status Init(const FleetCmdr::StoreOpener& open_store);
  Status Start();
  void Stop();
  std::uint16_t port() const { return http_ ? http_->port() : 0; }

  // ---- fleet_cmdr.cpp ----
  void Handle(HttpRequest&& request, ResponderPtr responder);
  net::BodyPolicy BodyPolicyFor(const HttpRequest& head);
  void Tick();
  void ScheduleTick();
  // Marks the agent seen now; emits agent.online when it was offline.
  void MarkSeen(const std::string& agent_id);
  void CheckOffline();
  void FlushSeen();

  // After a store mutation: publishes its events. The notify state of the agents it touched is
  // already current: the store told it to notifier_ as it committed (StoreDeps).
  template <class T>
  void Publish(const store::Mutation<T>& mutation) {
    PublishEvents(mutation.events);
  }
  // Hands events to the stream hub strictly in seq order: events of concurrent mutations reach
  // here out of order, so later ones wait for the gap to fill; a gap that the store says does
  // not exist (or that nobody publishes in time) is filled from the store by FillEventGaps().
  void PublishEvents(const std::vector<protocol::Event>& events);
  void FillEventGaps();
  void RefreshAgent(const std::string& agent_id);

  // Runs `work` on the worker pool; an exception becomes a 500.
  void OnWorker(const ResponderPtr& responder, std::function<void()> work);

  // Starts an asynchronous store call without holding a thread: `start(completion)` makes the
  // call; `done(result)` runs on the store's thread after the commit (quick; an exception becomes
  // a 500). Refused with 503 while stopping; Stop() waits until every started call is done.
  // `latency` gets the time from the submit to the completion.
  // Start: callable with a store::Completion<T>; Done: with an Expected<store::Mutation<T>>.
  template <class T, class Start, class Done>
  void OnStore(Histogram& latency, const ResponderPtr& responder, Start&& start, Done&& done) {
    if (!BeginStoreCall()) {
      return ReplyError(responder,
                        MakeError(Errc::kUnavailable, "fleet-cmdr is shutting down", true));
    }
    const auto submitted = std::chrono::steady_clock::now();
    std::forward<Start>(start)(store::Completion<T>(
        [this, &latency, submitted, responder,
         done = std::forward<Done>(done)](Expected<store::Mutation<T>> result) mutable {
          latency.Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - submitted).count());
          try {
            done(std::move(result));
          } catch (const std::exception& e) {
            ReplyError(responder,
                       MakeError(Errc::kInternal, std::string("internal error: ") + e.what()));
          }
          EndStoreCall();
        }));
  }
  bool BeginStoreCall();
  void EndStoreCall();
  void WaitForStoreCalls();

  void InitMetrics();
  // Wraps `responder` so that the answer is counted under `route` in /metrics.
  ResponderPtr Metered(ResponderPtr responder, std::string route);

  // ---- responses ----
  void Reply(const ResponderPtr& responder, int status, std::string body);
  void ReplyError(const ResponderPtr& responder, const Error& error);
  void ReplyNoContent(const ResponderPtr& responder);

  // ---- agent_api.cpp (protocol.md §4) ----
  void AgentHello(Call call, const std::string& agent_id);
  void AgentNotify(Call call, const std::string& agent_id);
  void AgentNext(Call call, const std::string& agent_id);
  void AgentUpdates(Call call, const std::string& agent_id, const std::string& run_id);
  protocol::HelloResponse HelloValues() const;

  // ---- operator_api.cpp (protocol.md §5) ----
  void CreateJobs(Call call);
  // Creates the request's jobs for `agents` (validated request; selector already resolved).
  void SubmitJobs(const ResponderPtr& responder, const protocol::CreateJobRequest& request,
                  const std::vector<std::string>& agents);
  void ListJobs(Call call);
  void GetJob(Call call, const std::string& job_id);
  void GetJobEvents(Call call, const std::string& job_id);
  void GetJobLogs(Call call, const std::string& job_id);
  void CancelJob(Call call, const std::string& job_id);
  void RetryJob(Call call, const std::string& job_id);
  void ListAgents(Call call);
  void GetAgent(Call call, const std::string& agent_id);
  void EnrollAgent(Call call);
  void RevokeAgent(Call call, const std::string& agent_id);
  void CreateToken(Call call);
  void RevokeToken(Call call, const std::string& token_id);
  void UploadArtifact(Call call);
  void DownloadArtifact(Call call, const std::string& sha256);
  void Metrics(Call call);
  void Ready(Call call);
  bool IsOnline(const protocol::AgentInfo& agent) const;

  // ---- stream_api.cpp (protocol.md §6) ----
  void StreamOpen(std::shared_ptr<net::WebSocketSession> session, const HttpRequest& upgrade);
  void StreamMessage(net::WebSocketSession& session, std::string message);
  void StreamClose(net::WebSocketSession& session);
  // Moves every subscriber's backlog on (the hub coalesces while a client is slow).
  void DrainStreams();

  FleetCmdrOptions options_;
  const Clock& clock_;
  IdGenerator ids_;
  IdGenerator store_ids_;  // the store's id source; declared before store_
  TokenCache tokens_;
  RateLimiter limiter_;
  Notifier notifier_;
  std::unique_ptr<StreamHub> hub_;  // made in Init, starting at the store's last event seq
  MetricsRegistry metrics_;
  Family<Counter>* http_requests_ = nullptr;    // route, code
  Histogram* dispatch_latency_ = nullptr;       // seconds, jobs/next handled -> answered
  Family<Histogram>* store_latency_ = nullptr;  // operation
  Histogram* store_create_jobs_ = nullptr;      // store_latency_ of the asynchronous calls
  Histogram* store_dispatch_next_ = nullptr;
  Histogram* store_apply_updates_ = nullptr;
  Family<Counter>* events_published_ = nullptr;  // type
  Family<Gauge>* jobs_by_status_ = nullptr;      // type, status (refreshed from the store)
  std::mutex jobs_by_status_mutex_;              // one refresh + render at a time
  std::unique_ptr<net::WorkerPool> workers_;
  std::unique_ptr<net::HttpServer> http_;
  std::filesystem::path artifact_dir_;

  // Agents seen since the last flush, and which agents are online (protocol.md §5 `online`).
  struct Presence {
    WallTime last_seen{};
    bool online = false;
  };
  mutable std::mutex presence_mutex_;
  std::unordered_map<std::string, Presence> presence_;
  std::vector<store::AgentSeen> unflushed_seen_;

  std::mutex publish_mutex_;
  std::int64_t published_seq_ = 0;
  std::map<std::int64_t, protocol::Event> unpublished_;
  std::chrono::steady_clock::time_point gap_since_{};

  std::atomic<bool> stopping_{false};
  std::atomic<bool> tick_running_{false};
  std::shared_ptr<net::TimerHandle> tick_timer_;
  std::mutex tick_mutex_;
  std::chrono::steady_clock::time_point last_flush_{};
  std::chrono::steady_clock::time_point last_prune_{};

  // Stream sessions waiting for their subscribe message, and their hub subscriptions.
  struct StreamClient;
  std::mutex streams_mutex_;
  std::unordered_map<net::WebSocketSession*, std::shared_ptr<StreamClient>> streams_;

  // Asynchronous store calls started and not yet done (OnStore).
  std::mutex store_calls_mutex_;
  std::condition_variable store_calls_done_;
  int store_calls_ = 0;

  // Last: destroyed first, so that the writes it finishes on closing still find every member
  // their callbacks and its queue listener use.
  std::unique_ptr<store::Store> store_;
};

// Path helpers.
std::vector<std::string> SplitPath(std::string_view path);
// Parses an integer query parameter; nullopt when absent; error when malformed or out of range.
Expected<std::optional<std::int64_t>> QueryInt(const HttpRequest& request, std::string_view key,
                                               std::int64_t min, std::int64_t max);

}  // namespace orb::server
