// fleetctl schedule create|ls|show|update|rm|fire: the schedules of docs/protocol.md "Schedules"
// (POST/GET /v1/schedules, GET/PATCH/DELETE /v1/schedules/{id}, POST /v1/schedules/{id}/fire).
// `show` prints the next fire times in the schedule's own time zone (the system's zoneinfo, read
// through the C library's TZ rules), as the operator wrote the cron for it.
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "cli/labels_flag.hpp"
#include "cli/output.hpp"
#include "common/time.hpp"
#include "protocol/schedules.hpp"

namespace orb::cli {
namespace {

struct ScheduleArgs {
  std::string id;
  std::string name;
  std::string cron;
  std::string time_zone;
  std::vector<std::string> agents;
  std::vector<std::string> selector;
  std::vector<std::string> steps;  // each a JSON object
  std::string overlap;
  std::string catch_up;
  bool enable = false;
  bool disable = false;
};

// `time` as local time in `zone` ("2026-12-07 04:00:00 CET"), read with the C library's rules for
// TZ=zone; the UTC timestamp when the zone is unknown to it. fleetctl is single-threaded, and TZ
// is put back as it was.
std::string FormatInZone(WallTime time, const std::string& zone) {
  const char* old = std::getenv("TZ");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  setenv("TZ", zone.c_str(), 1);
  tzset();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm local{};
  char text[64] = {0};
  const bool ok = localtime_r(&seconds, &local) != nullptr &&
                  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S %Z", &local) > 0;
  if (saved) {
    setenv("TZ", saved->c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
  return ok ? std::string(text) : FormatTimestamp(time);
}

std::string DescribeTarget(const protocol::HostTarget& target) {
  if (!target.selector) {
    std::string ids;
    for (const auto& id : target.agent_ids)
      ids += (ids.empty() ? "" : ",") + id;
    return "agents " + ids;
  }
  return "selector " + FormatLabels(*target.selector);
}

// The request of create (all fields) or update (those given).
Expected<protocol::ScheduleRequest> BuildScheduleRequest(const ScheduleArgs& args, bool create) {
  protocol::ScheduleRequest request;
  if (!args.steps.empty()) {
    // Each --step is a step object; decoded as the server does, so a typo is named here.
    std::string joined;
    for (const auto& step : args.steps)
      joined += (joined.empty() ? "" : ",") + step;
    auto decoded = protocol::ParseScheduleRequest("{\"steps\":[" + joined + "]}", false);
    if (!decoded) {
      Error error = decoded.error();
      error.message = "--step: " + error.message;
      return Fail(std::move(error));
    }
    request.steps = std::move(decoded->steps);
  }
  if (!args.agents.empty() && !args.selector.empty()) {
    return Fail(Errc::kInvalidRequest, "give --agent or --selector, not both");
  }
  if (!args.agents.empty()) {
    request.target = protocol::HostTarget{std::nullopt, args.agents};
  } else if (!args.selector.empty()) {
    auto labels = ParseLabels(args.selector, "--selector");
    if (!labels) return Fail(std::move(labels.error()));
    request.target = protocol::HostTarget{*std::move(labels), {}};
  }
  if (create) {
    if (!request.target) return Fail(Errc::kInvalidRequest, "--agent or --selector is required");
    if (!request.steps) return Fail(Errc::kInvalidRequest, "at least one --step is required");
  }
  if (!args.name.empty()) request.name = args.name;
  if (!args.cron.empty()) request.cron = args.cron;
  if (!args.time_zone.empty()) request.time_zone = args.time_zone;
  if (!args.overlap.empty()) request.overlap = args.overlap;
  if (!args.catch_up.empty()) request.catch_up = args.catch_up;
  if (args.enable && args.disable) {
    return Fail(Errc::kInvalidRequest, "give --enable or --disable, not both");
  }
  if (args.enable) request.enabled = true;
  if (args.disable) request.enabled = false;
  return request;
}

void PrintSchedule(Context& ctx, const protocol::Schedule& s) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"ID", s.id},
      {"Name", s.name},
      {"Cron", s.cron},
      {"Time zone", s.time_zone},
      {"Target", DescribeTarget(s.target)},
      {"Overlap", s.overlap},
      {"Catch up", s.catch_up},
      {"Enabled", s.enabled ? "yes" : "no"},
      {"Created", FormatTimestamp(s.created_at)},
  };
  ctx.out() << RenderFields(fields);
  ctx.out() << "\nSteps:\n";
  Table steps({"#", "type", "target", "payload"});
  for (std::size_t i = 0; i < s.steps.size(); ++i) {
    const auto& step = s.steps[i];
    steps.AddRow({std::to_string(i + 1), step.type,
                  step.instance_id ? "instance " + *step.instance_id
                                   : "server " + step.server_id.value_or("-"),
                  step.payload_json});
  }
  steps.SetMaxWidth(3, 60);
  ctx.out() << steps.Render();
  ctx.out() << "\nNext fires (" << s.time_zone << "):\n";
  if (s.next_fires.empty()) ctx.out() << "  none" << (s.enabled ? "" : " (disabled)") << "\n";
  for (const auto& fire : s.next_fires)
    ctx.out() << "  " << FormatInZone(fire, s.time_zone) << "\n";
  if (!s.last_fires.empty()) {
    ctx.out() << "\nLast fires:\n";
    Table last({"fire time", "jobs", "first jobs"});
    for (const auto& fire : s.last_fires) {
      std::string ids;
      for (std::size_t i = 0; i < fire.job_ids.size() && i < 3; ++i)
        ids += (ids.empty() ? "" : ",") + fire.job_ids[i];
      last.AddRow({FormatInZone(fire.fire_time, s.time_zone), std::to_string(fire.job_count),
                   ids.empty() ? "-" : ids});
    }
    ctx.out() << last.Render();
  }
}

int RunScheduleCreate(Context& ctx, const ScheduleArgs& args) {
  auto request = BuildScheduleRequest(args, true);
  if (!request) return ctx.Usage(request.error());
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto reply = api->Send("POST", "/v1/schedules", protocol::ToJson(*request));
  if (!reply) return ctx.Fail(reply.error());
  if (ctx.json()) {
    ctx.out() << reply->body << "\n";
    return kExitOk;
  }
  auto schedule = protocol::ParseSchedule(reply->body);
  if (!schedule) return ctx.Fail(schedule.error());
  ctx.out() << "created schedule " << schedule->id << "\n";
  if (!schedule->next_fires.empty()) {
    ctx.out() << "next fire: " << FormatInZone(schedule->next_fires[0], schedule->time_zone)
              << "\n";
  }
  return kExitOk;
}

int RunScheduleList(Context& ctx) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  std::vector<protocol::Schedule> all;
  std::optional<std::string> cursor;
  std::string last_body;
  do {
    std::string target = "/v1/schedules?limit=500";
    if (cursor) target += "&cursor=" + EscapeUrlComponent(*cursor);
    auto reply = api->Send("GET", target);
    if (!reply) return ctx.Fail(reply.error());
    auto page = protocol::ParseScheduleList(reply->body);
    if (!page) return ctx.Fail(page.error());
    last_body = reply->body;
    all.insert(all.end(), page->schedules.begin(), page->schedules.end());
    cursor = page->next_cursor;
  } while (cursor);
  if (ctx.json()) {
    protocol::ScheduleList list;
    list.schedules = std::move(all);
    ctx.out() << protocol::ToJson(list) << "\n";
    return kExitOk;
  }
  Table table({"id", "name", "cron", "time zone", "enabled", "next fire"});
  table.SetMaxWidth(1, 40);
  for (const auto& s : all) {
    table.AddRow({s.id, s.name, s.cron, s.time_zone, s.enabled ? "yes" : "no",
                  s.next_fires.empty() ? "-" : FormatInZone(s.next_fires[0], s.time_zone)});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int RunScheduleShow(Context& ctx, const std::string& id) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto reply = api->Send("GET", "/v1/schedules/" + EscapeUrlComponent(id));
  if (!reply) return ctx.Fail(reply.error());
  if (ctx.json()) {
    ctx.out() << reply->body << "\n";
    return kExitOk;
  }
  auto schedule = protocol::ParseSchedule(reply->body);
  if (!schedule) return ctx.Fail(schedule.error());
  PrintSchedule(ctx, *schedule);
  return kExitOk;
}

int RunUpdate(Context& ctx, const ScheduleArgs& args) {
  auto request = BuildScheduleRequest(args, false);
  if (!request) return ctx.Usage(request.error());
  if (*request == protocol::ScheduleRequest{}) return ctx.Usage("nothing to change: give a flag");
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto reply = api->Send("PATCH", "/v1/schedules/" + EscapeUrlComponent(args.id),
                         protocol::ToJson(*request));
  if (!reply) return ctx.Fail(reply.error());
  if (ctx.json()) {
    ctx.out() << reply->body << "\n";
    return kExitOk;
  }
  ctx.out() << "updated schedule " << args.id << "\n";
  return kExitOk;
}

int RunRemove(Context& ctx, const std::string& id) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto removed = api->Send("DELETE", "/v1/schedules/" + EscapeUrlComponent(id));
  if (!removed) return ctx.Fail(removed.error());
  if (ctx.json()) {
    ctx.out() << R"({"id":")" << EscapeUrlComponent(id) << R"(","deleted":true})"
              << "\n";
    return kExitOk;
  }
  ctx.out() << "deleted schedule " << id << "\n";
  return kExitOk;
}

int RunFire(Context& ctx, const std::string& id) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  auto reply = api->Send("POST", "/v1/schedules/" + EscapeUrlComponent(id) + "/fire");
  if (!reply) return ctx.Fail(reply.error());
  if (ctx.json()) {
    ctx.out() << reply->body << "\n";
    return kExitOk;
  }
  auto fired = protocol::ParseScheduleFired(reply->body);
  if (!fired) return ctx.Fail(fired.error());
  ctx.out() << "fired schedule " << id << " at " << FormatTimestamp(fired->fire_time) << ": "
            << fired->jobs.size() << (fired->jobs.size() == 1 ? " job\n" : " jobs\n");
  if (fired->jobs.empty()) {
    ctx.err() << "fleetctl: no job was created: the target matched no enrolled agent, or (with "
                 "overlap skip) every host's previous chain is still running\n";
    return kExitOk;
  }
  Table table({"id", "agent", "type", "status", "depends on"});
  for (const auto& job : fired->jobs) {
    table.AddRow({job.id, job.agent_id, job.type, std::string(protocol::ToString(job.status)),
                  job.depends_on.empty() ? "-" : job.depends_on.front()});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

// The flags create and update share; `create`: the flags a new schedule needs are required,
// and their help says what is taken without them.
void AddDefinitionFlags(CLI::App* sub, const std::shared_ptr<ScheduleArgs>& args, bool create) {
  auto* cron = sub->add_option("--cron", args->cron,
                               "cron: 5 fields, or 6 with seconds first (\"0 4 * * *\")");
  if (create) cron->required();
  sub->add_option(
      "--tz", args->time_zone,
      create ? "IANA time zone of the cron (default UTC)" : "IANA time zone of the cron");
  sub->add_option("--agent", args->agents, "target agent (repeatable)");
  sub->add_option("--selector", args->selector, "target agents by label KEY=VALUE (repeatable)");
  sub->add_option("--step", args->steps,
                  "a step as a JSON object {\"type\",\"instanceId\"|\"serverId\",\"payload\"} "
                  "(repeatable, in order)");
  sub->add_option("--overlap", args->overlap, create ? "skip (default) or queue" : "skip or queue")
      ->check(CLI::IsMember({"skip", "queue"}));
  sub->add_option("--catch-up", args->catch_up,
                  create ? "none (default) or latest" : "none or latest")
      ->check(CLI::IsMember({"none", "latest"}));
}

}  // namespace

void AddScheduleCommand(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ScheduleArgs>();
  auto* schedule =
      app.add_subcommand("schedule", "Create, list, show, change, delete and fire schedules");
  schedule->require_subcommand(1);
  schedule->footer(
      "A schedule fires by its cron in its time zone; each fire creates, on every host of its\n"
      "target, its steps as jobs chained with dependsOn.\n\n"
      "Examples:\n"
      "  fleetctl schedule create nightly --cron '0 4 * * *' --tz Europe/Berlin \\\n"
      "      --selector game=valheim \\\n"
      "      --step '{\"type\":\"BACKUP_INSTANCE\",\"instanceId\":\"main\"}' \\\n"
      "      --step '{\"type\":\"RESTART_INSTANCE\",\"instanceId\":\"main\"}'\n"
      "  fleetctl schedule show 01a2...\n"
      "  fleetctl schedule update 01a2... --disable");

  auto* create = schedule->add_subcommand("create", "Create a schedule");
  create->add_option("NAME", args->name, "the schedule's name")->required();
  AddDefinitionFlags(create, args, /*create=*/true);
  create->add_flag("--disabled", args->disable, "create it disabled");
  create->footer(
      "Example:\n"
      "  fleetctl schedule create backups --cron '*/30 * * * *' --agent host-1 \\\n"
      "      --step '{\"type\":\"BACKUP_INSTANCE\",\"instanceId\":\"main\"}'");
  create->callback(
      [&ctx, args] { ctx.run = [&ctx, args] { return RunScheduleCreate(ctx, *args); }; });

  auto* list = schedule->add_subcommand("ls", "List the schedules with their next fire");
  list->footer("Example:\n  fleetctl schedule ls -o json | jq -r '.schedules[].id'");
  list->callback([&ctx] { ctx.run = [&ctx] { return RunScheduleList(ctx); }; });

  auto* show = schedule->add_subcommand(
      "show", "Show a schedule, its next fires in its time zone and its last fires");
  show->add_option("ID", args->id, "the schedule's id")->required();
  show->footer("Example:\n  fleetctl schedule show 01a2...");
  show->callback(
      [&ctx, args] { ctx.run = [&ctx, args] { return RunScheduleShow(ctx, args->id); }; });

  auto* update = schedule->add_subcommand("update", "Change fields of a schedule");
  update->add_option("ID", args->id, "the schedule's id")->required();
  update->add_option("--name", args->name, "a new name");
  AddDefinitionFlags(update, args, /*create=*/false);
  update->add_flag("--enable", args->enable, "enable it (fires from now on)");
  update->add_flag("--disable", args->disable, "disable it");
  update->footer("Example:\n  fleetctl schedule update 01a2... --cron '0 5 * * *' --tz UTC");
  update->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunUpdate(ctx, *args); }; });

  auto* remove = schedule->add_subcommand("rm", "Delete a schedule (its jobs stay)");
  remove->add_option("ID", args->id, "the schedule's id")->required();
  remove->footer("Example:\n  fleetctl schedule rm 01a2...");
  remove->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunRemove(ctx, args->id); }; });

  auto* fire = schedule->add_subcommand("fire", "Fire a schedule now; prints the jobs created");
  fire->add_option("ID", args->id, "the schedule's id")->required();
  fire->footer("Example:\n  fleetctl schedule fire 01a2...");
  fire->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunFire(ctx, args->id); }; });
}

}  // namespace orb::cli
