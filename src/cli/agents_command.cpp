// fleetctl agents [AGENT]: the fleet (GET /v1/agents) or one agent (GET /v1/agents/{id}).
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "cli/output.hpp"

namespace orb::cli {
namespace {

std::string State(const protocol::AgentInfo& agent) {
  if (agent.revoked) return "revoked";
  return agent.online ? "online" : "offline";
}

// The agent's latest health report: "-" before its first.
std::string Health(const protocol::AgentInfo& agent) {
  if (!agent.health) return "-";
  return agent.health->healthy ? "healthy" : "unhealthy";
}

std::string Problems(const protocol::AgentInfo& agent) {
  if (!agent.health || agent.health->problems.empty()) return "-";
  std::string out;
  for (const auto& problem : agent.health->problems)
    out += (out.empty() ? "" : "; ") + problem.code + ": " + problem.message;
  return out;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ",") + item;
  return out;
}

int RunAgents(Context& ctx, const std::string& agent_id) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  const WallTime now = ctx.Now();
  auto last_seen = [&](const protocol::AgentInfo& agent) {
    return agent.last_seen_at ? FormatAge(*agent.last_seen_at, now) + " ago" : "never";
  };
  if (!agent_id.empty()) {
    auto agent =
        api->Call<protocol::AgentInfo>("GET", "/v1/agents/" + EscapeUrlComponent(agent_id));
    if (!agent) return ctx.Fail(agent.error());
    if (ctx.json()) {
      ctx.out() << protocol::ToJson(*agent) << "\n";
      return kExitOk;
    }
    ctx.out() << RenderFields({
        {"Agent", agent->agent_id},
        {"State", State(*agent)},
        {"Health", Health(*agent)},
        {"Problems", Problems(*agent)},
        {"Last seen", last_seen(*agent)},
        {"Version", OrDash(agent->agent_version)},
        {"Labels", FormatLabels(agent->labels)},
        {"Job types", Join(agent->job_types)},
        {"Max parallel", std::to_string(agent->max_parallel)},
        {"Running runs", agent->running_runs.empty() ? "-" : Join(agent->running_runs)},
    });
    return kExitOk;
  }
  auto list = api->Call<protocol::AgentList>("GET", "/v1/agents");
  if (!list) return ctx.Fail(list.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*list) << "\n";
    return kExitOk;
  }
  Table table({"agent", "state", "health", "version", "running", "labels", "last seen"});
  table.SetMaxWidth(5, 40);
  for (const auto& agent : list->agents) {
    table.AddRow(
        {agent.agent_id, State(agent), Health(agent), OrDash(agent.agent_version),
         std::to_string(agent.running_runs.size()) + "/" + std::to_string(agent.max_parallel),
         FormatLabels(agent.labels), last_seen(agent)});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

}  // namespace

void AddAgentsCommand(CLI::App& app, Context& ctx) {
  auto agent_id = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("agents", "List the agents of the fleet, or show one");
  sub->add_option("AGENT", *agent_id, "show only this agent");
  sub->footer(
      "Columns: AGENT, STATE (online = seen within 3 long polls), HEALTH (the agent's last\n"
      "status report: healthy, unhealthy, - before its first; one agent shows its problems),\n"
      "VERSION, RUNNING (runs/max parallel), LABELS, LAST SEEN.\n\n"
      "Examples:\n"
      "  fleetctl agents\n"
      "  fleetctl agents host-1 --output json");
  sub->callback(
      [&ctx, agent_id] { ctx.run = [&ctx, agent_id] { return RunAgents(ctx, *agent_id); }; });
}

}  // namespace orb::cli
