// fleetctl watch [JOB]: live progress over the event stream (protocol.md §6). With JOB it ends
// when the job does (exit 1 if FAILED or CANCELLED); without, it shows every job (or one agent's)
// until interrupted.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/event_stream.hpp"
#include "cli/exit_codes.hpp"
#include "cli/job_table.hpp"
#include "cli/job_watcher.hpp"
#include "cli/progress_bar.hpp"

namespace orb::cli {
namespace {

constexpr std::size_t kBoardJobs = 20;
constexpr std::chrono::milliseconds kReceiveSlice{500};

struct WatchArgs {
  std::string job_id;
  std::optional<std::string> agent_id;
  std::optional<std::int64_t> since;
};

WatchDisplay DisplayFor(Context& ctx) {
  if (ctx.json()) return WatchDisplay::kJsonEvents;
  return ctx.io().out_is_tty ? WatchDisplay::kBars : WatchDisplay::kLines;
}

int WatchOneJob(Context& ctx, Api& api, const std::string& job_id) {
  auto finished = WaitForJobs(ctx, api, {job_id}, DisplayFor(ctx));
  if (!finished) return ctx.Fail(finished.error());
  const auto& job = finished->front();
  if (!ctx.json()) ctx.out() << RenderJobOutcome(job) << "\n";
  return job.status == protocol::JobStatus::kCompleted ? kExitOk : kExitJobFailed;
}

int WatchAll(Context& ctx, Api& api, const WatchArgs& args) {
  EventStream stream(api.connection(), StreamFilter{args.agent_id, std::nullopt},
                     ctx.io().interrupted);
  if (auto opened = stream.Open(args.since); !opened) return ctx.Fail(opened.error());
  const WatchDisplay display = DisplayFor(ctx);
  ProgressBoard board(ctx.out());
  std::map<std::string, JobView> views;
  std::deque<std::string> order;  // job ids, most recent last
  if (display == WatchDisplay::kLines) {
    ctx.out() << "watching events after seq " << stream.last_seq() << " (Ctrl-C to stop)"
              << std::endl;
  }
  while (true) {
    auto next = stream.Next(kReceiveSlice);
    if (!next) return ctx.Fail(next.error());
    if (!*next) continue;
    const auto& message = **next;
    if (message.kind == protocol::StreamMessage::Kind::kResync) {
      ctx.err() << "fleetctl: events were missed (older than fleet-cmdr keeps); "
                   "showing live events from now on\n";
      continue;
    }
    if (!message.event) continue;
    const auto& event = *message.event;
    if (display == WatchDisplay::kJsonEvents) {
      ctx.out() << protocol::ToJson(event) << std::endl;
      continue;
    }
    if (display == WatchDisplay::kLines || !event.job_id) {
      if (display == WatchDisplay::kBars) board.Release();
      ctx.out() << RenderEventLine(event) << std::endl;
      continue;
    }
    const std::string& id = *event.job_id;
    auto [it, inserted] = views.try_emplace(id);
    if (inserted) {
      it->second.id = id;
      order.push_back(id);
      if (order.size() > kBoardJobs) {
        views.erase(order.front());
        order.pop_front();
      }
    }
    ApplyEvent(it->second, event);
    std::vector<std::string> lines;
    for (const auto& job_id : order)
      lines.push_back(RenderJobLine(views[job_id]));
    board.Draw(lines);
  }
}

int RunWatch(Context& ctx, const WatchArgs& args) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  if (!args.job_id.empty()) return WatchOneJob(ctx, *api, args.job_id);
  return WatchAll(ctx, *api, args);
}

}  // namespace

void AddWatchCommand(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<WatchArgs>();
  auto* sub = app.add_subcommand("watch", "Live progress of one job, or of every job");
  sub->add_option("JOB", args->job_id, "follow this job until it ends");
  sub->add_option("-a,--agent", args->agent_id, "without JOB: only this agent's events");
  sub->add_option("--since", args->since, "without JOB: replay the events after this seq first");
  sub->footer(
      "Progress bars are drawn when stdout is a terminal; otherwise one line per event, and\n"
      "with --output json one JSON event per line. With JOB the exit code is 0 when it\n"
      "COMPLETED and 1 when it ended FAILED or CANCELLED; without JOB it runs until Ctrl-C.\n\n"
      "Examples:\n"
      "  fleetctl watch 01934f2a-...\n"
      "  fleetctl watch --agent host-1\n"
      "  fleetctl watch --since 1234 -o json | jq .type");
  sub->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunWatch(ctx, *args); }; });
}

}  // namespace orb::cli
