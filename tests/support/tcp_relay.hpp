#pragma once

// A byte relay on 127.0.0.1 in front of a server (no HTTP in it), at the network edge of a test:
// throttles what flows back to the client and cuts the first `cuts` connections after `cut_after`
// response bytes (the downloader's faults), and can stop listening and start again on the same
// port (a replica or a proxy that goes away and comes back), and can hold every byte in both
// directions and every new connection until resumed (a network that drops packets without
// resetting a connection, or a server that hangs). Header-only, POSIX sockets.
// Thread-safety: Open, Close and the destructor from the test's thread; the accessors from any.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace orb::testing {

class TcpRelay {
 public:
  struct Options {
    std::uint16_t upstream_port = 0;
    std::size_t bytes_per_second = 0;  // 0: unthrottled
    std::size_t cut_after = 0;
    int cuts = 0;
    std::uint16_t port = 0;  // where to listen; 0: any free port
    bool listen = true;      // false: start closed (connections refused) until Open()
  };

  explicit TcpRelay(Options options)
      : options_(options), cuts_left_(options.cuts), port_(options.port) {
    if (options_.listen) Open();
  }
  ~TcpRelay() { Close(); }
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  // Listens (again) on its port. False when the port cannot be bound.
  bool Open() {
    if (listener_ >= 0) return true;
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port_);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listener_, 16) != 0) {
      ADD_FAILURE() << "TcpRelay cannot listen on port " << port_;
      ::close(listener_);
      listener_ = -1;
      return false;
    }
    socklen_t length = sizeof(address);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    stop_ = false;
    accepter_ = std::thread([this] { Accept(); });
    return true;
  }

  // Stops listening (new connections are refused) and cuts every relayed connection.
  void Close() {
    if (listener_ < 0) return;
    stop_ = true;
    accepter_.join();
    for (auto& thread : pipes_)
      thread.join();
    pipes_.clear();
    ::close(listener_);
    listener_ = -1;
  }

  std::uint16_t port() const { return port_; }
  std::string Url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Connections accepted and relayed so far.
  int connections() const { return connections_.load(); }

  // Holds everything from now on: nothing is read from either side of a relayed connection, so
  // nothing is answered (the kernel still acknowledges what fits in its buffers, as a hung server's
  // does), and new connections wait in the listen backlog. Resume relays what was held.
  void Stall() { stalled_ = true; }
  void Resume() { stalled_ = false; }

 private:
  void Accept() {
    while (!stop_) {
      pollfd poll_fd{listener_, POLLIN, 0};
      if (::poll(&poll_fd, stalled_ ? 0 : 1, 20) <= 0) continue;
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(options_.upstream_port);
      if (::connect(upstream, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(client);
        ::close(upstream);
        continue;
      }
      ++connections_;
      const bool cut = cuts_left_.fetch_sub(1) > 0;
      pipes_.emplace_back([this, client, upstream, cut] { Pipe(client, upstream, cut); });
    }
  }

  void Pipe(int client, int upstream, bool cut) {
    std::vector<char> buffer(16 * 1024);
    std::size_t sent_back = 0;
    const auto start = std::chrono::steady_clock::now();
    while (!stop_) {
      pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (::poll(fds, stalled_ ? 0 : 2, 20) <= 0) continue;
      if (fds[0].revents != 0) {
        const ssize_t n = ::read(client, buffer.data(), buffer.size());
        if (n <= 0 || ::write(upstream, buffer.data(), static_cast<std::size_t>(n)) != n) break;
      }
      if (fds[1].revents != 0) {
        std::size_t want = buffer.size();
        if (options_.bytes_per_second > 0) want = std::min(want, options_.bytes_per_second / 20);
        if (cut) want = std::min(want, options_.cut_after - sent_back);
        const ssize_t n = ::read(upstream, buffer.data(), want);
        if (n <= 0 || ::write(client, buffer.data(), static_cast<std::size_t>(n)) != n) break;
        sent_back += static_cast<std::size_t>(n);
        if (cut && sent_back >= options_.cut_after) break;
        if (options_.bytes_per_second > 0) {
          // Throttling is the point here, not a wait for a condition.
          const auto due =
              start + std::chrono::microseconds(sent_back * 1'000'000 / options_.bytes_per_second);
          std::this_thread::sleep_until(due);
        }
      }
    }
    ::close(client);
    ::close(upstream);
  }

  Options options_;
  std::atomic<int> cuts_left_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stalled_{false};
  std::atomic<int> connections_{0};
  std::thread accepter_;
  std::vector<std::thread> pipes_;  // only touched by the accepter, joined after it
};

}  // namespace orb::testing
