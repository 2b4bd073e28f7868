// store_rollouts: what a rollout costs a Store (docs/decisions/0021): enrolls --hosts agents,
// creates a rollout over all of them, and times AdvanceRollout as the leader calls it: the
// first (starts --max-in-flight hosts), one with nothing to do (the read of every host, what
// each round pays while jobs run), one after a job ended, then an abort's cancellations of the
// queued jobs in calls of at most 200 hosts.
//
//   store_rollouts sqlite [--data-dir DIR]       a fresh SQLite store (default: a temp dir)
//   store_rollouts postgres --url URL            a fresh database on that server
//   common: --hosts 5000 --max-in-flight 1000
//
// Prints the figures on stdout. A benchmark, not a test.

#include <chrono>
#include <iostream>
#include <string>

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
  int hosts = 5000;
  int max_in_flight = 1000;
};

template <class F>
double Timed(F&& call) {
  const auto start = Steady::now();
  call();
  return Ms(Steady::now() - start).count();
}

int Run(const Options& options) {
  IdGenerator ids(RealClock());
  store::StoreDeps deps;
  deps.ids = &ids;
  deps.on_queues_committed = [](std::vector<store::AgentQueue>) {};
  ScratchStore scratch =
      ScratchStore::Open(options.kind, options.data_dir, options.url, "store_rollouts", {}, deps);
  store::Store& store = *scratch.store;
  const std::string label = scratch.pg == nullptr ? "SQLite" : "PostgreSQL";
  const WallTime now = RealClock().WallNow();
  for (int a = 0; a < options.hosts; ++a) {
    const std::string id = fmt::format("h{:05}", a);
    store::TokenRecord token{"tok-" + id, id, protocol::Role::kAgent, id, "hash-" + id, now, {}};
    Must(store.EnrollAgent(id, {{"game", "valheim"}}, token, now), "enroll");
  }
  store::CreateRolloutCommand command;
  command.request.name = "bench";
  command.request.target.selector = protocol::Labels{{"game", "valheim"}};
  command.request.job.type = "BACKUP_INSTANCE";
  command.request.job.instance_id = "main";
  command.request.policy.max_in_flight = options.max_in_flight;
  std::string id;
  const double create =
      Timed([&] { id = Must(store.CreateRollout(command, now), "create").value.rollout.id; });
  int calls = 0;
  const double first = Timed([&] {
    while (Must(store.AdvanceRollout(id, now), "advance").value.more)
      ++calls;
    ++calls;
  });
  const double idle = Timed([&] { Must(store.AdvanceRollout(id, now), "idle advance"); });
  auto job = Must(store.ListJobs({.rollout_id = id}, 1, std::nullopt), "jobs");
  const double cancel = Timed([&] { Must(store.CancelJob(job.jobs.at(0).id, now), "cancel"); });
  const double after_end = Timed([&] { Must(store.AdvanceRollout(id, now), "advance after end"); });
  Must(store.AbortRollout(id, false, now), "abort");
  int abort_calls = 0;
  double slowest = 0;
  const double abort = Timed([&] {
    for (bool more = true; more; ++abort_calls) {
      const double one =
          Timed([&] { more = Must(store.AdvanceRollout(id, now), "abort advance").value.more; });
      slowest = std::max(slowest, one);
    }
  });
  std::cout << fmt::format(
      "{}: {} hosts, maxInFlight {}\n"
      "  create (hosts snapshot)           {:8.1f} ms\n"
      "  first advance ({} calls, {} jobs)  {:8.1f} ms\n"
      "  advance with nothing to do        {:8.1f} ms\n"
      "  cancel of one job (hot path)      {:8.1f} ms\n"
      "  advance after a job ended         {:8.1f} ms\n"
      "  abort's cancellations ({} calls)  {:8.1f} ms, slowest call {:.1f} ms\n",
      label, options.hosts, options.max_in_flight, create, calls, options.max_in_flight, first,
      idle, cancel, after_end, abort_calls, abort, slowest);
  scratch.Remove();
  return 0;
}

}  // namespace
}  // namespace orb::bench

int main(int argc, char** argv) {
  orb::bench::Options options;
  CLI::App app{"what a rollout costs a store"};
  app.require_subcommand(1);
  auto* sqlite = app.add_subcommand("sqlite", "a fresh SQLite store");
  sqlite->add_option("--data-dir", options.data_dir, "data dir (default: a new temp dir)");
  auto* postgres = app.add_subcommand("postgres", "a fresh database on a PostgreSQL server");
  postgres->add_option("--url", options.url, "postgresql://user@host:port/db of the server")
      ->required();
  for (auto* sub : {sqlite, postgres}) {
    sub->add_option("--hosts", options.hosts, "agents, all hosts of the rollout")
        ->capture_default_str();
    sub->add_option("--max-in-flight", options.max_in_flight, "hosts started at once")
        ->capture_default_str();
  }
  CLI11_PARSE(app, argc, argv);
  options.kind = sqlite->parsed() ? "sqlite" : "postgres";
  return orb::bench::Run(options);
}
