// fleet-cmdr: the orb-jobs control plane (protocol.md §7). Flags -> FleetCmdrOptions -> run.
#include "server/fleet_cmdr.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <istream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "main/build_info.hpp"
#include "net/http_server.hpp"
#include "net/service_notifier.hpp"
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

// `fleet-cmdr serve --config FILE` (fleet-cmdr.service's /etc/fleet-cmdr/fleet-cmdr.toml). CLI11
// 2.1 reads a config file only for the top-level app, never for a subcommand's --config, so the
// option is the top-level app's (serve falls through to it) and this reader files every key of
// the flat TOML file under serve, whose flags they are. A flag on the command line still wins.
class ServeConfigFile final : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    auto read = CLI::ConfigTOML::from_config(input);
    for (auto& item : read) {
      if (item.parents.empty()) item.parents = {"serve"};
    }
    return read;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fleet-cmdr: the orb-jobs control plane"};
  app.set_version_flag("--version", orb::build::VersionText("fleet-cmdr"));
  app.require_subcommand(1);
  auto* serve =
      app.add_subcommand("serve", "serve the agent and operator APIs, the stream and the UI");
  app.set_config("--config", "", "TOML file whose keys are serve's flags without the dashes");
  app.config_formatter(std::make_shared<ServeConfigFile>());
  app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error
  serve->fallthrough();                                     // serve --config FILE
  serve->footer(
      "--config FILE: a TOML file whose keys are these flags without the dashes\n"
      "(data-dir = \"/var/lib/fleet-cmdr\"); a flag given here wins over the file.");
  orb::server::ServeFlags flags;
  orb::server::AddServeFlags(*serve, flags);
  CLI11_PARSE(app, argc, argv);
  // Before any thread or listener: a SIGTERM while starting stops it in order, not by default.
  orb::net::TerminationSignals termination;

  const auto format = orb::LogFormatFromString(flags.log_format);
  orb::SetupLogging(format.value_or(orb::LogFormat::kText), flags.log_level);
  auto log = orb::GetLogger("fleet-cmdr");
  RaiseOpenFileLimit();
  auto options = orb::server::ToOptions(flags);
  if (!options) {
    log->error("{}", options.error().message);
    return 2;
  }
  log->info("fleet-cmdr {} (git {})", orb::build::Version(), orb::build::Revision());
  options->version = orb::build::Version();
  options->revision = orb::build::Revision();
  // Declared before cmdr, which holds a pointer to it until it is destroyed.
  const auto notifier = orb::net::MakeSystemdNotifier("serving", "stopping");
  options->service_notifier = notifier.get();
  auto cmdr = orb::server::FleetCmdr::Create(std::move(*options), orb::RealClock());
  if (!cmdr) {
    log->error("cannot start: {}", cmdr.error().Describe());
    return 1;
  }
  if (auto started = (*cmdr)->Start(); !started) {
    log->error("cannot start: {}", started.error().Describe());
    return 1;
  }
  const int signal_number = termination.Wait();
  log->info("signal {} received, stopping", signal_number);
  (*cmdr)->Stop();
  log->info("stopped");
  return 0;
}
