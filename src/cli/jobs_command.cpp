// fleetctl jobs: GET /v1/jobs with its filters, newest first.
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "cli/job_table.hpp"

namespace orb::cli {
namespace {

struct JobsArgs {
  std::optional<std::string> agent_id;
  std::optional<std::string> status;
  std::optional<std::string> type;
  std::optional<std::string> instance_id;
  std::optional<std::string> batch_id;
  std::optional<std::string> rollout_id;
  std::optional<std::string> schedule_id;
  std::optional<int> limit;
  std::optional<std::string> cursor;
};

int RunJobs(Context& ctx, const JobsArgs& args) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  std::optional<std::string> limit;
  if (args.limit) limit = std::to_string(*args.limit);
  const std::string target = "/v1/jobs" + QueryString({{"agentId", args.agent_id},
                                                       {"status", args.status},
                                                       {"type", args.type},
                                                       {"instanceId", args.instance_id},
                                                       {"batchId", args.batch_id},
                                                       {"rolloutId", args.rollout_id},
                                                       {"scheduleId", args.schedule_id},
                                                       {"limit", limit},
                                                       {"cursor", args.cursor}});
  auto list = api->Call<protocol::JobList>("GET", target);
  if (!list) return ctx.Fail(list.error());
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*list) << "\n";
    return kExitOk;
  }
  ctx.out() << RenderJobTable(list->jobs, ctx.Now());
  if (list->next_cursor) {
    ctx.err() << "more jobs: the same command with --cursor " << *list->next_cursor << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddJobsCommand(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<JobsArgs>();
  auto* sub = app.add_subcommand("jobs", "List jobs, newest first");
  sub->add_option("-a,--agent", args->agent_id, "only this agent's jobs");
  sub->add_option("-s,--status", args->status, "only jobs in this status")
      ->transform(CLI::IsMember(
          {"CREATED", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"}, CLI::ignore_case));
  sub->add_option("-t,--type", args->type, "only jobs of this type, e.g. BACKUP_INSTANCE");
  sub->add_option("-i,--instance", args->instance_id, "only jobs for this instance");
  sub->add_option("--batch", args->batch_id, "only the jobs of this batch");
  sub->add_option("--rollout", args->rollout_id, "only the jobs of this rollout");
  sub->add_option("--schedule", args->schedule_id, "only the jobs of this schedule's fires");
  sub->add_option("--limit", args->limit, "at most this many (1..500, default 50)")
      ->check(CLI::Range(1, 500));
  sub->add_option("--cursor", args->cursor, "continue after a previous page");
  sub->footer(
      "Examples:\n"
      "  fleetctl jobs --agent host-1 --status RUNNING\n"
      "  fleetctl jobs --type BACKUP_INSTANCE --limit 10 -o json");
  sub->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunJobs(ctx, *args); }; });
}

}  // namespace orb::cli
