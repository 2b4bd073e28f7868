#pragma once

// The agent API of protocol.md §4, under /v1/agents/{agentId}/ and only for that agent's token:
//   POST .../hello                  the agent starts: its job types, the runs it lost (failed now)
//   GET  .../notify?wait=S          JobNotify: a long-poll answered from the Notifier, not the store
//   POST .../jobs/next              JobRequestNext -> JobExecution (or 204)
//   POST .../runs/{runId}/updates   JobExecutionUpdate -> JobCancel
// notify, jobs/next and updates are every agent's hot path: notify holds no thread (the Notifier
// keeps the responder; an HTTP server timer ends the wait), jobs/next and updates are asynchronous
// store calls (AsyncCalls::OnStore, docs/decisions/0002).
//
// Thread-safety: handlers run on the HTTP server's loops and answer from any thread. Ownership:
// holds every dependency by reference; they must outlive it (FleetCmdr wires them).

#include <string>

#include "common/clock.hpp"
#include "net/http_server.hpp"
#include "protocol/types.hpp"
#include "server/async_calls.hpp"
#include "server/call.hpp"
#include "server/event_publisher.hpp"
#include "server/fleet_cmdr.hpp"
#include "server/metrics.hpp"
#include "server/notifier.hpp"
#include "server/presence.hpp"
#include "server/router.hpp"
#include "store/store.hpp"

namespace orb::server {

class AgentApi {
 public:
  struct Metrics {
    Histogram& dispatch_latency;     // jobs/next handled -> answered
    Histogram& store_dispatch_next;  // the store's part of it
    Histogram& store_apply_updates;
  };
  struct Deps {
    store::Store& store;
    Notifier& notifier;
    Presence& presence;
    EventPublisher& publisher;
    AsyncCalls& calls;
    net::HttpServer& http;  // its timers end notify's long-polls
    const Clock& clock;
  };

  // `options`: what hello hands out and the lease of a dispatched run.
  AgentApi(const FleetCmdrOptions& options, Deps deps, Metrics metrics);
  AgentApi(const AgentApi&) = delete;
  AgentApi& operator=(const AgentApi&) = delete;

  void RegisterRoutes(Router& router);

 private:
  void Hello(Call&& call);
  void Notify(Call&& call);
  void Next(Call&& call);
  void Updates(Call&& call);
  void ReportStatus(Call&& call);
  protocol::HelloResponse HelloValues() const;
  // Loads the agent's notify state from the store into the Notifier.
  void RefreshAgent(const std::string& agent_id);

  const FleetCmdrOptions& options_;
  Deps deps_;
  Metrics metrics_;
};

}  // namespace orb::server
