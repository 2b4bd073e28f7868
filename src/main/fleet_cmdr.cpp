// fleet-cmdr: the orb-jobs control plane (protocol.md §7). Flags -> FleetCmdrOptions -> run.
#include "server/fleet_cmdr.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "net/http_server.hpp"
#include "server/serve_config.hpp"

namespace {

// Each agent holds a keep-alive connection (a notify long-poll), so 10,000 agents need more
// descriptors than the usual soft limit of 1024: raise the soft limit to the hard one.
void RaiseOpenFileLimit() {
  auto log = orb::GetLogger("fleet-cmdr");
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    log->warn("getrlimit(RLIMIT_NOFILE): {}", std::strerror(errno));
    return;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      log->warn("setrlimit(RLIMIT_NOFILE, {}): {}", limit.rlim_max, std::strerror(errno));
      return;
    }
  }
  log->info("open file limit: {}", limit.rlim_cur);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fleet-cmdr: the orb-jobs control plane"};
  app.set_version_flag("--version", std::string(orb::server::kVersion));
  app.require_subcommand(1);
  auto* serve =
      app.add_subcommand("serve", "serve the agent and operator APIs, the stream and the UI");
  serve->set_config("--config", "", "TOML file whose keys are these flags without the dashes");
  orb::server::ServeFlags flags;
  orb::server::AddServeFlags(*serve, flags);
  CLI11_PARSE(app, argc, argv);

  const auto format = orb::LogFormatFromString(flags.log_format);
  orb::SetupLogging(format.value_or(orb::LogFormat::kText), flags.log_level);
  auto log = orb::GetLogger("fleet-cmdr");
  RaiseOpenFileLimit();
  auto options = orb::server::ToOptions(flags);
  if (!options) {
    log->error("{}", options.error().message);
    return 2;
  }
  auto cmdr = orb::server::FleetCmdr::Create(std::move(*options), orb::RealClock());
  if (!cmdr) {
    log->error("cannot start: {}", cmdr.error().Describe());
    return 1;
  }
  if (auto started = (*cmdr)->Start(); !started) {
    log->error("cannot start: {}", started.error().Describe());
    return 1;
  }
  const int signal_number = orb::net::WaitForTerminationSignal();
  log->info("signal {} received, stopping", signal_number);
  (*cmdr)->Stop();
  log->info("stopped");
  return 0;
}
