// START_INSTANCE (job-types.md §3): cancellable until the process is spawned.

#include "jobs/instances/handlers.hpp"
#include "protocol/instance_json.hpp"

namespace orb::jobs {
namespace {

class StartInstanceHandler final : public JobHandler {
 public:
  StartInstanceHandler(os::Fs& fs, const InstanceOptions& options) : store_(fs, options) {}

  std::string_view type() const override { return "START_INSTANCE"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto instance_id = InstanceStore::InstanceIdOf(context);
    if (!instance_id) return Fail(std::move(instance_id.error()));
    auto payload = protocol::ParseStartInstancePayload(context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    auto started = store_.Start(context, *instance_id, payload->config);
    if (!started) return Fail(std::move(started.error()));
    return protocol::StartInstanceResultJson(*started);
  }

 private:
  InstanceStore store_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeStartInstanceHandler(os::Fs& fs, const InstanceOptions& options) {
  return std::make_unique<StartInstanceHandler>(fs, options);
}

}  // namespace orb::jobs
