#pragma once

// The fleet-cmdr binary as a child process of a test (`fleet-cmdr serve` on 127.0.0.1:<port>,
// SQLite in `data_dir` unless `extra` names another store, e.g. TestStore::Flags()), for kill -9,
// restarts and a second fleet-cmdr on the same data dir and store after the first is gone. Needs ORB_FLEET_CMDR_BIN. Killed (SIGKILL) and reaped when destroyed.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "net/http_client.hpp"
#include "support/build_paths.hpp"
#include "support/child_process.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {

class CmdrProcess {
 public:
  // `extra` flags follow `serve --listen ... --data-dir ...`; the log goes to `output` if given.
  CmdrProcess(const std::filesystem::path& data_dir, std::uint16_t port,
              std::vector<std::string> extra = {}, const std::filesystem::path& output = {})
      : port_(port) {
    std::vector<std::string> args = {ORB_FLEET_CMDR_BIN, "serve",
                                     "--listen",         fmt::format("127.0.0.1:{}", port),
                                     "--data-dir",       data_dir.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    process_.Start(std::move(args), output);
  }

  // True once GET /healthz answers 200 (within 10 s).
  bool WaitHealthy() {
    return WaitFor(
        [&] {
          net::HttpClient probe({url()});
          auto reply = probe.Send({"GET", "/healthz"});
          return reply && reply->status == 200;
        },
        std::chrono::seconds(10), std::chrono::milliseconds(20));
  }
  void Kill(int signal) { process_.Kill(signal); }
  // SIGTERM, then waits for the exit: its code, or -1 after `timeout`.
  int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    process_.Kill(SIGTERM);
    return process_.Wait(timeout);
  }

  std::uint16_t port() const { return port_; }
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }

 private:
  std::uint16_t port_;
  ChildProcess process_;
};

// PUT /v1/artifacts with `file` streamed as the body, as fleetctl upload sends it.
inline net::ClientRequest ArtifactUpload(const std::filesystem::path& file) {
  net::ClientRequest upload;
  upload.method = "PUT";
  upload.target = "/v1/artifacts";
  upload.body_file = file;
  upload.content_type = "application/octet-stream";
  return upload;
}

}  // namespace orb::testing
