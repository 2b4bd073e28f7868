#pragma once

// The rollout routes of docs/protocol.md "Rollouts": create (operator), list, get, hosts
// (viewer), pause / resume / abort (operator). Bad input is 400 naming the field, and creates
// nothing: the job template is checked here (ValidateCreateJob, fields prefixed "job."), the
// policy and the target by the store in the creating transaction. Creating, resuming and
// aborting advance the rollout once at once (RolloutDriver::Advance), so the answer shows the
// first hosts started or the abort's jobs cancelled; the leader's rounds do the rest.
//
// Thread-safety: handlers run on the HTTP server's loops and answer from workers. Ownership:
// holds every dependency by reference; they must outlive it (FleetCmdr wires them).

#include "common/clock.hpp"
#include "server/async_calls.hpp"
#include "server/call.hpp"
#include "server/event_publisher.hpp"
#include "server/rollout_driver.hpp"
#include "server/router.hpp"
#include "store/store.hpp"

namespace orb::server {

class RolloutApi {
 public:
  struct Deps {
    store::Store& store;
    EventPublisher& publisher;
    RolloutDriver& driver;
    AsyncCalls& calls;
    const Clock& clock;
  };
  explicit RolloutApi(Deps deps) : deps_(deps) {}
  RolloutApi(const RolloutApi&) = delete;
  RolloutApi& operator=(const RolloutApi&) = delete;

  void RegisterRoutes(Router& router);

 private:
  void Create(Call&& call);
  void List(Call&& call);
  void Get(Call&& call);
  void Hosts(Call&& call);
  // pause, resume, abort.
  void Change(Call&& call, std::string_view action);

  Deps deps_;
};

}  // namespace orb::server
