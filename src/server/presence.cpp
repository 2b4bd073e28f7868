#include "server/presence.hpp"

#include <utility>

#include "common/log.hpp"

namespace orb::server {

Presence::Presence(store::Store& store, EventPublisher& publisher, AsyncCalls& calls,
                   const Clock& clock, std::chrono::seconds offline_after, bool shared_store)
    : store_(store),
      publisher_(publisher),
      calls_(calls),
      clock_(clock),
      offline_after_(offline_after),
      shared_store_(shared_store) {}

void Presence::MarkSeen(const std::string& agent_id) {
  const auto now = clock_.WallNow();
  bool came_online = false;
  {
    const std::lock_guard lock(mutex_);
    auto& agent = agents_[agent_id];
    agent.last_seen = now;
    unflushed_.push_back({agent_id, now});
    if (!agent.online) {
      agent.online = true;
      came_online = true;
    }
  }
  if (!came_online) return;
  if (shared_store_) {
    calls_.Post([this, agent_id, now] {
      auto marked = store_.MarkAgentOnline(agent_id, now);
      if (!marked) {
        GetLogger("fleet-cmdr")
            ->warn("agentId={} cannot mark online: {}", agent_id, marked.error().Describe());
        return;
      }
      publisher_.Publish(*marked);
      if (marked->value) GetLogger("fleet-cmdr")->info("agentId={} online", agent_id);
    });
    return;
  }
  calls_.Post([this, agent_id, now] {
    protocol::Event event;
    event.type = protocol::EventType::kAgentOnline;
    event.timestamp = now;
    event.agent_id = agent_id;
    event.status = "online";
    auto appended = store_.AppendEvents({event});
    if (appended) publisher_.Publish(*appended);
    GetLogger("fleet-cmdr")->info("agentId={} online", agent_id);
  });
}

bool Presence::IsOnline(const protocol::AgentInfo& agent) const {
  auto last = agent.last_seen_at;
  {
    const std::lock_guard lock(mutex_);
    if (auto it = agents_.find(agent.agent_id); it != agents_.end()) {
      if (!last || it->second.last_seen > *last) last = it->second.last_seen;
    }
  }
  if (!last || agent.revoked) return false;
  return clock_.WallNow() - *last <= offline_after_;
}

void Presence::CheckOffline(WallTime now, bool leading) {
  if (shared_store_) {
    {
      const std::lock_guard lock(mutex_);
      for (auto& [agent_id, agent] : agents_) {
        if (agent.online && now - agent.last_seen > offline_after_) agent.online = false;
      }
    }
    if (!leading) return;
    // Bounded: the store marks a bounded number per call; the next round goes on.
    for (int i = 0; i < 16; ++i) {
      auto marked = store_.MarkAgentsOffline(now, now - offline_after_);
      if (!marked) {
        GetLogger("fleet-cmdr")->warn("marking agents offline: {}", marked.error().Describe());
        return;
      }
      for (const auto& event : marked->events) {
        if (event.agent_id) GetLogger("fleet-cmdr")->info("agentId={} offline", *event.agent_id);
      }
      publisher_.Publish(*marked);
      if (marked->value == 0 || marked->events.empty()) return;
    }
    return;
  }
  std::vector<protocol::Event> events;
  {
    const std::lock_guard lock(mutex_);
    for (auto& [agent_id, agent] : agents_) {
      if (agent.online && now - agent.last_seen > offline_after_) {
        agent.online = false;
        protocol::Event event;
        event.type = protocol::EventType::kAgentOffline;
        event.timestamp = now;
        event.agent_id = agent_id;
        event.status = "offline";
        events.push_back(std::move(event));
      }
    }
  }
  if (events.empty()) return;
  for (const auto& event : events)
    GetLogger("fleet-cmdr")->info("agentId={} offline", *event.agent_id);
  auto appended = store_.AppendEvents(std::move(events));
  if (appended) publisher_.Publish(*appended);
}

void Presence::Flush() {
  std::vector<store::AgentSeen> seen;
  {
    const std::lock_guard lock(mutex_);
    seen.swap(unflushed_);
  }
  if (seen.empty()) return;
  // Keep only the latest time per agent.
  std::unordered_map<std::string, WallTime> latest;
  for (const auto& s : seen) {
    auto& t = latest[s.agent_id];
    if (s.seen_at > t) t = s.seen_at;
  }
  std::vector<store::AgentSeen> batch;
  batch.reserve(latest.size());
  for (auto& [agent_id, at] : latest)
    batch.push_back({agent_id, at});
  if (auto flushed = store_.TouchAgents(batch); !flushed) {
    GetLogger("fleet-cmdr")->warn("cannot record last-seen times: {}", flushed.error().Describe());
  }
}

}  // namespace orb::server
