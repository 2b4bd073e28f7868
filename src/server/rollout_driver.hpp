#pragma once

// Moves rollouts on (docs/protocol.md "Rollouts", docs/decisions/0021). The decision and its
// application are the store's (Store::AdvanceRollout: one transaction, the time as input); this
// class only says when to ask for it:
//  - after a job of the rollout reached a final state or was retried, and after the rollout was
//    created, resumed or aborted (Observe sees the published events: this replica's own and,
//    through EventPublisher::CatchUp, the other replicas'), at the next round;
//  - at the rollout's wake time (a phase's startAt, a host's timeout; Store::RolloutsDue);
//  - every rollout still going on, on the first round this replica leads and every sweep_every
//    after (a leader that took over, or events that were never seen: a restart).
// Rounds run only on the replica holding the leader lease (ServerTimers, docs/decisions/0016);
// the REST handlers also advance a rollout once right after creating, resuming or aborting it.
// Advancing twice, or on two replicas at once, is harmless: the store serializes and re-decides.
//
// Thread-safety: Observe from any thread (quick, under a mutex); Tick and Advance from one
// thread at a time (the timers' round; the handlers' Advance on workers is safe too). Ownership:
// holds the store and publisher by reference; they must outlive it.

#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/time.hpp"
#include "protocol/types.hpp"
#include "server/event_publisher.hpp"
#include "store/store.hpp"

namespace orb::server {

// Rollouts whose events say they may have something to do now.
std::vector<std::string> RolloutsToAdvance(const std::vector<protocol::Event>& events);

class RolloutDriver {
 public:
  RolloutDriver(store::Store& store, EventPublisher& publisher,
                std::chrono::seconds sweep_every = std::chrono::seconds(30));
  RolloutDriver(const RolloutDriver&) = delete;
  RolloutDriver& operator=(const RolloutDriver&) = delete;

  // Published events (EventPublisher::SetObserver).
  void Observe(const std::vector<protocol::Event>& events);
  // Drops what Observe saw (a replica that does not lead; its first round as leader sweeps).
  void Forget();
  // One round at `now`: the observed rollouts and the due ones, or (`sweep`, or sweep_every
  // since the last) every rollout still going on. Only on the leader.
  void Tick(WallTime now, Clock::MonoTime mono_now, bool sweep);
  // Advances `id` at `now` until it has nothing more to do right now (at most 50 calls),
  // publishing the events. The last answer, or the error.
  Expected<store::RolloutAdvance> Advance(const std::string& id, WallTime now);

 private:
  store::Store& store_;
  EventPublisher& publisher_;
  const std::chrono::seconds sweep_every_;
  std::mutex mutex_;
  std::set<std::string> observed_;
  std::optional<Clock::MonoTime> last_sweep_;  // rounds only
};

}  // namespace orb::server
