// fleetctl artifacts ls|rm: GET /v1/artifacts (viewer) and DELETE /v1/artifacts/{sha256}
// (operator; refused with 409 while an unfinished job names the artifact).
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "cli/output.hpp"

namespace orb::cli {
namespace {

int RunList(Context& ctx) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto list = api->Call<protocol::ArtifactList>("GET", "/v1/artifacts");
  if (!list) return ctx.Fail(list.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*list) << "\n";
    return kExitOk;
  }
  const WallTime now = ctx.Now();
  Table table({"sha256", "size", "uploaded", "unfinished jobs"});
  for (const auto& artifact : list->artifacts) {
    table.AddRow({artifact.sha256, FormatSize(artifact.size),
                  FormatAge(artifact.created_at, now) + " ago",
                  std::to_string(artifact.unfinished_jobs)});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int RunRemove(Context& ctx, const std::string& sha256) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto removed = api->Send("DELETE", "/v1/artifacts/" + EscapeUrlComponent(sha256));
  if (!removed) return ctx.Fail(removed.error());
  if (ctx.json()) {
    ctx.out() << R"({"sha256":")" << EscapeUrlComponent(sha256) << R"(","deleted":true})"
              << "\n";
    return kExitOk;
  }
  ctx.out() << "deleted artifact " << sha256 << "\n";
  return kExitOk;
}

}  // namespace

void AddArtifactsCommand(CLI::App& app, Context& ctx) {
  auto sha256 = std::make_shared<std::string>();
  auto* artifacts = app.add_subcommand("artifacts", "List and delete uploaded artifacts");
  artifacts->require_subcommand(1);
  artifacts->footer(
      "An artifact that an unfinished job (created, queued, running) names cannot be deleted;\n"
      "fleet-cmdr prunes the others --artifact-retention-days after their upload.\n\n"
      "Examples:\n"
      "  fleetctl artifacts ls\n"
      "  fleetctl artifacts rm 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  auto* list = artifacts->add_subcommand("ls", "List the artifacts, oldest first");
  list->footer("Example:\n  fleetctl artifacts ls -o json | jq -r '.artifacts[].sha256'");
  list->callback([&ctx] { ctx.run = [&ctx] { return RunList(ctx); }; });
  auto* remove = artifacts->add_subcommand("rm", "Delete an artifact no unfinished job names");
  remove->add_option("SHA256", *sha256, "the artifact's sha256 (from artifacts ls or upload)")
      ->required();
  remove->footer("Example:\n  fleetctl artifacts rm 9f86d0...0f00a08");
  remove->callback(
      [&ctx, sha256] { ctx.run = [&ctx, sha256] { return RunRemove(ctx, *sha256); }; });
}

}  // namespace orb::cli
