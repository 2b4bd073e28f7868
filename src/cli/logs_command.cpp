// fleetctl logs JOB [--run RUN] [--follow]: GET /v1/jobs/{id}/logs per run, paged with `after`.
// §6 has no log events, so --follow reads new lines every second until the job has ended.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"
#include "cli/output.hpp"

namespace orb::cli {
namespace {

constexpr int kPage = 1000;
constexpr std::chrono::milliseconds kFollowInterval{1000};
constexpr std::chrono::milliseconds kSlice{100};

struct LogsArgs {
  std::string job_id;
  std::optional<std::string> run_id;
  bool follow = false;
};

class LogPrinter {
 public:
  LogPrinter(Context& ctx, bool stream_json) : ctx_(ctx), stream_json_(stream_json) {}

  void Print(const protocol::JobLogLine& line, bool show_run) {
    if (ctx_.json()) {
      if (stream_json_) {
        ctx_.out() << protocol::ToJson(line) << std::endl;
      } else {
        collected_.lines.push_back(line);
      }
      return;
    }
    std::string text = FormatTimestamp(line.timestamp) + "  ";
    std::string level = line.level;
    level.resize(5, ' ');
    text += level + "  ";
    if (show_run) text += "[" + line.run_id + "] ";
    text += line.message;
    ctx_.out() << Truncate(text, std::string::npos) << "\n";
  }

  // After a run's stored lines: how many fleet-cmdr dropped past its per-run cap
  // (docs/decisions/0020). JSON output carries it as the response's logsDropped and logCap.
  void Dropped(const std::string& run_id, const protocol::JobLogs& page, bool show_run) {
    if (page.logs_dropped <= 0) return;
    if (ctx_.json()) {
      collected_.logs_dropped += page.logs_dropped;
      collected_.log_cap = page.log_cap;
      return;
    }
    std::string text = show_run ? "[" + run_id + "] " : "";
    ctx_.out() << text << LogsDroppedNote(page.logs_dropped, page.log_cap) << "\n";
  }

  void Finish() {
    if (ctx_.json() && !stream_json_) ctx_.out() << protocol::ToJson(collected_) << "\n";
    ctx_.out().flush();
  }

 private:
  Context& ctx_;
  bool stream_json_;
  protocol::JobLogs collected_;
};

int RunLogs(Context& ctx, const LogsArgs& args) {
  auto api = ctx.Connect();
  if (!api) return ctx.Usage(api.error());
  const std::string path = "/v1/jobs/" + EscapeUrlComponent(args.job_id);
  LogPrinter printer(ctx, args.follow);
  std::map<std::string, std::int64_t> after;  // run id -> last seq printed
  std::set<std::string> ended;                // runs whose lines were all printed

  // Prints the new lines of every run (or of --run); the job's state as read before them.
  auto fetch = [&]() -> Expected<protocol::JobDetail> {
    auto detail = api->Call<protocol::JobDetail>("GET", path);
    if (!detail) return Fail(std::move(detail.error()));
    std::vector<std::string> runs;
    if (args.run_id) {
      runs.push_back(*args.run_id);
    } else {
      for (const auto& run : detail->runs)
        runs.push_back(run.id);
    }
    for (const auto& run_id : runs) {
      if (ended.contains(run_id)) continue;
      // A final run gets no more lines: after these, what was dropped is said once.
      bool run_ended = !args.follow;
      for (const auto& run : detail->runs) {
        if (run.id == run_id && run.status != protocol::RunStatus::kRunning) run_ended = true;
      }
      while (true) {
        auto page = api->Call<protocol::JobLogs>(
            "GET", path + "/logs" +
                       QueryString({{"runId", run_id},
                                    {"after", std::to_string(after[run_id])},
                                    {"limit", std::to_string(kPage)}}));
        if (!page) return Fail(std::move(page.error()));
        for (const auto& line : page->lines) {
          printer.Print(line, runs.size() > 1);
          after[run_id] = std::max(after[run_id], line.seq);
        }
        if (page->lines.size() < static_cast<std::size_t>(kPage)) {
          if (run_ended) {
            printer.Dropped(run_id, *page, runs.size() > 1);
            ended.insert(run_id);
          }
          break;
        }
      }
    }
    return detail;
  };

  while (true) {
    auto detail = fetch();
    if (!detail) return ctx.Fail(detail.error());
    if (!args.follow || protocol::IsFinal(detail->job.status)) break;
    for (auto waited = std::chrono::milliseconds(0); waited < kFollowInterval; waited += kSlice) {
      if (ctx.interrupted()) {
        printer.Finish();
        return kExitInterrupted;
      }
      std::this_thread::sleep_for(kSlice);
    }
  }
  printer.Finish();
  return kExitOk;
}

}  // namespace

void AddLogsCommand(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<LogsArgs>();
  auto* sub = app.add_subcommand("logs", "Print a job's log lines");
  sub->add_option("JOB", args->job_id, "the job's id")->required();
  sub->add_option("--run", args->run_id, "only this run's lines");
  sub->add_flag("-f,--follow", args->follow, "keep printing new lines until the job has ended");
  sub->footer(
      "Lines: TIMESTAMP LEVEL [RUN] MESSAGE (the run is shown when the job has several).\n"
      "After a run's lines, a note says how many fleet-cmdr dropped past its per-run log cap.\n"
      "--output json prints {\"lines\": [...]}; with --follow, one JSON line per log line.\n\n"
      "Examples:\n"
      "  fleetctl logs 01934f2a-...\n"
      "  fleetctl logs 01934f2a-... --follow");
  sub->callback([&ctx, args] { ctx.run = [&ctx, args] { return RunLogs(ctx, *args); }; });
}

}  // namespace orb::cli
