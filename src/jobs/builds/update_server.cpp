// UPDATE_SERVER (job-types.md §3): stage and commit as INSTALL_SERVER (cancellable), switch
// `current` (the point of no return), restart the server's running instances one by one, and on
// an instance that does not become ready switch back, restart again and fail update_rolled_back.

#include "jobs/builds/handlers.hpp"
#include "protocol/build_json.hpp"

namespace orb::jobs {
namespace {

constexpr int kSwitchPercent = 96;

class UpdateServerHandler final : public JobHandler {
 public:
  UpdateServerHandler(os::Fs& fs, const BuildOptions& options) : fs_(fs), options_(options) {}

  std::string_view type() const override { return "UPDATE_SERVER"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto server_id = BuildStore::ServerIdOf(context);
    if (!server_id) return Fail(std::move(server_id.error()));
    auto payload = protocol::ParseUpdateServerPayload(context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    const ServerPaths paths(context.root(), *server_id);
    const std::string& build_id = payload->build_id;
    context.LogLine("info", "updating server " + *server_id + " to build " + build_id);

    // 1. Nothing live is touched here, so a cancel never causes downtime.
    auto installed =
        StageAndCommit(context, fs_, options_, paths, build_id, payload->artifact, false);
    if (!installed) return Fail(std::move(installed.error()));

    // 2. The switch.
    BuildStore store(fs_);
    auto current = store.Current(paths);
    if (!current) return Fail(std::move(current.error()));
    protocol::UpdateServerResult result;
    result.server_id = *server_id;
    result.build_id = build_id;
    result.already_installed = installed->already_installed;
    if (auto marked = context.MarkPastPointOfNoReturn(); !marked) return Fail(marked.error());
    if (*current == build_id) {
      auto previous = store.PreviousOf(context, paths, build_id);
      if (!previous) return Fail(std::move(previous.error()));
      result.previous_build_id = *previous;
      result.already_active = true;
    } else {
      context.Progress(kSwitchPercent, "switching to build " + build_id, "activate");
      if (auto switched = store.Activate(context, paths, build_id, *current, std::string(type()));
          !switched) {
        return Fail(std::move(switched.error()).WithContext("activate " + build_id));
      }
      result.previous_build_id = *current;
    }

    // 3. One by one onto the new build.
    if (payload->restart_instances) {
      InstanceMover mover(fs_, options_.instances);
      auto moved = mover.MoveAll(context, paths, build_id, kSwitchPercent + 1, 100);
      if (!moved) return Fail(std::move(moved.error()));
      if (moved->failed) return RollBack(context, store, mover, paths, result, *moved);
      result.restarted = moved->restarted;
    }
    context.Progress(100, "updated to build " + build_id, "done");
    return protocol::UpdateServerResultJson(result);
  }

 private:
  // 4. Switch back and restart what was moved (and the one that failed) on the old build.
  Expected<std::string> RollBack(HandlerContext& context, BuildStore& store, InstanceMover& mover,
                                 const ServerPaths& paths,
                                 const protocol::UpdateServerResult& result,
                                 const InstanceMover::Outcome& moved) {
    const Error& cause = *moved.error;
    context.LogLine("error", "instance " + *moved.failed + " is not ready on build " +
                                 result.build_id + ": " + cause.message + "; rolling back");
    std::string message = "instance " + *moved.failed + " did not become ready on build " +
                          result.build_id + " (" + cause.message + ")";
    if (!result.previous_build_id) {
      return Fail(Errc::kUpdateRolledBack,
                  message + "; there is no previous build to go back to, so build " +
                      result.build_id + " stays current");
    }
    context.Progress(98, "rolling back to build " + *result.previous_build_id, "rollback");
    if (auto switched =
            store.Activate(context, paths, *result.previous_build_id, result.build_id, "rollback");
        !switched) {
      // Not rolled back: retryable, the retry switches and restarts again.
      return Fail(
          std::move(switched.error())
              .WithContext("roll back to " + *result.previous_build_id + " after " + message));
    }
    std::vector<std::string> again = moved.restarted;
    again.push_back(*moved.failed);
    const auto failed = mover.RestartAgain(context, again);
    if (failed.empty()) {
      if (auto dropped = mover.DropPlan(paths); !dropped) {
        context.LogLine("warn", "cannot remove the restart plan: " + dropped.error().Describe());
      }
      message += "; rolled back to build " + *result.previous_build_id + " and restarted " +
                 std::to_string(again.size()) + " instance(s)";
    } else {
      message += "; rolled back to build " + *result.previous_build_id + ", but instance(s) " +
                 failed.front() + (failed.size() > 1 ? " and others" : "") + " did not come back";
    }
    Error error = MakeError(Errc::kUpdateRolledBack, message, false);
    error.stack = cause.stack;
    return Fail(std::move(error));
  }

  os::Fs& fs_;
  BuildOptions options_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeUpdateServerHandler(os::Fs& fs, const BuildOptions& options) {
  return std::make_unique<UpdateServerHandler>(fs, options);
}

}  // namespace orb::jobs
