// The one list of job handlers (style.md "Extension points are explicit lists"): the eleven types
// of job-types.md §3, instances, builds, backups and mods. The agent declares
// exactly these types in `hello`. Never list a fake handler here; tests define their own.
#include "jobs/backups/handlers.hpp"
#include "jobs/builds/handlers.hpp"
#include "jobs/instances/handlers.hpp"
#include "jobs/instances/instance_store.hpp"
#include "jobs/job_handler.hpp"
#include "jobs/mods/handlers.hpp"
#include "os/fs.hpp"

namespace orb::jobs {

std::vector<std::unique_ptr<JobHandler>> MakeHandlers(const HandlerDeps& deps) {
  static os::RealFs real_fs;  // stateless: one for the whole process
  os::Fs& fs = deps.fs != nullptr ? *deps.fs : real_fs;
  const InstanceOptions instance_options = InstanceOptions::From(deps);

  std::vector<std::unique_ptr<JobHandler>> handlers;
  handlers.push_back(MakeStartInstanceHandler(fs, instance_options));
  handlers.push_back(MakeStopInstanceHandler(fs, instance_options));
  handlers.push_back(MakeRestartInstanceHandler(fs, instance_options));
  handlers.push_back(MakeBackupInstanceHandler(fs, instance_options));
  handlers.push_back(MakeVerifyBackupHandler(fs));
  handlers.push_back(MakeRestoreBackupHandler(fs, instance_options));
  handlers.push_back(MakePruneBackupsHandler(fs));
  const BuildOptions build_options = BuildOptions::From(deps);  // builds and mods
  handlers.push_back(MakeInstallServerHandler(fs, build_options));
  handlers.push_back(MakeUpdateServerHandler(fs, build_options));
  handlers.push_back(MakeActivateBuildHandler(fs, build_options));
  handlers.push_back(MakeSyncModsHandler(fs, build_options));
  return handlers;
}

}  // namespace orb::jobs
