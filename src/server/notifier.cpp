#include "server/notifier.hpp"

#include <algorithm>
#include <utility>

namespace orb::server {

void Notifier::Fired::Run() const {
  for (const auto& callback : callbacks)
    callback(state);
}

bool Notifier::Agent::Due() const {
  if (!known) return false;
  if (state.pending > 0) return true;
  return std::any_of(state.cancel.begin(), state.cancel.end(), [this](const std::string& run) {
    return std::find(told.begin(), told.end(), run) == told.end();
  });
}

AgentQueueState Notifier::Agent::Answer() {
  told = state.cancel;
  return state;
}

Notifier::Agent& Notifier::AgentLocked(const std::string& agent_id) {
  return agents_[agent_id];
}

Notifier::Fired Notifier::ChangedLocked(Agent& agent) {
  ++agent.version;
  Fired fired;
  if (!agent.Due() || agent.waiters.empty()) return fired;
  fired.state = agent.Answer();
  fired.callbacks.reserve(agent.waiters.size());
  for (auto& [id, callback] : agent.waiters) {
    waiter_agents_.erase(id);
    fired.callbacks.push_back(std::move(callback));
  }
  agent.waiters.clear();
  waiter_count_.fetch_sub(fired.callbacks.size(), std::memory_order_relaxed);
  return fired;
}

WaiterId Notifier::Wait(const std::string& agent_id, NotifyCallback callback) {
  AgentQueueState now;
  WaiterId id = 0;
  {
    const std::lock_guard lock(mutex_);
    id = next_id_++;
    Agent& agent = AgentLocked(agent_id);
    if (!agent.Due()) {
      agent.waiters.emplace(id, std::move(callback));
      waiter_agents_.emplace(id, &agent);
      waiter_count_.fetch_add(1, std::memory_order_relaxed);
      return id;
    }
    now = agent.Answer();
  }
  callback(now);
  return id;
}

bool Notifier::Expire(WaiterId id) {
  NotifyCallback callback;
  AgentQueueState now;
  {
    const std::lock_guard lock(mutex_);
    const auto it = waiter_agents_.find(id);
    if (it == waiter_agents_.end()) return false;
    Agent& agent = *it->second;
    waiter_agents_.erase(it);
    auto node = agent.waiters.extract(id);
    callback = std::move(node.mapped());
    if (agent.known) now = agent.Answer();
    waiter_count_.fetch_sub(1, std::memory_order_relaxed);
  }
  callback(now);
  return true;
}

bool Notifier::Cancel(WaiterId id) {
  NotifyCallback dropped;  // destroyed outside the lock: it may own a connection
  {
    const std::lock_guard lock(mutex_);
    const auto it = waiter_agents_.find(id);
    if (it == waiter_agents_.end()) return false;
    auto node = it->second->waiters.extract(id);
    dropped = std::move(node.mapped());
    waiter_agents_.erase(it);
    waiter_count_.fetch_sub(1, std::memory_order_relaxed);
  }
  return true;
}

void Notifier::Update(const std::string& agent_id, AgentQueueState state) {
  Fired fired;
  {
    const std::lock_guard lock(mutex_);
    Agent& agent = AgentLocked(agent_id);
    agent.state = std::move(state);
    agent.state.pending = std::max(agent.state.pending, 0);
    agent.known = true;
    fired = ChangedLocked(agent);
  }
  fired.Run();
}

bool Notifier::Load(const std::string& agent_id, AgentQueueState state, std::uint64_t version) {
  Fired fired;
  {
    const std::lock_guard lock(mutex_);
    Agent& agent = AgentLocked(agent_id);
    if (agent.version != version) return false;
    agent.state = std::move(state);
    agent.state.pending = std::max(agent.state.pending, 0);
    agent.known = true;
    fired = ChangedLocked(agent);
  }
  fired.Run();
  return true;
}

void Notifier::AdjustPending(const std::string& agent_id, int delta) {
  Fired fired;
  {
    const std::lock_guard lock(mutex_);
    Agent& agent = AgentLocked(agent_id);
    if (agent.known) agent.state.pending = std::max(agent.state.pending + delta, 0);
    fired = ChangedLocked(agent);
  }
  fired.Run();
}

void Notifier::AddCancel(const std::string& agent_id, const std::string& run_id) {
  Fired fired;
  {
    const std::lock_guard lock(mutex_);
    Agent& agent = AgentLocked(agent_id);
    auto& cancel = agent.state.cancel;
    if (agent.known && std::find(cancel.begin(), cancel.end(), run_id) == cancel.end()) {
      cancel.push_back(run_id);
    }
    fired = ChangedLocked(agent);
  }
  fired.Run();
}

void Notifier::RemoveCancel(const std::string& agent_id, const std::string& run_id) {
  Fired fired;
  {
    const std::lock_guard lock(mutex_);
    Agent& agent = AgentLocked(agent_id);
    if (agent.known) std::erase(agent.state.cancel, run_id);
    fired = ChangedLocked(agent);
  }
  fired.Run();
}

void Notifier::Invalidate(const std::string& agent_id) {
  const std::lock_guard lock(mutex_);
  Agent& agent = AgentLocked(agent_id);
  agent.known = false;
  agent.state = {};
  ++agent.version;
}

bool Notifier::IsKnown(const std::string& agent_id) const {
  const std::lock_guard lock(mutex_);
  const auto it = agents_.find(agent_id);
  return it != agents_.end() && it->second.known;
}

std::uint64_t Notifier::Version(const std::string& agent_id) const {
  const std::lock_guard lock(mutex_);
  const auto it = agents_.find(agent_id);
  return it == agents_.end() ? 0 : it->second.version;
}

std::optional<AgentQueueState> Notifier::State(const std::string& agent_id) const {
  const std::lock_guard lock(mutex_);
  const auto it = agents_.find(agent_id);
  if (it == agents_.end() || !it->second.known) return std::nullopt;
  return it->second.state;
}

}  // namespace orb::server
