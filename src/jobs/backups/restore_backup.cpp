// RESTORE_BACKUP (job-types.md §3): verify fully before touching anything, extract into
// instances/<id>/.restore-<runId>/ and check every file against the manifest, only then stop the
// instance, and swap (the point of no return): the staged tree becomes data/ and the old data is
// kept as data.pre-restore-<runId>. The marker the staged tree carries into data/ tells a retry
// after a crash that the swap happened, so it finishes the job instead of restoring again.
// Cancellable until the swap; a cancel after the stop starts the instance again.

#include <algorithm>
#include <map>
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
using protocol::BackupEntryType;
using protocol::BackupManifestRecord;
using protocol::RestoreBackupResult;
using protocol::RestoreMarker;

// Progress: verify 0-35, extract 35-60, check 60-85, stop 85-90, swap 90-95, start 95-100.
constexpr int kVerifyFirst = 2;
constexpr int kExtractFirst = 35;
constexpr int kCheckFirst = 60;
constexpr int kStopFirst = 85;
constexpr int kSwapFirst = 90;
constexpr int kStartFirst = 95;

// Reports (done, total) as a percent in [first, last], each new percent once.
Error CorruptError(const std::string& what, std::vector<FieldProblem> problems) {
  const auto& first = problems.front();
  std::string message = what + ": " + first.field + ": " + first.problem;
  if (problems.size() > 1) {
    message += " (and " + std::to_string(problems.size() - 1) + " more problems)";
  }
  Error error = MakeError(Errc::kBackupCorrupt, std::move(message), false);
  error.details = std::move(problems);
  return error;
}

class RestoreBackupHandler final : public JobHandler {
 public:
  RestoreBackupHandler(os::Fs& fs, const InstanceOptions& options)
      : store_(fs), instances_(fs, options) {}

  std::string_view type() const override { return "RESTORE_BACKUP"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto instance_id = InstanceStore::InstanceIdOf(context);
    if (!instance_id) return Fail(std::move(instance_id.error()));
    auto payload = protocol::ParseRestoreBackupPayload(context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    const BackupPaths paths(context.root(), *instance_id);
    const std::string& backup_id = payload->backup_id;
    const std::string& run_id = context.execution().run_id;
    context.Progress(0, "checking instance " + *instance_id, "check");

    // A half-done directory exchange of a crashed attempt is completed or undone first.
    auto instance_dir = os::Exists(store_.fs(), paths.instance_dir);
    if (!instance_dir) return Fail(Retryable(std::move(instance_dir.error())));
    if (*instance_dir) {
      if (auto recovered = os::RecoverExchange(store_.fs(), paths.instance_dir); !recovered) {
        return Fail(Retryable(std::move(recovered.error())));
      }
    }
    // An earlier attempt of this job swapped already: finish it.
    if (auto marker = store_.ReadMarker(paths);
        marker && marker->job_id == context.execution().job_id && marker->backup_id == backup_id) {
      return Resume(context, paths, *payload, *marker);
    }
    if (auto garbage = store_.CollectGarbage(paths, run_id, false)) {
      for (const auto& item : *garbage)
        context.LogLine("info", "garbage: " + item);
    } else {
      context.LogLine("warn", "garbage collection failed: " + garbage.error().Describe());
    }

    // Step 1: verify fully before anything is touched.
    auto manifest = store_.RequireManifest(paths, backup_id);
    if (!manifest) return Fail(Retryable(std::move(manifest.error())));
    context.Progress(kVerifyFirst, "verifying backup " + backup_id, "verify");
    ByteProgressReporter verify_progress(context, kVerifyFirst, kExtractFirst, "verify");
    VerifyOptions verify_options;
    verify_options.should_stop = [&context] { return context.cancelled(); };
    verify_options.progress = [&](std::uint64_t done, std::uint64_t total) {
      verify_progress(done, total);
    };
    VerifyResult checked;
    auto problems = VerifyFully(paths, *manifest, verify_options, checked);
    if (!problems) {
      if (problems.error().code == Errc::kCancelled) return Fail(context.cancel().ToError());
      return Fail(Retryable(std::move(problems.error())));
    }
    if (!problems->empty()) {
      Error error = CorruptError("backup " + backup_id + " of " + *instance_id +
                                     " fails verification, nothing was changed",
                                 std::move(*problems));
      context.LogLine("error", error.message);
      return Fail(std::move(error));
    }
    if (context.cancelled()) return Fail(context.cancel().ToError());

    // Step 2: extract into staging and check every file.
    const fs::path staging = paths.RestoreStaging(run_id);
    const auto drop_staging = [&] {
      if (auto removed = store_.fs().RemoveTree(staging); !removed) {
        context.LogLine(
            "warn", "cannot remove " + staging.string() +
                        " (the next restore or prune removes it): " + removed.error().Describe());
      }
    };
    auto staged = Stage(context, paths, *manifest, staging);
    if (!staged) {
      drop_staging();
      return Fail(std::move(staged.error()));
    }
    if (context.cancelled()) {
      drop_staging();
      return Fail(context.cancel().ToError());
    }

    // Step 3: stop, mark, swap.
    const InstancePaths instance_paths(context.root(), *instance_id);
    auto runtime = instances_.LoadRuntime(instance_paths);
    if (!runtime) {
      drop_staging();
      return Fail(Retryable(std::move(runtime.error())));
    }
    bool was_running = false;
    if (InstanceStore::FindRunning(instance_paths, *runtime)) {
      auto stopped = instances_.Stop(context, *instance_id, std::nullopt, kStopFirst, kSwapFirst);
      if (!stopped) {
        drop_staging();
        return Fail(std::move(stopped.error()).WithContext("restore " + backup_id));
      }
      was_running = true;
    }
    // From here on, any way out before the swap starts the instance again.
    const auto back_out = [&](Error error) -> Expected<std::string> {
      drop_staging();
      if (was_running) {
        if (auto started = StartInstanceAgain(context, instances_, *instance_id, kStartFirst);
            !started) {
          context.LogLine("error", "starting instance " + *instance_id +
                                       " again failed: " + started.error().Describe());
        }
      }
      return Fail(std::move(error));
    };
    auto data = os::Exists(store_.fs(), paths.data);
    if (!data) return back_out(Retryable(std::move(data.error())));
    RestoreMarker marker;
    marker.backup_id = backup_id;
    marker.job_id = context.execution().job_id;
    marker.run_id = run_id;
    marker.was_running = was_running;
    marker.restored_files = *staged;
    if (*data) marker.previous_data_kept_as = paths.PreRestore(run_id).filename().string();
    marker.restored_at = context.clock().WallNow();
    if (auto written =
            os::WriteFileAtomically(store_.fs(), staging / std::string(kRestoreMarkerName),
                                    protocol::RestoreMarkerJson(marker));
        !written) {
      return back_out(Retryable(std::move(written.error())));
    }
    if (context.cancelled()) return back_out(context.cancel().ToError());
    if (auto marked = context.MarkPastPointOfNoReturn(); !marked) {
      return back_out(std::move(marked.error()));
    }
    context.Progress(kSwapFirst, "swapping the restored data in", "swap");
    if (*data) {
      if (auto swapped = os::ExchangeDirectories(store_.fs(), paths.data, staging); !swapped) {
        // As before, or swapped once recovered: the marker in data/ tells which.
        (void)os::RecoverExchange(store_.fs(), paths.instance_dir);
        auto now = store_.ReadMarker(paths);
        if (!now || now->run_id != run_id) {
          if (auto journal = HasExchangeJournal(paths); journal && !*journal) {
            return back_out(Retryable(std::move(swapped.error())));
          }
          return Fail(Retryable(std::move(swapped.error())));  // recovery needs the retry
        }
      }
      context.LogLine("info", "data swapped; the old data is kept as " +
                                  paths.PreRestore(run_id).filename().string());
    } else if (auto moved = store_.fs().Rename(staging, paths.data); !moved) {
      return back_out(Retryable(std::move(moved.error())));
    }
    return Finish(context, paths, *payload, marker);
  }

 private:
  // Extracts the archive into `staging` and checks the tree against the manifest: every entry
  // there with its type, size, sha256 and link target, nothing else. The files restored.
  Expected<std::uint64_t> Stage(HandlerContext& context, const BackupPaths& paths,
                                const BackupManifestRecord& manifest, const fs::path& staging) {
    if (auto made = store_.MakeDirs(context.root(), paths.instance_dir); !made) {
      return Fail(Retryable(std::move(made.error())));
    }
    if (auto removed = store_.fs().RemoveTree(staging); !removed) {
      return Fail(Retryable(std::move(removed.error())));
    }
    context.Progress(kExtractFirst, "extracting into " + staging.string(), "extract");
    ByteProgressReporter extract_progress(context, kExtractFirst, kCheckFirst, "extract");
    ExtractOptions options;
    options.should_stop = [&context] { return context.cancelled(); };
    options.progress = [&](std::uint64_t done, std::uint64_t total) {
      extract_progress(done, total);
    };
    auto extracted = SafeExtract(paths.Archive(manifest.backup_id), staging, options);
    if (!extracted) {
      if (extracted.error().code == Errc::kCancelled) return Fail(context.cancel().ToError());
      return Fail(Retryable(std::move(extracted.error())));
    }
    if (context.cancelled()) return Fail(context.cancel().ToError());

    context.Progress(kCheckFirst, "checking the restored files", "check");
    ByteProgressReporter check_progress(context, kCheckFirst, kStopFirst, "check");
    std::map<std::string, const protocol::BackupFileRecord*> expected;
    for (const auto& file : manifest.files)
      expected.emplace(file.path, &file);
    std::vector<FieldProblem> problems;
    std::uint64_t done = 0;
    std::uint64_t files = 0;
    std::vector<std::string> pending{""};
    while (!pending.empty()) {
      const std::string dir = std::move(pending.back());
      pending.pop_back();
      auto entries = store_.fs().ReadDir(dir.empty() ? staging : staging / dir);
      if (!entries) return Fail(Retryable(std::move(entries.error())));
      for (const auto& entry : *entries) {
        const std::string rel = dir.empty() ? entry.name : dir + "/" + entry.name;
        const auto found = expected.find(rel);
        if (found == expected.end()) {
          problems.push_back({rel, "extracted but not in the manifest"});
          continue;
        }
        const auto& want = *found->second;
        expected.erase(found);
        const fs::path path = staging / rel;
        if (entry.kind == os::FileKind::kDirectory && want.type == BackupEntryType::kDirectory) {
          pending.push_back(rel);
        } else if (entry.kind == os::FileKind::kSymlink && want.type == BackupEntryType::kSymlink) {
          auto target = store_.fs().ReadLink(path);
          if (!target) return Fail(Retryable(std::move(target.error())));
          if (target->string() != want.link_target) {
            problems.push_back({rel, "symlink target differs from the manifest"});
          }
        } else if (entry.kind == os::FileKind::kRegular && want.type == BackupEntryType::kFile) {
          auto hashed = store_.HashFile(
              path, [&context] { return context.cancelled(); },
              [&](std::uint64_t n) { check_progress(done += n, manifest.bytes); });
          if (!hashed) {
            if (hashed.error().code == Errc::kCancelled) return Fail(context.cancel().ToError());
            return Fail(Retryable(std::move(hashed.error())));
          }
          ++files;
          if (hashed->bytes != want.size || hashed->sha256 != want.sha256) {
            problems.push_back({rel, "restored content differs from the manifest"});
          }
        } else {
          problems.push_back({rel, "restored as another type than the manifest says"});
        }
      }
    }
    for (const auto& [path, file] : expected) {
      problems.push_back({path, "in the manifest but not restored"});
    }
    if (!problems.empty()) {
      return Fail(CorruptError("backup " + manifest.backup_id +
                                   " did not restore as its manifest "
                                   "says, nothing was changed",
                               std::move(problems)));
    }
    return files;
  }

  Expected<bool> HasExchangeJournal(const BackupPaths& paths) {
    auto entries = store_.fs().ReadDir(paths.instance_dir);
    if (!entries) return Fail(std::move(entries.error()));
    return std::any_of(entries->begin(), entries->end(), [](const os::DirEntry& entry) {
      return entry.name.find(".exchange-") != std::string::npos;
    });
  }

  // The swap happened in an earlier attempt of this job: keep its old data and start.
  Expected<std::string> Resume(HandlerContext& context, const BackupPaths& paths,
                               const protocol::RestoreBackupPayload& payload,
                               const RestoreMarker& marker) {
    context.LogLine("info", "run " + marker.run_id + " of this job already swapped backup " +
                                marker.backup_id + " in; finishing it");
    if (auto marked = context.MarkPastPointOfNoReturn(); !marked) {
      // Cancelled before we got here: the data is restored; leave the instance as it is.
      return Fail(std::move(marked.error()));
    }
    return Finish(context, paths, payload, marker);
  }

  // After the swap: the old data under its kept name, the directory fsynced, the start.
  Expected<std::string> Finish(HandlerContext& context, const BackupPaths& paths,
                               const protocol::RestoreBackupPayload& payload,
                               const RestoreMarker& marker) {
    const fs::path old_data = paths.RestoreStaging(marker.run_id);
    auto left = os::Exists(store_.fs(), old_data);
    if (!left) return Fail(Retryable(std::move(left.error())));
    if (*left) {
      if (auto moved = store_.fs().Rename(old_data, paths.PreRestore(marker.run_id)); !moved) {
        return Fail(Retryable(std::move(moved.error()).WithContext("keep the old data")));
      }
    }
    if (auto synced = store_.fs().SyncDir(paths.instance_dir); !synced) {
      return Fail(Retryable(std::move(synced.error())));
    }
    RestoreBackupResult result;
    result.backup_id = marker.backup_id;
    result.restored_files = marker.restored_files;
    result.previous_data_kept_as = marker.previous_data_kept_as;
    const bool start = payload.start_after.value_or(marker.was_running);
    if (start) {
      context.Progress(kStartFirst, "starting instance " + paths.instance_id, "start");
      auto started = StartInstanceAgain(context, instances_, paths.instance_id, kStartFirst);
      if (!started) {
        return Fail(std::move(started.error())
                        .WithContext("backup " + marker.backup_id +
                                     " is restored, but the instance did not start"));
      }
      result.started = true;
    }
    context.Progress(100, "backup " + marker.backup_id + " restored", "done");
    return protocol::RestoreBackupResultJson(result);
  }

  BackupStore store_;
  InstanceStore instances_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeRestoreBackupHandler(os::Fs& fs,
                                                     const InstanceOptions& instance_options) {
  return std::make_unique<RestoreBackupHandler>(fs, instance_options);
}

}  // namespace orb::jobs
