#pragma once

// The job-type registry (protocol/job_types.hpp) as JSON: the body of `GET /v1/job-types`
// (protocol.md §5), from which the web UI builds its enqueue form and shows why a type cannot be
// cancelled. Pure; thread-safe.

#include <string>

namespace orb::protocol {

// {"jobTypes": [{name, target, locks: [{scope, mode}], cancellable, notCancellableReason,
//   cancellableUntil, defaultTimeoutSeconds, defaultMaxAttempts, description, examplePayload,
//   fields: [{name, kind, required, nullable, default, enum, min, max, description}]}]}
// in the order of job-types.md §3. `default` and `examplePayload` are JSON values (not text);
// absent properties are null. Computed once.
const std::string& JobTypesJson();

}  // namespace orb::protocol
