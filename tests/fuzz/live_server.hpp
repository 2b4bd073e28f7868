#pragma once

// A real fleet-cmdr for the fuzz targets that speak to it over a socket (http_request_fuzz,
// ws_frames_fuzz): FleetCmdr on SQLite in a temporary directory, started once per process on
// 127.0.0.1 with short timeouts, an admin token and one enrolled agent, so that an input reaches
// routing, authentication, the handlers and the store. In an input, the placeholders @ADMIN@,
// @AGENT@ (the token of agent "fuzz-agent") and @VIEWER@ are replaced by real tokens first, so
// the fuzzer explores authenticated paths too.
//
// Inputs change the server's state (a create makes a job), so an input is reproduced best in a
// fresh process with the corpus replayed before it; a crash of the server is a crash of the
// process, so libFuzzer and the replay driver see it like any other.

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "server/fleet_cmdr.hpp"

namespace orb::fuzz {

class LiveServer {
 public:
  static LiveServer& Get() {
    static LiveServer* server = new LiveServer();  // stopped at the end (AtEnd), never destroyed
    return *server;
  }

  std::uint16_t port() const { return cmdr_->port(); }

  // `input` with its placeholders replaced by the tokens.
  std::string Expand(std::string_view input) const {
    std::string text(input);
    for (const auto& [name, value] :
         {std::pair<std::string_view, const std::string&>{"@ADMIN@", admin_},
          {"@AGENT@", agent_},
          {"@VIEWER@", viewer_}}) {
      for (auto at = text.find(name); at != std::string::npos; at = text.find(name, at)) {
        text.replace(at, name.size(), value);
        at += value.size();
      }
    }
    return text;
  }

  // A fresh connection to the server; -1 when it cannot connect (the reason on stderr).
  //
  // libFuzzer's -timeout runs on SIGALRM (every timeout/2 + 1 s) without SA_RESTART, so any
  // blocking call here can return EINTR. A connect() so interrupted is not a failure: the
  // handshake goes on, and the socket is connected once it turns writable (connect(2)). Every
  // call below therefore retries or resumes on EINTR; only a real error is a failure.
  int Connect() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      std::fprintf(stderr, "fuzz: socket() failed: %s\n", std::strerror(errno));
      return -1;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int error = 0;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      error = errno;
      if (error == EINTR) error = FinishConnect(fd);
    }
    if (error != 0) {
      std::fprintf(stderr, "fuzz: connect to 127.0.0.1:%u failed: %s\n", port(),
                   std::strerror(error));
      ::close(fd);
      return -1;
    }
    return fd;
  }

  // Closes a client connection with a reset instead of a FIN (SO_LINGER 0) once its answer has
  // been read: the server meets it as a client gone, and no TIME_WAIT of 60 s is left behind
  // (ws_frames). A connection that the harness half-closed (http_request) and the server then
  // closed is in TIME_WAIT already: at a thousand inputs a second those fill the ports connect()
  // picks first (measured: 14,116 in TIME_WAIT, every even port of 32768-60999), and connect()
  // goes on only because Linux reuses a loopback TIME_WAIT port after a second (tcp_tw_reuse=2,
  // its default). Without the half-close the server would not see the input end.
  static void Abort(int fd) {
    const linger reset{1, 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    ::close(fd);
  }

  // Writes all of `bytes` (until the peer stops reading).
  static bool WriteAll(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads until `terminator` has arrived, the server closes, or `limit` passes; what was read.
  static std::string ReadUntil(int fd, std::string_view terminator,
                               std::chrono::milliseconds limit) {
    std::string received;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (received.find(terminator) == std::string::npos) {
      if (!WaitReadable(fd, deadline) || !ReadSome(fd, received)) break;
    }
    return received;
  }

  // Reads what the server sends until it closes or `quiet` passes without a byte (a long-poll
  // being held, a stream waiting); returns what was read.
  static std::string Drain(int fd, std::chrono::milliseconds quiet) {
    std::string received;
    for (;;) {
      if (!WaitReadable(fd, std::chrono::steady_clock::now() + quiet)) break;
      if (!ReadSome(fd, received)) break;
    }
    return received;
  }

 private:
  // Waits until the connect() that EINTR interrupted has finished; 0 or its error.
  static int FinishConnect(int fd) {
    pollfd waiting{fd, POLLOUT, 0};
    int ready;
    do {
      ready = ::poll(&waiting, 1, -1);  // loopback: the handshake ends or fails at once
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) return errno;
    int error = 0;
    socklen_t size = sizeof(error);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return errno;
    return error;
  }

  // Waits for bytes (or the close) until `deadline`; false when it passes or poll fails.
  static bool WaitReadable(int fd, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd waiting{fd, POLLIN, 0};
      const int ready = ::poll(&waiting, 1, static_cast<int>(left.count()));
      if (ready > 0) return true;
      if (ready == 0 || errno != EINTR) return false;
    }
  }

  // Appends what one recv() returns; false at the close or on an error.
  static bool ReadSome(int fd, std::string& received) {
    char buffer[16 * 1024];
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      received.append(buffer, static_cast<std::size_t>(n));
      return true;
    }
  }

  LiveServer() {
    SetupLogging(LogFormat::kText, "off");
    dir_ = std::filesystem::temp_directory_path() / ("orb-fuzz-cmdr-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    admin_ = "fuzz-admin-token-0123456789abcdef0123456789abcdef";
    ::setenv("FLEET_CMDR_ADMIN_TOKEN", admin_.c_str(), 1);
    server::FleetCmdrOptions options;
    options.port = 0;
    options.data_dir = dir_;
    options.worker_threads = 2;
    options.request_timeout = std::chrono::milliseconds(500);
    options.idle_timeout = std::chrono::milliseconds(500);
    options.stream_auth_timeout = std::chrono::milliseconds(200);
    options.rate_limit_per_second = 1e9;  // the fuzzer is not an abusive client to refuse
    options.rate_limit_burst = 1e9;
    // Nor is it guessing tokens: with the default limit (100 failed authentications, then 2 a
    // second, per client address, and every input comes from 127.0.0.1) four in five inputs
    // that reached an authenticated route were answered 429 before their token was looked at
    // (2,939 of 40k inputs, against 750 that were authenticated), so the handlers went unfuzzed.
    options.auth_failures_per_second = 1e9;
    options.auth_failures_burst = 1e9;
    auto cmdr = server::FleetCmdr::Create(options, RealClock());
    if (!cmdr) throw std::runtime_error("fuzz: FleetCmdr::Create: " + cmdr.error().Describe());
    cmdr_ = std::move(*cmdr);
    if (auto started = cmdr_->Start(); !started) {
      throw std::runtime_error("fuzz: FleetCmdr::Start: " + started.error().Describe());
    }
    agent_ = TokenFromResponse(
        Call("POST /v1/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin_ +
             "\r\nContent-Type: application/json\r\nContent-Length: 24\r\n"
             "Connection: close\r\n\r\n{\"agentId\":\"fuzz-agent\"}"));
    viewer_ = TokenFromResponse(
        Call("POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin_ +
             "\r\nContent-Type: application/json\r\nContent-Length: 31\r\nConnection: close\r\n\r\n"
             "{\"role\":\"viewer\",\"name\":\"fuzz\"}"));
    // When the inputs are done the server stops (its threads joined) before anything it uses is
    // torn down or its directory removed (fuzz_target.hpp, AtEnd): a timer round still running
    // at exit read a function static's SQL after it was destroyed.
    AtEnd([] {
      LiveServer& server = Get();
      if (server.cmdr_) server.cmdr_->Stop();
      server.cmdr_.reset();
      std::filesystem::remove_all(server.dir_);
    });
  }

  std::string Call(const std::string& request) const {
    const int fd = Connect();
    if (fd < 0) throw std::runtime_error("fuzz: cannot connect to fleet-cmdr");
    WriteAll(fd, request);
    std::string response = Drain(fd, std::chrono::milliseconds(2000));
    ::close(fd);
    return response;
  }

  static std::string TokenFromResponse(const std::string& response) {
    const auto key = response.find("\"token\":\"");
    if (key == std::string::npos) throw std::runtime_error("fuzz: no token in " + response);
    const auto start = key + 9;
    return response.substr(start, response.find('"', start) - start);
  }

  std::filesystem::path dir_;
  std::unique_ptr<server::FleetCmdr> cmdr_;
  std::string admin_;
  std::string agent_;
  std::string viewer_;
};

}  // namespace orb::fuzz
