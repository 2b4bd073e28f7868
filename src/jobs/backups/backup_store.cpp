#include "jobs/backups/backup_store.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <span>
#include <utility>

#include "common/ids.hpp"
#include "common/sha256.hpp"
#include "os/atomic.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using protocol::BackupEntryType;
using protocol::BackupFileRecord;
using protocol::BackupManifestRecord;

constexpr std::string_view kArchiveSuffix = ".tar.zst";
constexpr std::string_view kManifestSuffix = ".manifest.json";
constexpr std::string_view kVerifySuffix = ".verify.json";
constexpr std::string_view kRestorePrefix = ".restore-";
constexpr std::size_t kHashChunk = std::size_t{1} << 20;

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string Pad(long value, int width) {
  std::string text = std::to_string(value);
  if (static_cast<int>(text.size()) < width) {
    text.insert(0, static_cast<std::size_t>(width) - text.size(), '0');
  }
  return text;
}

// The bucket of `time` (UTC) for one prune rule; "last" gives every backup its own.
std::string Bucket(std::string_view rule, WallTime time, std::size_t index) {
  using namespace std::chrono;
  const auto day_point = floor<days>(time);
  const year_month_day ymd{day_point};
  const long y = static_cast<int>(ymd.year());
  const long m = static_cast<long>(static_cast<unsigned>(ymd.month()));
  const long d = static_cast<long>(static_cast<unsigned>(ymd.day()));
  if (rule == "hourly") {
    const long hour = duration_cast<hours>(time - day_point).count();
    return Pad(y, 4) + "-" + Pad(m, 2) + "-" + Pad(d, 2) + "T" + Pad(hour, 2);
  }
  if (rule == "daily") return Pad(y, 4) + "-" + Pad(m, 2) + "-" + Pad(d, 2);
  if (rule == "weekly") {
    // ISO 8601 week: the week's Thursday decides its year.
    const unsigned iso_day = weekday(day_point).iso_encoding();  // Monday 1 .. Sunday 7
    const sys_days thursday = day_point + days(4 - static_cast<int>(iso_day));
    const year iso_year = year_month_day(thursday).year();
    const sys_days first = sys_days(iso_year / January / 1);
    const long week = (thursday - first).count() / 7 + 1;
    return Pad(static_cast<int>(iso_year), 4) + "-W" + Pad(week, 2);
  }
  if (rule == "monthly") return Pad(y, 4) + "-" + Pad(m, 2);
  if (rule == "yearly") return Pad(y, 4);
  return std::to_string(index);
}

// Forwards a second context's progress and log lines to the run's own.
class ForwardingSink final : public RunSink {
 public:
  explicit ForwardingSink(HandlerContext& context) : context_(context) {}
  void Progress(std::optional<int> percent, std::string message, std::string step) override {
    context_.Progress(percent, std::move(message), std::move(step));
  }
  void LogLine(std::string_view level, std::string message) override {
    context_.LogLine(level, std::move(message));
  }

 private:
  HandlerContext& context_;
};

}  // namespace

BackupPaths::BackupPaths(const fs::path& root_dir, const std::string& id)
    : root(root_dir),
      instance_id(id),
      dir(root_dir / "backups" / id),
      instance_dir(root_dir / "instances" / id),
      data(instance_dir / "data") {}

fs::path BackupPaths::Archive(const std::string& backup_id) const {
  return dir / (backup_id + std::string(kArchiveSuffix));
}
fs::path BackupPaths::Manifest(const std::string& backup_id) const {
  return dir / (backup_id + std::string(kManifestSuffix));
}
fs::path BackupPaths::Verify(const std::string& backup_id) const {
  return dir / (backup_id + std::string(kVerifySuffix));
}
fs::path BackupPaths::RestoreStaging(const std::string& run_id) const {
  return instance_dir / (std::string(kRestorePrefix) + run_id);
}
fs::path BackupPaths::PreRestore(const std::string& run_id) const {
  return instance_dir / ("data.pre-restore-" + run_id);
}
std::string BackupPaths::StagingTag() const {
  return ".backup-of-" + instance_id;
}

BackupManifest ToArchiveManifest(const BackupManifestRecord& record) {
  BackupManifest manifest;
  manifest.entries.reserve(record.files.size());
  for (const auto& file : record.files) {
    ManifestEntry entry;
    entry.path = file.path;
    entry.type = file.type == BackupEntryType::kDirectory ? EntryType::kDirectory
                 : file.type == BackupEntryType::kSymlink ? EntryType::kSymlink
                                                          : EntryType::kFile;
    entry.size = file.size;
    entry.mode = file.mode;
    entry.mtime = file.mtime;
    entry.sha256 = file.sha256;
    entry.link_target = file.link_target;
    manifest.entries.push_back(std::move(entry));
  }
  manifest.archive_sha256 = record.archive_sha256;
  manifest.archive_bytes = record.archive_bytes;
  manifest.file_bytes = record.bytes;
  manifest.changed = record.changed_during_backup;
  manifest.skipped = record.skipped;
  return manifest;
}

BackupManifestRecord ToManifestRecord(const BackupManifest& manifest, const std::string& backup_id,
                                      const std::string& instance_id, WallTime created_at,
                                      const std::string& job_id) {
  BackupManifestRecord record;
  record.backup_id = backup_id;
  record.instance_id = instance_id;
  record.created_at = created_at;
  record.job_id = job_id;
  record.archive_sha256 = manifest.archive_sha256;
  record.archive_bytes = manifest.archive_bytes;
  record.bytes = manifest.file_bytes;
  record.files.reserve(manifest.entries.size());
  for (const auto& entry : manifest.entries) {
    BackupFileRecord file;
    file.path = entry.path;
    file.type = entry.type == EntryType::kDirectory ? BackupEntryType::kDirectory
                : entry.type == EntryType::kSymlink ? BackupEntryType::kSymlink
                                                    : BackupEntryType::kFile;
    file.size = entry.type == EntryType::kFile ? entry.size : 0;
    file.mode = entry.mode;
    file.mtime = entry.mtime;
    file.sha256 = entry.sha256;
    file.link_target = entry.link_target;
    record.files.push_back(std::move(file));
  }
  record.changed_during_backup = manifest.changed;
  record.skipped = manifest.skipped;
  return record;
}

PrunePlan PlanPrune(std::vector<CommittedBackup> backups,
                    const protocol::PruneBackupsPayload& policy) {
  std::sort(backups.begin(), backups.end(), [](const auto& a, const auto& b) {
    if (a.created_at != b.created_at) return a.created_at > b.created_at;
    return a.backup_id > b.backup_id;
  });
  struct Rule {
    std::string_view name;
    int count;
  };
  const std::array<Rule, 6> rules{{{"last", policy.keep_last},
                                   {"hourly", policy.keep_hourly},
                                   {"daily", policy.keep_daily},
                                   {"weekly", policy.keep_weekly},
                                   {"monthly", policy.keep_monthly},
                                   {"yearly", policy.keep_yearly}}};
  std::vector<std::vector<std::string>> reasons(backups.size());
  for (const auto& rule : rules) {
    int left = rule.count;
    std::optional<std::string> last_bucket;
    for (std::size_t i = 0; i < backups.size() && left > 0; ++i) {
      const std::string bucket = Bucket(rule.name, backups[i].created_at, i);
      if (last_bucket && *last_bucket == bucket) continue;
      last_bucket = bucket;
      --left;
      reasons[i].push_back(rule.name == "last" ? "last " + std::to_string(rule.count)
                                               : std::string(rule.name) + " " + bucket);
    }
  }
  if (!backups.empty() && reasons[0].empty()) reasons[0].emplace_back("newest");
  PrunePlan plan;
  for (std::size_t i = 0; i < backups.size(); ++i) {
    if (reasons[i].empty()) {
      plan.removed.push_back(backups[i].backup_id);
    } else {
      plan.kept.push_back({backups[i].backup_id, std::move(reasons[i])});
    }
  }
  std::reverse(plan.removed.begin(), plan.removed.end());
  return plan;
}

Expected<std::optional<BackupManifestRecord>> BackupStore::LoadManifest(
    const BackupPaths& paths, const std::string& backup_id) {
  auto text = fs_.ReadFile(paths.Manifest(backup_id));
  if (!text) {
    if (text.error().code == Errc::kNotFound) return std::optional<BackupManifestRecord>();
    return Fail(std::move(text.error()));
  }
  auto record = protocol::ParseBackupManifest(*text);
  if (!record) {
    return Fail(std::move(record.error()).WithContext(paths.Manifest(backup_id).string()));
  }
  if (record->backup_id != backup_id || record->instance_id != paths.instance_id) {
    return Fail(Errc::kBackupCorrupt, paths.Manifest(backup_id).string() + " is the manifest of " +
                                          record->instance_id + "/" + record->backup_id +
                                          ", not of " + paths.instance_id + "/" + backup_id);
  }
  return std::optional<BackupManifestRecord>(std::move(*record));
}

Expected<BackupManifestRecord> BackupStore::RequireManifest(const BackupPaths& paths,
                                                            const std::string& backup_id) {
  auto manifest = LoadManifest(paths, backup_id);
  if (!manifest) return Fail(std::move(manifest.error()));
  if (!*manifest) {
    return Fail(Errc::kNotFound, "instance " + paths.instance_id + " has no committed backup " +
                                     backup_id + " (no " + paths.Manifest(backup_id).string() +
                                     ")");
  }
  return std::move(**manifest);
}

Expected<std::vector<CommittedBackup>> BackupStore::ListCommitted(
    const BackupPaths& paths, std::vector<std::string>& unreadable) {
  std::vector<CommittedBackup> out;
  auto entries = fs_.ReadDir(paths.dir);
  if (!entries) {
    if (entries.error().code == Errc::kNotFound) return out;
    return Fail(std::move(entries.error()));
  }
  for (const auto& entry : *entries) {
    if (entry.kind != os::FileKind::kRegular || StartsWith(entry.name, ".") ||
        !EndsWith(entry.name, kManifestSuffix)) {
      continue;
    }
    const std::string id = entry.name.substr(0, entry.name.size() - kManifestSuffix.size());
    auto manifest = LoadManifest(paths, id);
    if (!manifest) {
      if (manifest.error().code != Errc::kBackupCorrupt) return Fail(std::move(manifest.error()));
      unreadable.push_back(id);
      continue;
    }
    if (*manifest) out.push_back({id, (*manifest)->created_at});
  }
  return out;
}

Status BackupStore::MakeDirs(const fs::path& root, const fs::path& dir) {
  return os::MakeDirsBelow(fs_, root, dir);
}

std::optional<protocol::RestoreMarker> BackupStore::ReadMarker(const BackupPaths& paths) {
  auto text = fs_.ReadFile(paths.data / std::string(kRestoreMarkerName));
  if (!text) return std::nullopt;
  auto marker = protocol::ParseRestoreMarker(*text);
  if (!marker) return std::nullopt;
  return std::move(*marker);
}

Expected<std::vector<std::string>> BackupStore::CollectGarbage(
    const BackupPaths& paths, const std::string& own_run_id, bool dry_run,
    const HandlerContext::RunLiveness& is_live) {
  std::vector<std::string> found;
  const auto relative = [&](const fs::path& path) {
    return path.lexically_relative(paths.root).generic_string();
  };
  const auto remove = [&](const fs::path& path) -> Status {
    found.push_back(relative(path));
    if (dry_run) return Ok();
    return fs_.RemoveTree(path);
  };

  // backups/<id>/: archives and verify records without a manifest, temp files.
  if (auto entries = fs_.ReadDir(paths.dir)) {
    bool removed_any = false;
    for (const auto& entry : *entries) {
      const std::string& name = entry.name;
      std::optional<std::string> id;
      if (EndsWith(name, kArchiveSuffix)) id = name.substr(0, name.size() - kArchiveSuffix.size());
      if (EndsWith(name, kVerifySuffix)) id = name.substr(0, name.size() - kVerifySuffix.size());
      bool garbage = StartsWith(name, ".") && name.find(".tmp-") != std::string::npos;
      if (id && !StartsWith(name, ".")) {
        auto manifest = os::Exists(fs_, paths.Manifest(*id));
        if (!manifest) return Fail(std::move(manifest.error()));
        garbage = !*manifest;
      }
      if (!garbage) continue;
      if (auto removed = remove(paths.dir / name); !removed) return Fail(removed.error());
      removed_any = true;
    }
    if (removed_any && !dry_run) {
      if (auto synced = fs_.SyncDir(paths.dir); !synced) return Fail(synced.error());
    }
  } else if (entries.error().code != Errc::kNotFound) {
    return Fail(std::move(entries.error()));
  }

  // .staging/<runId>/ of dead BACKUP runs of this instance, and of any dead run when the agent
  // says which runs are live.
  const fs::path staging = paths.root / ".staging";
  if (auto entries = fs_.ReadDir(staging)) {
    for (const auto& entry : *entries) {
      if (entry.name == own_run_id) continue;
      bool garbage = is_live && !is_live(entry.name);
      if (!garbage && entry.kind == os::FileKind::kDirectory) {
        auto tagged = os::Exists(fs_, staging / entry.name / paths.StagingTag());
        if (!tagged) return Fail(std::move(tagged.error()));
        garbage = *tagged;
      }
      if (!garbage) continue;
      if (auto removed = remove(staging / entry.name); !removed) return Fail(removed.error());
    }
  } else if (entries.error().code != Errc::kNotFound) {
    return Fail(std::move(entries.error()));
  }

  // instances/<id>/.restore-<runId>/ of dead RESTORE runs.
  if (auto entries = fs_.ReadDir(paths.instance_dir)) {
    const bool exchange_pending =
        std::any_of(entries->begin(), entries->end(), [](const os::DirEntry& entry) {
          return entry.name.find(".exchange-") != std::string::npos;
        });
    std::optional<protocol::RestoreMarker> marker;
    bool marker_read = false;
    bool changed = false;
    for (const auto& entry : *entries) {
      if (exchange_pending || !StartsWith(entry.name, kRestorePrefix)) continue;
      const std::string run_id = entry.name.substr(kRestorePrefix.size());
      if (run_id == own_run_id) continue;
      if (!marker_read) {
        marker = ReadMarker(paths);
        marker_read = true;
      }
      const fs::path dir = paths.instance_dir / entry.name;
      if (marker && marker->run_id == run_id) {
        // The old data of a restore that swapped and died before renaming it: keep it.
        found.push_back(relative(dir) + " -> " + relative(paths.PreRestore(run_id)));
        if (dry_run) continue;
        auto kept = os::Exists(fs_, paths.PreRestore(run_id));
        if (!kept) return Fail(std::move(kept.error()));
        auto moved = *kept ? fs_.RemoveTree(dir) : fs_.Rename(dir, paths.PreRestore(run_id));
        if (!moved) return Fail(std::move(moved.error()));
      } else if (auto removed = remove(dir); !removed) {
        return Fail(removed.error());
      }
      changed = true;
    }
    if (changed && !dry_run) {
      if (auto synced = fs_.SyncDir(paths.instance_dir); !synced) return Fail(synced.error());
    }
  } else if (entries.error().code != Errc::kNotFound) {
    return Fail(std::move(entries.error()));
  }
  return found;
}

Expected<BackupStore::Hashed> BackupStore::HashFile(
    const fs::path& path, const StopCheck& should_stop,
    const std::function<void(std::uint64_t)>& on_bytes) {
  auto file = fs_.Open(path, os::OpenMode::kRead);
  if (!file) return Fail(std::move(file.error()));
  Sha256 hash;
  std::vector<char> buffer(kHashChunk);
  for (;;) {
    if (should_stop && should_stop()) return Fail(Errc::kCancelled, "cancelled");
    auto n = fs_.Read(*file, std::span<char>(buffer));
    if (!n) return Fail(std::move(n.error()));
    if (*n == 0) break;
    hash.Update(buffer.data(), *n);
    if (on_bytes) on_bytes(*n);
  }
  Hashed hashed;
  hashed.bytes = hash.bytes();
  hashed.sha256 = hash.FinishHex();
  if (auto closed = fs_.Close(*file); !closed) return Fail(std::move(closed.error()));
  return hashed;
}

Expected<std::vector<FieldProblem>> VerifyFully(const BackupPaths& paths,
                                                const BackupManifestRecord& manifest,
                                                const VerifyOptions& options,
                                                VerifyResult& checked) {
  std::vector<FieldProblem> problems;
  for (const auto& file : manifest.files) {
    if (file.type != BackupEntryType::kSymlink) continue;
    const fs::path target(file.link_target);
    const fs::path resolved = (fs::path(file.path).parent_path() / target).lexically_normal();
    if (target.is_absolute() || resolved.empty() || *resolved.begin() == "..") {
      problems.push_back({file.path, "symlink to " + file.link_target + " leaves the backup"});
    }
  }
  auto verified =
      VerifyBackupArchive(paths.Archive(manifest.backup_id), ToArchiveManifest(manifest), options);
  if (verified) {
    checked = *verified;
    return problems;
  }
  Error& error = verified.error();
  if (error.code != Errc::kBackupCorrupt) return Fail(std::move(error));
  problems.insert(problems.end(), error.details.begin(), error.details.end());
  if (error.details.empty()) problems.push_back({"archive", error.message});
  return problems;
}

Expected<protocol::StartInstanceResult> StartInstanceAgain(HandlerContext& context,
                                                           InstanceStore& instances,
                                                           const std::string& instance_id,
                                                           int first_percent) {
  CancelToken uncancelled;
  ForwardingSink sink(context);
  HandlerContext again(context.execution(), context.root(), context.staging_dir(), uncancelled,
                       context.log(), sink, context.clock());
  context.LogLine("info", "starting instance " + instance_id + " again");
  return instances.Start(again, instance_id, std::nullopt, first_percent);
}

Error Retryable(Error error) {
  if (error.code == Errc::kIo) error.retryable = true;
  return error;
}

std::string DefaultBackupId(const std::string& job_id) {
  std::string id = "backup-" + job_id;
  if (IsValidName(id)) return id;
  return "backup-" + Sha256Hex(job_id).substr(0, 40);
}

}  // namespace orb::jobs
