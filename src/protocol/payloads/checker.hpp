#pragma once

// Internal to src/protocol (includes Boost.JSON): the schema-driven payload checker and the
// per-type specs it runs. Other modules use protocol/payloads/payloads.hpp and
// protocol/job_types.hpp instead.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "common/error.hpp"
#include "protocol/payloads/schema.hpp"

namespace orb::protocol::payloads {

using Problems = std::vector<FieldProblem>;

// Checks of one type that the schema cannot express (uniqueness, all-zero policies, command[0]).
// It runs after the schema check on the same payload, also when that found problems, so it must
// tolerate missing fields and fields of the wrong kind (the schema check reports those).
using ExtraCheck = void (*)(const boost::json::object& payload, Problems& problems);

struct PayloadSpec {
  std::span<const PayloadField> fields;
  ExtraCheck extra_check = nullptr;
  std::string_view example;  // a valid payload as job-types.md shows it
};

// The per-type specs, defined next to their schemas in the payloads/*.cpp files.
const PayloadSpec& InstallServerSpec();
const PayloadSpec& UpdateServerSpec();
const PayloadSpec& ActivateBuildSpec();
const PayloadSpec& StartInstanceSpec();
const PayloadSpec& StopInstanceSpec();
const PayloadSpec& RestartInstanceSpec();
const PayloadSpec& BackupInstanceSpec();
const PayloadSpec& VerifyBackupSpec();
const PayloadSpec& RestoreBackupSpec();
const PayloadSpec& PruneBackupsSpec();
const PayloadSpec& SyncModsSpec();

// The spec of `type`, or nullptr for an unknown type (defined with the registry, job_types.cpp).
const PayloadSpec* FindPayloadSpec(std::string_view type);

// Checks `payload` against `fields`: kinds, required fields, enums, ranges, and unknown fields.
// Every problem is appended with its wire path ("payload.artifact.sha256", "payload.mods[2].path").
void CheckAgainstSchema(const boost::json::object& payload, std::span<const PayloadField> fields,
                        Problems& problems);

// Adds the `default_value` of every absent field that has one, also inside present objects and
// array elements. Assumes `payload` passed CheckAgainstSchema.
void FillDefaults(boost::json::object& payload, std::span<const PayloadField> fields);

// Integer value of `value` if it is a JSON integer that fits in int64.
std::optional<std::int64_t> AsInt64(const boost::json::value& value);

// "payload" + "." + key, and "path[index]".
std::string FieldPath(std::string_view parent, std::string_view key);
std::string IndexPath(std::string_view parent, std::size_t index);

}  // namespace orb::protocol::payloads
