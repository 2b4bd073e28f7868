#pragma once

// GET /v1/stats/history (docs/protocol.md "Stats history"; viewer and up): per minute of the
// last `minutes` (1..1440, default 60; 400 naming `minutes` otherwise), the jobs that ended by
// final status and the p50/p95 of queued→start and run duration. The window ends with the minute
// of the server's Clock; one store read per request (Store::ReadHistory, docs/decisions/0025).
//
// Thread-safety: the handler runs on the HTTP server's loops and answers from a worker.
// Ownership: holds every dependency by reference; they must outlive it (FleetCmdr wires them).

#include "common/clock.hpp"
#include "server/async_calls.hpp"
#include "server/call.hpp"
#include "server/router.hpp"
#include "store/store.hpp"

namespace orb::server {

class HistoryApi {
 public:
  struct Deps {
    store::Store& store;
    AsyncCalls& calls;
    const Clock& clock;
  };
  explicit HistoryApi(Deps deps) : deps_(deps) {}
  HistoryApi(const HistoryApi&) = delete;
  HistoryApi& operator=(const HistoryApi&) = delete;

  void RegisterRoutes(Router& router);

 private:
  void History(Call&& call);

  Deps deps_;
};

}  // namespace orb::server
