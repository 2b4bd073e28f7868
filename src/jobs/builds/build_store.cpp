#include "jobs/builds/build_store.hpp"

#include <utility>
#include <vector>

#include "common/ids.hpp"
#include "os/atomic.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kRecordName = ".build.json";

}  // namespace

ServerPaths::ServerPaths(const fs::path& root, const std::string& id)
    : server_id(id),
      dir(root / "servers" / id),
      builds(dir / "builds"),
      current(dir / "current"),
      activations_log(dir / "activations.log"),
      restart_plan(dir / "restart-plan.json") {}

Expected<std::string> BuildStore::ServerIdOf(const HandlerContext& context) {
  const auto& id = context.execution().server_id;
  if (!id || !IsValidName(*id)) {
    return Fail(Errc::kInvalidPayload,
                "the job needs a valid serverId (protocol.md §1 name), got " +
                    (id ? "\"" + *id + "\"" : std::string("none")));
  }
  return *id;
}

Expected<std::optional<protocol::BuildRecord>> BuildStore::FindCommitted(
    const ServerPaths& paths, const std::string& build_id) {
  const fs::path record_path = paths.Build(build_id) / kRecordName;
  auto text = fs_.ReadFile(record_path);
  if (!text) {
    if (text.error().code == Errc::kNotFound) return std::optional<protocol::BuildRecord>();
    return Fail(std::move(text.error()));
  }
  auto record = protocol::ParseBuildRecord(*text);
  if (!record) {
    // Written atomically, so a damaged record is damage from outside: say so, do not guess.
    return Fail(Errc::kIo, "the commit record " + record_path.string() +
                               " is damaged: " + record.error().message);
  }
  return std::optional<protocol::BuildRecord>(std::move(*record));
}

Expected<std::optional<std::string>> BuildStore::Current(const ServerPaths& paths) {
  auto target = fs_.ReadLink(paths.current);
  if (!target) {
    if (target.error().code == Errc::kNotFound) return std::optional<std::string>();
    return Fail(std::move(target.error()));
  }
  // Always written as "builds/<id>" by Activate.
  const fs::path& link = *target;
  if (link.parent_path() != "builds" || !IsValidName(link.filename().string())) {
    return Fail(Errc::kIo, paths.current.string() + " -> " + link.string() +
                               " is not a build of server " + paths.server_id);
  }
  return std::optional<std::string>(link.filename().string());
}

Status BuildStore::MakeDirs(const fs::path& root, const fs::path& dir) {
  return os::MakeDirsBelow(fs_, root, dir);
}

Status BuildStore::Commit(const ServerPaths& paths, const fs::path& staged,
                          const protocol::BuildRecord& record) {
  // Every file and directory of the staged build on disk before the record commits it: one
  // syncfs instead of an fsync per file (2,000 fsyncs took 2 s of a 500 MB install;
  // bench/install), at the price of also flushing whatever else is dirty on that filesystem.
  if (auto synced = fs_.SyncFilesystem(staged); !synced) return synced;
  if (auto written =
          os::WriteFileAtomically(fs_, staged / kRecordName, protocol::BuildRecordJson(record));
      !written) {
    return written;
  }
  if (auto made = MakeDirs(paths.dir.parent_path().parent_path(), paths.builds); !made) {
    return made;
  }
  const fs::path target = paths.Build(record.build_id);
  // No commit record there (the caller checked): garbage of an aborted manual copy, not a build.
  if (auto removed = fs_.RemoveTree(target); !removed) return removed;
  if (auto renamed = fs_.Rename(staged, target); !renamed) return renamed;
  return fs_.SyncDir(paths.builds);
}

Status BuildStore::AppendActivation(const ServerPaths& paths,
                                    const protocol::Activation& activation) {
  std::string line = protocol::ActivationLine(activation) + "\n";
  // A crash mid-append can leave a line without its newline: start on a fresh line then.
  if (auto stat = fs_.Stat(paths.activations_log); stat && stat->size > 0) {
    auto text = fs_.ReadFile(paths.activations_log);
    if (text && !text->empty() && text->back() != '\n') line.insert(line.begin(), '\n');
  }
  auto file = fs_.Open(paths.activations_log, os::OpenMode::kAppend);
  if (!file) return Fail(std::move(file.error()));
  if (auto written = fs_.Write(*file, line); !written) return written;
  if (auto synced = fs_.Sync(*file); !synced) return synced;
  return fs_.Close(*file);
}

Status BuildStore::Activate(HandlerContext& context, const ServerPaths& paths,
                            const std::string& build_id, const std::optional<std::string>& previous,
                            const std::string& reason) {
  if (auto switched = os::SwitchSymlink(fs_, paths.current, fs::path("builds") / build_id,
                                        context.execution().run_id);
      !switched) {
    return switched;
  }
  context.LogLine("info", "server " + paths.server_id + ": current -> builds/" + build_id +
                              (previous ? " (was " + *previous + ")" : std::string()));
  protocol::Activation activation;
  activation.at = context.clock().WallNow();
  activation.build_id = build_id;
  activation.previous_build_id = previous;
  activation.job_id = context.execution().job_id;
  activation.run_id = context.execution().run_id;
  activation.reason = reason;
  return AppendActivation(paths, activation);
}

Expected<std::optional<std::string>> BuildStore::PreviousOf(HandlerContext& context,
                                                            const ServerPaths& paths,
                                                            const std::string& build_id) {
  auto text = fs_.ReadFile(paths.activations_log);
  std::optional<protocol::Activation> last;
  if (text) {
    std::size_t start = 0;
    while (start < text->size()) {
      std::size_t end = text->find('\n', start);
      if (end == std::string::npos) end = text->size();
      // A torn last line (crash mid-append) does not parse and is skipped.
      if (auto parsed =
              protocol::ParseActivationLine(std::string_view(*text).substr(start, end - start))) {
        last = std::move(*parsed);
      }
      start = end + 1;
    }
  } else if (text.error().code != Errc::kNotFound) {
    return Fail(std::move(text.error()));
  }
  if (last && last->build_id == build_id) return last->previous_build_id;
  // The switch happened but its line did not make it into the log: write it now.
  std::optional<std::string> previous;
  if (last) previous = last->build_id;
  protocol::Activation activation;
  activation.at = context.clock().WallNow();
  activation.build_id = build_id;
  activation.previous_build_id = previous;
  activation.job_id = context.execution().job_id;
  activation.run_id = context.execution().run_id;
  activation.reason = "recorded after an interrupted switch";
  if (auto appended = AppendActivation(paths, activation); !appended) {
    return Fail(std::move(appended.error()));
  }
  return previous;
}

}  // namespace orb::jobs
