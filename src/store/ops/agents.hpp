#pragma once

// Agents and tokens (protocol.md §2, §4, §5): enrollment, revocation, hello, last-seen times,
// presence, the first admin token, the token change feed and the leader lease. Written once over
// the database seam; both stores run these bodies. Internal to src/store.
//
// Token changes take the next `store_meta.tokens_version` (its row stays locked until the
// commit), so token changes commit in version order and TokenChangesSince never skips one.

#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "protocol/host_target.hpp"
#include "store/ops/context.hpp"
#include "store/store.hpp"

namespace orb::store::ops {

// ---- tokens ----

Expected<TokenRecord> CreateToken(WriteContext& ctx, const TokenRecord& token);
Expected<Unit> RevokeToken(WriteContext& ctx, const std::string& token_id, WallTime now);
Expected<bool> CreateFirstAdminToken(WriteContext& ctx, const TokenRecord& token);
Expected<TokenRecord> FindTokenByHash(sql::Connection& db, std::string_view token_hash);
std::vector<TokenRecord> ListTokens(sql::Connection& db);
bool HasAdminToken(sql::Connection& db);
TokenChanges TokenChangesSince(sql::Connection& db, std::int64_t version);

// ---- agents ----

Expected<protocol::AgentInfo> EnrollAgent(WriteContext& ctx, const std::string& agent_id,
                                          const std::string& labels_json, TokenRecord token,
                                          WallTime now);
Expected<Unit> RevokeAgent(WriteContext& ctx, const std::string& agent_id, WallTime now);
Expected<HelloResult> RecordHello(WriteContext& ctx, const std::string& agent_id,
                                  const protocol::HelloRequest& hello, WallTime now);
Expected<Unit> TouchAgents(WriteContext& ctx, std::span<const AgentSeen> seen);
Expected<bool> MarkAgentOnline(WriteContext& ctx, const std::string& agent_id, WallTime now);
Expected<int> MarkAgentsOffline(WriteContext& ctx, WallTime now, WallTime seen_before);
Expected<bool> SetAgentHealth(WriteContext& ctx, const std::string& agent_id,
                              const protocol::AgentStatusReport& report, WallTime now);
// The agents MarkAgentsOffline would mark: what it declares.
std::vector<std::string> AgentsGoneOffline(sql::Connection& db, WallTime seen_before);
Expected<protocol::AgentInfo> GetAgent(sql::Connection& db, std::string_view agent_id);
std::vector<protocol::AgentInfo> ListAgents(sql::Connection& db, const AgentFilter& filter);
// Every enrolled (not revoked) agent with its labels (given and declared), by id: lighter than
// ListAgents (no health, runs or inventory). A schedules' timer pass reads it once, on a reader,
// so that resolving a hundred targets does not read every agent a hundred times inside the
// writer's transactions.
struct LiveAgent {
  std::string id;
  protocol::Labels labels;
};
std::vector<LiveAgent> LiveAgents(sql::Connection& db);
// Whether `id` is among `agents` (LiveAgents: sorted by id).
bool IsLive(const std::vector<LiveAgent>& agents, const std::string& id);
// The hosts `target` names among `agents` (LiveAgents), by id.
std::vector<std::string> ResolveHosts(const protocol::HostTarget& target,
                                      const std::vector<LiveAgent>& agents);

// ---- leader lease ----

Expected<Leadership> TryLeadership(WriteContext& ctx, const std::string& name,
                                   const std::string& holder, WallTime now,
                                   std::chrono::milliseconds ttl);
Expected<Unit> ReleaseLeadership(WriteContext& ctx, const std::string& name,
                                 const std::string& holder);

}  // namespace orb::store::ops
