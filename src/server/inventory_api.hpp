#pragma once

// Host inventory (docs/protocol.md "Host inventory", docs/decisions/0024):
// POST /v1/agents/{agentId}/inventory (that agent's token only) keeps the agent's latest report and
// publishes agent.inventory when the store says the change deserves one;
// GET /v1/agents/{agentId}/inventory (viewer and up) answers the latest, 404 naming the agent
// before its first report. A body that is not a valid inventory is 400 naming the field and
// stores nothing (decoded here, before the store is called).
//
// Thread-safety: handlers run on the HTTP server's loops and answer from the workers. Ownership:
// holds every dependency by reference; they must outlive it (FleetCmdr wires them).

#include "common/clock.hpp"
#include "server/async_calls.hpp"
#include "server/call.hpp"
#include "server/event_publisher.hpp"
#include "server/presence.hpp"
#include "server/router.hpp"
#include "store/store.hpp"

namespace orb::server {

class InventoryApi {
 public:
  struct Deps {
    store::Store& store;
    Presence& presence;
    EventPublisher& publisher;
    AsyncCalls& calls;
    const Clock& clock;
  };

  explicit InventoryApi(Deps deps) : deps_(deps) {}
  InventoryApi(const InventoryApi&) = delete;
  InventoryApi& operator=(const InventoryApi&) = delete;

  void RegisterRoutes(Router& router);

 private:
  void Put(Call&& call);
  void Get(Call&& call);

  Deps deps_;
};

}  // namespace orb::server
