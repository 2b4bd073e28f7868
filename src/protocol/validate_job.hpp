#pragma once

// Validation of POST /v1/jobs (protocol.md §3 and §5) after JSON decoding: everything a create
// request must satisfy before anything is stored. Pure function; thread-safe.

#include <cstddef>

#include "common/expected.hpp"
#include "protocol/types.hpp"

namespace orb::protocol {

// Bounds of a create request (protocol.md §3; the ones the spec leaves open are decided here).
inline constexpr int kMinPriority = -100;
inline constexpr int kMaxPriority = 100;
inline constexpr int kMaxMaxAttempts = 20;
inline constexpr int kMaxRetryBackoffSeconds = 600;  // the cap of the doubling backoff
inline constexpr int kMaxTimeoutSeconds = 86400;     // one day per run
inline constexpr std::size_t kMaxIdempotencyKey = 128;
inline constexpr std::size_t kMaxSelectorLabels = 32;
inline constexpr std::size_t kMaxLabelKey = 63;
inline constexpr std::size_t kMaxLabelValue = 256;
inline constexpr std::size_t kDefaultMaxPayloadBytes = 64 * 1024;
inline constexpr std::size_t kMaxDependsOn = 32;      // docs/protocol.md "Job dependencies"
inline constexpr std::size_t kMaxDependencyId = 128;  // job ids are opaque; far longer than ours

// Labels as agents carry them and selectors match them: at most 32, keys 1..63 characters of
// [A-Za-z0-9._/-], values 1..256 bytes of text without control characters (UTF-8 is fine: a
// value such as "Île-de-France" worked before this rule and still does). Each problem is
// reported under "<field>.<key>" (or `field` for the count); an empty set passes.
void CheckLabels(std::string_view field, const Labels& labels, std::vector<FieldProblem>& problems);
// The same as a request's answer: invalid_request with every problem, or Ok.
Status ValidateLabels(std::string_view field, const Labels& labels);

// Checks a decoded create request and reports every problem at once, fields named as on the wire
// ("agentId", "instanceId", "selector.labels.region", "payload.keepLast"):
// - exactly one of agentId (a valid name) and selector; selector.labels has 1..32 labels, keys
//   1..63 characters of [A-Za-z0-9._/-], values 1..256 bytes of text without control characters;
// - type known; the type's target id present and a valid name (instanceId for instance types,
//   serverId for server types), the other one absent;
// - priority -100..100, maxAttempts 1..20, retryBackoffSeconds 1..600, timeoutSeconds 1..86400;
// - idempotencyKey 1..128 printable ASCII characters (space included);
// - dependsOn at most 32 job ids, each 1..128 printable ASCII characters, no id twice (whether
//   they exist is the store's check);
// - payload at most `max_payload_bytes` bytes of JSON, then ValidatePayload.
// The error code is the most specific: payload_too_large (413) if the payload is too big (it is
// then not parsed), else unknown_job_type, else invalid_request if a field outside the payload is
// wrong, else invalid_payload. details list every problem; message is the first one.
Status ValidateCreateJob(const CreateJobRequest& request,
                         std::size_t max_payload_bytes = kDefaultMaxPayloadBytes);

}  // namespace orb::protocol
