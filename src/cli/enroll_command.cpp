// fleetctl enroll AGENT [--label k=v]: POST /v1/agents (admin); prints the agent's token once.
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "cli/labels_flag.hpp"

namespace orb::cli {
namespace {

struct EnrollArgs {
  std::string agent_id;
  std::vector<std::string> labels;
};

int RunEnroll(Context& ctx, const EnrollArgs& args) {
  auto labels = ParseLabels(args.labels, "--label");
  if (!labels) return ctx.Usage(labels.error());
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  protocol::EnrollRequest request{args.agent_id, std::move(*labels)};
  auto enrolled =
      api->Call<protocol::EnrollResponse>("POST", "/v1/agents", protocol::ToJson(request));
  if (!enrolled) return ctx.Fail(enrolled.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*enrolled) << "\n";
    return kExitOk;
  }
  ctx.out() << "enrolled agent " << enrolled->agent_id << "\n"
            << "token: " << enrolled->token << "\n";
  ctx.err() << "The token is shown only once: put it in the agent's tokenFile (mode 0600).\n";
  return kExitOk;
}

}  // namespace

void AddEnrollCommand(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<EnrollArgs>();
  auto* sub = app.add_subcommand("enroll", "Enroll an agent and print its token (admin)");
  sub->add_option("AGENT", args->agent_id, "the new agent's id")->required();
  sub->add_option("-l,--label", args->labels, "KEY=VALUE label, repeatable")
      ->allow_extra_args(false);
  sub->footer(
      "Example:\n"
      "  fleetctl enroll host-7 --label region=eu --label tier=prod\n"
      "  fleetctl enroll host-7 -o json | jq -r .token > host-7.token");
  sub->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunEnroll(ctx, *args); }; });
}

}  // namespace orb::cli
