// fleetctl host show HOST and fleetctl hosts: the host inventory (docs/protocol.md "Host
// inventory") of one host (GET /v1/agents/{id}/inventory) as tables, and one line per host from
// the agent list's summaries (GET /v1/agents: instances by state, the last job's status).
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "cli/output.hpp"
#include "common/time.hpp"
#include "protocol/inventory.hpp"

namespace orb::cli {
namespace {

std::string TimeOrDash(const std::optional<WallTime>& time) {
  return time ? FormatTimestamp(*time) : "-";
}

std::string Disk(const protocol::InventoryDisk& disk) {
  if (disk.root_total_bytes == 0) return "-";
  // Rounded to the nearest: 19.9 % free reads 20 % free.
  const auto percent =
      (disk.root_free_bytes * 100 + disk.root_total_bytes / 2) / disk.root_total_bytes;
  return FormatSize(disk.root_free_bytes) + " free of " + FormatSize(disk.root_total_bytes) + " (" +
         std::to_string(percent) + " % free)";
}

int RunHostShow(Context& ctx, const std::string& host) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto reply = api->Send("GET", "/v1/agents/" + EscapeUrlComponent(host) + "/inventory");
  if (!reply) return ctx.Fail(reply.error());
  auto inventory = protocol::ParseHostInventory(reply->body);
  if (!inventory)
    return ctx.Fail(Error(inventory.error()).WithContext("the inventory fleet-cmdr sent"));
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*inventory) << "\n";
    return kExitOk;
  }
  const WallTime now = ctx.Now();
  ctx.out() << RenderFields({
      {"Host", host},
      {"Reported", FormatTimestamp(inventory->reported_at) + " (" +
                       FormatAge(inventory->reported_at, now) + " ago)"},
      {"Disk", Disk(inventory->disk)},
  });

  ctx.out() << "\n";
  Table servers({"server", "build", "current", "installed", "size"});
  for (const auto& server : inventory->servers) {
    if (server.builds.empty()) servers.AddRow({server.server_id, "-", "", "-", "-"});
    for (const auto& build : server.builds) {
      servers.AddRow({server.server_id, build.build_id,
                      server.current_build == build.build_id ? "*" : "",
                      TimeOrDash(build.installed_at), FormatSize(build.size_bytes)});
    }
  }
  ctx.out() << (servers.rows() > 0 ? servers.Render() : "No servers.\n");

  ctx.out() << "\n";
  Table instances({"instance", "server", "build", "state", "pid", "uptime", "supervisor"});
  for (const auto& instance : inventory->instances) {
    const bool running = instance.state == protocol::InstanceRunState::kRunning;
    instances.AddRow({instance.instance_id, instance.server_id, OrDash(instance.build_id),
                      std::string(protocol::ToString(instance.state)),
                      instance.pid ? std::to_string(*instance.pid) : "-",
                      running && instance.started_at ? FormatAge(*instance.started_at, now) : "-",
                      instance.supervisor});
  }
  ctx.out() << (instances.rows() > 0 ? instances.Render() : "No instances.\n");

  ctx.out() << "\n";
  Table backups({"backup", "instance", "created", "size", "verified"});
  for (const auto& backup : inventory->backups) {
    backups.AddRow({backup.backup_id, backup.instance_id, FormatTimestamp(backup.created_at),
                    FormatSize(backup.size_bytes), TimeOrDash(backup.verified_at)});
  }
  ctx.out() << (backups.rows() > 0 ? backups.Render() : "No backups.\n");
  return kExitOk;
}

int RunHosts(Context& ctx) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto list = api->Call<protocol::AgentList>("GET", "/v1/agents");
  if (!list) return ctx.Fail(list.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*list) << "\n";
    return kExitOk;
  }
  Table table({"host", "online", "running", "stopped", "crashed", "last job"});
  for (const auto& agent : list->agents) {
    const auto count = [&](std::int64_t protocol::InventorySummary::*field) {
      return agent.inventory ? std::to_string((*agent.inventory).*field) : std::string("-");
    };
    table.AddRow(
        {agent.agent_id, agent.revoked ? "revoked" : (agent.online ? "yes" : "no"),
         count(&protocol::InventorySummary::running), count(&protocol::InventorySummary::stopped),
         count(&protocol::InventorySummary::crashed),
         agent.last_job_status ? std::string(protocol::ToString(*agent.last_job_status)) : "-"});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

}  // namespace

void AddHostCommand(CLI::App& app, Context& ctx) {
  auto host = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("host", "Show what a host holds, as its agent last reported it");
  cmd->require_subcommand(1);
  auto* show =
      cmd->add_subcommand("show", "Show a host's servers and builds, instances, backups and disk");
  show->add_option("HOST", *host, "the host's agent id")->required();
  show->footer(
      "Instances are running, stopped, or crashed (their process died without a stop); UPTIME\n"
      "is since the start of a running one. A * marks each server's current build.\n\n"
      "Examples:\n"
      "  fleetctl host show host-1\n"
      "  fleetctl host show host-1 -o json | jq '.instances[] | select(.state == \"crashed\")'");
  show->callback([&ctx, host] { ctx.run = [&ctx, host] { return RunHostShow(ctx, *host); }; });
}

void AddHostsCommand(CLI::App& app, Context& ctx) {
  auto* cmd =
      app.add_subcommand("hosts", "One line per host: online, instances by state, last job");
  cmd->footer(
      "Columns: HOST, ONLINE, RUNNING/STOPPED/CRASHED (instances in the host's last inventory; -\n"
      "before its first), LAST JOB (the status of the host's newest job).\n\n"
      "Example:\n"
      "  fleetctl hosts");
  cmd->callback([&ctx] { ctx.run = [&ctx] { return RunHosts(ctx); }; });
}

}  // namespace orb::cli
