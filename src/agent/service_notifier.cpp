#include "agent/service_notifier.hpp"

#include <cstdint>

#include <systemd/sd-daemon.h>

namespace orb::agent {
namespace {

class SystemdNotifier final : public ServiceNotifier {
 public:
  SystemdNotifier() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
      watchdog_ = std::chrono::milliseconds(usec / 1000);
    }
  }
  void Ready() override { (void)sd_notify(0, "READY=1\nSTATUS=asking fleet-cmdr for jobs"); }
  void Watchdog() override {
    if (watchdog_) (void)sd_notify(0, "WATCHDOG=1");
  }
  void Stopping() override { (void)sd_notify(0, "STOPPING=1\nSTATUS=draining runs"); }
  std::optional<std::chrono::milliseconds> watchdog_timeout() const override { return watchdog_; }

 private:
  std::optional<std::chrono::milliseconds> watchdog_;
};

}  // namespace

std::unique_ptr<ServiceNotifier> MakeSystemdNotifier() {
  return std::make_unique<SystemdNotifier>();
}

}  // namespace orb::agent
