// fleetctl rollout create|ls|show|pause|resume|abort (docs/protocol.md "Rollouts"): one job
// template over many hosts under a policy. `create --wait` follows the rollout over the stream,
// one line per change of its counts, until it is COMPLETED (exit 0) or ABORTED (exit 1).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/event_stream.hpp"
#include "cli/exit_codes.hpp"
#include "cli/labels_flag.hpp"
#include "cli/list_flag.hpp"
#include "cli/output.hpp"
#include "cli/payload_flag.hpp"
#include "common/numbers.hpp"
#include "common/time.hpp"
#include "protocol/rollout_codec.hpp"

namespace orb::cli {
namespace {

struct CreateArgs {
  std::string name;
  std::string type;
  std::vector<std::string> agents;
  std::vector<std::string> selector;
  std::optional<std::string> instance_id;
  std::optional<std::string> server_id;
  std::string payload = "{}";
  std::optional<int> priority;
  bool exclusive = false;
  std::optional<int> max_attempts;
  std::optional<int> retry_backoff_seconds;
  std::optional<int> timeout_seconds;
  std::string max_in_flight = "1";
  std::vector<std::string> phases;  // "PERCENT" or "PERCENT@RFC3339"
  std::optional<double> abort_failed_percent;
  std::optional<std::int64_t> abort_min_finished;
  std::optional<std::int64_t> host_timeout_seconds;
  std::optional<std::int64_t> max_per_minute;
  bool random = false;
  std::optional<std::string> idempotency_key;
  bool wait = false;
};

// One --phases element: "50" or "50@2026-12-06T04:00:00Z" (no host of the phase starts before
// then). The ranges and the order are fleet-cmdr's to check.
Expected<protocol::RolloutPhaseSpec> ParsePhase(std::string_view text) {
  const auto at = text.find('@');
  protocol::RolloutPhaseSpec phase;
  const auto percent = ParseWholeNumber<int>(text.substr(0, at));
  if (!percent) {
    return Fail(Errc::kInvalidRequest, "--phases: \"" + std::string(text) +
                                           "\" is not a percent, or a percent@RFC3339 time");
  }
  phase.percent = *percent;
  if (at != std::string_view::npos) {
    phase.start_at = ParseTimestamp(text.substr(at + 1));
    if (!phase.start_at) {
      return Fail(Errc::kInvalidRequest,
                  "--phases: \"" + std::string(text.substr(at + 1)) + "\" is not an RFC 3339 time");
    }
  }
  return phase;
}

Expected<protocol::CreateRolloutRequest> BuildRequest(const CreateArgs& args) {
  protocol::CreateRolloutRequest request;
  request.name = args.name;
  if (args.agents.empty() == args.selector.empty()) {
    return Fail(Errc::kInvalidRequest, "give --agent AGENT (repeatable) or --selector KEY=VALUE");
  }
  if (!args.selector.empty()) {
    auto labels = ParseLabels(args.selector, "--selector");
    if (!labels) return Fail(std::move(labels.error()));
    request.target.selector = std::move(*labels);
  }
  request.target.agent_ids = args.agents;
  request.job.type = args.type;
  request.job.instance_id = args.instance_id;
  request.job.server_id = args.server_id;
  auto payload = ReadPayload(args.payload);
  if (!payload) return Fail(std::move(payload.error()));
  request.job.payload_json = std::move(*payload);
  request.job.priority = args.priority;
  if (args.exclusive) request.job.exclusive = true;
  request.job.max_attempts = args.max_attempts;
  request.job.retry_backoff_seconds = args.retry_backoff_seconds;
  request.job.timeout_seconds = args.timeout_seconds;
  // "25%" or "3"; the range is fleet-cmdr's to check.
  std::string_view max = args.max_in_flight;
  request.policy.max_in_flight_percent = max.ends_with('%');
  if (request.policy.max_in_flight_percent) max.remove_suffix(1);
  const auto max_in_flight = ParseWholeNumber<std::int64_t>(max);
  if (!max_in_flight) {
    return Fail(Errc::kInvalidRequest, "--max-in-flight: an integer or a percentage such as 25%");
  }
  request.policy.max_in_flight = *max_in_flight;
  auto phases = SplitListFlag(args.phases, "--phases", "phase");
  if (!phases) return Fail(std::move(phases.error()));
  for (const std::string& phase : *phases) {
    auto parsed = ParsePhase(phase);
    if (!parsed) return Fail(std::move(parsed.error()));
    request.policy.phases.push_back(*parsed);
  }
  if (args.abort_failed_percent) {
    request.policy.abort =
        protocol::RolloutAbortSpec{*args.abort_failed_percent, args.abort_min_finished.value_or(1)};
  } else if (args.abort_min_finished) {
    return Fail(Errc::kInvalidRequest, "--abort-min-finished needs --abort-failed-percent");
  }
  request.policy.host_timeout_seconds = args.host_timeout_seconds;
  request.policy.max_per_minute = args.max_per_minute;
  if (args.random) request.order = "random";
  request.idempotency_key = args.idempotency_key;
  return request;
}

// "RUNNING 3/8 final: 2 completed, 1 failed, 0 cancelled, 0 skipped; 2 running, 1 queued, 0
// waiting, 2 pending"
std::string RenderCounts(const std::string& status, const protocol::RolloutCounts& c) {
  std::ostringstream line;
  line << status << " " << (c.completed + c.failed + c.cancelled + c.skipped) << "/" << c.total
       << " final: " << c.completed << " completed, " << c.failed << " failed, " << c.cancelled
       << " cancelled, " << c.skipped << " skipped; " << c.running << " running, " << c.queued
       << " queued, " << c.waiting << " waiting, " << c.pending << " pending";
  return line.str();
}

Expected<protocol::Rollout> Decode(const ApiReply& reply) {
  auto rollout = protocol::ParseRollout(reply.body);
  if (!rollout) {
    return Fail(Errc::kHttp,
                "fleet-cmdr answered something that is not a rollout: " + rollout.error().message);
  }
  return rollout;
}

void PrintRollout(Context& ctx, const protocol::Rollout& rollout) {
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(rollout) << "\n";
    return;
  }
  ctx.out() << "rollout " << rollout.id << " \"" << rollout.name << "\" (" << rollout.job.type
            << ", phase " << rollout.phase + 1 << " of "
            << std::max<std::size_t>(1, rollout.policy.phases.size()) << ")\n"
            << RenderCounts(rollout.status, rollout.counts) << "\n";
  if (rollout.abort_reason) ctx.out() << "aborted: " << *rollout.abort_reason << "\n";
}

// Follows rollout `id` over `stream` (opened before it was created) until it ends. `shown`:
// whether `rollout`'s counts were printed. The stream gives the rollout's events in commit order,
// the creation's among them, so a line is printed per event; the create's answer is a snapshot
// from somewhere in that order, and printing it first would make the next (older) event's
// counts look like a step back.
int Follow(Context& ctx, Api& api, EventStream& stream, protocol::Rollout rollout, bool shown) {
  const auto ended = [](const std::string& status) {
    return status == "COMPLETED" || status == "ABORTED";
  };
  auto last_check = std::chrono::steady_clock::now();
  while (!ended(rollout.status)) {
    auto next = stream.Next(std::chrono::milliseconds(500));
    if (!next) return ctx.Fail(next.error());
    const auto now = std::chrono::steady_clock::now();
    std::optional<protocol::Rollout> fresh;
    if (*next && (*next)->event && (*next)->event->rollout_id == rollout.id &&
        (*next)->event->counts) {
      const auto& event = *(*next)->event;
      fresh = rollout;
      fresh->counts = *event.counts;
      if (event.status) fresh->status = *event.status;
    } else if ((*next && (*next)->kind == protocol::StreamMessage::Kind::kResync) ||
               now - last_check >= std::chrono::seconds(10)) {
      // Missed events, or a long silence: read it again.
      last_check = now;
      auto reply = api.Send("GET", "/v1/rollouts/" + EscapeUrlComponent(rollout.id));
      if (!reply) return ctx.Fail(reply.error());
      auto read = Decode(*reply);
      if (!read) return ctx.Fail(read.error());
      fresh = *read;
    }
    if (!fresh) continue;
    if (shown && fresh->counts == rollout.counts && fresh->status == rollout.status) continue;
    shown = true;
    rollout = *fresh;
    if (!ctx.json()) ctx.out() << RenderCounts(rollout.status, rollout.counts) << std::endl;
  }
  if (!ctx.json() && !shown) ctx.out() << RenderCounts(rollout.status, rollout.counts) << "\n";
  // The events carry the counts and the status; the rest of the final rollout (why it was
  // aborted) is read once. Without it the counts above still say how it ended.
  if (auto reply = api.Send("GET", "/v1/rollouts/" + EscapeUrlComponent(rollout.id)); reply) {
    if (auto read = Decode(*reply); read && ended(read->status)) rollout = *read;
  }
  if (!ctx.json() && rollout.abort_reason)
    ctx.out() << "aborted: " << *rollout.abort_reason << "\n";
  if (ctx.json()) ctx.out() << protocol::ToJson(rollout) << "\n";
  return rollout.status == "COMPLETED" ? kExitOk : kExitJobFailed;
}

int RunCreate(Context& ctx, const CreateArgs& args) {
  auto request = BuildRequest(args);
  if (!request) return ctx.Usage(request.error());
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  // With --wait the stream is open before the rollout exists: no change of it is missed.
  std::optional<EventStream> stream;
  if (args.wait) {
    stream.emplace(api->connection(), StreamFilter{}, ctx.io().interrupted);
    if (auto opened = stream->Open(std::nullopt); !opened) return ctx.Fail(opened.error());
  }
  auto reply = api->Send("POST", "/v1/rollouts", protocol::ToJson(*request));
  if (!reply) return ctx.Fail(reply.error());
  auto rollout = Decode(*reply);
  if (!rollout) return ctx.Fail(rollout.error());
  if (!args.wait) {
    PrintRollout(ctx, *rollout);
    return kExitOk;
  }
  // A rollout created by this call: its creation's events are on the stream, the first line
  // comes from them. One created earlier (the same idempotency key): its answer is the start.
  const bool existing = reply->status == 200;
  if (!ctx.json()) {
    ctx.out() << "rollout " << rollout->id << " created"
              << (existing ? " (existing, same idempotency key)" : "") << ", following it\n";
    if (existing) ctx.out() << RenderCounts(rollout->status, rollout->counts) << "\n";
    ctx.out() << std::flush;
  }
  return Follow(ctx, *api, *stream, *rollout, existing);
}

struct ListArgs {
  std::optional<std::string> status;
  int limit = 100;
  std::optional<std::string> cursor;
};

int RunList(Context& ctx, const ListArgs& args) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  std::string target = "/v1/rollouts?limit=" + std::to_string(args.limit);
  if (args.status) target += "&status=" + EscapeUrlComponent(*args.status);
  if (args.cursor) target += "&cursor=" + EscapeUrlComponent(*args.cursor);
  auto reply = api->Send("GET", target);
  if (!reply) return ctx.Fail(reply.error());
  auto list = protocol::ParseRolloutList(reply->body);
  if (!list) return ctx.Fail(MakeError(Errc::kHttp, "not a rollout list: " + list.error().message));
  if (ctx.json()) {
    ctx.out() << protocol::ToJson(*list) << "\n";
    return kExitOk;
  }
  const WallTime now = ctx.Now();
  Table table(
      {"id", "name", "status", "type", "hosts", "completed", "failed", "skipped", "created"});
  for (const auto& r : list->rollouts) {
    table.AddRow({r.id, r.name, r.status, r.job.type, std::to_string(r.counts.total),
                  std::to_string(r.counts.completed), std::to_string(r.counts.failed),
                  std::to_string(r.counts.skipped), FormatAge(r.created_at, now) + " ago"});
  }
  ctx.out() << table.Render();
  if (list->next_cursor) {
    ctx.err() << "more rollouts: the same command with --cursor " << *list->next_cursor << "\n";
  }
  return kExitOk;
}

// One line of the policy for `rollout show`, e.g. "policy: max in flight 25%, 60 a minute,
// phases 10% 100% from 2026-12-06T04:00:00.000Z, abort at 20% failed of at least 5 final, host
// timeout 3600 s".
std::string PolicyLine(const protocol::RolloutPolicySpec& policy) {
  std::ostringstream line;
  line << "policy: max in flight " << policy.max_in_flight
       << (policy.max_in_flight_percent ? "%" : "");
  if (policy.max_per_minute) line << ", " << *policy.max_per_minute << " a minute";
  if (!policy.phases.empty()) {
    line << ", phases";
    for (const auto& phase : policy.phases) {
      line << " " << phase.percent << "%";
      if (phase.start_at) line << " from " << FormatTimestamp(*phase.start_at);
    }
  }
  if (policy.abort) {
    line << ", abort at " << policy.abort->failed_percent << "% failed of at least "
         << policy.abort->min_finished << " final";
  }
  if (policy.host_timeout_seconds)
    line << ", host timeout " << *policy.host_timeout_seconds << " s";
  return line.str();
}

int RunShow(Context& ctx, const std::string& id) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto reply = api->Send("GET", "/v1/rollouts/" + EscapeUrlComponent(id));
  if (!reply) return ctx.Fail(reply.error());
  auto rollout = Decode(*reply);
  if (!rollout) return ctx.Fail(rollout.error());
  auto hosts_reply =
      api->Send("GET", "/v1/rollouts/" + EscapeUrlComponent(id) + "/hosts?limit=500");
  if (!hosts_reply) return ctx.Fail(hosts_reply.error());
  auto hosts = protocol::ParseRolloutHostList(hosts_reply->body);
  if (!hosts) return ctx.Fail(MakeError(Errc::kHttp, "not a host list: " + hosts.error().message));
  if (ctx.json()) {
    ctx.out() << R"({"rollout":)" << protocol::ToJson(*rollout) << R"(,"hosts":)"
              << protocol::ToJson(*hosts) << "}\n";
    return kExitOk;
  }
  PrintRollout(ctx, *rollout);
  ctx.out() << PolicyLine(rollout->policy) << "\n";
  Table table({"host", "status", "job"});
  for (const auto& host : hosts->hosts)
    table.AddRow({host.agent_id, host.status, host.job_id.value_or("-")});
  ctx.out() << table.Render();
  if (hosts->next_cursor) ctx.out() << "(the first 500 hosts)\n";
  return kExitOk;
}

int RunChange(Context& ctx, const std::string& id, const std::string& action, bool cancel_running) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  const std::string body = action == "abort" && cancel_running ? R"({"cancelRunning":true})" : "";
  auto reply = api->Send("POST", "/v1/rollouts/" + EscapeUrlComponent(id) + "/" + action, body);
  if (!reply) return ctx.Fail(reply.error());
  auto rollout = Decode(*reply);
  if (!rollout) return ctx.Fail(rollout.error());
  PrintRollout(ctx, *rollout);
  return kExitOk;
}

}  // namespace

void AddRolloutCommand(CLI::App& app, Context& ctx) {
  auto* rollout = app.add_subcommand("rollout", "Roll one job out over many hosts under a policy");
  rollout->require_subcommand(1);
  rollout->footer(
      "Examples:\n"
      "  fleetctl rollout create --name 'valheim 0.218' UPDATE_SERVER --server-id valheim \\\n"
      "      --payload @update.json --selector game=valheim --max-in-flight 25% --phases 10,50,100 "
      "\\\n"
      "      --abort-failed-percent 20 --abort-min-finished 5 --wait\n"
      "  fleetctl rollout ls --status RUNNING\n"
      "  fleetctl rollout show ROLLOUT\n"
      "  fleetctl rollout abort ROLLOUT --cancel-running\n"
      "(update.json: {\"buildId\": \"0.218\", \"artifact\": {\"url\": ..., \"sha256\": ..., "
      "\"size\": ...}},\n"
      "docs/job-types.md)");

  auto args = std::make_shared<CreateArgs>();
  auto* create = rollout->add_subcommand("create", "Create a rollout (and follow it with --wait)");
  create->add_option("TYPE", args->type, "job type, e.g. UPDATE_SERVER (job-types.md)")->required();
  create->add_option("--name", args->name, "what the rollout is for")->required();
  create->add_option("-a,--agent", args->agents, "a host, repeatable (or --selector)")
      ->allow_extra_args(false);
  create
      ->add_option("--selector", args->selector,
                   "KEY=VALUE, repeatable: the enrolled agents with all these labels")
      ->allow_extra_args(false);
  create->add_option("-i,--instance", args->instance_id, "target instance (instance job types)");
  create->add_option("--server-id", args->server_id, "target server (server job types)");
  create->add_option("-p,--payload", args->payload, "payload: JSON object, @FILE or @- (stdin)");
  create->add_option("--priority", args->priority, "-100..100, higher first (default 0)");
  create->add_flag("--exclusive", args->exclusive, "each job runs alone on its agent");
  create->add_option("--max-attempts", args->max_attempts, "1..20 (default: the type's)");
  create->add_option("--retry-backoff", args->retry_backoff_seconds,
                     "seconds before a job's first automatic retry (default 10)");
  create->add_option("--timeout", args->timeout_seconds, "seconds per run (default: the type's)");
  create->add_option("--max-in-flight", args->max_in_flight,
                     "hosts with an unfinished job at most: N or P% (default 1)");
  create->add_option("--phases", args->phases,
                     "cumulative percents, e.g. 10,50,100; PERCENT@TIME: that phase starts no "
                     "host before the RFC 3339 TIME (10,50@2026-12-06T04:00:00Z,100)");
  create->add_option("--abort-failed-percent", args->abort_failed_percent,
                     "abort when (failed + skipped) / final hosts reaches this percent");
  create->add_option("--abort-min-finished", args->abort_min_finished,
                     "... once at least this many hosts are final (default 1)");
  create->add_option("--host-timeout", args->host_timeout_seconds,
                     "seconds after which a host's unfinished job is cancelled and skipped");
  create->add_option("--max-per-minute", args->max_per_minute,
                     "start hosts at an even pace of this many a minute (default: no limit)");
  create->add_flag("--random", args->random, "start hosts in random order (default: by id)");
  create->add_option("--idempotency-key", args->idempotency_key,
                     "the same key again answers the first rollout");
  create->add_flag("--wait", args->wait, "follow it until COMPLETED (exit 0) or ABORTED (exit 1)");
  create->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunCreate(ctx, *args); }; });

  auto list_args = std::make_shared<ListArgs>();
  auto* list = rollout->add_subcommand("ls", "List rollouts, newest first");
  list->add_option("--status", list_args->status, "RUNNING, PAUSED, COMPLETED or ABORTED")
      ->transform(CLI::IsMember({"RUNNING", "PAUSED", "COMPLETED", "ABORTED"}, CLI::ignore_case));
  list->add_option("--limit", list_args->limit, "at most this many (1..500, default 100)")
      ->check(CLI::Range(1, 500));
  list->add_option("--cursor", list_args->cursor, "continue after a previous page");
  list->callback(
      [&ctx, list_args] { ctx.run = [&ctx, list_args] { return RunList(ctx, *list_args); }; });

  auto id = std::make_shared<std::string>();
  auto* show = rollout->add_subcommand("show", "A rollout with its hosts");
  show->add_option("ROLLOUT", *id, "the rollout's id")->required();
  show->callback([&ctx, id] { ctx.run = [&ctx, id] { return RunShow(ctx, *id); }; });

  auto cancel_running = std::make_shared<bool>(false);
  for (const char* action : {"pause", "resume", "abort"}) {
    const std::string name = action;
    auto* sub = rollout->add_subcommand(
        name, name == "pause"    ? "Start no new host (queued jobs stay queued)"
              : name == "resume" ? "Start hosts again"
                                 : "Stop the rollout: its queued jobs are cancelled");
    sub->add_option("ROLLOUT", *id, "the rollout's id")->required();
    if (name == "abort") {
      sub->add_flag("--cancel-running", *cancel_running, "cancel its running jobs too");
    }
    sub->callback([&ctx, id, name, cancel_running] {
      ctx.run = [&ctx, id, name, cancel_running] {
        return RunChange(ctx, *id, name, *cancel_running);
      };
    });
  }
}

}  // namespace orb::cli
