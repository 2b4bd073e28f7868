#pragma once

// The steps INSTALL_SERVER, UPDATE_SERVER and ACTIVATE_BUILD share (job-types.md §3): staging and
// committing a build from an artifact, and moving a server's instances onto a build one by one.
// Thread-safety: stateless apart from its options; the caller holds `server:<id>`.

#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "jobs/builds/artifacts.hpp"
#include "jobs/builds/build_store.hpp"
#include "jobs/instances/instance_store.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"
#include "protocol/build_json.hpp"

namespace orb::jobs {

struct BuildOptions {
  ArtifactSettings artifacts;
  InstanceOptions instances;

  static BuildOptions From(const HandlerDeps& deps);
};

struct InstallOutcome {
  protocol::BuildRecord record;
  bool already_installed = false;
};

// INSTALL_SERVER steps 1-3: an existing commit with the same artifact is reused
// (already_installed); the same buildId with another artifact fails already_exists (not
// retryable). Otherwise downloads (0-70 %), extracts into <staging>/build (70-95 %) and commits.
// `commit_is_point_of_no_return`: INSTALL_SERVER is cancellable only until the commit, so it marks
// the point there; UPDATE_SERVER stays cancellable until its switch.
// Errors: those of FetchArtifact and SafeExtract (unsafe_archive, io), already_exists, cancelled.
Expected<InstallOutcome> StageAndCommit(HandlerContext& context, os::Fs& fs,
                                        const BuildOptions& options, const ServerPaths& paths,
                                        const std::string& build_id,
                                        const protocol::ArtifactRef& artifact,
                                        bool commit_is_point_of_no_return);

// Moves the instances of a server onto `build_id`, one by one (job-types.md §3 UPDATE_SERVER
// step 3, ACTIVATE_BUILD restartInstances). Takes `instance:<id>` X for every instance of the
// server (HandlerContext::LockMore), then restarts each that runs on another build, waiting for it
// to be ready. The list is kept in servers/<id>/restart-plan.json until every instance is up, so
// a retry after a crash also starts the instances the crashed run had stopped.
class InstanceMover {
 public:
  InstanceMover(os::Fs& fs, const InstanceOptions& options) : fs_(fs), store_(fs, options) {}

  struct Outcome {
    std::vector<std::string> restarted;  // ready on the build, in order
    std::optional<std::string> failed;   // the instance that did not become ready
    std::optional<Error> error;          // why
  };

  // Progress within [first_percent, last_percent]. Errors: io, lock timeout, cancelled; an
  // instance that does not become ready is not an Error here but Outcome::failed.
  Expected<Outcome> MoveAll(HandlerContext& context, const ServerPaths& paths,
                            const std::string& build_id, int first_percent, int last_percent);

  // After a failed move: restarts `instances` (on whatever build is current now), one by one.
  // Returns the instances that did not come back, with why.
  std::vector<std::string> RestartAgain(HandlerContext& context,
                                        const std::vector<std::string>& instances);

  // Removes the restart plan (after a rollback finished).
  Status DropPlan(const ServerPaths& paths);

 private:
  Expected<std::vector<std::string>> InstancesOf(HandlerContext& context,
                                                 const std::string& server_id);

  os::Fs& fs_;
  InstanceStore store_;
};

}  // namespace orb::jobs
