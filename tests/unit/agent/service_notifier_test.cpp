#include "agent/service_notifier.hpp"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "support/temp_dir.hpp"

namespace orb::agent {
namespace {

using std::chrono::milliseconds;

// Plays systemd's end of $NOTIFY_SOCKET: a datagram socket bound at a path or an abstract name.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& name) : fd_(::socket(AF_UNIX, SOCK_DGRAM, 0)) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    if (name.front() == '@') address.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length), 0);
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  std::string Receive() const {
    char buffer[512];
    const auto n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    return n < 0 ? std::string("<nothing>") : std::string(buffer, static_cast<size_t>(n));
  }

 private:
  int fd_;
};

TEST(ServiceNotifierTest, SendsReadyAndStoppingToThePathInNotifySocket) {
  testing::TempDir dir;
  NotifySocket systemd((dir / "notify").string());
  const auto notifier = MakeSystemdNotifier();
  notifier->Ready();
  EXPECT_EQ(systemd.Receive(), "READY=1\nSTATUS=asking fleet-cmdr for jobs");
  notifier->Stopping();
  EXPECT_EQ(systemd.Receive(), "STOPPING=1\nSTATUS=draining runs");
}

TEST(ServiceNotifierTest, ReachesAnAbstractSocket) {
  NotifySocket systemd("@orb-notify-test-" + std::to_string(::getpid()));
  MakeSystemdNotifier()->Ready();
  EXPECT_EQ(systemd.Receive(), "READY=1\nSTATUS=asking fleet-cmdr for jobs");
}

TEST(ServiceNotifierTest, PingsTheWatchdogOnlyWhenWatchdogUsecIsSet) {
  testing::TempDir dir;
  NotifySocket systemd((dir / "notify").string());
  ::unsetenv("WATCHDOG_USEC");
  const auto without = MakeSystemdNotifier();
  EXPECT_FALSE(without->watchdog_timeout());
  without->Watchdog();
  EXPECT_EQ(systemd.Receive(), "<nothing>");

  ::setenv("WATCHDOG_USEC", "60000000", 1);
  const auto with = MakeSystemdNotifier();
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(with->watchdog_timeout(), milliseconds(60000));
  with->Watchdog();
  EXPECT_EQ(systemd.Receive(), "WATCHDOG=1");
}

TEST(ServiceNotifierTest, IgnoresAWatchdogMeantForAnotherProcess) {
  ::setenv("WATCHDOG_USEC", "60000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(MakeSystemdNotifier()->watchdog_timeout());
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(MakeSystemdNotifier()->watchdog_timeout(), milliseconds(60000));
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
}

TEST(ServiceNotifierTest, DoesNothingWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  const auto notifier = MakeSystemdNotifier();
  notifier->Ready();
  notifier->Watchdog();
  notifier->Stopping();
}

}  // namespace
}  // namespace orb::agent
