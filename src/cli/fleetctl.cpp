#include "cli/fleetctl.hpp"

#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

namespace orb::cli {
namespace {

constexpr const char* kFooter =
    "Connection:\n"
    "  --server URL      or FLEET_SERVER (default http://127.0.0.1:8080)\n"
    "  --token-file F    or FLEET_TOKEN (the token itself) or FLEET_TOKEN_FILE\n"
    "  These and -o/--output may come before or after the command.\n"
    "\n"
    "Exit codes:\n"
    "  0    success\n"
    "  1    a job waited for (enqueue --wait, watch JOB) ended FAILED or CANCELLED, or a\n"
    "       rollout waited for (rollout create --wait) ended ABORTED\n"
    "  2    usage error: bad flag or argument, bad --payload, no token, unreadable file\n"
    "  3    fleet-cmdr answered with an error (its code and message are printed)\n"
    "  4    cannot connect to fleet-cmdr (refused, DNS, TLS, timeout)\n"
    "  130  interrupted (Ctrl-C) before the command finished\n"
    "\n"
    "Examples:\n"
    "  export FLEET_SERVER=http://127.0.0.1:8080 FLEET_TOKEN_FILE=data/admin.token\n"
    "  fleetctl agents\n"
    "  fleetctl enqueue BACKUP_INSTANCE --agent host-1 --instance mc-1 --wait\n"
    "  fleetctl jobs --status FAILED -o json\n"
    "Run 'fleetctl COMMAND --help' for a command's flags and examples.";

}  // namespace

int Main(int argc, const char* const* argv, Io io, std::string_view version) {
  Context ctx(std::move(io));
  CLI::App app{
      "fleetctl: the operator command line of orb-jobs (fleet-cmdr's REST API and "
      "event stream)",
      "fleetctl"};
  app.set_version_flag("--version", std::string(version));
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the command name
  app.add_option("--server", ctx.flags().server, "fleet-cmdr URL (env FLEET_SERVER)");
  app.add_option("--token-file", ctx.flags().token_file,
                 "file whose first line is the token (env FLEET_TOKEN, FLEET_TOKEN_FILE)");
  app.add_option("-o,--output", ctx.flags().output, "table (for people) or json (for scripts)")
      ->check(CLI::IsMember({"table", "json"}));

  AddAgentsCommand(app, ctx);
  AddEnrollCommand(app, ctx);
  AddUnenrollCommand(app, ctx);
  AddJobsCommand(app, ctx);
  AddJobCommand(app, ctx);
  AddEnqueueCommand(app, ctx);
  AddCancelCommand(app, ctx);
  AddRetryCommand(app, ctx);
  AddLogsCommand(app, ctx);
  AddWatchCommand(app, ctx);
  AddUploadCommand(app, ctx);
  AddArtifactsCommand(app, ctx);
  AddTokensCommand(app, ctx);
  AddRolloutCommand(app, ctx);
  AddScheduleCommand(app, ctx);
  AddHostCommand(app, ctx);
  AddHostsCommand(app, ctx);
  AddCompletionCommand(app, ctx);
  app.footer(kFooter);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, ctx.out(), ctx.err());
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, ctx.out(), ctx.err());
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, ctx.out(), ctx.err());
  } catch (const CLI::ParseError& e) {
    ctx.err() << "fleetctl: usage: " << e.what() << "\n"
              << "Run 'fleetctl --help' or 'fleetctl COMMAND --help' for usage.\n";
    return kExitUsage;
  }
  if (!ctx.run) return ctx.Usage("no command given; run 'fleetctl --help'");
  try {
    return ctx.run();
  } catch (const std::exception& e) {
    return ctx.Fail(MakeError(Errc::kInternal, std::string("unexpected failure: ") + e.what()));
  }
}

}  // namespace orb::cli
