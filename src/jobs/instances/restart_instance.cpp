// RESTART_INSTANCE (job-types.md §3): STOP then START under the one `instance:<id>` lock the
// executor holds for the run; cancellable before the stop and between stop and start (the stop
// itself runs to its end); a failed stop fails the run without a start.

#include "jobs/instances/handlers.hpp"
#include "protocol/instance_json.hpp"

namespace orb::jobs {
namespace {

constexpr int kStopShare = 45;  // progress: the stop is 0..45 %, the start 50..100 %

class RestartInstanceHandler final : public JobHandler {
 public:
  RestartInstanceHandler(os::Fs& fs, const InstanceOptions& options) : store_(fs, options) {}

  std::string_view type() const override { return "RESTART_INSTANCE"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto instance_id = InstanceStore::InstanceIdOf(context);
    if (!instance_id) return Fail(std::move(instance_id.error()));
    auto payload = protocol::ParseStopInstancePayload(type(), context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));

    if (context.cancelled()) return Fail(context.cancel().ToError());
    auto stopped = store_.Stop(context, *instance_id, payload->timeout_seconds, 0, kStopShare);
    if (!stopped) {
      context.LogLine("error", "the stop failed, so the instance is not started again");
      return Fail(std::move(stopped.error()).WithContext("restart " + *instance_id));
    }
    if (context.cancelled()) {
      context.LogLine(
          "info", "cancelled between stop and start: instance " + *instance_id + " stays stopped");
      return Fail(context.cancel().ToError());
    }
    auto started = store_.Start(context, *instance_id, std::nullopt, kStopShare + 5);
    if (!started) return Fail(std::move(started.error()).WithContext("restart " + *instance_id));
    return protocol::RestartInstanceResultJson(*stopped, *started);
  }

 private:
  InstanceStore store_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeRestartInstanceHandler(os::Fs& fs, const InstanceOptions& options) {
  return std::make_unique<RestartInstanceHandler>(fs, options);
}

}  // namespace orb::jobs
