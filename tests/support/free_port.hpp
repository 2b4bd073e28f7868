#pragma once

// A TCP port on 127.0.0.1 that nothing uses right now, for a program a test starts on a port it
// must know in advance (a restart on the same port, a URL in another program's config). Between
// this call and the program's bind, another test running in parallel must not be handed the same
// port: every port-0 bind and every outgoing connection draws from the kernel's ephemeral range,
// so the port is drawn at random below that range, and checked free by binding it.

#include <cstdint>
#include <fstream>
#include <random>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace orb::testing {

inline bool PortIsFree(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return bound;
}

inline std::uint16_t FreePort() {
  int ephemeral_low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low;
  constexpr int kLow = 10000;
  const int high = ephemeral_low > kLow + 1000 ? ephemeral_low : kLow + 1000;
  static thread_local std::mt19937 random{std::random_device{}()};
  std::uniform_int_distribution<int> pick(kLow, high - 1);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto port = static_cast<std::uint16_t>(pick(random));
    if (PortIsFree(port)) return port;
  }
  throw std::runtime_error("FreePort: no free port below the ephemeral range after 200 tries");
}

}  // namespace orb::testing
