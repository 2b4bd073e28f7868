#pragma once

// The instance job types of job-types.md §3: START_INSTANCE, STOP_INSTANCE, RESTART_INSTANCE.
// Each validates its payload again (protocol/payloads, the rules fleet-cmdr applied) and fails
// with invalid_payload otherwise; the steps themselves are InstanceStore's (instance_store.hpp).
// Registered in jobs/registry.cpp (MakeHandlers).
// Thread-safety: Run() may be called for different instances at once; the executor holds the
// `instance:<id>` lock of each run.

#include <memory>

#include "jobs/instances/instance_store.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"

namespace orb::jobs {

// `fs` must outlive the handlers.
std::unique_ptr<JobHandler> MakeStartInstanceHandler(os::Fs& fs, const InstanceOptions& options);
std::unique_ptr<JobHandler> MakeStopInstanceHandler(os::Fs& fs, const InstanceOptions& options);
std::unique_ptr<JobHandler> MakeRestartInstanceHandler(os::Fs& fs, const InstanceOptions& options);

}  // namespace orb::jobs
