#pragma once

// A daemon's link to its service manager: systemd's Type=notify readiness, watchdog pings (a hung
// daemon gets restarted) and STOPPING=1, each with a STATUS= line for `systemctl status`. Used by
// orb-jobs-agent (its loop pings) and fleet-cmdr (its timer rounds ping). Without systemd (no
// NOTIFY_SOCKET) every call does nothing. Thread-safety: safe from any thread.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace orb::net {

class ServiceNotifier {
 public:
  virtual ~ServiceNotifier() = default;
  virtual void Ready() = 0;
  virtual void Watchdog() = 0;
  virtual void Stopping() = 0;
  // The watchdog timeout when one is set (WATCHDOG_USEC): ping at least twice per it.
  virtual std::optional<std::chrono::milliseconds> watchdog_timeout() const = 0;
};

// sd_notify(3) and sd_watchdog_enabled(3), read from the environment when it is made; the
// protocol is spoken directly, without libsystemd. `ready_status` and `stopping_status` are the
// STATUS= texts sent with READY=1 and STOPPING=1.
std::unique_ptr<ServiceNotifier> MakeSystemdNotifier(std::string ready_status,
                                                     std::string stopping_status);

}  // namespace orb::net
