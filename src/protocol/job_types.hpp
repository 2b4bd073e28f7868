#pragma once

// The job-type registry: the eleven types of job-types.md §3, the one list everything else reads
// (fleet-cmdr's validation and dispatch rule, the agent's executor, fleetctl's help, the web UI's
// enqueue form). The set is closed: a type not listed here is `unknown_job_type`.
// Pure data and pure functions; thread-safe.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/locks.hpp"
#include "protocol/payloads/schema.hpp"

namespace orb::protocol {

// What a job's target id names: serverId for server types, instanceId for instance types.
enum class TargetKind { kServer, kInstance };

std::string_view ToString(TargetKind kind);  // "server" | "instance"

// What a lock key is built from: "server:<serverId>", "instance:<instanceId>",
// "backups:<instanceId>".
enum class LockScope { kServer, kInstance, kBackups };

struct LockRule {
  LockScope scope = LockScope::kInstance;
  LockMode mode = LockMode::kExclusive;
};

struct JobTypeInfo {
  std::string_view name{};  // "INSTALL_SERVER", ...
  TargetKind target = TargetKind::kInstance;
  std::span<const LockRule> locks{};  // in the order server -> instance -> backups
  bool cancellable = true;
  // Set when !cancellable: the reason given with 409 not_cancellable (protocol.md §1, §3).
  std::string_view not_cancellable_reason{};
  // Set when cancellable: up to which point, e.g. "until the build is committed". A cancel after
  // it finishes the job normally, with "cancelIgnored" in its result.
  std::string_view cancellable_until{};
  int default_timeout_seconds = 600;
  int default_max_attempts = 1;
  std::string_view description{};
  std::span<const PayloadField> fields{};  // the payload schema (protocol/payloads/schema.hpp)
  std::string_view example_payload{};      // a valid payload, as job-types.md shows it
};

// All types, in the order of job-types.md §3's table.
std::span<const JobTypeInfo> AllJobTypes();

// The type named `name` (exact, case-sensitive), or nullptr.
const JobTypeInfo* FindJobType(std::string_view name);

// The locks a job of `type` takes (job-types.md §3), keys "server:<id>", "instance:<id>",
// "backups:<id>", in the order server -> instance -> backups. A lock whose id is not given is left
// out; an unknown type takes no locks (it can never be created). The agent additionally locks the
// instances an update restarts; that is its own business, not the dispatch rule's.
LockSet LocksFor(std::string_view type, const std::optional<std::string>& server_id,
                 const std::optional<std::string>& instance_id);

// The type's defaults for a job that does not set them (protocol.md §3). For an unknown type,
// the defaults of protocol::Job (600 s, 1 attempt).
int DefaultTimeoutSeconds(std::string_view type);
int DefaultMaxAttempts(std::string_view type);

}  // namespace orb::protocol
