#pragma once

// FleetCmdr's insides: its life cycle (Init, Start, Stop) and the wiring of the classes that do
// the work. Not a public header.
//
//   HttpServer ──► Router (RouteTable: 404/405, roles, body kinds, metrics labels)
//                    ├─ AgentApi     protocol.md §4   (Notifier: long-polls)
//                    ├─ OperatorApi  §5               (TokenCache, artifacts, /metrics)
//                    └─ StreamApi    §6, WebSocket    (StreamHub)
//   shared by them:  AsyncCalls (worker pool, store calls), EventPublisher (events in seq
//                    order), Presence (online/offline, last-seen)
//   ServerTimers:    the periodic duties, one Tick(now) per round (the fleet's only on the
//                    leader when replicas share the store)
//   ReplicaSync:     on a shared store, other replicas' events, notify states and tokens
//
// Each API registers its routes into the Router; Init builds everything over the opened store,
// Start starts the workers, the HTTP server and the timers, Stop undoes it in the reverse order.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "net/http_server.hpp"
#include "server/agent_api.hpp"
#include "server/async_calls.hpp"
#include "server/auth.hpp"
#include "server/event_publisher.hpp"
#include "server/fleet_cmdr.hpp"
#include "server/history_api.hpp"
#include "server/inventory_api.hpp"
#include "server/metrics.hpp"
#include "server/notifier.hpp"
#include "server/operator_api.hpp"
#include "server/presence.hpp"
#include "server/rate_limiter.hpp"
#include "server/replica_sync.hpp"
#include "server/rollout_api.hpp"
#include "server/rollout_driver.hpp"
#include "server/route_table.hpp"
#include "server/router.hpp"
#include "server/schedule_api.hpp"
#include "server/server_timers.hpp"
#include "server/stream_api.hpp"
#include "server/stream_hub.hpp"
#include "store/store.hpp"

namespace orb::server {

class FleetCmdr::Impl {
 public:
  Impl(FleetCmdrOptions options, const Clock& clock);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Opens the store (its queue listener feeds notifier_), then: artifact dir, admin token
  // bootstrap, token cache, and the wiring of every part.
  Status Init(const FleetCmdr::StoreOpener& open_store);
  Status Start();
  // Stops taking requests, answers held long-polls, closes streams, waits for the work in flight,
  // flushes last-seen times. Idempotent.
  void Stop();
  std::uint16_t port() const { return http_ ? http_->port() : 0; }
  std::vector<RouteSpec> Routes() const;

 private:
  void InitMetrics();
  Status InitArtifactDir();
  Status InitTokens();
  bool shared_store() const { return !options_.store_url.empty(); }
  Status Wire(std::int64_t last_seq);
  // After a timer round: a watchdog ping when one is due (FleetCmdrOptions::service_notifier).
  void PingWatchdog();

  FleetCmdrOptions options_;
  const Clock& clock_;
  IdGenerator ids_;
  IdGenerator store_ids_;  // the store's id source; declared before store_
  TokenCache tokens_;
  RateLimiter limiter_;
  Notifier notifier_;
  MetricsRegistry metrics_;
  Family<Counter>* http_requests_ = nullptr;    // route, code
  Histogram* dispatch_latency_ = nullptr;       // seconds, jobs/next handled -> answered
  Family<Histogram>* store_latency_ = nullptr;  // operation
  Histogram* store_create_jobs_ = nullptr;      // store_latency_ of the asynchronous calls
  Histogram* store_dispatch_next_ = nullptr;
  Histogram* store_apply_updates_ = nullptr;
  Family<Counter>* events_published_ = nullptr;  // type
  Family<Gauge>* jobs_by_status_ = nullptr;      // type, status (refreshed from the store)
  Gauge* store_up_ = nullptr;                    // the store answered the last scrape
  std::filesystem::path artifact_dir_;
  std::atomic<bool> stopping_{false};
  std::int64_t token_version_ = 0;        // of the token cache as InitTokens loaded it
  Clock::MonoTime last_watchdog_ping_{};  // on timer rounds only, which never overlap

  // Made in Init over the store; destroyed (in the reverse order of these lines) after store_.
  std::unique_ptr<StreamHub> hub_;  // starting at the store's last event seq
  AsyncCalls calls_;
  // The publisher's observer (docs/decisions/0021): destroyed after the publisher that calls it.
  std::unique_ptr<RolloutDriver> rollout_driver_;
  std::unique_ptr<EventPublisher> publisher_;
  std::unique_ptr<Presence> presence_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<AgentApi> agent_api_;
  std::unique_ptr<OperatorApi> operator_api_;
  std::unique_ptr<ScheduleApi> schedule_api_;
  std::unique_ptr<InventoryApi> inventory_api_;
  std::unique_ptr<StreamApi> stream_api_;
  std::unique_ptr<RolloutApi> rollout_api_;
  std::unique_ptr<HistoryApi> history_api_;
  std::unique_ptr<ServerTimers> timers_;
  std::unique_ptr<ReplicaSync> replica_sync_;  // shared store only
  // What the store's on_foreign_commit tells (null until Wire made replica_sync_; a commit told
  // before is caught up by its first round).
  std::atomic<ReplicaSync*> foreign_commits_{nullptr};
  // Destroyed before the APIs whose handlers it calls.
  std::unique_ptr<net::HttpServer> http_;

  // Last: destroyed first, so that the writes it finishes on closing still find every member
  // their callbacks and its queue listener use.
  std::unique_ptr<store::Store> store_;
};

}  // namespace orb::server
