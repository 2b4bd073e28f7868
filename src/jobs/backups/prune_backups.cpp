// PRUNE_BACKUPS (job-types.md §3): restic `forget` over the committed backups (PlanPrune), the
// newest always kept, each removal un-commits first (manifest) and then deletes the archive, and
// the garbage of dead runs goes too. Cancellable between deletions; dryRun changes nothing.

#include <utility>

#include "jobs/backups/backup_store.hpp"
#include "jobs/backups/handlers.hpp"
#include "protocol/backup_json.hpp"

namespace orb::jobs {
namespace {

class PruneBackupsHandler final : public JobHandler {
 public:
  explicit PruneBackupsHandler(os::Fs& fs) : store_(fs) {}

  std::string_view type() const override { return "PRUNE_BACKUPS"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto instance_id = InstanceStore::InstanceIdOf(context);
    if (!instance_id) return Fail(std::move(instance_id.error()));
    auto payload = protocol::ParsePruneBackupsPayload(context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    const BackupPaths paths(context.root(), *instance_id);
    const bool dry_run = payload->dry_run;
    context.Progress(0, "listing the backups of " + *instance_id, "list");

    protocol::PruneBackupsResult result;
    result.dry_run = dry_run;
    // Staging of every dead run goes too, whatever its type, when the agent says which are live.
    HandlerContext::RunLiveness is_live;
    if (context.knows_live_runs()) {
      is_live = [&context](const std::string& run_id) { return context.IsRunLive(run_id); };
    }
    auto garbage = store_.CollectGarbage(paths, context.execution().run_id, dry_run, is_live);
    if (!garbage) return Fail(Retryable(std::move(garbage.error()).WithContext("garbage")));
    for (const auto& item : *garbage) {
      context.LogLine("info",
                      std::string(dry_run ? "would remove garbage " : "removed garbage ") + item);
    }
    result.garbage = std::move(*garbage);

    std::vector<std::string> unreadable;
    auto committed = store_.ListCommitted(paths, unreadable);
    if (!committed) return Fail(Retryable(std::move(committed.error())));
    PrunePlan plan = PlanPrune(std::move(*committed), *payload);
    for (auto& id : unreadable) {
      context.LogLine("warn", "backup " + id +
                                  " has a damaged manifest: kept (verify or remove it "
                                  "by hand)");
      plan.kept.push_back({std::move(id), {"unreadable manifest"}});
    }
    result.kept = plan.kept;
    const std::size_t total = plan.removed.size();
    std::size_t done = 0;
    for (const auto& id : plan.removed) {
      // A safe point between deletions.
      if (context.cancelled()) return Fail(context.cancel().ToError());
      context.Progress(static_cast<int>(5 + 90 * done / std::max<std::size_t>(total, 1)),
                       std::string(dry_run ? "would remove " : "removing ") + id, "remove");
      if (!dry_run) {
        if (auto removed = Remove(paths, id); !removed) {
          return Fail(Retryable(std::move(removed.error()).WithContext("remove backup " + id)));
        }
        context.LogLine("info", "removed backup " + id);
      }
      result.removed.push_back(id);
      ++done;
    }
    context.Progress(100,
                     std::to_string(result.kept.size()) + " kept, " +
                         std::to_string(result.removed.size()) +
                         (dry_run ? " would be removed" : " removed"),
                     "done");
    return protocol::PruneBackupsResultJson(result);
  }

 private:
  // Un-commits (the manifest goes first, made durable), then deletes the archive and the verify
  // record. A crash in between leaves an archive without a manifest: garbage for the next run.
  Status Remove(const BackupPaths& paths, const std::string& id) {
    os::Fs& fs = store_.fs();
    if (auto unlinked = fs.Unlink(paths.Manifest(id));
        !unlinked && unlinked.error().code != Errc::kNotFound) {
      return unlinked;
    }
    if (auto synced = fs.SyncDir(paths.dir); !synced) return synced;
    for (const auto& path : {paths.Archive(id), paths.Verify(id)}) {
      if (auto unlinked = fs.Unlink(path); !unlinked && unlinked.error().code != Errc::kNotFound) {
        return unlinked;
      }
    }
    return fs.SyncDir(paths.dir);
  }

  BackupStore store_;
};

}  // namespace

std::unique_ptr<JobHandler> MakePruneBackupsHandler(os::Fs& fs) {
  return std::make_unique<PruneBackupsHandler>(fs);
}

}  // namespace orb::jobs
