#pragma once

// Payload validation of every job type (job-types.md §3), driven by the schemas that
// protocol/job_types.hpp publishes (JobTypeInfo::fields) plus the few checks a schema cannot
// express (PRUNE_BACKUPS' all-zero policy, unique mod names and paths, START_INSTANCE's command[0],
// env names and readyPattern). Pure functions; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace orb::protocol {

// Checks `payload_json` (the payload object's JSON text) for a job of `type`.
// Errors: Errc::kUnknownJobType for a type not in the registry (details: "type");
// Errc::kInvalidPayload otherwise, message "<first field>: <problem>" (plus how many more), and
// Error::details listing every problem with paths rooted at "payload." ("payload.artifact.sha256",
// "payload.mods[2].path"; "payload" itself for text that is not a JSON object or a whole-payload
// rule). Unknown fields are problems. Never throws.
Status ValidatePayload(std::string_view type, std::string_view payload_json);

// ValidatePayload, then the payload with every documented fixed default filled in (e.g.
// VERIFY_BACKUP level "full", BACKUP_INSTANCE mode "live", PRUNE_BACKUPS keep* 0, RESTORE_BACKUP
// startAfter null), as compact JSON. Defaults that are not constants stay absent: BACKUP_INSTANCE
// backupId (derived from the jobId by the agent), STOP_INSTANCE timeoutSeconds (the instance's
// stopTimeoutSeconds), START_INSTANCE config (the stored instance.json).
Expected<std::string> NormalizePayload(std::string_view type, std::string_view payload_json);

// Makes the Error of a rejected request from its problems: `code`, message
// "<field>: <problem>" of problems[lead] (with " (and N more problems)"), details = all of them.
// `total`: how many problems were found when `problems` keeps only the first ones (a decoder
// caps them); 0 means problems.size().
Error ProblemsError(Errc code, std::vector<FieldProblem> problems, std::size_t lead = 0,
                    std::size_t total = 0);

}  // namespace orb::protocol
