#pragma once

// Which agents are online (protocol.md §5 `online`: seen within 3 × longPollSeconds), and their
// last-seen times.
//
// Every agent call marks its agent seen (MarkSeen, on the request path: memory only). An agent
// that was offline comes online at once (an agent.online event, appended and published on a
// worker); CheckOffline, called by a timer, turns the silent ones offline (agent.offline). The
// last-seen times reach the store in batches (Flush, by a timer and at Stop), not once per call.
//
// On a store shared by replicas (shared_store) an agent may move between replicas, so the store
// keeps the online flag and each change is announced once, whichever replica sees it: coming
// online goes through Store::MarkAgentOnline, and the leader's CheckOffline turns silent agents
// offline with Store::MarkAgentsOffline (docs/decisions/0016). Each replica still keeps its own
// flags, only to know when to ask the store.
//
// Thread-safety: every method from any thread. Ownership: holds the store, publisher, calls and
// clock by reference; they must outlive it.

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/time.hpp"
#include "protocol/types.hpp"
#include "server/async_calls.hpp"
#include "server/event_publisher.hpp"
#include "store/store.hpp"

namespace orb::server {

class Presence {
 public:
  Presence(store::Store& store, EventPublisher& publisher, AsyncCalls& calls, const Clock& clock,
           std::chrono::seconds offline_after, bool shared_store = false);
  Presence(const Presence&) = delete;
  Presence& operator=(const Presence&) = delete;

  // Marks the agent seen now; emits agent.online when it was offline.
  void MarkSeen(const std::string& agent_id);
  // `online` for GET /v1/agents: the later of the store's last-seen time and ours, within
  // offline_after of now.
  bool IsOnline(const protocol::AgentInfo& agent) const;
  // Turns the agents not seen within offline_after of `now` offline (agent.offline). On a shared
  // store only the replica running the fleet's duties (`leading`) asks the store to.
  void CheckOffline(WallTime now, bool leading = true);
  // Writes the last-seen times gathered since the previous Flush to the store.
  void Flush();

 private:
  struct Agent {
    WallTime last_seen{};
    bool online = false;
  };

  store::Store& store_;
  EventPublisher& publisher_;
  AsyncCalls& calls_;
  const Clock& clock_;
  const std::chrono::seconds offline_after_;
  const bool shared_store_;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Agent> agents_;
  std::vector<store::AgentSeen> unflushed_;
};

}  // namespace orb::server
