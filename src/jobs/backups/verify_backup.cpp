// VERIFY_BACKUP (job-types.md §3): quick (manifest, archive size and sha256) or full (also every
// entry decompressed and checked against the manifest); the outcome is written to
// <backupId>.verify.json; a bad backup fails the run with backup_corrupt. Cancellable any time.

#include <algorithm>
#include <utility>

#include "jobs/archive.hpp"
#include "jobs/backups/backup_store.hpp"
#include "jobs/backups/handlers.hpp"
#include "os/atomic.hpp"
#include "protocol/backup_json.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using protocol::BackupManifestRecord;
using protocol::BackupVerifyRecord;
using protocol::VerifyLevel;

constexpr int kFirst = 5;
constexpr int kLast = 95;

class VerifyBackupHandler final : public JobHandler {
 public:
  explicit VerifyBackupHandler(os::Fs& fs) : store_(fs) {}

  std::string_view type() const override { return "VERIFY_BACKUP"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto instance_id = InstanceStore::InstanceIdOf(context);
    if (!instance_id) return Fail(std::move(instance_id.error()));
    auto payload = protocol::ParseVerifyBackupPayload(context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    const BackupPaths paths(context.root(), *instance_id);
    const std::string& backup_id = payload->backup_id;
    context.Progress(0, "reading the manifest of " + backup_id, "manifest");

    BackupVerifyRecord record;
    record.backup_id = backup_id;
    record.level = payload->level;
    record.job_id = context.execution().job_id;
    record.run_id = context.execution().run_id;

    auto manifest = store_.RequireManifest(paths, backup_id);
    if (!manifest) {
      if (manifest.error().code != Errc::kBackupCorrupt) {
        return Fail(Retryable(std::move(manifest.error())));
      }
      record.problems.push_back({"manifest", manifest.error().message});
      return Finish(context, paths, std::move(record));
    }
    record.files = manifest->files.size();
    if (context.cancelled()) return Fail(context.cancel().ToError());

    const fs::path archive = paths.Archive(backup_id);
    auto stat = store_.fs().Stat(archive);
    if (!stat) {
      if (stat.error().code != Errc::kNotFound) return Fail(Retryable(std::move(stat.error())));
      record.problems.push_back({"archive", "missing: " + archive.string()});
      return Finish(context, paths, std::move(record));
    }
    if (payload->level == VerifyLevel::kQuick) {
      if (auto checked = Quick(context, *manifest, archive, stat->size, record); !checked) {
        return Fail(std::move(checked.error()));
      }
    } else if (auto checked = Full(context, paths, *manifest, record); !checked) {
      return Fail(std::move(checked.error()));
    }
    return Finish(context, paths, std::move(record));
  }

 private:
  Status Quick(HandlerContext& context, const BackupManifestRecord& manifest,
               const fs::path& archive, std::uint64_t size, BackupVerifyRecord& record) {
    record.bytes = size;
    if (size != manifest.archive_bytes) {
      record.problems.push_back({"archive", "size " + std::to_string(size) + " bytes, manifest " +
                                                std::to_string(manifest.archive_bytes)});
      return Ok();
    }
    context.Progress(kFirst, "hashing the archive", "hash");
    ByteProgressReporter report(context, kFirst, kLast, "hash");
    std::uint64_t done = 0;
    auto hashed = store_.HashFile(
        archive, [&context] { return context.cancelled(); },
        [&](std::uint64_t n) { report(done += n, size); });
    if (!hashed) {
      if (hashed.error().code == Errc::kCancelled) return Fail(context.cancel().ToError());
      return Fail(Retryable(std::move(hashed.error())));
    }
    if (hashed->sha256 != manifest.archive_sha256) {
      record.problems.push_back(
          {"archive", "sha256 " + hashed->sha256 + ", manifest " + manifest.archive_sha256});
    }
    return Ok();
  }

  Status Full(HandlerContext& context, const BackupPaths& paths,
              const BackupManifestRecord& manifest, BackupVerifyRecord& record) {
    context.Progress(kFirst, "checking every entry", "verify");
    ByteProgressReporter report(context, kFirst, kLast, "verify");
    VerifyOptions options;
    options.should_stop = [&context] { return context.cancelled(); };
    options.progress = [&report](std::uint64_t done, std::uint64_t total) { report(done, total); };
    VerifyResult checked;
    auto problems = VerifyFully(paths, manifest, options, checked);
    if (!problems) {
      if (problems.error().code == Errc::kCancelled) return Fail(context.cancel().ToError());
      return Fail(Retryable(std::move(problems.error())));
    }
    record.files = checked.entries;
    record.bytes = checked.bytes;
    record.problems = std::move(*problems);
    return Ok();
  }

  // Writes <backupId>.verify.json and answers: the result, or backup_corrupt with the problems.
  Expected<std::string> Finish(HandlerContext& context, const BackupPaths& paths,
                               BackupVerifyRecord record) {
    record.ok = record.problems.empty();
    record.checked_at = context.clock().WallNow();
    context.Progress(kLast, "recording the result", "record");
    auto written = os::WriteFileAtomically(store_.fs(), paths.Verify(record.backup_id),
                                           protocol::BackupVerifyJson(record));
    if (!record.ok) {
      if (!written) {
        context.LogLine("warn", "cannot write " + paths.Verify(record.backup_id).string() + ": " +
                                    written.error().Describe());
      }
      const auto& first = record.problems.front();
      std::string message = "backup " + record.backup_id + " of " + paths.instance_id +
                            " is corrupt: " + first.field + ": " + first.problem;
      if (record.problems.size() > 1) {
        message += " (and " + std::to_string(record.problems.size() - 1) + " more problems)";
      }
      context.LogLine("error", message);
      Error error = MakeError(Errc::kBackupCorrupt, std::move(message), false);
      error.details = std::move(record.problems);
      return Fail(std::move(error));
    }
    if (!written) return Fail(Retryable(std::move(written.error())));
    context.Progress(100, "backup " + record.backup_id + " is good", "done");
    protocol::VerifyBackupResult result;
    result.backup_id = record.backup_id;
    result.level = record.level;
    result.ok = true;
    result.files = record.files;
    result.bytes = record.bytes;
    return protocol::VerifyBackupResultJson(result);
  }

  BackupStore store_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeVerifyBackupHandler(os::Fs& fs) {
  return std::make_unique<VerifyBackupHandler>(fs);
}

}  // namespace orb::jobs
