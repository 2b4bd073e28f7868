#pragma once

// JobNotify without the store, protocol.md §4 "GET .../notify?wait=S".
//
// Keeps, per agent, what a notify answer needs (pending QUEUED jobs, RUNNING runs whose cancel was
// requested) plus the long-poll requests waiting on it. The server loads an agent's state from the
// store once (IsKnown/Version/Load), then keeps it current from the mutations it makes itself
// (Update, AdjustPending, AddCancel, RemoveCancel), so an idle agent's notify never reads the
// store. A held waiter is answered as soon as its agent has jobs pending or a cancel it has not
// been told yet, or when its caller's timer calls Expire(). Every answer lists all the agent's
// cancels; once one has been in an answer it no longer makes the next notify return at once (an
// agent whose run ignores the cancel, being past its point of no return, would otherwise ask
// again and again without pause). An answer lost on the way is made up for by the cancel in the
// run's updates answer and in the next notify's list.
//
// Thread-safety: every method may be called from any thread. Callbacks run outside the lock, on
// the thread whose call fired them (Wait, a mutator, or Expire), exactly once per waiter; they may
// call back into the Notifier. They must not throw.
// Cost: Wait, Expire and Cancel are O(1); a change wakes an agent's waiters in O(their number).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/types.hpp"

namespace orb::server {

// What a notify answer says about one agent.
struct AgentQueueState {
  int pending = 0;                  // QUEUED jobs of the agent
  std::vector<std::string> cancel;  // RUNNING runs of the agent whose cancel was requested

  protocol::NotifyResponse ToResponse() const { return {pending, cancel}; }
  bool operator==(const AgentQueueState&) const = default;
};

using WaiterId = std::uint64_t;
using NotifyCallback = std::function<void(const AgentQueueState&)>;

class Notifier {
 public:
  Notifier() = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Registers a notify request. When the agent has work, `callback` runs at once (before Wait
  // returns) and the returned id is already spent; otherwise it is held until a change gives the
  // agent work, or Expire/Cancel. An agent whose state is not known counts as idle: load it first.
  WaiterId Wait(const std::string& agent_id, NotifyCallback callback);

  // The caller's timer for `id` ran out: fires its callback with the agent's current state.
  // Returns false when the waiter was already answered or cancelled.
  bool Expire(WaiterId id);
  // Drops a held waiter without calling it (its connection went away). False if already gone.
  bool Cancel(WaiterId id);

  // ---- Keeping the state current ----

  // Sets the agent's whole state (now known); wakes its waiters if it has work.
  void Update(const std::string& agent_id, AgentQueueState state);
  // Loads state read from the store, unless something changed the agent since `version` was
  // taken with Version() before the read; then returns false and the caller reads again.
  bool Load(const std::string& agent_id, AgentQueueState state, std::uint64_t version);
  // Incremental changes the server makes as it mutates the store. On an agent whose state is not
  // known they only bump its version (so a Load racing with them is refused).
  void AdjustPending(const std::string& agent_id, int delta);  // clamped at 0
  void AddCancel(const std::string& agent_id, const std::string& run_id);
  void RemoveCancel(const std::string& agent_id, const std::string& run_id);
  // Forgets the state (another replica changed the store); held waiters stay held, and so does
  // what the agent was told (a reloaded cancel it already had does not answer at once).
  void Invalidate(const std::string& agent_id);

  // ---- Reading ----

  bool IsKnown(const std::string& agent_id) const;
  // Increases with every change to the agent, known or not. 0 for an agent never seen.
  std::uint64_t Version(const std::string& agent_id) const;
  std::optional<AgentQueueState> State(const std::string& agent_id) const;  // nullopt: unknown
  std::size_t WaiterCount() const { return waiter_count_.load(std::memory_order_relaxed); }

 private:
  struct Agent {
    AgentQueueState state;
    bool known = false;
    std::uint64_t version = 0;
    std::unordered_map<WaiterId, NotifyCallback> waiters;
    std::vector<std::string> told;  // the cancels of the last answer

    // An answer is due at once: jobs are pending or a cancel has not been in an answer yet.
    bool Due() const;
    // The state to answer with; its cancels count as told from now on.
    AgentQueueState Answer();
  };
  struct Fired {
    std::vector<NotifyCallback> callbacks;
    AgentQueueState state;
    void Run() const;
  };

  // Under mutex_: bumps the version and, if the agent has work, moves out its waiters.
  Fired ChangedLocked(Agent& agent);
  Agent& AgentLocked(const std::string& agent_id);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Agent> agents_;       // nodes are stable: Agent* stays valid
  std::unordered_map<WaiterId, Agent*> waiter_agents_;  // held waiters only
  WaiterId next_id_ = 1;
  std::atomic<std::size_t> waiter_count_{0};
};

}  // namespace orb::server
