#pragma once

// The agent's own housekeeping, for months of uptime without a full disk (docs/reliability.md
// "The agent"). What goes:
//  - per-run log files (stateDir/logs/<jobId>/<runId>.log) older than runLogDays, and the job
//    directories they leave empty; never the log of a live run;
//  - the artifact cache (root/cache/artifacts) above artifactCacheMiB, least recently used first
//    (a file's mtime is set on every use), never a file a run holds (jobs::EvictCached);
//  - cache lock files no process holds (jobs::RemoveIdleLock);
//  - the staging of runs that are no longer live: root/.staging/<runId>, and an instance's
//    instances/<id>/.restore-<runId> with the rest of that instance's backup garbage
//    (jobs::BackupStore::CollectGarbage, under the instance's and its backups' locks taken without
//    waiting, as RESTORE and PRUNE would hold them).
// Live runs are the executor's (a thread that has not ended): a run in the journal but not in the
// executor was interrupted by an earlier life, so its staging is garbage.
//
// As the house splits it: PlanRetention is the pure decision (the listing, the time, the limits,
// the live runs); Retention lists, decides and deletes, bounded per pass (removals and time), on
// the caller's thread: the agent's loop runs it between jobs, at start-up and then every
// intervalMinutes (sooner after a pass that stopped at its bound), so it needs no thread of its
// own.
//
// Thread-safety: PlanRetention is pure. Retention is used by one thread (the loop); what it
// deletes is safe against runs on other threads through the cache's flocks, the lock table and the
// live runs, listed after the disk so that a run starting meanwhile is seen live.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/lock_table.hpp"
#include "agent/retention_config.hpp"
#include "common/clock.hpp"
#include "common/time.hpp"
#include "os/fs.hpp"

namespace orb::agent {

// What a pass found on disk.
struct RetentionListing {
  struct File {
    std::filesystem::path path;
    std::uint64_t bytes = 0;
    WallTime modified{};
  };
  std::vector<File> run_logs;                      // stateDir/logs/<jobId>/<runId>.log
  std::vector<File> cache;                         // <sha256> and <sha256>.part
  std::vector<std::filesystem::path> cache_locks;  // *.lock in the cache
  std::vector<std::string> staging;                // names under root/.staging
  // (instanceId, runId) of instances/<instanceId>/.restore-<runId>.
  std::vector<std::pair<std::string, std::string>> restore_staging;
};

struct RetentionLimits {
  std::chrono::hours run_log_age{14 * 24};  // zero: keep them all
  std::uint64_t cache_bytes = std::uint64_t{10} << 30;

  static RetentionLimits From(const RetentionConfig& config);
};

// What to delete.
struct RetentionPlan {
  std::vector<std::filesystem::path> run_logs;  // older than the limit, not of a live run
  // The cache is this many bytes over its limit; `cache_order` lists every cached sha256, least
  // recently used first (by the newest mtime of its file and .part): evict in that order, skipping
  // what is in use, until that much was freed.
  std::uint64_t cache_excess = 0;
  std::vector<std::string> cache_order;
  std::vector<std::filesystem::path> cache_locks;  // removed where nobody holds them
  std::vector<std::string> staging;                // root/.staging/<name> of runs not live
  std::vector<std::string> restore_instances;      // with a .restore-<runId> of a run not live
};

RetentionPlan PlanRetention(const RetentionListing& listing, WallTime now,
                            const RetentionLimits& limits, const std::set<std::string>& live_runs);

struct RetentionOptions {
  std::filesystem::path run_logs;        // stateDir/logs
  std::filesystem::path root;            // the agent's root (job-types.md §1)
  std::filesystem::path artifact_cache;  // empty: root/cache/artifacts
  RetentionConfig config;
  std::size_t max_removals = 256;                // per pass
  std::chrono::milliseconds budget{250};         // per pass
  std::chrono::milliseconds resume_after{5000};  // the next pass, after one that hit its bound
};

// What one pass did.
struct RetentionReport {
  std::size_t run_logs = 0;
  std::size_t artifacts = 0;
  std::uint64_t artifact_bytes = 0;
  std::size_t locks = 0;
  std::size_t staging = 0;
  std::size_t in_use = 0;  // cache entries it would have evicted but a run holds
  bool complete = true;    // false: it stopped at its bound, the next pass comes soon
  [[nodiscard]] std::size_t removed() const { return run_logs + artifacts + locks + staging; }
};

class Retention {
 public:
  using LiveRuns = std::function<std::set<std::string>()>;
  // `fs` is used for the staging garbage (nullptr: a RealFs); `locks` is the executor's table.
  Retention(RetentionOptions options, LockTable& locks, LiveRuns live_runs, const Clock& clock,
            os::Fs* fs = nullptr);

  // Runs one bounded pass now.
  RetentionReport RunPass();
  // Runs a pass when one is due: the first at once, then every intervalMinutes, sooner after an
  // incomplete one or after MakeDue().
  std::optional<RetentionReport> RunIfDue();
  // The next pass is due at once (the journal just failed: free what can be freed).
  void MakeDue() { next_due_.reset(); }
  [[nodiscard]] std::optional<Clock::MonoTime> next_due() const { return next_due_; }

 private:
  RetentionListing List() const;

  RetentionOptions options_;
  LockTable& locks_;
  LiveRuns live_runs_;
  const Clock& clock_;
  os::RealFs real_fs_;
  os::Fs& fs_;
  std::optional<Clock::MonoTime> next_due_;  // nullopt: at once
};

}  // namespace orb::agent
