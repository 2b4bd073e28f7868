// INSTALL_SERVER (job-types.md §3): cancellable until the build is committed.

#include "jobs/builds/handlers.hpp"
#include "protocol/build_json.hpp"

namespace orb::jobs {
namespace {

class InstallServerHandler final : public JobHandler {
 public:
  InstallServerHandler(os::Fs& fs, const BuildOptions& options) : fs_(fs), options_(options) {}

  std::string_view type() const override { return "INSTALL_SERVER"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto server_id = BuildStore::ServerIdOf(context);
    if (!server_id) return Fail(std::move(server_id.error()));
    auto payload = protocol::ParseInstallServerPayload(context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    const ServerPaths paths(context.root(), *server_id);
    context.LogLine("info", "installing build " + payload->build_id + " of server " + *server_id);

    auto installed =
        StageAndCommit(context, fs_, options_, paths, payload->build_id, payload->artifact, true);
    if (!installed) return Fail(std::move(installed.error()));

    // Step 4, also on a retry that found the build committed: a crash may have come between the
    // commit and the switch.
    BuildStore store(fs_);
    auto current = store.Current(paths);
    if (!current) return Fail(std::move(current.error()));
    bool activated = false;
    if (!*current || (payload->activate && **current != payload->build_id)) {
      if (auto marked = context.MarkPastPointOfNoReturn(); !marked) return Fail(marked.error());
      context.Progress(97, "activating build " + payload->build_id, "activate");
      if (auto switched =
              store.Activate(context, paths, payload->build_id, *current, std::string(type()));
          !switched) {
        return Fail(std::move(switched.error()).WithContext("activate " + payload->build_id));
      }
      activated = true;
    } else if (**current == payload->build_id) {
      activated = payload->activate;  // asked for and already so
    }
    context.Progress(100, installed->already_installed ? "already installed" : "installed", "done");
    protocol::InstallServerResult result;
    result.server_id = *server_id;
    result.build_id = payload->build_id;
    result.files = installed->record.files;
    result.bytes = installed->record.bytes;
    result.activated = activated;
    result.already_installed = installed->already_installed;
    return protocol::InstallServerResultJson(result);
  }

 private:
  os::Fs& fs_;
  BuildOptions options_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeInstallServerHandler(os::Fs& fs, const BuildOptions& options) {
  return std::make_unique<InstallServerHandler>(fs, options);
}

}  // namespace orb::jobs
