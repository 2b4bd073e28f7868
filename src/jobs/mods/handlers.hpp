#pragma once

// SYNC_MODS (job-types.md §3): makes an instance's mods the payload's set. Registered in
// jobs/registry.cpp (MakeHandlers).
// Thread-safety: Run() may be called for different instances at once; the executor holds the
// `instance:<id>` lock of each run.

#include <memory>

#include "jobs/builds/server_steps.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"

namespace orb::jobs {

// `fs` must outlive the handler. Uses options.artifacts for downloads and options.instances for
// the restart.
std::unique_ptr<JobHandler> MakeSyncModsHandler(os::Fs& fs, const BuildOptions& options);

}  // namespace orb::jobs
