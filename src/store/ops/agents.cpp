#include "store/ops/agents.hpp"

#include <algorithm>
#include <utility>

#include "protocol/codec.hpp"
#include "store/ops/inventory.hpp"
#include "store/ops/jobs.hpp"
#include "store/ops/rows.hpp"
#include "store/ops/runs.hpp"

namespace orb::store::ops {

using protocol::Event;
using protocol::EventType;
using protocol::RunError;
using protocol::RunStatus;

namespace {

// True when `labels` has every key of `selector` with its value.
bool HasLabels(const protocol::Labels& labels, const protocol::Labels& selector) {
  return std::all_of(selector.begin(), selector.end(), [&labels](const auto& pair) {
    const auto it = labels.find(pair.first);
    return it != labels.end() && it->second == pair.second;
  });
}

bool TokenFree(Connection& db, const TokenRecord& token) {
  Query q(db, "SELECT 1 FROM tokens WHERE id = ?1 OR token_hash = ?2");
  q.Bind(1, token.id).Bind(2, token.token_hash);
  return !q.Step();
}

Error TokenTaken() {
  return MakeError(Errc::kAlreadyExists, "a token with this id or hash exists");
}

// last_seen_ms = the later of what it was and ?N (portable MAX).
std::string LaterSeen(int param) {
  const std::string p = "?" + std::to_string(param);
  return "CASE WHEN last_seen_ms IS NULL OR last_seen_ms < " + p + " THEN " + p +
         " ELSE last_seen_ms END";
}

Event AgentEvent(EventType type, const std::string& agent_id, WallTime now, const char* status) {
  Event event;
  event.type = type;
  event.timestamp = now;
  event.agent_id = agent_id;
  if (status != nullptr) event.status = status;
  return event;
}

}  // namespace

// ---- tokens ----

Expected<TokenRecord> CreateToken(WriteContext& ctx, const TokenRecord& token) {
  if (!TokenFree(ctx.db(), token)) return Fail(TokenTaken());
  if (!InsertToken(ctx.db(), token)) return Fail(TokenTaken());
  return token;
}

Expected<Unit> RevokeToken(WriteContext& ctx, const std::string& id, WallTime now) {
  {
    Query q(ctx.db(), "SELECT revoked_at_ms IS NOT NULL FROM tokens WHERE id = ?");
    q.Bind(1, id);
    if (!q.Step()) return Fail(Errc::kNotFound, "token " + id + " not found");
    if (q.Bool(0)) return Unit{};
  }
  BumpTokensVersion(ctx.db());
  Query q(ctx.db(),
          "UPDATE tokens SET revoked_at_ms = ?1, "
          "change_version = (SELECT value FROM store_meta WHERE key = 'tokens_version') "
          "WHERE id = ?2 AND revoked_at_ms IS NULL");
  q.Bind(1, Millis(now)).Bind(2, id);
  q.Defer();
  return Unit{};
}

Expected<bool> CreateFirstAdminToken(WriteContext& ctx, const TokenRecord& token) {
  // The token version's row serializes every token change: whoever takes it second sees the
  // first one's admin token (a statement after the lock reads what committed before it).
  Query(ctx.db(), "SELECT value FROM store_meta WHERE key = 'tokens_version'" +
                      std::string(ctx.db().dialect().for_update))
      .Run();
  if (HasAdminToken(ctx.db())) return false;
  if (!TokenFree(ctx.db(), token)) return Fail(TokenTaken());
  TokenRecord admin = token;
  admin.role = protocol::Role::kAdmin;
  if (!InsertToken(ctx.db(), admin)) return Fail(TokenTaken());
  return true;
}

Expected<TokenRecord> FindTokenByHash(sql::Connection& db, std::string_view token_hash) {
  static const std::string sql = "SELECT " + std::string(TokenColumns()) +
                                 " FROM tokens WHERE token_hash = ? AND revoked_at_ms IS NULL";
  Query q(db, sql);
  q.Bind(1, token_hash);
  if (!q.Step()) return Fail(Errc::kNotFound, "no such token");
  return ReadToken(q);
}

std::vector<TokenRecord> ListTokens(sql::Connection& db) {
  static const std::string sql =
      "SELECT " + std::string(TokenColumns()) + " FROM tokens ORDER BY created_at_ms, id";
  Query q(db, sql);
  std::vector<TokenRecord> tokens;
  while (q.Step())
    tokens.push_back(ReadToken(q));
  return tokens;
}

bool HasAdminToken(sql::Connection& db) {
  Query q(db, "SELECT 1 FROM tokens WHERE role = 'admin' AND revoked_at_ms IS NULL LIMIT 1");
  return q.Step();
}

TokenChanges TokenChangesSince(sql::Connection& db, std::int64_t version) {
  static const std::string sql = "SELECT " + std::string(TokenColumns()) +
                                 ", change_version FROM tokens WHERE change_version > ? "
                                 "ORDER BY change_version, id";
  TokenChanges changes;
  changes.version = version;
  Query q(db, sql);
  q.Bind(1, version);
  while (q.Step()) {
    changes.tokens.push_back(ReadToken(q));
    changes.version = std::max(changes.version, q.Int64(7));
  }
  return changes;
}

// ---- agents ----

Expected<protocol::AgentInfo> EnrollAgent(WriteContext& ctx, const std::string& id,
                                          const std::string& labels_json, TokenRecord token,
                                          WallTime now) {
  std::optional<bool> revoked;
  {
    Query q(ctx.db(), "SELECT revoked_at_ms IS NOT NULL FROM agents WHERE id = ?");
    q.Bind(1, id);
    if (q.Step()) revoked = q.Bool(0);
  }
  if (revoked && !*revoked) return Fail(Errc::kAlreadyExists, "agent " + id + " exists");
  token.role = protocol::Role::kAgent;
  token.agent_id = id;
  if (!TokenFree(ctx.db(), token)) return Fail(TokenTaken());
  if (revoked) {
    Query q(ctx.db(),
            "UPDATE agents SET labels_json = ?1, declared_labels_json = '{}', "
            "enrolled_at_ms = ?2, revoked_at_ms = NULL WHERE id = ?3");
    q.Bind(1, labels_json).Bind(2, Millis(now)).Bind(3, id);
    q.Defer();
  } else {
    // A concurrent enrollment of the same id (another replica) waits here for the first one's
    // commit and then finds the row taken.
    Query q(ctx.db(),
            "INSERT INTO agents (id, labels_json, enrolled_at_ms) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (id) DO NOTHING");
    q.Bind(1, id).Bind(2, labels_json).Bind(3, Millis(now));
    q.Run();
    if (q.Changes() == 0) return Fail(Errc::kAlreadyExists, "agent " + id + " exists");
  }
  if (!InsertToken(ctx.db(), token)) return Fail(TokenTaken());
  ctx.Emit(AgentEvent(EventType::kAgentEnrolled, id, now, nullptr));
  auto info = LoadAgent(ctx.db(), id);
  if (!info) sql::Corrupt("agent " + id + " vanished");
  return *std::move(info);
}

Expected<Unit> RevokeAgent(WriteContext& ctx, const std::string& id, WallTime now) {
  {
    Query q(ctx.db(),
            "UPDATE agents SET revoked_at_ms = COALESCE(revoked_at_ms, ?1) WHERE id = ?2");
    q.Bind(1, Millis(now)).Bind(2, id);
    q.Run();
    if (q.Changes() == 0) return Fail(Errc::kNotFound, "agent " + id + " not found");
  }
  BumpTokensVersion(ctx.db());
  Query tokens(ctx.db(),
               "UPDATE tokens SET revoked_at_ms = ?1, "
               "change_version = (SELECT value FROM store_meta WHERE key = 'tokens_version') "
               "WHERE agent_id = ?2 AND revoked_at_ms IS NULL");
  tokens.Bind(1, Millis(now)).Bind(2, id);
  tokens.Defer();
  ctx.Touch(id);
  return Unit{};
}

Expected<HelloResult> RecordHello(WriteContext& ctx, const std::string& id,
                                  const protocol::HelloRequest& hello, WallTime now) {
  {
    Query q(ctx.db(), "SELECT revoked_at_ms IS NOT NULL FROM agents WHERE id = ?");
    q.Bind(1, id);
    if (!q.Step()) return Fail(Errc::kNotFound, "agent " + id + " not found");
    if (q.Bool(0)) return Fail(Errc::kForbidden, "agent " + id + " is revoked");
  }
  if (!ctx.Locked(id)) {
    return Fail(Errc::kStore, "store: agent " + id + " was not locked for this write", true);
  }
  {
    static const std::string sql =
        "UPDATE agents SET agent_version = ?1, job_types = ?2, max_parallel = ?3, "
        "declared_labels_json = ?4, hello_at_ms = ?5, last_seen_ms = " +
        LaterSeen(5) + " WHERE id = ?6";
    Query q(ctx.db(), sql);
    q.Bind(1, hello.agent_version)
        .Bind(2, JoinTypes(hello.job_types))
        .Bind(3, hello.max_parallel)
        .Bind(4, protocol::ToJson(hello.labels))
        .Bind(5, Millis(now))
        .Bind(6, id);
    q.Defer();
  }
  HelloResult result;
  for (const protocol::InterruptedRun& interrupted : hello.interrupted_runs) {
    std::optional<RunAndJob> current = LoadRunAndJob(ctx.db(), interrupted.run_id);
    if (!current || current->row.agent_id != id || current->row.run.status != RunStatus::kRunning) {
      continue;
    }
    FailRun(ctx, *std::move(current),
            RunError{std::string(ToString(Errc::kAgentRestarted)),
                     "the agent restarted while the run was in progress",
                     {},
                     true},
            protocol::JobEvent::kAgentRestarted, now);
    result.failed_runs.push_back(interrupted.run_id);
  }
  ctx.Touch(id);
  return result;
}

Expected<Unit> TouchAgents(WriteContext& ctx, std::span<const AgentSeen> seen) {
  static const std::string sql =
      "UPDATE agents SET last_seen_ms = " + LaterSeen(1) + " WHERE id = ?2";
  for (const AgentSeen& agent : seen) {
    if (!ctx.Locked(agent.agent_id)) continue;
    Query q(ctx.db(), sql);
    q.Bind(1, Millis(agent.seen_at)).Bind(2, agent.agent_id);
    q.Defer();
  }
  return Unit{};
}

Expected<bool> MarkAgentOnline(WriteContext& ctx, const std::string& id, WallTime now) {
  bool online = false;
  {
    Query q(ctx.db(), "SELECT online FROM agents WHERE id = ?");
    q.Bind(1, id);
    if (!q.Step()) return Fail(Errc::kNotFound, "agent " + id + " not found");
    online = q.Bool(0);
  }
  if (!ctx.Locked(id)) {
    return Fail(Errc::kStore, "store: agent " + id + " was not locked for this write", true);
  }
  static const std::string sql =
      "UPDATE agents SET online = 1, last_seen_ms = " + LaterSeen(1) + " WHERE id = ?2";
  Query q(ctx.db(), sql);
  q.Bind(1, Millis(now)).Bind(2, id);
  q.Defer();
  if (online) return false;
  ctx.Emit(AgentEvent(EventType::kAgentOnline, id, now, "online"));
  return true;
}

namespace {

// What an agent.health event says: a change of these is a change of health.
std::string ProblemCodes(const protocol::AgentStatusReport& report) {
  std::string codes;
  for (const auto& problem : report.problems)
    codes += problem.code + ",";
  return codes;
}

std::string ProblemsText(const protocol::AgentStatusReport& report) {
  std::string text;
  for (const auto& problem : report.problems) {
    if (!text.empty()) text += "; ";
    text += problem.code + ": " + problem.message;
  }
  return text;
}

}  // namespace

Expected<bool> SetAgentHealth(WriteContext& ctx, const std::string& id,
                              const protocol::AgentStatusReport& report, WallTime now) {
  std::optional<protocol::AgentStatusReport> before;
  {
    Query q(ctx.db(), "SELECT health_json FROM agents WHERE id = ?");
    q.Bind(1, id);
    if (!q.Step()) return Fail(Errc::kNotFound, "agent " + id + " not found");
    if (auto stored = q.OptText(0)) {
      if (auto parsed = protocol::FromJson<protocol::AgentStatusReport>(*stored)) {
        before = *std::move(parsed);
      }
    }
  }
  if (!ctx.Locked(id)) {
    return Fail(Errc::kStore, "store: agent " + id + " was not locked for this write", true);
  }
  Query q(ctx.db(), "UPDATE agents SET health_json = ? WHERE id = ?");
  q.Bind(1, protocol::ToJson(report)).Bind(2, id);
  q.Defer();
  const bool changed =
      before ? before->healthy != report.healthy || ProblemCodes(*before) != ProblemCodes(report)
             : !report.healthy;
  if (!changed) return false;
  Event event =
      AgentEvent(EventType::kAgentHealth, id, now, report.healthy ? "healthy" : "unhealthy");
  if (!report.problems.empty()) event.message = ProblemsText(report);
  ctx.Emit(std::move(event));
  return true;
}

namespace {
constexpr std::string_view kGoneOfflineSql =
    "SELECT id FROM agents WHERE online = 1 AND (last_seen_ms IS NULL OR last_seen_ms < ?) "
    "ORDER BY id LIMIT ?";
}  // namespace

Expected<int> MarkAgentsOffline(WriteContext& ctx, WallTime now, WallTime seen_before) {
  std::vector<std::string> gone;
  {
    Query q(ctx.db(), kGoneOfflineSql);
    q.Bind(1, Millis(seen_before)).Bind(2, kTimeBatch);
    while (q.Step())
      gone.push_back(q.Text(0));
  }
  int marked = 0;
  for (const std::string& id : gone) {
    // An agent that went quiet since the batch was declared: the next call takes it.
    if (!ctx.Locked(id)) continue;
    Query q(ctx.db(), "UPDATE agents SET online = 0 WHERE id = ?");
    q.Bind(1, id);
    q.Defer();
    ctx.Emit(AgentEvent(EventType::kAgentOffline, id, now, "offline"));
    ++marked;
  }
  return marked;
}

std::vector<std::string> AgentsGoneOffline(sql::Connection& db, WallTime seen_before) {
  std::vector<std::string> gone;
  Query q(db, kGoneOfflineSql);
  q.Bind(1, Millis(seen_before)).Bind(2, kTimeBatch);
  while (q.Step())
    gone.push_back(q.Text(0));
  return gone;
}

Expected<protocol::AgentInfo> GetAgent(sql::Connection& db, std::string_view agent_id) {
  auto info = LoadAgent(db, agent_id);
  if (!info) return Fail(Errc::kNotFound, "agent " + std::string(agent_id) + " not found");
  std::vector<protocol::AgentInfo> one{*std::move(info)};
  AddInventorySummaries(db, one);
  return std::move(one[0]);
}

std::vector<protocol::AgentInfo> ListAgents(sql::Connection& db, const AgentFilter& filter) {
  std::vector<protocol::AgentInfo> agents;
  {
    static const std::string sql =
        "SELECT " + std::string(AgentColumns()) + " FROM agents ORDER BY id";
    Query q(db, sql);
    while (q.Step()) {
      protocol::AgentInfo info = ReadAgent(q);
      if (info.revoked && !filter.include_revoked) continue;
      if (HasLabels(info.labels, filter.labels)) agents.push_back(std::move(info));
    }
  }
  Query runs(db,
             "SELECT agent_id, current_run_id FROM jobs WHERE status = 'RUNNING' "
             "ORDER BY agent_id, current_run_id");
  while (runs.Step()) {
    const std::string owner = runs.Text(0);
    auto it = std::lower_bound(
        agents.begin(), agents.end(), owner,
        [](const protocol::AgentInfo& a, const std::string& id) { return a.agent_id < id; });
    if (it != agents.end() && it->agent_id == owner) it->running_runs.push_back(runs.Text(1));
  }
  AddInventorySummaries(db, agents);
  return agents;
}

std::vector<LiveAgent> LiveAgents(sql::Connection& db) {
  std::vector<LiveAgent> agents;
  Query q(db,
          "SELECT id, labels_json, declared_labels_json FROM agents WHERE revoked_at_ms IS NULL "
          "ORDER BY id");
  while (q.Step())
    agents.push_back(LiveAgent{q.Text(0), AgentLabels(q.Text(1), q.Text(2))});
  return agents;
}

bool IsLive(const std::vector<LiveAgent>& agents, const std::string& id) {
  const auto it = std::lower_bound(
      agents.begin(), agents.end(), id,
      [](const LiveAgent& agent, const std::string& wanted) { return agent.id < wanted; });
  return it != agents.end() && it->id == id;
}

std::vector<std::string> ResolveHosts(const protocol::HostTarget& target,
                                      const std::vector<LiveAgent>& agents) {
  std::vector<std::string> hosts;
  if (!target.selector) {
    for (const std::string& id : target.agent_ids) {
      if (IsLive(agents, id)) hosts.push_back(id);
    }
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    return hosts;
  }
  for (const LiveAgent& agent : agents) {
    if (HasLabels(agent.labels, *target.selector)) hosts.push_back(agent.id);
  }
  return hosts;
}

// ---- leader lease ----

Expected<Leadership> TryLeadership(WriteContext& ctx, const std::string& name,
                                   const std::string& holder, WallTime now,
                                   std::chrono::milliseconds ttl) {
  {
    // Taken when free or expired, renewed by its holder; otherwise left alone (still locked
    // until the commit, so two replicas never both see it free).
    Query q(ctx.db(),
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires_ms = excluded.expires_ms "
            "WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?4");
    q.Bind(1, name).Bind(2, holder).Bind(3, Millis(now + ttl)).Bind(4, Millis(now));
    q.Run();
  }
  Query q(ctx.db(), "SELECT holder, expires_ms FROM leases WHERE name = ?");
  q.Bind(1, name);
  if (!q.Step()) sql::Corrupt("lease " + name + " vanished");
  Leadership leadership;
  leadership.holder = q.Text(0);
  leadership.expires_at = Wall(q.Int64(1));
  leadership.held = leadership.holder == holder;
  return leadership;
}

Expected<Unit> ReleaseLeadership(WriteContext& ctx, const std::string& name,
                                 const std::string& holder) {
  Query q(ctx.db(), "UPDATE leases SET expires_ms = 0 WHERE name = ?1 AND holder = ?2");
  q.Bind(1, name).Bind(2, holder);
  q.Defer();
  return Unit{};
}

}  // namespace orb::store::ops
