// fleetctl enqueue TYPE --agent A | --selector k=v ...: POST /v1/jobs (protocol.md §5), and with
// --wait follows the job(s) over the stream until they end (exit 1 when one ends FAILED or
// CANCELLED).
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "cli/job_table.hpp"
#include "cli/job_watcher.hpp"
#include "cli/labels_flag.hpp"
#include "cli/list_flag.hpp"
#include "cli/payload_flag.hpp"

namespace orb::cli {

Expected<std::string> ReadPayload(const std::string& flag) {
  std::string text = flag;
  if (!flag.empty() && flag.front() == '@') {
    const std::string path = flag.substr(1);
    if (path == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(path, std::ios::binary);
      if (!in) return Fail(Errc::kIo, "--payload: cannot read " + path);
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  auto canonical = protocol::CanonicalJsonObject(text);
  if (!canonical) {
    Error error = std::move(canonical.error());
    error.message = "--payload: " + error.message;
    error.details.insert(error.details.begin(), {"payload", "must be a JSON object"});
    return Fail(std::move(error));
  }
  return canonical;
}

namespace {

struct EnqueueArgs {
  std::string type;
  std::optional<std::string> agent_id;
  std::vector<std::string> selector;
  std::optional<std::string> instance_id;
  std::optional<std::string> server_id;
  std::string payload = "{}";
  std::optional<int> priority;
  bool exclusive = false;
  std::optional<int> max_attempts;
  std::optional<int> retry_backoff_seconds;
  std::optional<int> timeout_seconds;
  std::optional<std::string> not_before;
  std::optional<std::string> idempotency_key;
  std::vector<std::string> depends_on;
  bool wait = false;
};

Expected<protocol::CreateJobRequest> BuildRequest(const EnqueueArgs& args) {
  protocol::CreateJobRequest request;
  if (args.agent_id.has_value() == !args.selector.empty()) {
    return Fail(Errc::kInvalidRequest,
                "give exactly one of --agent AGENT and --selector KEY=VALUE");
  }
  request.agent_id = args.agent_id;
  if (!args.selector.empty()) {
    auto labels = ParseLabels(args.selector, "--selector");
    if (!labels) return Fail(std::move(labels.error()));
    request.selector_labels = std::move(*labels);
  }
  request.type = args.type;
  request.instance_id = args.instance_id;
  request.server_id = args.server_id;
  auto payload = ReadPayload(args.payload);
  if (!payload) return Fail(std::move(payload.error()));
  request.payload_json = std::move(*payload);
  request.priority = args.priority;
  if (args.exclusive) request.exclusive = true;
  request.max_attempts = args.max_attempts;
  request.retry_backoff_seconds = args.retry_backoff_seconds;
  request.timeout_seconds = args.timeout_seconds;
  if (args.not_before) {
    request.not_before = ParseTimestamp(*args.not_before);
    if (!request.not_before) {
      return Fail(Errc::kInvalidRequest,
                  "--not-before must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z");
    }
  }
  request.idempotency_key = args.idempotency_key;
  auto depends_on = SplitListFlag(args.depends_on, "--depends-on", "job id");
  if (!depends_on) return Fail(std::move(depends_on.error()));
  request.depends_on = std::move(*depends_on);
  return request;
}

int RunEnqueue(Context& ctx, const EnqueueArgs& args) {
  auto request = BuildRequest(args);
  if (!request) return ctx.Usage(request.error());
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto reply = api->Send("POST", "/v1/jobs", protocol::ToJson(*request));
  if (!reply) return ctx.Fail(reply.error());

  std::vector<protocol::Job> jobs;
  std::optional<std::string> batch_id;
  if (request->agent_id) {
    auto job = Api::Decode<protocol::Job>(*reply);
    if (!job) return ctx.Fail(job.error());
    jobs.push_back(std::move(*job));
  } else {
    auto batch = Api::Decode<protocol::BatchCreated>(*reply);
    if (!batch) return ctx.Fail(batch.error());
    batch_id = batch->batch_id;
    jobs = std::move(batch->jobs);
  }
  // An empty batch is not an error (the selector may match hosts enrolled later), but it is most
  // often a typo in a label: say so where a person reads it.
  if (batch_id && jobs.empty()) {
    ctx.err() << "fleetctl: warning: the selector matched no enrolled agent; no job was created\n";
  }
  auto print_jobs = [&](const std::vector<protocol::Job>& list) {
    if (batch_id) {
      ctx.out() << protocol::ToJson(protocol::BatchCreated{*batch_id, list}) << "\n";
    } else if (!list.empty()) {
      ctx.out() << protocol::ToJson(list.front()) << "\n";
    }
  };

  if (!args.wait) {
    if (ctx.json()) {
      print_jobs(jobs);
    } else {
      if (batch_id) ctx.out() << "batch " << *batch_id << ": " << jobs.size() << " job(s)\n";
      for (const auto& job : jobs) {
        ctx.out() << "job " << job.id << " " << protocol::ToString(job.status) << " (" << job.type
                  << " on " << job.agent_id << ")"
                  << (reply->status == 200 ? ", existing job for this idempotency key" : "")
                  << (job.waiting_for.empty() ? "" : ", waiting for " + Join(job.waiting_for))
                  << (job.last_error ? ": " + job.last_error->message : "") << "\n";
      }
    }
    return kExitOk;
  }

  if (!ctx.json()) {
    for (const auto& job : jobs) {
      ctx.out() << "job " << job.id << " created (" << job.type << " on " << job.agent_id
                << "), waiting for it to end\n";
    }
    ctx.out().flush();
  }
  if (jobs.empty()) {
    if (ctx.json()) print_jobs(jobs);
    return kExitOk;
  }
  std::vector<std::string> ids;
  for (const auto& job : jobs)
    ids.push_back(job.id);
  const WatchDisplay display = ctx.json()            ? WatchDisplay::kQuiet
                               : ctx.io().out_is_tty ? WatchDisplay::kBars
                                                     : WatchDisplay::kLines;
  auto finished = WaitForJobs(ctx, *api, ids, display);
  if (!finished) return ctx.Fail(finished.error());
  bool all_completed = true;
  for (const auto& job : *finished) {
    if (job.status != protocol::JobStatus::kCompleted) all_completed = false;
  }
  if (ctx.json()) {
    print_jobs(*finished);
  } else {
    for (const auto& job : *finished)
      ctx.out() << RenderJobOutcome(job) << "\n";
  }
  return all_completed ? kExitOk : kExitJobFailed;
}

}  // namespace

void AddEnqueueCommand(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<EnqueueArgs>();
  auto* sub = app.add_subcommand("enqueue",
                                 "Create a job for an agent (or for every agent with "
                                 "the given labels)");
  sub->add_option("TYPE", args->type, "job type, e.g. BACKUP_INSTANCE (job-types.md)")->required();
  sub->add_option("-a,--agent", args->agent_id, "the agent that runs it");
  sub->add_option("--selector", args->selector,
                  "KEY=VALUE, repeatable: one job per agent with all these labels")
      ->allow_extra_args(false);
  sub->add_option("-i,--instance", args->instance_id, "target instance (instance job types)");
  sub->add_option("--server-id", args->server_id, "target server (server job types)");
  sub->add_option("-p,--payload", args->payload, "payload: JSON object, @FILE or @- (stdin)");
  sub->add_option("--priority", args->priority, "-100..100, higher first (default 0)");
  sub->add_flag("--exclusive", args->exclusive, "run alone on its agent");
  sub->add_option("--max-attempts", args->max_attempts, "1..20 (default: the type's)");
  sub->add_option("--retry-backoff", args->retry_backoff_seconds,
                  "seconds before the first automatic retry (default 10)");
  sub->add_option("--timeout", args->timeout_seconds, "seconds per run (default: the type's)");
  sub->add_option("--not-before", args->not_before, "RFC 3339 time before which it stays CREATED");
  sub->add_option("--idempotency-key", args->idempotency_key,
                  "a second enqueue with this key returns the first job");
  sub->add_option("--depends-on", args->depends_on,
                  "JOB[,JOB...], repeatable (at most 32): stay CREATED until these jobs are "
                  "COMPLETED; cancelled if one fails or is cancelled")
      ->allow_extra_args(false);
  sub->add_flag("-w,--wait", args->wait,
                "follow the job until it ends; exit 1 if it ends FAILED or CANCELLED");
  sub->footer(
      "With --wait, progress bars are drawn when stdout is a terminal (one line per event\n"
      "otherwise); with --output json only the final job is printed.\n\n"
      "Examples:\n"
      "  fleetctl enqueue BACKUP_INSTANCE --agent host-1 --instance mc-1 \\\n"
      "      --payload '{\"mode\":\"live\"}' --wait\n"
      "  fleetctl enqueue INSTALL_SERVER --selector region=eu --server-id paper --payload "
      "@install.json");
  sub->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunEnqueue(ctx, *args); }; });
}

}  // namespace orb::cli
