// store_load: W1 (docs/benchmarks.md) against a Store directly, without HTTP: what a store can do
// by itself, SQLite or PostgreSQL, and what a PostgreSQL store sends per operation.
//
//   store_load sqlite [--data-dir DIR]                  a fresh SQLite store (default: a temp dir)
//   store_load postgres --url URL [--writers N]         a fresh database on that server
//   common: --jobs 20000 --agents 32 --producers 32
//           --log-lines 0    each run first sends one batch of that many 100-byte log lines
//
// W1 here: `producers` threads create `jobs` jobs one per call (enqueue), then `agents` threads,
// one per agent (maxParallel 1), loop DispatchNext -> ApplyUpdates(final COMPLETED) until nothing
// is left (consume). Each thread waits for its call, so `agents` operations are in flight at
// once, as W1's agents are. The notify listener is set (as fleet-cmdr sets it), so each commit
// reads its agents' queue states. For PostgreSQL, create the server first, e.g.
//   scripts/pg-test-cluster.sh start /tmp/pg && store_load postgres --url "$(cat /tmp/pg/url)"
// Prints one markdown row on stdout, details on stderr. A benchmark, not a test.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <sys/resource.h>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store_bench.hpp"

namespace orb::bench {
namespace {

using Steady = std::chrono::steady_clock;

struct Options {
  std::string kind;
  std::string data_dir;
  std::string url;
  int writers = 2;
  int jobs = 20000;
  int agents = 32;
  int producers = 32;
  int log_lines = 0;
};

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

int Run(const Options& options) {
  IdGenerator ids(RealClock());
  store::StoreDeps deps;
  deps.ids = &ids;
  deps.on_queues_committed = [](std::vector<store::AgentQueue>) {};
  store::PostgresStoreOptions pg_options;
  pg_options.writers = options.writers;
  ScratchStore scratch = ScratchStore::Open(options.kind, options.data_dir, options.url,
                                            "store_load", pg_options, deps);
  std::unique_ptr<store::Store>& store = scratch.store;
  store::PostgresStore* const pg = scratch.pg;
  const std::string label = pg == nullptr ? "SQLite WAL"
                                          : fmt::format("PostgreSQL, {} writer{}", options.writers,
                                                        options.writers > 1 ? "s" : "");

  const WallTime now = RealClock().WallNow();
  for (int a = 0; a < options.agents; ++a) {
    const std::string id = "agent-" + std::to_string(a);
    store::TokenRecord token{"tok-" + id, id, protocol::Role::kAgent, id, "hash-" + id, now, {}};
    Must(store->EnrollAgent(id, {}, token, now), "enroll");
    protocol::HelloRequest hello;
    hello.agent_version = "1";
    hello.job_types = {"VERIFY_BACKUP"};
    hello.max_parallel = 1;
    Must(store->RecordHello(id, hello, now), "hello");
  }

  auto run_threads = [](int count, const std::function<void(int)>& body) {
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i)
      threads.emplace_back(body, i);
    for (auto& thread : threads)
      thread.join();
  };

  std::atomic<int> failures{0};
  const auto stats_before = pg != nullptr ? pg->stats() : store::PostgresStoreStats{};
  double cpu = CpuSeconds();
  auto start = Steady::now();
  std::atomic<int> next_job{0};
  run_threads(options.producers, [&](int) {
    for (int j = next_job++; j < options.jobs; j = next_job++) {
      store::CreateJobsCommand command;
      store::JobSpec spec;
      spec.agent_id = "agent-" + std::to_string(j % options.agents);
      spec.type = "VERIFY_BACKUP";
      spec.instance_id = "mc";
      spec.payload_json = R"({"backupId":"b-1","level":"quick"})";
      command.jobs.push_back(spec);
      if (!store->CreateJobs(command, now)) ++failures;
    }
  });
  const double enqueue_s = std::chrono::duration<double>(Steady::now() - start).count();
  const double enqueue_cpu = CpuSeconds() - cpu;
  const auto stats_enqueued = pg != nullptr ? pg->stats() : store::PostgresStoreStats{};

  cpu = CpuSeconds();
  start = Steady::now();
  std::atomic<int> done{0};
  run_threads(options.agents, [&](int a) {
    const std::string id = "agent-" + std::to_string(a);
    for (;;) {
      auto next = store->DispatchNext(id, now, 300);
      if (!next) {
        ++failures;
        return;
      }
      if (!next->value) return;
      if (options.log_lines > 0) {
        protocol::UpdatesRequest logs;
        for (int seq = 1; seq <= options.log_lines; ++seq)
          logs.logs.push_back({seq, now, "info", std::string(100, 'x')});
        if (!store->ApplyUpdates(id, next->value->execution.run_id, logs, now, 300)) ++failures;
      }
      protocol::UpdatesRequest request;
      request.final_update = protocol::FinalUpdate{};
      request.final_update->seq = 1;
      request.final_update->status = protocol::RunStatus::kCompleted;
      request.final_update->timestamp = now;
      if (!store->ApplyUpdates(id, next->value->execution.run_id, request, now, 300)) {
        ++failures;
      }
      ++done;
    }
  });
  const double consume_s = std::chrono::duration<double>(Steady::now() - start).count();
  const double consume_cpu = CpuSeconds() - cpu;
  const auto stats_consumed = pg != nullptr ? pg->stats() : store::PostgresStoreStats{};

  std::cerr << fmt::format(
      "{}: enqueue {} jobs in {:.2f} s, consume {} in {:.2f} s, failures {}; this process "
      "{:.0f} us CPU per job created, {:.0f} per job consumed\n",
      label, options.jobs, enqueue_s, done.load(), consume_s, failures.load(),
      enqueue_cpu * 1e6 / options.jobs, consume_cpu * 1e6 / std::max(1, done.load()));
  if (pg != nullptr) {
    const std::uint64_t created = stats_enqueued.operations - stats_before.operations;
    const std::uint64_t consumed = stats_consumed.operations - stats_enqueued.operations;
    const std::uint64_t create_batches = stats_enqueued.batches - stats_before.batches;
    const std::uint64_t consume_batches = stats_consumed.batches - stats_enqueued.batches;
    auto ratio = [](std::uint64_t a, std::uint64_t b) {
      return static_cast<double>(a) / static_cast<double>(std::max<std::uint64_t>(1, b));
    };
    std::cerr << fmt::format(
        "  create: {} ops in {} batches ({:.1f} per batch), per op {:.2f} statements, {:.2f} "
        "round trips\n",
        created, create_batches, ratio(created, create_batches),
        ratio(stats_enqueued.write_statements - stats_before.write_statements, created),
        ratio(stats_enqueued.write_round_trips - stats_before.write_round_trips, created));
    std::cerr << fmt::format(
        "  next + final: {} ops in {} batches ({:.1f} per batch), per op {:.2f} statements, "
        "{:.2f} round trips; {:.2f} transactions per batch\n",
        consumed, consume_batches, ratio(consumed, consume_batches),
        ratio(stats_consumed.write_statements - stats_enqueued.write_statements, consumed),
        ratio(stats_consumed.write_round_trips - stats_enqueued.write_round_trips, consumed),
        ratio(stats_consumed.transactions - stats_enqueued.transactions, consume_batches));
    std::cerr << fmt::format(
        "  commits with events: {}, the event counter row held {:.0f} us each on average\n",
        stats_consumed.event_commits - stats_before.event_commits,
        ratio(stats_consumed.event_commit_micros - stats_before.event_commit_micros,
              stats_consumed.event_commits - stats_before.event_commits));
  }
  std::cout << fmt::format("| {} | {} agents | {} | {:.0f} | {:.0f} |\n", label, options.agents,
                           options.jobs, done.load() / consume_s, options.jobs / enqueue_s);
  scratch.Remove();
  return failures.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace orb::bench

int main(int argc, char** argv) {
  orb::bench::Options options;
  CLI::App app{"W1 against a store, without HTTP"};
  app.require_subcommand(1);
  auto* sqlite = app.add_subcommand("sqlite", "a fresh SQLite store");
  sqlite->add_option("--data-dir", options.data_dir, "data dir (default: a new temp dir)");
  auto* postgres = app.add_subcommand("postgres", "a fresh database on a PostgreSQL server");
  postgres->add_option("--url", options.url, "postgresql://user@host:port/db of the server")
      ->required();
  postgres->add_option("--writers", options.writers, "writer connections")->capture_default_str();
  for (auto* sub : {sqlite, postgres}) {
    sub->add_option("--jobs", options.jobs, "jobs")->capture_default_str();
    sub->add_option("--agents", options.agents, "agents (one thread each)")->capture_default_str();
    sub->add_option("--producers", options.producers, "producer threads")->capture_default_str();
    sub->add_option("--log-lines", options.log_lines, "log lines each run sends before its end")
        ->capture_default_str();
  }
  CLI11_PARSE(app, argc, argv);
  options.kind = sqlite->parsed() ? "sqlite" : "postgres";
  return orb::bench::Run(options);
}
