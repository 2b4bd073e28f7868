#pragma once

// The machine-readable payload schema of each job type (job-types.md §3). The web UI builds an
// enqueue form from it and fleetctl prints it as help; the validator (protocol/payloads/
// payloads.hpp) is driven by the same data, so the two cannot drift.
//
// Field names are paths inside the payload object:
//   "buildId"          a top-level field
//   "artifact.url"     a field of the object "artifact"
//   "mods[].path"      a field of every element of the array "mods" (whose elements are objects)
//   "config.command[]" every element of the array "config.command" (whose elements are scalars)
// Pure data and pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace orb::protocol {

enum class FieldKind {
  kString,     // any string, length bounded by min/max
  kInteger,    // a JSON integer within min/max
  kBoolean,    // true or false
  kEnum,       // a string, one of enum_values
  kObject,     // an object; its fields are the entries named "<name>.<field>"
  kArray,      // an array, item count within min/max; items are "<name>[]" or "<name>[].<field>"
  kUrl,        // http://, https:// or file:// URL without credentials (UrlProblem)
  kSha256,     // 64 lower-case hex digits
  kName,       // ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (protocol.md §1, IsValidName)
  kPath,       // a safe relative path (RelativePathProblem)
  kStringMap,  // an object of string values, entries bounded by max (e.g. an environment)
};

std::string_view ToString(FieldKind kind);  // "string", "integer", ..., "path", "stringMap"

struct PayloadField {
  std::string_view name{};  // path as described above
  FieldKind kind = FieldKind::kString;
  bool required = false;
  bool nullable = false;  // JSON null is accepted (and means "not set")
  // A JSON literal ("false", "\"live\"", "30", "null") that NormalizePayload fills in; "" when the
  // field has no constant default (the description then says what absence means).
  std::string_view default_value{};
  std::span<const std::string_view> enum_values{};  // kEnum only
  std::optional<std::int64_t> min{};  // integer value, string length, array items or map entries
  std::optional<std::int64_t> max{};
  std::string_view description{};  // one line for a form hint or --help, defaults in words
};

// Why `url` is not an acceptable download URL, or nullopt when it is. Accepted: http:// and
// https:// with a host, file:// with an absolute path and no host (or "localhost"), and
// "/v1/artifacts/<sha256>" (fleet-cmdr's own artifact, the url `PUT /v1/artifacts` returns,
// resolved by the agent against its server URL). Refused:
// other schemes, and credentials in the URL ("user:pass@"): URLs end up in logs and job records,
// and fleet-cmdr's own artifact URLs are authenticated with the agent's token instead.
std::optional<std::string> UrlProblem(std::string_view url);

// Why `path` is not a safe relative path, or nullopt when it is: non-empty, at most 1024 bytes,
// not absolute, no empty, "." or ".." segments, no segment starting with '.' (dot files are the
// agent's own markers), no control characters or NUL, no backslash, segments at most 255 bytes.
std::optional<std::string> RelativePathProblem(std::string_view path);

// True for exactly 64 lower-case hex digits.
bool IsSha256Hex(std::string_view text);

}  // namespace orb::protocol
