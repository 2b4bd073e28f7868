#include "store/ops/inventory.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "store/ops/rows.hpp"

namespace orb::store::ops {

using protocol::Event;
using protocol::EventType;

namespace {

// The agent of `id` in `agents` (ordered by id), or nullptr.
protocol::AgentInfo* FindAgent(std::vector<protocol::AgentInfo>& agents, const std::string& id) {
  auto it = std::lower_bound(
      agents.begin(), agents.end(), id,
      [](const protocol::AgentInfo& a, const std::string& wanted) { return a.agent_id < wanted; });
  return it != agents.end() && it->agent_id == id ? &*it : nullptr;
}

}  // namespace

Expected<bool> PutInventory(WriteContext& ctx, const std::string& agent_id,
                            const protocol::HostInventory& inventory, WallTime now) {
  if (!ctx.KnownAgent(agent_id)) {
    Query q(ctx.db(), "SELECT 1 FROM agents WHERE id = ?");
    q.Bind(1, agent_id);
    if (!q.Step()) return Fail(Errc::kNotFound, "agent " + agent_id + " not found");
  }
  if (!ctx.Locked(agent_id)) {
    return Fail(Errc::kStore, "store: agent " + agent_id + " was not locked for this write", true);
  }
  std::optional<protocol::HostInventory> before;
  {
    Query q(ctx.db(), "SELECT inventory_json FROM agent_inventories WHERE agent_id = ?");
    q.Bind(1, agent_id);
    if (q.Step()) {
      // A stored text that no longer parses counts as no inventory: the new one replaces it.
      if (auto parsed = protocol::ParseHostInventory(q.Text(0))) before = *std::move(parsed);
    }
  }
  const protocol::InventorySummary summary = protocol::Summarize(inventory);
  {
    Query q(ctx.db(),
            "INSERT INTO agent_inventories (agent_id, inventory_json, reported_at_ms, "
            "received_at_ms, running, stopped, crashed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
            "ON CONFLICT (agent_id) DO UPDATE SET inventory_json = excluded.inventory_json, "
            "reported_at_ms = excluded.reported_at_ms, received_at_ms = excluded.received_at_ms, "
            "running = excluded.running, stopped = excluded.stopped, crashed = excluded.crashed");
    q.Bind(1, agent_id)
        .Bind(2, protocol::ToJson(inventory))
        .Bind(3, Millis(inventory.reported_at))
        .Bind(4, Millis(now))
        .Bind(5, summary.running)
        .Bind(6, summary.stopped)
        .Bind(7, summary.crashed);
    q.Defer();
  }
  if (!protocol::DeservesInventoryEvent(before, inventory)) return false;
  Event event;
  event.type = EventType::kAgentInventory;
  event.timestamp = now;
  event.agent_id = agent_id;
  event.message = protocol::InventoryEventMessage(summary);
  ctx.Emit(std::move(event));
  return true;
}

Expected<protocol::HostInventory> GetInventory(sql::Connection& db, std::string_view agent_id) {
  const std::string id(agent_id);
  {
    Query q(db, "SELECT inventory_json FROM agent_inventories WHERE agent_id = ?");
    q.Bind(1, id);
    if (q.Step()) {
      auto parsed = protocol::ParseHostInventory(q.Text(0));
      if (!parsed) {
        return Fail(Errc::kInternal, "the stored inventory of agent " + id +
                                         " does not parse: " + parsed.error().Describe());
      }
      return *std::move(parsed);
    }
  }
  Query q(db, "SELECT 1 FROM agents WHERE id = ?");
  q.Bind(1, id);
  if (!q.Step()) return Fail(Errc::kNotFound, "agent " + id + " not found");
  return Fail(Errc::kNotFound, "agent " + id + " has reported no inventory yet");
}

void AddInventorySummaries(sql::Connection& db, std::vector<protocol::AgentInfo>& agents) {
  if (agents.empty()) return;
  // One agent (GET /v1/agents/{id}): its rows only.
  const bool one = agents.size() == 1;
  {
    static const std::string all =
        "SELECT agent_id, running, stopped, crashed, reported_at_ms FROM agent_inventories "
        "ORDER BY agent_id";
    static const std::string single =
        "SELECT agent_id, running, stopped, crashed, reported_at_ms FROM agent_inventories "
        "WHERE agent_id = ?";
    Query q(db, one ? single : all);
    if (one) q.Bind(1, agents[0].agent_id);
    while (q.Step()) {
      protocol::AgentInfo* agent = FindAgent(agents, q.Text(0));
      if (agent == nullptr) continue;
      protocol::InventorySummary summary;
      summary.running = q.Int64(1);
      summary.stopped = q.Int64(2);
      summary.crashed = q.Int64(3);
      summary.reported_at = Wall(q.Int64(4));
      agent->inventory = summary;
    }
  }
  // Job ids are UUIDv7, so the newest job of an agent is the last of jobs_agent_id (agent_id,
  // id): one index probe per agent inside one statement, not one query per agent.
  static const std::string newest =
      "SELECT a.id, (SELECT j.status FROM jobs j WHERE j.agent_id = a.id "
      "ORDER BY j.id DESC LIMIT 1) FROM agents a ";
  static const std::string all_newest = newest + "ORDER BY a.id";
  static const std::string single_newest = newest + "WHERE a.id = ?";
  Query q(db, one ? single_newest : all_newest);
  if (one) q.Bind(1, agents[0].agent_id);
  while (q.Step()) {
    protocol::AgentInfo* agent = FindAgent(agents, q.Text(0));
    if (agent == nullptr) continue;
    if (auto status = q.OptText(1)) agent->last_job_status = protocol::JobStatusFromString(*status);
  }
}

}  // namespace orb::store::ops
