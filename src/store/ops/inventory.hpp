#pragma once

// Host inventory (docs/protocol.md "Host inventory", docs/decisions/0024): each agent's latest
// report in agent_inventories (one row per agent, replaced by the next), and the summaries of
// GET /v1/agents. Written once over the database seam; both stores run these bodies. Internal to
// src/store.

#include <string>
#include <vector>

#include "common/expected.hpp"
#include "protocol/inventory.hpp"
#include "store/ops/context.hpp"

namespace orb::store::ops {

// Replaces the agent's inventory; appends agent.inventory when DeservesInventoryEvent says the
// change is worth one. Value: whether it did. not_found for an unknown agent.
Expected<bool> PutInventory(WriteContext& ctx, const std::string& agent_id,
                            const protocol::HostInventory& inventory, WallTime now);

// not_found for an unknown agent, and for one that has reported none yet (the message says which).
Expected<protocol::HostInventory> GetInventory(sql::Connection& db, std::string_view agent_id);

// Fills `inventory` and `last_job_status` of `agents` (ordered by id) in two queries, whatever
// their number: the summaries' rows, and each agent's newest job through jobs_agent_id. For one
// agent the queries read its rows only.
void AddInventorySummaries(sql::Connection& db, std::vector<protocol::AgentInfo>& agents);

}  // namespace orb::store::ops
