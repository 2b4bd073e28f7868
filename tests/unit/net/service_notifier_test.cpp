#include "net/service_notifier.hpp"

#include <cstdlib>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "support/notify_socket.hpp"
#include "support/temp_dir.hpp"

namespace orb::net {
namespace {

using std::chrono::milliseconds;

using testing::NotifySocket;

// The agent's texts (agent_main.cpp).
std::unique_ptr<ServiceNotifier> MakeNotifier() {
  return MakeSystemdNotifier("asking fleet-cmdr for jobs", "draining runs");
}

TEST(ServiceNotifierTest, SendsReadyAndStoppingToThePathInNotifySocket) {
  testing::TempDir dir;
  NotifySocket systemd((dir / "notify").string());
  const auto notifier = MakeNotifier();
  notifier->Ready();
  EXPECT_EQ(systemd.Receive(), "READY=1\nSTATUS=asking fleet-cmdr for jobs");
  notifier->Stopping();
  EXPECT_EQ(systemd.Receive(), "STOPPING=1\nSTATUS=draining runs");
}

TEST(ServiceNotifierTest, ReachesAnAbstractSocket) {
  NotifySocket systemd("@orb-notify-test-" + std::to_string(::getpid()));
  MakeNotifier()->Ready();
  EXPECT_EQ(systemd.Receive(), "READY=1\nSTATUS=asking fleet-cmdr for jobs");
}

TEST(ServiceNotifierTest, PingsTheWatchdogOnlyWhenWatchdogUsecIsSet) {
  testing::TempDir dir;
  NotifySocket systemd((dir / "notify").string());
  ::unsetenv("WATCHDOG_USEC");
  const auto without = MakeNotifier();
  EXPECT_FALSE(without->watchdog_timeout());
  without->Watchdog();
  EXPECT_EQ(systemd.Receive(), "<nothing>");

  ::setenv("WATCHDOG_USEC", "60000000", 1);
  const auto with = MakeNotifier();
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(with->watchdog_timeout(), milliseconds(60000));
  with->Watchdog();
  EXPECT_EQ(systemd.Receive(), "WATCHDOG=1");
}

TEST(ServiceNotifierTest, IgnoresAWatchdogMeantForAnotherProcess) {
  ::setenv("WATCHDOG_USEC", "60000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(MakeNotifier()->watchdog_timeout());
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(MakeNotifier()->watchdog_timeout(), milliseconds(60000));
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
}

TEST(ServiceNotifierTest, DoesNothingWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  const auto notifier = MakeNotifier();
  notifier->Ready();
  notifier->Watchdog();
  notifier->Stopping();
}

}  // namespace
}  // namespace orb::net
