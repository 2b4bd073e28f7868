#pragma once

// Plays systemd's end of $NOTIFY_SOCKET for a test: a datagram socket bound at a path or, for a
// name starting with '@', in the abstract namespace; sets NOTIFY_SOCKET while it lives, so the
// code under test and the programs the test starts (they inherit the environment) report to it.
// Thread-safety: one thread at a time.

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace orb::testing {

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

  // The next datagram, or "<nothing>" when none is waiting.
  std::string Receive() const { return ReceiveWithin(std::chrono::milliseconds(0)); }

  // The next datagram, waiting up to `timeout` for it; "<nothing>" when none came.
  std::string ReceiveWithin(std::chrono::milliseconds timeout) const {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(timeout.count())) <= 0) return "<nothing>";
    char buffer[512];
    const auto n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    return n < 0 ? std::string("<nothing>") : std::string(buffer, static_cast<size_t>(n));
  }

 private:
  int fd_;
};

}  // namespace orb::testing
