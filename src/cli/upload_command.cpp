// fleetctl upload FILE: PUT /v1/artifacts (streamed); prints the sha256 and URL agents download.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"

namespace orb::cli {
namespace {

constexpr std::chrono::hours kUploadTimeout{1};

int RunUpload(Context& ctx, const std::string& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return ctx.Usage(MakeError(Errc::kIo, "cannot upload " + file + ": not a readable file"));
  }
  auto connection = ctx.ResolveConnection();
  if (!connection) return ctx.Usage(connection.error());
  Api api(std::move(*connection), kUploadTimeout);
  auto reply = api.Send("PUT", "/v1/artifacts", "", std::filesystem::path(file));
  if (!reply) return ctx.Fail(reply.error());
  auto artifact = Api::Decode<protocol::ArtifactInfo>(*reply);
  if (!artifact) return ctx.Fail(artifact.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*artifact) << "\n";
    return kExitOk;
  }
  ctx.out() << (reply->status == 201 ? "uploaded " : "already present: ") << file << " ("
            << artifact->size << " bytes)\n"
            << "sha256: " << artifact->sha256 << "\n"
            << "url:    " << api.connection().base_url << artifact->url << "\n";
  return kExitOk;
}

}  // namespace

void AddUploadCommand(CLI::App& app, Context& ctx) {
  auto file = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("upload", "Upload an artifact (a build, a mod) to fleet-cmdr");
  sub->add_option("FILE", *file, "the file to upload")->required();
  sub->footer(
      "Artifacts are content-addressed: uploading the same bytes twice stores them once.\n\n"
      "Example:\n"
      "  fleetctl upload paper-1.21.4.tar.zst -o json | jq -r .sha256");
  sub->callback([&ctx, file] { ctx.run = [&ctx, file] { return RunUpload(ctx, *file); }; });
}

}  // namespace orb::cli
