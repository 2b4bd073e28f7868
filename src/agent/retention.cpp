#include "agent/retention.hpp"

#include <algorithm>
#include <map>
#include <system_error>

#include <sys/stat.h>

#include "common/log.hpp"
#include "jobs/backups/backup_store.hpp"
#include "jobs/downloader.hpp"

namespace orb::agent {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPartSuffix = ".part";
constexpr std::string_view kLockSuffix = ".lock";
constexpr std::string_view kLogSuffix = ".log";
constexpr std::string_view kRestorePrefix = ".restore-";

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool IsSha256(std::string_view name) {
  return name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The sha256 a cache file belongs to ("<sha>", "<sha>.part"), or "" for anything else.
std::string CacheShaOf(const fs::path& path) {
  std::string name = path.filename().string();
  if (EndsWith(name, kPartSuffix)) name.resize(name.size() - kPartSuffix.size());
  return IsSha256(name) ? name : std::string();
}

std::optional<RetentionListing::File> FileOf(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  RetentionListing::File file;
  file.path = path;
  file.bytes = static_cast<std::uint64_t>(st.st_size);
  file.modified = WallTime(std::chrono::duration_cast<WallTime::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  return file;
}

// The entries of `dir` (none when it cannot be read).
std::vector<fs::directory_entry> Entries(const fs::path& dir) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    entries.push_back(*it);
  return entries;
}

}  // namespace

RetentionLimits RetentionLimits::From(const RetentionConfig& config) {
  RetentionLimits limits;
  limits.run_log_age = std::chrono::hours(24) * config.run_log_days;
  limits.cache_bytes = config.artifact_cache_mib << 20;
  return limits;
}

RetentionPlan PlanRetention(const RetentionListing& listing, WallTime now,
                            const RetentionLimits& limits, const std::set<std::string>& live_runs) {
  RetentionPlan plan;
  if (limits.run_log_age.count() > 0) {
    for (const auto& log : listing.run_logs) {
      const std::string run_id = log.path.stem().string();
      if (live_runs.count(run_id) > 0) continue;
      if (now - log.modified > limits.run_log_age) plan.run_logs.push_back(log.path);
    }
  }

  struct Cached {
    std::uint64_t bytes = 0;
    WallTime last_used{};
  };
  std::map<std::string, Cached> cached;
  std::uint64_t total = 0;
  for (const auto& file : listing.cache) {
    const std::string sha = CacheShaOf(file.path);
    if (sha.empty()) continue;
    Cached& entry = cached[sha];
    entry.bytes += file.bytes;
    entry.last_used = std::max(entry.last_used, file.modified);
    total += file.bytes;
  }
  if (total > limits.cache_bytes) {
    plan.cache_excess = total - limits.cache_bytes;
    std::vector<std::pair<WallTime, std::string>> order;
    for (const auto& [sha, entry] : cached)
      order.emplace_back(entry.last_used, sha);
    std::sort(order.begin(), order.end());
    for (auto& [time, sha] : order)
      plan.cache_order.push_back(std::move(sha));
  }
  plan.cache_locks = listing.cache_locks;

  for (const auto& name : listing.staging) {
    if (live_runs.count(name) == 0) plan.staging.push_back(name);
  }
  for (const auto& [instance, run_id] : listing.restore_staging) {
    if (live_runs.count(run_id) > 0) continue;
    if (std::find(plan.restore_instances.begin(), plan.restore_instances.end(), instance) ==
        plan.restore_instances.end()) {
      plan.restore_instances.push_back(instance);
    }
  }
  return plan;
}

Retention::Retention(RetentionOptions options, LockTable& locks, LiveRuns live_runs,
                     const Clock& clock, os::Fs* fs)
    : options_(std::move(options)),
      locks_(locks),
      live_runs_(std::move(live_runs)),
      clock_(clock),
      fs_(fs != nullptr ? *fs : real_fs_) {
  if (options_.artifact_cache.empty()) options_.artifact_cache = options_.root / "cache/artifacts";
}

RetentionListing Retention::List() const {
  RetentionListing listing;
  for (const auto& job : Entries(options_.run_logs)) {
    std::error_code ec;
    if (!job.is_directory(ec)) continue;
    for (const auto& entry : Entries(job.path())) {
      if (!EndsWith(entry.path().filename().string(), kLogSuffix)) continue;
      if (auto file = FileOf(entry.path())) listing.run_logs.push_back(std::move(*file));
    }
  }
  for (const auto& entry : Entries(options_.artifact_cache)) {
    const std::string name = entry.path().filename().string();
    if (EndsWith(name, kLockSuffix)) {
      listing.cache_locks.push_back(entry.path());
    } else if (!CacheShaOf(entry.path()).empty()) {
      if (auto file = FileOf(entry.path())) listing.cache.push_back(std::move(*file));
    }
  }
  for (const auto& entry : Entries(options_.root / ".staging"))
    listing.staging.push_back(entry.path().filename().string());
  for (const auto& instance : Entries(options_.root / "instances")) {
    for (const auto& entry : Entries(instance.path())) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(kRestorePrefix, 0) == 0) {
        listing.restore_staging.emplace_back(instance.path().filename().string(),
                                             name.substr(kRestorePrefix.size()));
      }
    }
  }
  return listing;
}

RetentionReport Retention::RunPass() {
  const auto log = GetLogger("agent");
  const auto deadline = std::chrono::steady_clock::now() + options_.budget;
  RetentionReport report;
  // The disk first, the live runs second: a run that starts in between is seen live.
  const RetentionListing listing = List();
  const std::set<std::string> live = live_runs_ ? live_runs_() : std::set<std::string>();
  const RetentionPlan plan =
      PlanRetention(listing, clock_.WallNow(), RetentionLimits::From(options_.config), live);
  const auto bounded = [&] {
    if (report.removed() < options_.max_removals && std::chrono::steady_clock::now() < deadline) {
      return false;
    }
    report.complete = false;
    return true;
  };

  // Staging of runs that are no longer live: the largest garbage there is.
  for (const auto& name : plan.staging) {
    if (bounded()) break;
    const fs::path path = options_.root / ".staging" / name;
    if (live_runs_ && live_runs_().count(name) > 0) continue;  // started since the listing
    if (auto removed = fs_.RemoveTree(path); !removed) {
      log->warn("retention: cannot remove {}: {}", path.string(), removed.error().Describe());
      continue;
    }
    ++report.staging;
  }
  for (const auto& instance : plan.restore_instances) {
    if (bounded()) break;
    // As RESTORE and PRUNE hold them: nothing else of that instance's backups runs meanwhile.
    const std::string owner = "retention";
    if (!locks_.TryAcquire(owner, {{"instance:" + instance, protocol::LockMode::kExclusive},
                                   {"backups:" + instance, protocol::LockMode::kExclusive}})) {
      continue;  // busy: the next pass
    }
    jobs::BackupStore store(fs_);
    auto garbage = store.CollectGarbage(
        jobs::BackupPaths(options_.root, instance), "", false,
        [this](const std::string& run_id) { return live_runs_ && live_runs_().count(run_id) > 0; });
    locks_.Release(owner);
    if (!garbage) {
      log->warn("retention: garbage of instance {}: {}", instance, garbage.error().Describe());
      continue;
    }
    report.staging += garbage->size();
  }

  // The artifact cache, least recently used first, down to its limit.
  std::uint64_t freed = 0;
  for (const auto& sha : plan.cache_order) {
    if (freed >= plan.cache_excess || bounded()) break;
    std::uint64_t bytes = 0;
    for (const auto& file : listing.cache) {
      if (CacheShaOf(file.path) == sha) bytes += file.bytes;
    }
    auto evicted = jobs::EvictCached(options_.artifact_cache, sha);
    if (!evicted) {
      log->warn("retention: cannot evict artifact {}: {}", sha, evicted.error().Describe());
      continue;
    }
    if (!*evicted) {
      ++report.in_use;  // a run holds it: never removed under it
      continue;
    }
    freed += bytes;
    ++report.artifacts;
    report.artifact_bytes += bytes;
  }
  // Lock files nobody holds (the evicted artifacts' went with them).
  for (const auto& lock : plan.cache_locks) {
    if (bounded()) break;
    auto removed = jobs::RemoveIdleLock(lock);
    if (!removed) {
      log->warn("retention: {}", removed.error().Describe());
    } else if (*removed) {
      ++report.locks;
    }
  }

  // Run logs past their age, then the job directories they leave empty.
  std::set<fs::path> job_dirs;
  for (const auto& path : plan.run_logs) {
    if (bounded()) break;
    std::error_code ec;
    if (!fs::remove(path, ec) && ec) {
      log->warn("retention: cannot remove {}: {}", path.string(), ec.message());
      continue;
    }
    job_dirs.insert(path.parent_path());
    ++report.run_logs;
  }
  for (const auto& dir : job_dirs) {
    std::error_code ec;
    if (fs::is_empty(dir, ec) && !ec) fs::remove(dir, ec);
  }

  if (report.removed() > 0 || report.in_use > 0) {
    log->info(
        "retention: removed {} run logs, {} cached artifacts ({} MiB), {} lock files, {} staging "
        "directories; {} cached artifacts in use kept{}",
        report.run_logs, report.artifacts, report.artifact_bytes >> 20, report.locks,
        report.staging, report.in_use, report.complete ? "" : "; more in the next pass");
  }
  return report;
}

std::optional<RetentionReport> Retention::RunIfDue() {
  const auto now = clock_.Now();
  if (next_due_ && now < *next_due_) return std::nullopt;
  auto report = RunPass();
  next_due_ =
      now + (report.complete
                 ? std::chrono::milliseconds(std::chrono::minutes(options_.config.interval_minutes))
                 : options_.resume_after);
  return report;
}

}  // namespace orb::agent
