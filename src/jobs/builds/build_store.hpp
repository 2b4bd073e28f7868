#pragma once

// The builds of a server on the host (job-types.md §1 layout, §3 INSTALL_SERVER steps 1, 3, 4 and
// ACTIVATE_BUILD): committed builds (a build exists only once its .build.json does), the
// `current` symlink and activations.log. Every change goes through the Fs seam, so a test can
// stop the process at any call: a build directory appears only by one rename of a staged tree
// that already holds its fsynced .build.json, and `current` changes only by one rename of a
// fsynced symlink, so `current` always names a complete build.
// Thread-safety: stateless; the caller holds the `server:<id>` lock.
// Errors: io (from the Fs), invalid_payload (a bad serverId), not_installed, already_exists.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/expected.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"
#include "protocol/build_json.hpp"

namespace orb::jobs {

// The files of one server under the agent's root.
struct ServerPaths {
  ServerPaths(const std::filesystem::path& root, const std::string& server_id);
  std::string server_id;
  std::filesystem::path dir;              // servers/<id>
  std::filesystem::path builds;           // servers/<id>/builds
  std::filesystem::path current;          // servers/<id>/current
  std::filesystem::path activations_log;  // servers/<id>/activations.log
  std::filesystem::path restart_plan;     // servers/<id>/restart-plan.json
  [[nodiscard]] std::filesystem::path Build(const std::string& build_id) const {
    return builds / build_id;
  }
};

class BuildStore {
 public:
  explicit BuildStore(os::Fs& fs) : fs_(fs) {}

  // The run's serverId, checked as a protocol.md §1 name (invalid_payload otherwise).
  static Expected<std::string> ServerIdOf(const HandlerContext& context);

  // The commit record of builds/<buildId>; nullopt when there is no committed build of that id.
  Expected<std::optional<protocol::BuildRecord>> FindCommitted(const ServerPaths& paths,
                                                               const std::string& build_id);

  // The build id `current` points at; nullopt when the server has no current build.
  Expected<std::optional<std::string>> Current(const ServerPaths& paths);

  // Commits the tree `staged` (on the same filesystem) as builds/<record.build_id>: fsyncs every
  // file and directory in it, writes .build.json (atomically), renames the tree into place and
  // fsyncs builds/. A leftover builds/<id> without a commit record is removed first.
  Status Commit(const ServerPaths& paths, const std::filesystem::path& staged,
                const protocol::BuildRecord& record);

  // Switches `current` to builds/<buildId>: symlink current.tmp-<runId>, rename over current,
  // fsync servers/<id> (os::SwitchSymlink), then appends one line to activations.log.
  Status Activate(HandlerContext& context, const ServerPaths& paths, const std::string& build_id,
                  const std::optional<std::string>& previous, const std::string& reason);

  // For a build that is already current: the build that was current before it, from the last
  // activation of it in activations.log. Appends the line a crash between the switch and the
  // log write left out.
  Expected<std::optional<std::string>> PreviousOf(HandlerContext& context, const ServerPaths& paths,
                                                  const std::string& build_id);

  // Creates `dir` and its missing parents below `root` (mode 0755).
  Status MakeDirs(const std::filesystem::path& root, const std::filesystem::path& dir);

 private:
  Status AppendActivation(const ServerPaths& paths, const protocol::Activation& activation);

  os::Fs& fs_;
};

}  // namespace orb::jobs
