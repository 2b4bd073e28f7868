// fleetctl job JOB [--events]: GET /v1/jobs/{id} (with its runs), and its events.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "cli/job_table.hpp"
#include "cli/job_watcher.hpp"

namespace orb::cli {
namespace {

struct JobArgs {
  std::string job_id;
  bool events = false;
};

int RunJob(Context& ctx, const JobArgs& args) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  const std::string path = "/v1/jobs/" + EscapeUrlComponent(args.job_id);
  if (args.events) {
    auto events = api->Call<protocol::EventList>("GET", path + "/events");
    if (!events) return ctx.Fail(events.error());
    if (ctx.json()) {
      ctx.out() << protocol::ToJson(*events) << "\n";
      return kExitOk;
    }
    for (const auto& event : events->events)
      ctx.out() << RenderEventLine(event) << "\n";
    return kExitOk;
  }
  auto detail = api->Call<protocol::JobDetail>("GET", path);
  if (!detail) return ctx.Fail(detail.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*detail) << "\n";
    return kExitOk;
  }
  ctx.out() << RenderJobDetail(*detail, ctx.Now());
  return kExitOk;
}

}  // namespace

void AddJobCommand(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<JobArgs>();
  auto* sub = app.add_subcommand("job", "Show one job with its runs (or its events)");
  sub->add_option("JOB", args->job_id, "the job's id")->required();
  sub->add_flag("--events", args->events, "list the job's events instead, oldest first");
  sub->footer(
      "Examples:\n"
      "  fleetctl job 01934f2a-...\n"
      "  fleetctl job 01934f2a-... --events -o json");
  sub->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunJob(ctx, *args); }; });
}

}  // namespace orb::cli
