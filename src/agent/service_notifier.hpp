#pragma once

// The agent's link to its service manager (issue 4): systemd's Type=notify readiness, watchdog
// pings from the loop (a hung loop gets restarted) and STOPPING=1. Without systemd (no
// NOTIFY_SOCKET) every call does nothing. Thread-safety: safe from any thread.

#include <chrono>
#include <memory>
#include <optional>

namespace orb::agent {

class ServiceNotifier {
 public:
  virtual ~ServiceNotifier() = default;
  virtual void Ready() = 0;
  virtual void Watchdog() = 0;
  virtual void Stopping() = 0;
  // The watchdog timeout when one is set (WATCHDOG_USEC): the loop pings at least twice per it.
  virtual std::optional<std::chrono::milliseconds> watchdog_timeout() const = 0;
};

// sd_notify(3) and sd_watchdog_enabled(3), read from the environment when it is made; the
// protocol is spoken directly, without libsystemd.
std::unique_ptr<ServiceNotifier> MakeSystemdNotifier();

}  // namespace orb::agent
