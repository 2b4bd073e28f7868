#pragma once

// What the four backup handlers share (job-types.md §1 backups/<instanceId>/, §3 BACKUP_INSTANCE,
// VERIFY_BACKUP, RESTORE_BACKUP, PRUNE_BACKUPS): the paths, committed backups (a backup exists only
// once its manifest does), the conversion between the manifest's JSON record and
// jobs::BackupManifest, the restic-style prune plan, the garbage of dead runs, and restarting an
// instance after a stop whatever became of the run.
//
// Garbage (removed by BACKUP, RESTORE and PRUNE of the same instance, which hold locks that keep
// every other backup run of that instance out, so whatever they find is of a dead run):
//   backups/<id>/<backupId>.tar.zst without a manifest, and temp files ".*.tmp-*" there;
//   .staging/<runId>/ of a BACKUP of this instance (tagged by a file ".backup-of-<instanceId>");
//   with a liveness query (PRUNE, from the executor): every other .staging/<runId> of a run that is
//   no longer live, whatever its type (job-types.md §1: staging of dead runs is garbage);
//   instances/<id>/.restore-<runId>/ of a RESTORE that died before its swap. One that died after
//   the swap left its old data there and data/ names that run in its marker: that one is renamed to
//   data.pre-restore-<runId>, as the dead run would have done.
//
// Thread-safety: stateless apart from the Fs reference; callers hold the job-types.md §3 locks.
// Errors: kNotFound (no committed backup of that id), kBackupCorrupt (a manifest that does not
// parse or does not belong here), kIo and the other Fs codes.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/expected.hpp"
#include "jobs/archive.hpp"
#include "jobs/instances/instance_store.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"
#include "protocol/backup_json.hpp"

namespace orb::jobs {

// The restore marker's file name inside data/ (RESTORE_BACKUP step 3).
inline constexpr std::string_view kRestoreMarkerName = ".orb-restore.json";

// The files of one instance's backups under the agent's root.
struct BackupPaths {
  BackupPaths(const std::filesystem::path& root, const std::string& instance_id);
  std::filesystem::path root;
  std::string instance_id;
  std::filesystem::path dir;           // backups/<instanceId>
  std::filesystem::path instance_dir;  // instances/<instanceId>
  std::filesystem::path data;          // instances/<instanceId>/data
  [[nodiscard]] std::filesystem::path Archive(const std::string& backup_id) const;
  [[nodiscard]] std::filesystem::path Manifest(const std::string& backup_id) const;
  [[nodiscard]] std::filesystem::path Verify(const std::string& backup_id) const;
  // instances/<id>/.restore-<runId> and instances/<id>/data.pre-restore-<runId>.
  [[nodiscard]] std::filesystem::path RestoreStaging(const std::string& run_id) const;
  [[nodiscard]] std::filesystem::path PreRestore(const std::string& run_id) const;
  // The tag that marks .staging/<runId>/ as a BACKUP of this instance.
  [[nodiscard]] std::string StagingTag() const;
};

// The manifest record <-> the archive functions' manifest.
BackupManifest ToArchiveManifest(const protocol::BackupManifestRecord& record);
protocol::BackupManifestRecord ToManifestRecord(const BackupManifest& manifest,
                                                const std::string& backup_id,
                                                const std::string& instance_id, WallTime created_at,
                                                const std::string& job_id);

// One committed backup as PRUNE sees it.
struct CommittedBackup {
  std::string backup_id;
  WallTime created_at{};
};

// restic `forget` over committed backups (job-types.md §3 PRUNE_BACKUPS): newest first by
// createdAt (then backupId); for each rule with count n, walk from the newest and keep a backup
// when its bucket (UTC hour, day, ISO week, month, year; every backup for keepLast) differs from
// the last one that rule kept, until n are kept. Reasons: "last 3", "hourly 2026-11-20T10",
// "daily 2026-11-20", "weekly 2026-W47", "monthly 2026-11", "yearly 2026". The newest backup is
// always kept ("newest" when no rule kept it). `removed` is oldest first.
struct PrunePlan {
  std::vector<protocol::PruneKept> kept;  // newest first
  std::vector<std::string> removed;
};
PrunePlan PlanPrune(std::vector<CommittedBackup> backups,
                    const protocol::PruneBackupsPayload& policy);

class BackupStore {
 public:
  explicit BackupStore(os::Fs& fs) : fs_(fs) {}

  os::Fs& fs() { return fs_; }

  // The manifest of `backup_id`: nullopt when it is not committed; kBackupCorrupt when the
  // manifest is damaged or names another backup or instance.
  Expected<std::optional<protocol::BackupManifestRecord>> LoadManifest(
      const BackupPaths& paths, const std::string& backup_id);
  // The manifest, or kNotFound naming the backup when it is not committed.
  Expected<protocol::BackupManifestRecord> RequireManifest(const BackupPaths& paths,
                                                           const std::string& backup_id);

  // Every committed backup (manifests that parse); `unreadable` gets the ids whose manifest does
  // not (PRUNE keeps them: it never deletes what it cannot read).
  Expected<std::vector<CommittedBackup>> ListCommitted(const BackupPaths& paths,
                                                       std::vector<std::string>& unreadable);

  // mkdir -p below `root` (every level through the Fs).
  Status MakeDirs(const std::filesystem::path& root, const std::filesystem::path& dir);

  // Finds (and unless `dry_run` removes) the garbage described above, except the staging of
  // `own_run_id`; `is_live` (optional) says which other runs are live. Returns the paths found,
  // relative to the root. Stops at the first Fs error.
  Expected<std::vector<std::string>> CollectGarbage(
      const BackupPaths& paths, const std::string& own_run_id, bool dry_run,
      const HandlerContext::RunLiveness& is_live = {});

  // The restore marker in data/, nullopt when there is none or it does not parse.
  std::optional<protocol::RestoreMarker> ReadMarker(const BackupPaths& paths);

  // sha256 and size of a file read through the Fs, with progress and cancel checks.
  struct Hashed {
    std::string sha256;
    std::uint64_t bytes = 0;
  };
  Expected<Hashed> HashFile(const std::filesystem::path& path, const StopCheck& should_stop,
                            const std::function<void(std::uint64_t)>& on_bytes);

 private:
  os::Fs& fs_;
};

// Full verification (VERIFY_BACKUP level full, RESTORE_BACKUP step 1): the archive checked entry
// by entry against the manifest (VerifyBackupArchive), plus symlinks whose target is absolute or
// leaves the tree (job-types.md §1: such an archive is never restored). Returns the problems
// (empty: good; field = the path or "archive") with `checked` filled; kIo when the archive cannot
// be read for reasons other than its content, kCancelled.
Expected<std::vector<FieldProblem>> VerifyFully(const BackupPaths& paths,
                                                const protocol::BackupManifestRecord& manifest,
                                                const VerifyOptions& options,
                                                VerifyResult& checked);

// Starts the instance again after a handler stopped it, with a context of its own that no cancel
// reaches (the run's own may be cancelled: the instance must come back all the same), forwarding
// progress and log lines to `context`. job-types.md §3 BACKUP_INSTANCE step 2, RESTORE step 4.
Expected<protocol::StartInstanceResult> StartInstanceAgain(HandlerContext& context,
                                                           InstanceStore& instances,
                                                           const std::string& instance_id,
                                                           int first_percent);

// `error` with retryable set when it is an I/O failure (a full or failing disk may recover; an
// automatic retry of a backup job is safe). Other codes are returned unchanged.
Error Retryable(Error error);

// The default backupId of a BACKUP_INSTANCE job: "backup-<jobId>" (a hash of it when that is not
// a valid name), so a retry of the same job finds the backup its earlier run committed.
std::string DefaultBackupId(const std::string& job_id);

}  // namespace orb::jobs
