// STOP_INSTANCE (job-types.md §3): not cancellable, a stop that has begun is finished.

#include "jobs/instances/handlers.hpp"
#include "protocol/instance_json.hpp"

namespace orb::jobs {
namespace {

class StopInstanceHandler final : public JobHandler {
 public:
  StopInstanceHandler(os::Fs& fs, const InstanceOptions& options) : store_(fs, options) {}

  std::string_view type() const override { return "STOP_INSTANCE"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto instance_id = InstanceStore::InstanceIdOf(context);
    if (!instance_id) return Fail(std::move(instance_id.error()));
    auto payload = protocol::ParseStopInstancePayload(type(), context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    // From here on a cancel is recorded as ignored; one that came before stops us here.
    if (auto marked = context.MarkPastPointOfNoReturn(); !marked) return Fail(marked.error());
    auto stopped = store_.Stop(context, *instance_id, payload->timeout_seconds);
    if (!stopped) return Fail(std::move(stopped.error()));
    return protocol::StopInstanceResultJson(*stopped);
  }

 private:
  InstanceStore store_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeStopInstanceHandler(os::Fs& fs, const InstanceOptions& options) {
  return std::make_unique<StopInstanceHandler>(fs, options);
}

}  // namespace orb::jobs
