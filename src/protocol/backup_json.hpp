#pragma once

// The JSON of backups (job-types.md §1 backups/<instanceId>/, §3 BACKUP_INSTANCE, VERIFY_BACKUP,
// RESTORE_BACKUP, PRUNE_BACKUPS): the four payloads, the `<backupId>.manifest.json` commit record,
// the `<backupId>.verify.json` verification record, the restore marker and the four results, as
// plain structs. Lives in protocol because JSON does (style.md); protocol does not know
// jobs::BackupManifest, so the handlers in src/jobs/backups convert between the two.
// Pure functions; thread-safe. Never throws (except std::bad_alloc).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/expected.hpp"
#include "common/time.hpp"

namespace orb::protocol {

// ---- Payloads: validated exactly as fleet-cmdr does (ValidatePayload), defaults filled in.
// Errc::kInvalidPayload with details rooted at "payload." otherwise.

enum class BackupMode { kLive, kStopped };
enum class VerifyLevel { kQuick, kFull };
std::string_view ToString(BackupMode mode);    // "live" | "stopped"
std::string_view ToString(VerifyLevel level);  // "quick" | "full"

// BACKUP_INSTANCE {"backupId": "...", "mode": "live|stopped"}.
struct BackupInstancePayload {
  std::optional<std::string> backup_id;  // absent: the handler derives one from the jobId
  BackupMode mode = BackupMode::kLive;
};

// VERIFY_BACKUP {"backupId": "...", "level": "quick|full"}.
struct VerifyBackupPayload {
  std::string backup_id;
  VerifyLevel level = VerifyLevel::kFull;
};

// RESTORE_BACKUP {"backupId": "...", "startAfter": null}.
struct RestoreBackupPayload {
  std::string backup_id;
  std::optional<bool> start_after;  // nullopt: start again only if it was running
};

// PRUNE_BACKUPS {"keepLast": 3, ..., "dryRun": false}; never all zero (refused by validation).
struct PruneBackupsPayload {
  int keep_last = 0;
  int keep_hourly = 0;
  int keep_daily = 0;
  int keep_weekly = 0;
  int keep_monthly = 0;
  int keep_yearly = 0;
  bool dry_run = false;
  bool operator==(const PruneBackupsPayload&) const = default;
};

Expected<BackupInstancePayload> ParseBackupInstancePayload(std::string_view payload_json);
Expected<VerifyBackupPayload> ParseVerifyBackupPayload(std::string_view payload_json);
Expected<RestoreBackupPayload> ParseRestoreBackupPayload(std::string_view payload_json);
Expected<PruneBackupsPayload> ParsePruneBackupsPayload(std::string_view payload_json);

// ---- backups/<instanceId>/<backupId>.manifest.json: the commit record (job-types.md §1).

enum class BackupEntryType { kFile, kDirectory, kSymlink };
std::string_view ToString(BackupEntryType type);  // "file" | "directory" | "symlink"

// One entry of `files`: {path, size, sha256, mode, mtime} for files; directories and symlinks
// carry "type" (and "linkTarget"), size 0 and no sha256. "type" absent means "file".
struct BackupFileRecord {
  std::string path;  // relative, '/'-separated, no "." or ".." component
  BackupEntryType type = BackupEntryType::kFile;
  std::uint64_t size = 0;
  std::uint32_t mode = 0;   // permission bits, at most 07777
  std::int64_t mtime = 0;   // seconds since the Unix epoch
  std::string sha256;       // files: 64 lower-case hex digits
  std::string link_target;  // symlinks: not empty
  bool operator==(const BackupFileRecord&) const = default;
};

struct BackupManifestRecord {
  std::string backup_id;
  std::string instance_id;
  WallTime created_at{};
  std::string job_id;  // the job that made it (for operators; "" when unknown)
  std::string archive_sha256;
  std::uint64_t archive_bytes = 0;
  std::uint64_t bytes = 0;                         // sum of the files' sizes
  std::vector<BackupFileRecord> files;             // in archive order
  std::vector<std::string> changed_during_backup;  // read up to the size seen at open
  std::vector<std::string> skipped;                // sockets, fifos, devices, vanished files
  bool operator==(const BackupManifestRecord&) const = default;
};

std::string BackupManifestJson(const BackupManifestRecord& manifest);
// Every field checked (names, sha256 form, safe unique paths, mode range, type fields); unknown
// keys ignored. A manifest that does not pass is a damaged commit record: Errc::kBackupCorrupt
// (not retryable) with one detail per problem.
Expected<BackupManifestRecord> ParseBackupManifest(std::string_view text);

// ---- backups/<instanceId>/<backupId>.verify.json: the last verification (VERIFY_BACKUP).

struct BackupVerifyRecord {
  std::string backup_id;
  VerifyLevel level = VerifyLevel::kFull;
  bool ok = false;
  WallTime checked_at{};
  std::string job_id;
  std::string run_id;
  std::uint64_t files = 0;             // entries checked (full) or listed (quick)
  std::uint64_t bytes = 0;             // file bytes checked (full) or archive bytes (quick)
  std::vector<FieldProblem> problems;  // {field: path or "archive", problem}
  bool operator==(const BackupVerifyRecord&) const = default;
};

std::string BackupVerifyJson(const BackupVerifyRecord& record);
// Errc::kInvalidJson / kInvalidRequest (with details) for a damaged file.
Expected<BackupVerifyRecord> ParseBackupVerify(std::string_view text);

// ---- The restore marker, a file in the restored tree (RESTORE_BACKUP step 3): which job put this
// data in place, so a retry after a crash can tell that the swap happened and finish the job.

struct RestoreMarker {
  std::string backup_id;
  std::string job_id;
  std::string run_id;        // the run that swapped: its old data is .restore-<runId> until renamed
  bool was_running = false;  // the instance ran before the restore stopped it
  std::uint64_t restored_files = 0;
  std::optional<std::string> previous_data_kept_as;  // "data.pre-restore-<runId>"; none: no data
  WallTime restored_at{};
  bool operator==(const RestoreMarker&) const = default;
};

std::string RestoreMarkerJson(const RestoreMarker& marker);
// Errc::kInvalidJson / kInvalidRequest (with details) for a damaged file.
Expected<RestoreMarker> ParseRestoreMarker(std::string_view text);

// ---- Results (job-types.md §3).

// {backupId, archiveSha256, archiveBytes, files, bytes, changedDuringBackup} (+ "alreadyExists").
struct BackupInstanceResult {
  std::string backup_id;
  std::string archive_sha256;
  std::uint64_t archive_bytes = 0;
  std::uint64_t files = 0;  // regular files
  std::uint64_t bytes = 0;
  std::vector<std::string> changed_during_backup;
  bool already_exists = false;
};

// {backupId, level, ok, files, bytes}.
struct VerifyBackupResult {
  std::string backup_id;
  VerifyLevel level = VerifyLevel::kFull;
  bool ok = true;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
};

// {backupId, restoredFiles, previousDataKeptAs, started}.
struct RestoreBackupResult {
  std::string backup_id;
  std::uint64_t restored_files = 0;
  std::optional<std::string> previous_data_kept_as;  // null when there was no data/
  bool started = false;                              // the instance was started afterwards
};

struct PruneKept {
  std::string backup_id;
  std::vector<std::string> reasons;  // "last 3", "daily 2026-11-20", "newest", ...
  bool operator==(const PruneKept&) const = default;
};

// {kept: [{backupId, reasons}], removed: [backupId...], dryRun, garbage: [name...]}.
struct PruneBackupsResult {
  std::vector<PruneKept> kept;
  std::vector<std::string> removed;
  bool dry_run = false;
  std::vector<std::string> garbage;  // leftovers of dead runs removed (or, dry run, found)
};

std::string BackupInstanceResultJson(const BackupInstanceResult& result);
std::string VerifyBackupResultJson(const VerifyBackupResult& result);
std::string RestoreBackupResultJson(const RestoreBackupResult& result);
std::string PruneBackupsResultJson(const PruneBackupsResult& result);

}  // namespace orb::protocol
