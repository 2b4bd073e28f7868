// store_retention: the cost of fleet-cmdr's retention (docs/decisions/0018) against a Store
// directly: fills it with finished jobs (each created, dispatched and completed with a log line)
// 40 days in the past, then prunes them the way the leader does (events by age, then jobs, in
// calls of --batch rows) while a probe agent runs jobs on the hot path (create, dispatch,
// complete) and times each call, before and during the prune.
//
//   store_retention sqlite [--data-dir DIR]            a fresh SQLite store (default: a temp dir)
//   store_retention postgres --url URL                 a fresh database on that server
//   common: --jobs 50000 --batch 200 --agents 32
//
// Prints the figures on stdout. A benchmark, not a test.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store_bench.hpp"

namespace orb::bench {
namespace {

using Steady = std::chrono::steady_clock;
using Ms = std::chrono::duration<double, std::milli>;

struct Options {
  std::string kind;
  std::string data_dir;
  std::string url;
  int jobs = 50'000;
  int batch = 200;
  int agents = 32;
};

// The real clock moved back while `back` is set: the ids of the filling are 40 days old, the
// probe's current.
class ShiftedClock final : public Clock {
 public:
  MonoTime Now() const override { return Steady::now(); }
  WallTime WallNow() const override {
    return std::chrono::system_clock::now() - std::chrono::hours(back_hours.load());
  }
  std::atomic<int> back_hours{0};
};

struct Latencies {
  std::vector<double> ms;
  std::string Describe() {
    if (ms.empty()) return "none";
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) {
      return ms[static_cast<std::size_t>(q * static_cast<double>(ms.size() - 1))];
    };
    return fmt::format("{} calls, p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms", ms.size(), at(0.5),
                       at(0.99), ms.back());
  }
};

// One job through the hot path on `agent`: create, dispatch, complete (with a log line).
void RunJob(store::Store& store, const std::string& agent, WallTime now, Latencies* latencies) {
  auto timed = [&](const auto& call) {
    const auto start = Steady::now();
    call();
    if (latencies != nullptr) latencies->ms.push_back(Ms(Steady::now() - start).count());
  };
  store::CreateJobsCommand command;
  store::JobSpec spec;
  spec.agent_id = agent;
  spec.type = "VERIFY_BACKUP";
  spec.instance_id = "mc";
  spec.payload_json = R"({"backupId":"b-1","level":"quick"})";
  command.jobs.push_back(spec);
  timed([&] { Must(store.CreateJobs(command, now), "create"); });
  std::optional<store::Dispatched> next;
  timed([&] { next = Must(store.DispatchNext(agent, now, 300), "dispatch").value; });
  if (!next) return;
  protocol::UpdatesRequest request;
  request.logs.push_back({1, now, "info", "verified"});
  request.final_update = protocol::FinalUpdate{};
  request.final_update->seq = 1;
  request.final_update->status = protocol::RunStatus::kCompleted;
  request.final_update->timestamp = now;
  timed(
      [&] { Must(store.ApplyUpdates(agent, next->execution.run_id, request, now, 300), "final"); });
}

int Run(const Options& options) {
  ShiftedClock id_clock;
  id_clock.back_hours = 24 * 40;
  IdGenerator ids(id_clock);
  store::StoreDeps deps;
  deps.ids = &ids;
  deps.on_queues_committed = [](std::vector<store::AgentQueue>) {};
  ScratchStore scratch =
      ScratchStore::Open(options.kind, options.data_dir, options.url, "store_retention", {}, deps);
  std::unique_ptr<store::Store>& store = scratch.store;
  const std::string label = scratch.pg == nullptr ? "SQLite" : "PostgreSQL";
  const WallTime past = id_clock.WallNow();
  for (int a = 0; a <= options.agents; ++a) {
    const std::string id = a == options.agents ? "probe" : "agent-" + std::to_string(a);
    store::TokenRecord token{"tok-" + id, id, protocol::Role::kAgent, id, "hash-" + id, past, {}};
    Must(store->EnrollAgent(id, {}, token, past), "enroll");
    protocol::HelloRequest hello;
    hello.agent_version = "1";
    hello.job_types = {"VERIFY_BACKUP"};
    hello.max_parallel = 1;
    Must(store->RecordHello(id, hello, past), "hello");
  }

  // Fill: each agent thread runs its share of jobs through create, dispatch, complete.
  auto start = Steady::now();
  {
    std::vector<std::thread> threads;
    for (int a = 0; a < options.agents; ++a) {
      threads.emplace_back([&, a] {
        const std::string id = "agent-" + std::to_string(a);
        for (int j = a; j < options.jobs; j += options.agents)
          RunJob(*store, id, past, nullptr);
      });
    }
    for (auto& thread : threads)
      thread.join();
  }
  id_clock.back_hours = 0;
  std::cout << fmt::format(
      "{}: {} finished jobs made in {:.1f} s; events kept: {}\n", label, options.jobs,
      std::chrono::duration<double>(Steady::now() - start).count(),
      Must(store->LastEventSeq(), "seq") - Must(store->OldestEventSeq(), "oldest") + 1);

  // The probe: jobs on the hot path, timed, for 3 s alone, then during the prune.
  std::atomic<int> phase{0};  // 0 baseline, 1 during the prune, 2 stop
  Latencies baseline;
  Latencies during;
  std::thread probe([&] {
    while (phase.load() < 2) {
      RunJob(*store, "probe", RealClock().WallNow(), phase.load() == 0 ? &baseline : &during);
    }
  });
  const auto baseline_until = Steady::now() + std::chrono::seconds(3);
  while (Steady::now() < baseline_until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a benchmark's fixed window
  phase = 1;

  const WallTime cutoff = RealClock().WallNow() - std::chrono::hours(24 * 30);
  auto prune = [&](std::string_view what, const std::function<std::int64_t()>& batch) {
    Latencies batches;
    std::int64_t total = 0;
    const auto begin = Steady::now();
    for (;;) {
      const auto one = Steady::now();
      const std::int64_t n = batch();
      batches.ms.push_back(Ms(Steady::now() - one).count());
      total += n;
      if (n < options.batch) break;
    }
    const double seconds = std::chrono::duration<double>(Steady::now() - begin).count();
    const double mean = seconds * 1000 / static_cast<double>(batches.ms.size());
    std::cout << fmt::format(
        "  {}: {} rows in {:.2f} s, {} calls of <= {} rows, mean {:.1f} ms; {}\n", what, total,
        seconds, batches.ms.size(), options.batch, mean, batches.Describe());
  };
  prune("events by age",
        [&] { return Must(store->PruneEventsBefore(cutoff, options.batch), "events"); });
  prune("jobs", [&] { return Must(store->PruneJobs(cutoff, options.batch), "jobs"); });
  phase = 2;
  probe.join();
  std::cout << "  hot path (probe agent) alone:      " << baseline.Describe() << "\n"
            << "  hot path (probe agent) during it:  " << during.Describe() << "\n";
  auto left = Must(store->CountJobs(), "count");
  std::int64_t remaining = 0;
  for (const auto& count : left)
    remaining += count.count;
  std::cout << fmt::format("  jobs left: {} (the probe's)\n", remaining);
  scratch.Remove();
  return 0;
}

}  // namespace
}  // namespace orb::bench

int main(int argc, char** argv) {
  orb::bench::Options options;
  CLI::App app{"the cost of pruning finished jobs, against a store"};
  app.require_subcommand(1);
  auto* sqlite = app.add_subcommand("sqlite", "a fresh SQLite store");
  sqlite->add_option("--data-dir", options.data_dir, "data dir (default: a new temp dir)");
  auto* postgres = app.add_subcommand("postgres", "a fresh database on a PostgreSQL server");
  postgres->add_option("--url", options.url, "postgresql://user@host:port/db of the server")
      ->required();
  for (auto* sub : {sqlite, postgres}) {
    sub->add_option("--jobs", options.jobs, "finished jobs to make and prune")
        ->capture_default_str();
    sub->add_option("--batch", options.batch, "rows per prune call")->capture_default_str();
    sub->add_option("--agents", options.agents, "agents (one thread each) making the jobs")
        ->capture_default_str();
  }
  CLI11_PARSE(app, argc, argv);
  options.kind = sqlite->parsed() ? "sqlite" : "postgres";
  return orb::bench::Run(options);
}
