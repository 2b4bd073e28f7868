// ACTIVATE_BUILD (job-types.md §3): not cancellable (the executor marks it past its point of no
// return from the start); the switch is one rename.

#include "jobs/builds/handlers.hpp"
#include "protocol/build_json.hpp"

namespace orb::jobs {
namespace {

class ActivateBuildHandler final : public JobHandler {
 public:
  ActivateBuildHandler(os::Fs& fs, const BuildOptions& options) : fs_(fs), options_(options) {}

  std::string_view type() const override { return "ACTIVATE_BUILD"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto server_id = BuildStore::ServerIdOf(context);
    if (!server_id) return Fail(std::move(server_id.error()));
    auto payload = protocol::ParseActivateBuildPayload(context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    const ServerPaths paths(context.root(), *server_id);
    BuildStore store(fs_);

    context.Progress(0, "checking build " + payload->build_id, "check");
    auto record = store.FindCommitted(paths, payload->build_id);
    if (!record) return Fail(std::move(record.error()));
    if (!*record) {
      return Fail(Errc::kNotInstalled, "build " + payload->build_id + " of server " + *server_id +
                                           " is not installed (no committed build)");
    }
    auto current = store.Current(paths);
    if (!current) return Fail(std::move(current.error()));
    protocol::ActivateBuildResult result;
    result.server_id = *server_id;
    result.build_id = payload->build_id;
    result.restart_instances = payload->restart_instances;
    if (*current == payload->build_id) {
      auto previous = store.PreviousOf(context, paths, payload->build_id);
      if (!previous) return Fail(std::move(previous.error()));
      result.previous_build_id = *previous;
      result.already_active = true;
      context.LogLine("info", "build " + payload->build_id + " is already current");
    } else {
      if (auto marked = context.MarkPastPointOfNoReturn(); !marked) return Fail(marked.error());
      context.Progress(20, "switching to build " + payload->build_id, "activate");
      if (auto switched =
              store.Activate(context, paths, payload->build_id, *current, std::string(type()));
          !switched) {
        return Fail(std::move(switched.error()).WithContext("activate " + payload->build_id));
      }
      result.previous_build_id = *current;
    }
    if (payload->restart_instances) {
      InstanceMover mover(fs_, options_.instances);
      auto moved = mover.MoveAll(context, paths, payload->build_id, 40, 100);
      if (!moved) return Fail(std::move(moved.error()));
      if (moved->failed) {
        return Fail(std::move(*moved->error)
                        .WithContext("restart instance " + *moved->failed + " on build " +
                                     payload->build_id));
      }
      result.restarted = moved->restarted;
    }
    context.Progress(100, result.already_active ? "already active" : "activated", "done");
    return protocol::ActivateBuildResultJson(result);
  }

 private:
  os::Fs& fs_;
  BuildOptions options_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeActivateBuildHandler(os::Fs& fs, const BuildOptions& options) {
  return std::make_unique<ActivateBuildHandler>(fs, options);
}

}  // namespace orb::jobs
