// SYNC_MODS (job-types.md §3). instances/<id>/mods.lock.json says which mods are installed and
// which files each owns; it is written last. The steps:
//  1. the unchanged fast path: no apply pending and the installed set already is the desired one;
//  2. classify every mod (added, updated, unchanged: verified on disk), refuse a path that another
//     kept mod owns, or an existing file no mod owns (never touched) unless it already holds the
//     right bytes, or a path through a symlink;
//  3. download the changed mods into the cache (0-70 %), copy them into staging (70-95 %);
//  4. the point of no return: write mods.pending.json (the new lock), move the staged files into
//     data/, remove the files of mods no longer listed (removeUnlisted), write mods.lock.json,
//     remove mods.pending.json. A crash in between leaves mods.pending.json: the next run treats
//     its mods as possibly installed (it owns their files) and never takes the fast path, so it
//     finishes the job;
//  5. restart the instance if restart is ifRunning, something changed and it runs.

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <utility>

#include "common/sha256.hpp"
#include "jobs/instances/instance_store.hpp"
#include "jobs/mods/handlers.hpp"
#include "os/atomic.hpp"
#include "protocol/build_json.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using protocol::LockedMod;
using protocol::ModRef;
using protocol::ModsLock;

constexpr int kDownloadShare = 70;
constexpr int kStageEnd = 95;

LockedMod ToLocked(const ModRef& mod) {
  return LockedMod{mod.name, mod.sha256, mod.size, mod.path, {mod.path}};
}

ModRef ToRef(const LockedMod& mod) {
  return ModRef{mod.name, "", mod.sha256, mod.size, mod.path};
}

class SyncModsHandler final : public JobHandler {
 public:
  SyncModsHandler(os::Fs& fs, const BuildOptions& options) : fs_(fs), options_(options) {}

  std::string_view type() const override { return "SYNC_MODS"; }

  Expected<std::string> Run(HandlerContext& context) override {
    auto instance_id = InstanceStore::InstanceIdOf(context);
    if (!instance_id) return Fail(std::move(instance_id.error()));
    auto payload = protocol::ParseSyncModsPayload(context.execution().payload_json);
    if (!payload) return Fail(std::move(payload.error()));
    const InstancePaths paths(context.root(), *instance_id);
    const fs::path lock_path = paths.dir / "mods.lock.json";
    const fs::path pending_path = paths.dir / "mods.pending.json";
    context.Progress(0, "comparing the installed mods of " + *instance_id, "check");

    auto installed = LoadLock(lock_path);
    if (!installed) return Fail(std::move(installed.error()));
    auto pending = LoadLock(pending_path);
    if (!pending) return Fail(std::move(pending.error()));
    const std::vector<ModRef>& desired = payload->mods;

    protocol::SyncModsResult result;
    if (!*pending && *installed && AlreadySynced(**installed, *payload)) {
      for (const auto& mod : desired)
        result.unchanged.push_back(mod.name);
      std::sort(result.unchanged.begin(), result.unchanged.end());
      result.already_synced = true;
      context.LogLine("info", "the mods of " + *instance_id + " are already in sync");
      context.Progress(100, "already in sync", "done");
      return protocol::SyncModsResultJson(result);
    }

    // What may be on disk: the lock's mods, and those a crashed apply may have placed.
    std::map<std::string, LockedMod> owned;
    if (*installed) {
      for (const auto& mod : (*installed)->mods)
        owned[mod.name] = mod;
    }
    if (*pending) {
      for (const auto& mod : (*pending)->mods)
        owned[mod.name] = mod;
    }

    // 2. Classify.
    std::vector<const ModRef*> changed;  // added and updated, to download and place
    std::set<std::string> adopted;       // already on disk with the right bytes, no mod owned it
    std::set<std::string> desired_names;
    for (const auto& mod : desired)
      desired_names.insert(mod.name);
    std::vector<LockedMod> kept;  // unlisted mods that stay (removeUnlisted false)
    std::vector<LockedMod> removed;
    for (const auto& [name, mod] : owned) {
      if (desired_names.count(name) > 0) continue;
      (payload->remove_unlisted ? removed : kept).push_back(mod);
    }
    std::map<std::string, std::string> owner_of;  // file -> mod, over every mod that may be there
    for (const auto& [name, mod] : owned) {
      for (const auto& file : mod.files)
        owner_of[file] = name;
    }
    for (const auto& mod : desired) {
      for (const auto& other : kept) {
        for (const auto& file : other.files) {
          if (file == mod.path) {
            return Fail(Errc::kInvalidPayload, "mod " + mod.name + ": " + mod.path +
                                                   " belongs to installed mod " + other.name +
                                                   ", which is kept (removeUnlisted is false)");
          }
        }
      }
      auto safe = CheckPath(paths.data, mod);
      if (!safe) return Fail(std::move(safe.error()));
      const auto found = owned.find(mod.name);
      auto on_disk = HashIfPresent(paths.data / mod.path);
      if (!on_disk) return Fail(std::move(on_disk.error()));
      const bool right_bytes = *on_disk && **on_disk == mod.sha256;
      if (found != owned.end() && found->second.sha256 == mod.sha256 &&
          found->second.path == mod.path && right_bytes) {
        result.unchanged.push_back(mod.name);
        continue;
      }
      if (*on_disk && owner_of.count(mod.path) == 0) {
        if (!right_bytes) {
          return Fail(Errc::kAlreadyExists,
                      "mod " + mod.name + ": data/" + mod.path +
                          " exists and no mod owns it; it is never overwritten (move it away "
                          "or delete it first)");
        }
        adopted.insert(mod.name);
      } else if (!right_bytes) {
        changed.push_back(&mod);
      }
      (found != owned.end() ? result.updated : result.added).push_back(mod.name);
    }
    for (const auto& mod : removed)
      result.removed.push_back(mod.name);

    // 3. Download and stage the changed mods.
    std::uint64_t total = 0;
    for (const ModRef* mod : changed)
      total += mod->size;
    std::uint64_t done_before = 0;
    std::vector<fs::path> cached;
    std::vector<std::shared_ptr<const CacheLease>> leases;  // held until the copies are made
    for (const ModRef* mod : changed) {
      if (context.cancelled()) return Fail(context.cancel().ToError());
      auto fetched = FetchArtifact(
          context, fs_, options_.artifacts, mod->url, mod->sha256, mod->size,
          [&](std::uint64_t done, std::uint64_t) {
            const int percent = BytePercent(done_before + done, total, 0, kDownloadShare);
            context.Progress(percent, "downloading " + mod->name, "download");
          });
      if (!fetched) return Fail(std::move(fetched.error()).WithContext("mod " + mod->name));
      done_before += mod->size;
      cached.push_back(fetched->path);
      leases.push_back(fetched->lease);
    }
    const fs::path stage_dir = context.staging_dir() / "mods";
    if (auto made = MakeDirs(context.root(), stage_dir); !made) return Fail(made.error());
    std::vector<fs::path> staged;
    std::uint64_t copied = 0;
    for (std::size_t i = 0; i < changed.size(); ++i) {
      if (context.cancelled()) return Fail(context.cancel().ToError());
      const fs::path target = stage_dir / std::to_string(i);
      if (auto copy = CopyFile(cached[i], target); !copy) return Fail(copy.error());
      copied += changed[i]->size;
      context.Progress(BytePercent(copied, total, kDownloadShare, kStageEnd),
                       "staged " + changed[i]->name, "stage");
      staged.push_back(target);
    }
    if (context.cancelled()) return Fail(context.cancel().ToError());

    // 4. Apply: the point of no return.
    if (auto marked = context.MarkPastPointOfNoReturn(); !marked) return Fail(marked.error());
    ModsLock next;
    std::vector<ModRef> all;
    for (const auto& mod : desired) {
      next.mods.push_back(ToLocked(mod));
      all.push_back(mod);
    }
    for (const auto& mod : kept) {
      next.mods.push_back(mod);
      all.push_back(ToRef(mod));
    }
    std::sort(next.mods.begin(), next.mods.end(),
              [](const LockedMod& a, const LockedMod& b) { return a.name < b.name; });
    next.set_hash = protocol::ModSetHash(all);
    next.updated_at = context.clock().WallNow();
    next.job_id = context.execution().job_id;
    const std::string next_json = protocol::ModsLockJson(next);
    context.Progress(kStageEnd, "applying the mods", "apply");
    // Mods may be synced before the instance's first start: its directories may not exist yet.
    if (auto made = MakeDirs(context.root(), paths.data); !made) return Fail(made.error());
    if (auto saved = os::WriteFileAtomically(fs_, pending_path, next_json); !saved) {
      return Fail(saved.error());
    }
    for (std::size_t i = 0; i < changed.size(); ++i) {
      const fs::path target = paths.data / changed[i]->path;
      if (auto made = MakeDirs(context.root(), target.parent_path()); !made) {
        return Fail(made.error());
      }
      if (auto moved = fs_.Rename(staged[i], target); !moved) return Fail(moved.error());
      if (auto synced = fs_.SyncDir(target.parent_path()); !synced) return Fail(synced.error());
    }
    // Files the new set no longer has: of removed mods, and old paths of updated ones.
    std::set<std::string> still_owned;
    for (const auto& mod : next.mods) {
      for (const auto& file : mod.files)
        still_owned.insert(file);
    }
    for (const auto& [file, name] : owner_of) {
      if (still_owned.count(file) > 0) continue;
      const bool gone = desired_names.count(name) > 0 || payload->remove_unlisted;
      if (!gone) continue;
      const fs::path path = paths.data / file;
      if (auto unlinked = fs_.Unlink(path); !unlinked && unlinked.error().code != Errc::kNotFound) {
        return Fail(unlinked.error());
      }
      if (auto synced = fs_.SyncDir(path.parent_path());
          !synced && synced.error().code != Errc::kNotFound) {
        return Fail(synced.error());
      }
    }
    if (auto saved = os::WriteFileAtomically(fs_, lock_path, next_json); !saved) {
      return Fail(saved.error());
    }
    if (auto unlinked = fs_.Unlink(pending_path); !unlinked) return Fail(unlinked.error());
    if (auto synced = fs_.SyncDir(paths.dir); !synced) return Fail(synced.error());
    context.LogLine("info", "mods of " + *instance_id + ": " + std::to_string(result.added.size()) +
                                " added, " + std::to_string(result.updated.size()) + " updated, " +
                                std::to_string(result.removed.size()) + " removed");

    // 5. Restart.
    const bool any_change =
        !result.added.empty() || !result.updated.empty() || !result.removed.empty();
    if (payload->restart == protocol::ModsRestart::kIfRunning && any_change) {
      InstanceStore store(fs_, options_.instances);
      auto runtime = store.LoadRuntime(paths);
      if (!runtime) return Fail(std::move(runtime.error()));
      if (InstanceStore::FindRunning(paths, *runtime)) {
        context.LogLine("info", "restarting instance " + *instance_id + " to load the mods");
        auto stopped = store.Stop(context, *instance_id, std::nullopt, 95, 97);
        if (!stopped) return Fail(std::move(stopped.error()).WithContext("restart after sync"));
        auto started = store.Start(context, *instance_id, std::nullopt, 97);
        if (!started) return Fail(std::move(started.error()).WithContext("restart after sync"));
        result.restarted = true;
      }
    }
    for (auto* list : {&result.added, &result.updated, &result.removed, &result.unchanged})
      std::sort(list->begin(), list->end());
    context.Progress(100, "mods in sync", "done");
    return protocol::SyncModsResultJson(result);
  }

 private:
  static bool AlreadySynced(const ModsLock& installed, const protocol::SyncModsPayload& payload) {
    if (payload.remove_unlisted) return installed.set_hash == protocol::ModSetHash(payload.mods);
    // Unlisted mods stay: in sync when every desired mod is installed as asked.
    return std::all_of(payload.mods.begin(), payload.mods.end(), [&](const ModRef& mod) {
      return std::any_of(installed.mods.begin(), installed.mods.end(), [&](const LockedMod& m) {
        return m.name == mod.name && m.sha256 == mod.sha256 && m.size == mod.size &&
               m.path == mod.path;
      });
    });
  }

  Expected<std::optional<ModsLock>> LoadLock(const fs::path& path) {
    auto text = fs_.ReadFile(path);
    if (!text) {
      if (text.error().code == Errc::kNotFound) return std::optional<ModsLock>();
      return Fail(std::move(text.error()));
    }
    auto lock = protocol::ParseModsLock(*text);
    if (!lock) {
      return Fail(Errc::kIo, path.string() + " is damaged (" + lock.error().message +
                                 "); it is written atomically, so this is damage from outside");
    }
    return std::optional<ModsLock>(std::move(*lock));
  }

  // The lower-case sha256 of a regular file, nullopt when there is nothing at `path`.
  Expected<std::optional<std::string>> HashIfPresent(const fs::path& path) {
    auto stat = fs_.Stat(path);
    if (!stat) {
      if (stat.error().code == Errc::kNotFound) return std::optional<std::string>();
      return Fail(std::move(stat.error()));
    }
    if (stat->kind != os::FileKind::kRegular) {
      return Fail(Errc::kInvalidPayload, path.string() + " exists and is not a regular file");
    }
    auto file = fs_.Open(path, os::OpenMode::kRead);
    if (!file) return Fail(std::move(file.error()));
    Sha256 hash;
    std::vector<char> buffer(1 << 16);
    for (;;) {
      auto n = fs_.Read(*file, std::span<char>(buffer));
      if (!n) return Fail(std::move(n.error()));
      if (*n == 0) break;
      hash.Update(buffer.data(), *n);
    }
    return std::optional<std::string>(hash.FinishHex());
  }

  // No component of the mod's path below data/ may be a symlink (it could lead outside).
  Status CheckPath(const fs::path& data, const ModRef& mod) {
    fs::path current = data;
    for (const auto& part : fs::path(mod.path)) {
      current /= part;
      auto stat = fs_.Stat(current);
      if (!stat) {
        if (stat.error().code == Errc::kNotFound) return Ok();
        return Fail(std::move(stat.error()));
      }
      if (stat->kind == os::FileKind::kSymlink) {
        return Fail(Errc::kInvalidPayload, "mod " + mod.name + ": data/" + mod.path +
                                               " goes through the symlink " + current.string() +
                                               "; refused");
      }
    }
    return Ok();
  }

  Status MakeDirs(const fs::path& root, const fs::path& dir) {
    return os::MakeDirsBelow(fs_, root, dir);
  }

  // Copies a verified cache file to `to` (new, fsynced).
  Status CopyFile(const fs::path& from, const fs::path& to) {
    if (auto removed = fs_.RemoveTree(to); !removed) return removed;
    auto in = fs_.Open(from, os::OpenMode::kRead);
    if (!in) return Fail(std::move(in.error()));
    auto out = fs_.Open(to, os::OpenMode::kCreateNew);
    if (!out) return Fail(std::move(out.error()));
    std::vector<char> buffer(1 << 20);
    for (;;) {
      auto n = fs_.Read(*in, std::span<char>(buffer));
      if (!n) return Fail(std::move(n.error()));
      if (*n == 0) break;
      if (auto written = fs_.Write(*out, std::string_view(buffer.data(), *n)); !written) {
        return written;
      }
    }
    if (auto synced = fs_.Sync(*out); !synced) return synced;
    return fs_.Close(*out);
  }

  os::Fs& fs_;
  BuildOptions options_;
};

}  // namespace

std::unique_ptr<JobHandler> MakeSyncModsHandler(os::Fs& fs, const BuildOptions& options) {
  return std::make_unique<SyncModsHandler>(fs, options);
}

}  // namespace orb::jobs
