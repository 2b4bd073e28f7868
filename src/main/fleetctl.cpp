// fleetctl: the operator command line of orb-jobs (protocol.md §7). Streams, environment and
// signals -> orb::cli::Main.
#include "cli/fleetctl.hpp"

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <signal.h>
#include <unistd.h>

#include "main/build_info.hpp"

namespace {

// Set by SIGINT/SIGTERM; the commands that wait check it (lock-free, so safe in a handler).
std::atomic<bool> interrupted{false};

void OnSignal(int /*signal*/) {
  interrupted.store(true);
}

}  // namespace

int main(int argc, char** argv) {
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed pipe (fleetctl ... | head) ends output, not the process

  auto env = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  orb::cli::Io io{std::cout, std::cerr, isatty(STDOUT_FILENO) == 1, env, &interrupted, {}};
  return orb::cli::Main(argc, argv, std::move(io), orb::build::VersionText("fleetctl"));
}
