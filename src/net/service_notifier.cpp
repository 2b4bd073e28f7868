#include "net/service_notifier.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace orb::net {
namespace {

// sd_notify(3)'s protocol, which systemd documents as stable for reimplementation: one datagram
// of "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET ("@name" is the abstract
// namespace). Written here rather than called from libsystemd so that the agent does not load
// libsystemd and its six libraries just to say READY=1 (the idle memory target;
// docs/benchmarks.md): about 1.4 MiB of resident memory; and fleet-cmdr links no libsystemd at all.
void Notify(std::string_view state) {
  const char* const env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr) return;
  const std::string_view path(env);
  sockaddr_un address{};
  if (path.size() < 2 || path.size() >= sizeof(address.sun_path) ||
      (path.front() != '/' && path.front() != '@')) {
    return;  // not an AF_UNIX address we know (systemd 253+ also has vsock:); nothing to do
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  if (path.front() == '@') address.sun_path[0] = '\0';
  // A path is NUL-terminated (address is zeroed); an abstract name is exactly its bytes.
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                             (path.front() == '/' ? 1 : 0));
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  // Best effort, as with sd_notify: a lost READY=1 or ping shows up in systemd's own log.
  (void)::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&address), length);
  ::close(fd);
}

// sd_watchdog_enabled(3): $WATCHDOG_USEC, meant for this process unless $WATCHDOG_PID names
// another.
std::optional<std::chrono::milliseconds> WatchdogTimeout() {
  const char* const usec_text = std::getenv("WATCHDOG_USEC");
  if (usec_text == nullptr) return std::nullopt;
  const std::string_view usec_view(usec_text);
  std::uint64_t usec = 0;
  const auto [end, error] =
      std::from_chars(usec_view.data(), usec_view.data() + usec_view.size(), usec);
  if (error != std::errc() || end != usec_view.data() + usec_view.size() || usec == 0) {
    return std::nullopt;
  }
  if (const char* const pid_text = std::getenv("WATCHDOG_PID"); pid_text != nullptr) {
    if (std::string_view(pid_text) != std::to_string(::getpid())) return std::nullopt;
  }
  return std::chrono::milliseconds(usec / 1000);
}

class SystemdNotifier final : public ServiceNotifier {
 public:
  SystemdNotifier(std::string ready_status, std::string stopping_status)
      : ready_("READY=1\nSTATUS=" + ready_status),
        stopping_("STOPPING=1\nSTATUS=" + stopping_status),
        watchdog_(WatchdogTimeout()) {}
  void Ready() override { Notify(ready_); }
  void Watchdog() override {
    if (watchdog_) Notify("WATCHDOG=1");
  }
  void Stopping() override { Notify(stopping_); }
  std::optional<std::chrono::milliseconds> watchdog_timeout() const override { return watchdog_; }

 private:
  const std::string ready_;
  const std::string stopping_;
  const std::optional<std::chrono::milliseconds> watchdog_;
};

}  // namespace

std::unique_ptr<ServiceNotifier> MakeSystemdNotifier(std::string ready_status,
                                                     std::string stopping_status) {
  return std::make_unique<SystemdNotifier>(std::move(ready_status), std::move(stopping_status));
}

}  // namespace orb::net
