#pragma once

// The build job types of job-types.md §3: INSTALL_SERVER, UPDATE_SERVER, ACTIVATE_BUILD. Each
// validates its payload again (protocol/build_json.hpp, the rules fleet-cmdr applied) and fails
// with invalid_payload otherwise; the shared steps are in server_steps.hpp and build_store.hpp.
// Registered in jobs/registry.cpp (MakeHandlers).
// Thread-safety: Run() may be called for different servers at once; the executor holds the
// `server:<id>` lock of each run.

#include <memory>

#include "jobs/builds/server_steps.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"

namespace orb::jobs {

// `fs` must outlive the handlers.
std::unique_ptr<JobHandler> MakeInstallServerHandler(os::Fs& fs, const BuildOptions& options);
std::unique_ptr<JobHandler> MakeUpdateServerHandler(os::Fs& fs, const BuildOptions& options);
std::unique_ptr<JobHandler> MakeActivateBuildHandler(os::Fs& fs, const BuildOptions& options);

}  // namespace orb::jobs
