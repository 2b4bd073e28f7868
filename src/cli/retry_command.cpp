// fleetctl retry JOB: POST /v1/jobs/{id}/retry: a FAILED or CANCELLED job is QUEUED again.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"

namespace orb::cli {
namespace {

int RunRetry(Context& ctx, const std::string& job_id) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto job = api->Call<protocol::Job>("POST", "/v1/jobs/" + EscapeUrlComponent(job_id) + "/retry");
  if (!job) return ctx.Fail(job.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*job) << "\n";
    return kExitOk;
  }
  ctx.out() << "job " << job->id << " " << protocol::ToString(job->status)
            << " again (a new run starts when its agent takes it)\n";
  return kExitOk;
}

}  // namespace

void AddRetryCommand(CLI::App& app, Context& ctx) {
  auto job_id = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("retry", "Queue a FAILED or CANCELLED job again");
  sub->add_option("JOB", *job_id, "the job's id")->required();
  sub->footer("Example:\n  fleetctl retry 01934f2a-... && fleetctl watch 01934f2a-...");
  sub->callback([&ctx, job_id] { ctx.run = [&ctx, job_id] { return RunRetry(ctx, *job_id); }; });
}

}  // namespace orb::cli
