// fleetctl unenroll AGENT: DELETE /v1/agents/{id} (admin): revokes the agent's token.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"

namespace orb::cli {
namespace {

int RunUnenroll(Context& ctx, const std::string& agent_id) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto revoked = api->Send("DELETE", "/v1/agents/" + EscapeUrlComponent(agent_id));
  if (!revoked) return ctx.Fail(revoked.error());
  if (ctx.json()) {
    // The server accepted the id, so it is a valid name (protocol.md §1): nothing to escape.
    ctx.out() << R"({"agentId":")" << EscapeUrlComponent(agent_id) << R"(","revoked":true})"
              << "\n";
    return kExitOk;
  }
  ctx.out() << "revoked agent " << agent_id << "\n";
  return kExitOk;
}

}  // namespace

void AddUnenrollCommand(CLI::App& app, Context& ctx) {
  auto agent_id = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("unenroll", "Revoke an agent's token (admin)");
  sub->add_option("AGENT", *agent_id, "the agent's id")->required();
  sub->footer("Example:\n  fleetctl unenroll host-7");
  sub->callback(
      [&ctx, agent_id] { ctx.run = [&ctx, agent_id] { return RunUnenroll(ctx, *agent_id); }; });
}

}  // namespace orb::cli
