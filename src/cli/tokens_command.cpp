// fleetctl tokens create|revoke: POST /v1/tokens and DELETE /v1/tokens/{id} (admin).
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"

namespace orb::cli {
namespace {

struct TokenArgs {
  std::string role;
  std::string name;
  std::string id;
};

int RunCreate(Context& ctx, const TokenArgs& args) {
  auto role = protocol::RoleFromString(args.role);
  if (!role) return ctx.Usage("--role must be viewer, operator or admin");
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto created = api->Call<protocol::TokenCreated>(
      "POST", "/v1/tokens", protocol::ToJson(protocol::TokenCreateRequest{*role, args.name}));
  if (!created) return ctx.Fail(created.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*created) << "\n";
    return kExitOk;
  }
  ctx.out() << "token id: " << created->id << "\n"
            << "token:    " << created->token << "\n";
  ctx.err() << "The token is shown only once.\n";
  return kExitOk;
}

int RunRevoke(Context& ctx, const TokenArgs& args) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto revoked = api->Send("DELETE", "/v1/tokens/" + EscapeUrlComponent(args.id));
  if (!revoked) return ctx.Fail(revoked.error());
  if (ctx.json()) {
    // Token ids are fleet-cmdr's UUIDs: nothing to escape.
    ctx.out() << R"({"id":")" << EscapeUrlComponent(args.id) << R"(","revoked":true})"
              << "\n";
    return kExitOk;
  }
  ctx.out() << "revoked token " << args.id << "\n";
  return kExitOk;
}

}  // namespace

void AddTokensCommand(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<TokenArgs>();
  auto* tokens = app.add_subcommand("tokens", "Create and revoke API tokens (admin)");
  tokens->require_subcommand(1);
  tokens->footer(
      "Examples:\n"
      "  fleetctl tokens create --role operator --name ci\n"
      "  fleetctl tokens revoke 01934f2a-...");
  auto* create = tokens->add_subcommand("create", "Create a token; it is printed once");
  create->add_option("--role", args->role, "viewer | operator | admin")
      ->required()
      ->check(CLI::IsMember({"viewer", "operator", "admin"}));
  create->add_option("--name", args->name, "what the token is for")->required();
  create->footer("Example:\n  fleetctl tokens create --role viewer --name dashboard");
  create->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunCreate(ctx, *args); }; });
  auto* revoke = tokens->add_subcommand("revoke", "Revoke a token by its id");
  revoke->add_option("ID", args->id, "the token's id (from tokens create)")->required();
  revoke->footer("Example:\n  fleetctl tokens revoke 01934f2a-...");
  revoke->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunRevoke(ctx, *args); }; });
}

}  // namespace orb::cli
