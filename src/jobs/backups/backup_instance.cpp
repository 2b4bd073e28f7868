// BACKUP_INSTANCE (job-types.md §3): data/ streamed into .staging/<runId>/<backupId>.tar.zst,
// moved into backups/<instanceId>/, then the manifest (the commit). Cancellable until the manifest
// is written. In stopped mode the instance is started again whatever becomes of the run.

#include <algorithm>
#include <optional>
#include <utility>

#include "jobs/archive.hpp"
#include "jobs/backups/backup_store.hpp"
#include "jobs/backups/handlers.hpp"
#include "os/atomic.hpp"
#include "protocol/backup_json.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using protocol::BackupInstanceResult;
using protocol::BackupManifestRecord;

constexpr int kArchiveFirst = 5;
constexpr int kArchiveLast = 95;

BackupInstanceResult ResultOf(const BackupManifestRecord& manifest, bool already_exists) {
  BackupInstanceResult result;
  result.backup_id = manifest.backup_id;
  result.archive_sha256 = manifest.archive_sha256;
  result.archive_bytes = manifest.archive_bytes;
  result.files = static_cast<std::uint64_t>(std::count_if(
      manifest.files.begin(), manifest.files.end(),
      [](const auto& file) { return file.type == protocol::BackupEntryType::kFile; }));
  result.bytes = manifest.bytes;
  result.changed_during_backup = manifest.changed_during_backup;
  result.already_exists = already_exists;
  return result;
}

class BackupInstanceHandler final : public JobHandler {
 public:
  BackupInstanceHandler(os::Fs& fs, const InstanceOptions& options)
      : store_(fs), instances_(fs, options) {}

  std::string_view type() const override { return "BACKUP_INSTANCE"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto instance_id = InstanceStore::InstanceIdOf(context);
    if (!instance_id) return Fail(std::move(instance_id.error()));
    auto payload = protocol::ParseBackupInstancePayload(context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    const std::string backup_id =
        payload->backup_id.value_or(DefaultBackupId(context.execution().job_id));
    const BackupPaths paths(context.root(), *instance_id);
    context.Progress(0, "checking backup " + backup_id + " of " + *instance_id, "check");

    // Step 1: committed already (a retry of the same job, or the same id asked again).
    auto existing = store_.LoadManifest(paths, backup_id);
    if (!existing) return Fail(Retryable(std::move(existing.error())));
    // Leftovers of dead runs of this instance (its committed backups are never touched).
    if (auto garbage = store_.CollectGarbage(paths, context.execution().run_id, false)) {
      for (const auto& item : *garbage)
        context.LogLine("info", "removed garbage " + item);
    } else {
      context.LogLine("warn", "garbage collection failed: " + garbage.error().Describe());
    }
    if (*existing) {
      context.LogLine("info", "backup " + backup_id + " is already committed");
      context.Progress(100, "already exists", "done");
      return protocol::BackupInstanceResultJson(ResultOf(**existing, true));
    }
    if (auto recovered = RecoverInstanceDir(paths); !recovered) {
      return Fail(Retryable(std::move(recovered.error())));
    }
    if (context.cancelled()) return Fail(context.cancel().ToError());
    if (auto prepared = Prepare(context, paths); !prepared) {
      return Fail(Retryable(std::move(prepared.error())));
    }

    // Step 2: stopped mode stops the instance, and starts it again however the rest ends.
    bool stopped_it = false;
    if (payload->mode == protocol::BackupMode::kStopped) {
      auto runtime = instances_.LoadRuntime(InstancePaths(context.root(), *instance_id));
      if (!runtime) return Fail(Retryable(std::move(runtime.error())));
      if (InstanceStore::FindRunning(InstancePaths(context.root(), *instance_id), *runtime)) {
        context.Progress(1, "stopping instance " + *instance_id + " for the backup", "stop");
        auto stopped = instances_.Stop(context, *instance_id, std::nullopt, 1, kArchiveFirst);
        if (!stopped) return Fail(std::move(stopped.error()).WithContext("backup " + backup_id));
        stopped_it = true;
      }
    }
    auto result = Archive(context, paths, backup_id);
    if (stopped_it) {
      auto started = StartInstanceAgain(context, instances_, *instance_id, 97);
      if (!started) {
        context.LogLine("error", "starting instance " + *instance_id +
                                     " again failed: " + started.error().Describe());
        if (result) {
          return Fail(std::move(started.error())
                          .WithContext("backup " + backup_id +
                                       " is committed, but the instance did not start again"));
        }
      }
    }
    if (!result) return Fail(std::move(result.error()));
    context.Progress(100, "backup " + backup_id + " committed", "done");
    return protocol::BackupInstanceResultJson(*result);
  }

 private:
  // Completes a directory exchange a crashed RESTORE left half-done, so data/ is where it belongs.
  Status RecoverInstanceDir(const BackupPaths& paths) {
    auto exists = os::Exists(store_.fs(), paths.instance_dir);
    if (!exists) return Fail(std::move(exists.error()));
    if (!*exists) return Ok();
    return os::RecoverExchange(store_.fs(), paths.instance_dir);
  }

  // backups/<id>/ and the tagged staging directory of this run.
  Status Prepare(HandlerContext& context, const BackupPaths& paths) {
    if (auto made = store_.MakeDirs(context.root(), paths.dir); !made) return made;
    if (auto made = store_.MakeDirs(context.root(), context.staging_dir()); !made) return made;
    auto tag = store_.fs().Open(context.staging_dir() / paths.StagingTag(),
                                os::OpenMode::kCreateOrTruncate);
    if (!tag) return Fail(std::move(tag.error()));
    return store_.fs().Close(*tag);
  }

  // Steps 3 and 4: archive, move, commit.
  Expected<BackupInstanceResult> Archive(HandlerContext& context, const BackupPaths& paths,
                                         const std::string& backup_id) {
    auto data = store_.fs().Stat(paths.data);
    if (!data) {
      if (data.error().code == Errc::kNotFound) {
        return Fail(Errc::kNotFound, "instance " + paths.instance_id +
                                         " has no data directory to back up (" +
                                         paths.data.string() + ")");
      }
      return Fail(Retryable(std::move(data.error())));
    }
    if (data->kind != os::FileKind::kDirectory) {
      return Fail(Errc::kIo, paths.data.string() + " is not a directory");
    }
    if (context.cancelled()) return Fail(context.cancel().ToError());

    const fs::path staged = context.staging_dir() / (backup_id + ".tar.zst");
    context.Progress(kArchiveFirst, "archiving " + paths.data.string(), "archive");
    ByteProgressReporter progress(context, kArchiveFirst, kArchiveLast, "archive", "archived");
    BackupOptions options;
    options.should_stop = [&context] { return context.cancelled(); };
    options.progress = [&progress](std::uint64_t done, std::uint64_t total) {
      progress(done, total);
    };
    auto manifest = WriteBackupArchive(paths.data, staged, options);
    if (!manifest) {
      if (manifest.error().code == Errc::kCancelled) return Fail(context.cancel().ToError());
      return Fail(Retryable(std::move(manifest.error())));
    }
    for (const auto& changed : manifest->changed) {
      context.LogLine("warn", "changed while being read, stored as seen at open: " + changed);
    }
    if (context.cancelled()) return Fail(context.cancel().ToError());

    context.Progress(kArchiveLast, "committing backup " + backup_id, "commit");
    const BackupManifestRecord record =
        ToManifestRecord(*manifest, backup_id, paths.instance_id, context.clock().WallNow(),
                         context.execution().job_id);
    const fs::path archive = paths.Archive(backup_id);
    if (auto moved = store_.fs().Rename(staged, archive); !moved) {
      return Fail(Retryable(std::move(moved.error())));
    }
    const auto drop_archive = [&] {
      if (auto removed = store_.fs().Unlink(archive); !removed) {
        context.LogLine("warn",
                        "cannot remove the uncommitted archive (the next backup or prune "
                        "removes it): " +
                            removed.error().Describe());
      }
    };
    if (auto synced = store_.fs().SyncDir(paths.dir); !synced) {
      drop_archive();
      return Fail(Retryable(std::move(synced.error())));
    }
    // The manifest is the commit: a cancel from here on is answered by finishing.
    if (auto marked = context.MarkPastPointOfNoReturn(); !marked) {
      drop_archive();
      return Fail(std::move(marked.error()));
    }
    if (auto written = os::WriteFileAtomically(store_.fs(), paths.Manifest(backup_id),
                                               protocol::BackupManifestJson(record));
        !written) {
      auto committed = os::Exists(store_.fs(), paths.Manifest(backup_id));
      if (committed && !*committed) drop_archive();
      return Fail(Retryable(std::move(written.error()).WithContext("commit backup " + backup_id)));
    }
    context.LogLine("info",
                    "backup " + backup_id + " committed: " + std::to_string(record.files.size()) +
                        " entries, " + std::to_string(record.archive_bytes) + " archive bytes");
    return ResultOf(record, false);
  }

  BackupStore store_;
  InstanceStore instances_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeBackupInstanceHandler(os::Fs& fs,
                                                      const InstanceOptions& instance_options) {
  return std::make_unique<BackupInstanceHandler>(fs, instance_options);
}

}  // namespace orb::jobs
