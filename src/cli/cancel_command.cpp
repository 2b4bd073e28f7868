// fleetctl cancel JOB: POST /v1/jobs/{id}/cancel (protocol.md §5): 200 cancelled before it ran,
// 202 cancel requested from the running agent, 409 not_cancellable / invalid_state.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"

namespace orb::cli {
namespace {

int RunCancel(Context& ctx, const std::string& job_id) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto reply = api->Send("POST", "/v1/jobs/" + EscapeUrlComponent(job_id) + "/cancel");
  if (!reply) return ctx.Fail(reply.error());
  auto job = Api::Decode<protocol::Job>(*reply);
  if (!job) return ctx.Fail(job.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*job) << "\n";
    return kExitOk;
  }
  if (reply->status == 202) {
    ctx.out() << "cancel requested for job " << job->id
              << " (running: the agent stops it at its next safe point)\n";
  } else {
    ctx.out() << "job " << job->id << " " << protocol::ToString(job->status) << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddCancelCommand(CLI::App& app, Context& ctx) {
  auto job_id = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("cancel", "Cancel a job (a running one is asked to stop)");
  sub->add_option("JOB", *job_id, "the job's id")->required();
  sub->footer(
      "A job that has not started is CANCELLED at once; a running, cancellable one gets a\n"
      "cancel request (watch it with `fleetctl watch JOB`). A type that cannot be cancelled\n"
      "while running answers not_cancellable with the reason (exit 3).\n\n"
      "Example:\n"
      "  fleetctl cancel 01934f2a-...");
  sub->callback([&ctx, job_id] { ctx.run = [&ctx, job_id] { return RunCancel(ctx, *job_id); }; });
}

}  // namespace orb::cli
