#pragma once

// The backup job types of job-types.md §3: BACKUP_INSTANCE, VERIFY_BACKUP, RESTORE_BACKUP,
// PRUNE_BACKUPS. Each validates its payload again (protocol/backup_json.hpp, the rules fleet-cmdr
// applied) and fails with invalid_payload otherwise. Every file operation of the handlers goes
// through `fs` (the archive functions of jobs/archive.hpp do their own I/O on the archive and the
// trees they read or write). Registered in jobs/registry.cpp (MakeHandlers).
//
// Error codes (run.error.code): invalid_payload; not_found (no committed backup of that id, no
// data/ to back up); backup_corrupt (not retryable: the backup fails verification, its manifest is
// damaged, or an archive entry is unsafe); io (retryable); cancelled; and, where an instance is
// stopped and started, the codes of jobs/instances/instance_store.hpp.
// Thread-safety: Run() may be called for different instances at once; the executor holds the
// locks of job-types.md §3 for each run.

#include <memory>

#include "jobs/instances/instance_store.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"

namespace orb::jobs {

// `fs` must outlive the handlers. `instance_options` are used where an instance is stopped and
// started again (BACKUP_INSTANCE mode stopped, RESTORE_BACKUP).
std::unique_ptr<JobHandler> MakeBackupInstanceHandler(os::Fs& fs,
                                                      const InstanceOptions& instance_options);
std::unique_ptr<JobHandler> MakeVerifyBackupHandler(os::Fs& fs);
std::unique_ptr<JobHandler> MakeRestoreBackupHandler(os::Fs& fs,
                                                     const InstanceOptions& instance_options);
std::unique_ptr<JobHandler> MakePruneBackupsHandler(os::Fs& fs);

}  // namespace orb::jobs
