#pragma once

// The schedules of docs/protocol.md "Schedules": POST/GET /v1/schedules, GET/PATCH/DELETE
// /v1/schedules/{id}, POST /v1/schedules/{id}/fire. Reads need a viewer, changes an operator (as
// for jobs). Bad input (unknown field, invalid cron, unknown time zone, a step that is no valid
// job) is 400 naming the field and creates nothing: the JSON is checked here, the rest by the
// store in the transaction that writes (Store::CreateSchedule). The clock's fires are the
// leader's (ServerTimers).
//
// Thread-safety: handlers run on the HTTP server's loops and answer from the workers. Ownership:
// holds every dependency by reference; they must outlive it (FleetCmdr wires them).

#include "common/clock.hpp"
#include "server/async_calls.hpp"
#include "server/call.hpp"
#include "server/event_publisher.hpp"
#include "server/router.hpp"
#include "store/store.hpp"

namespace orb::server {

class ScheduleApi {
 public:
  struct Deps {
    store::Store& store;
    EventPublisher& publisher;
    AsyncCalls& calls;
    const Clock& clock;
  };

  explicit ScheduleApi(Deps deps) : deps_(deps) {}
  ScheduleApi(const ScheduleApi&) = delete;
  ScheduleApi& operator=(const ScheduleApi&) = delete;

  void RegisterRoutes(Router& router);

 private:
  void Create(Call&& call);
  void List(Call&& call);
  void Get(Call&& call);
  void Update(Call&& call);
  void Delete(Call&& call);
  void Fire(Call&& call);

  Deps deps_;
};

}  // namespace orb::server
