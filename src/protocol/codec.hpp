#pragma once

// JSON codecs for every message of protocol.md §3–6 (the structs of protocol/types.hpp).
// This header is the only JSON API of orb-jobs and does not expose the JSON library.
//
// Encoding (ToJson) follows protocol.md exactly: camelCase names, timestamps as RFC 3339 UTC with
// milliseconds, enums as their spec strings, payload/result embedded as JSON objects.
//  - Responses (Job, Run, Event, JobExecution, AgentInfo ...) always carry every key of the spec,
//    with `null` for unset optionals, so clients can rely on the keys being there.
//  - Requests (CreateJobRequest, HelloRequest, UpdatesRequest items, SubscribeMessage ...) leave
//    unset optional keys out.
//  - Strings are emitted as valid UTF-8: invalid byte sequences (e.g. from a child process's
//    output) become U+FFFD, so the other side can always parse what we send.
//  - `payload_json` / `result_json` must hold JSON object text (CanonicalJsonObject makes it);
//    anything else is encoded as `{}` (payload) or `null` (result).
//  ToJson only throws std::bad_alloc.
//
// Decoding (FromJson) is strict and never throws:
//  - text longer than kMaxJsonTextBytes -> Errc::kPayloadTooLarge
//  - empty or malformed JSON, invalid UTF-8, nesting deeper than kMaxJsonDepth
//    -> Errc::kInvalidJson
//  - top level not an object, missing required fields, wrong types, integers that do not fit
//    (or are written with a fraction or exponent), out-of-range values, bad timestamps (RFC 3339
//    with a year from 1970 to 2200), unknown enum strings -> Errc::kInvalidRequest, with
//    Error.details listing every problem found (up to kMaxFieldProblems) as {field, problem};
//    `field` is a dotted path such as "updates[3].percent" or "selector.labels.region".
//  - Messages that clients send to the server (CreateJobRequest, HelloRequest, NextRequest,
//    UpdatesRequest with its items, EnrollRequest, TokenCreateRequest, SubscribeMessage, and
//    every object nested in them) reject unknown fields ("unknown field"). Responses that
//    clients decode ignore unknown fields, for forward compatibility.
//  - A key given as `null` is treated as absent.
//
// Thread-safety: all functions are pure and safe to call from any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "protocol/types.hpp"

namespace orb::protocol {

// Largest JSON text FromJson accepts. Requests are limited much earlier by the HTTP body limit
// (1 MiB, protocol.md §1); this bound is for responses such as a JobList of 500 jobs with
// 64 KiB payloads each.
inline constexpr std::size_t kMaxJsonTextBytes = 64 * 1024 * 1024;
// Deepest nesting of arrays/objects accepted, embedded payloads included.
inline constexpr std::size_t kMaxJsonDepth = 64;
// At most this many field problems are listed in Error.details.
inline constexpr std::size_t kMaxFieldProblems = 50;

template <class T>
std::string ToJson(const T& value);

template <class T>
Expected<T> FromJson(std::string_view text);

// The instantiations that exist (defined in codec.cpp); any other T fails to link.
#define ORB_PROTOCOL_CODEC_TYPE(T)                 \
  extern template std::string ToJson<T>(const T&); \
  extern template Expected<T> FromJson<T>(std::string_view);
ORB_PROTOCOL_CODEC_TYPE(RunError)
ORB_PROTOCOL_CODEC_TYPE(Job)
ORB_PROTOCOL_CODEC_TYPE(Run)
ORB_PROTOCOL_CODEC_TYPE(JobDetail)
ORB_PROTOCOL_CODEC_TYPE(CreateJobRequest)
ORB_PROTOCOL_CODEC_TYPE(BatchCreated)
ORB_PROTOCOL_CODEC_TYPE(JobList)
ORB_PROTOCOL_CODEC_TYPE(InterruptedRun)
ORB_PROTOCOL_CODEC_TYPE(HelloRequest)
ORB_PROTOCOL_CODEC_TYPE(HelloResponse)
ORB_PROTOCOL_CODEC_TYPE(NotifyResponse)
ORB_PROTOCOL_CODEC_TYPE(NextRequest)
ORB_PROTOCOL_CODEC_TYPE(JobExecution)
ORB_PROTOCOL_CODEC_TYPE(ProgressUpdate)
ORB_PROTOCOL_CODEC_TYPE(LogLine)
ORB_PROTOCOL_CODEC_TYPE(FinalUpdate)
ORB_PROTOCOL_CODEC_TYPE(UpdatesRequest)
ORB_PROTOCOL_CODEC_TYPE(UpdatesResponse)
ORB_PROTOCOL_CODEC_TYPE(AgentProblem)
ORB_PROTOCOL_CODEC_TYPE(AgentStatusReport)
ORB_PROTOCOL_CODEC_TYPE(JobLogLine)
ORB_PROTOCOL_CODEC_TYPE(JobLogs)
ORB_PROTOCOL_CODEC_TYPE(AgentInfo)
ORB_PROTOCOL_CODEC_TYPE(AgentList)
ORB_PROTOCOL_CODEC_TYPE(EnrollRequest)
ORB_PROTOCOL_CODEC_TYPE(EnrollResponse)
ORB_PROTOCOL_CODEC_TYPE(TokenCreateRequest)
ORB_PROTOCOL_CODEC_TYPE(TokenCreated)
ORB_PROTOCOL_CODEC_TYPE(Whoami)
ORB_PROTOCOL_CODEC_TYPE(ArtifactInfo)
ORB_PROTOCOL_CODEC_TYPE(StoredArtifact)
ORB_PROTOCOL_CODEC_TYPE(ArtifactList)
ORB_PROTOCOL_CODEC_TYPE(Event)
ORB_PROTOCOL_CODEC_TYPE(EventList)
ORB_PROTOCOL_CODEC_TYPE(SubscribeMessage)
ORB_PROTOCOL_CODEC_TYPE(Labels)
#undef ORB_PROTOCOL_CODEC_TYPE

// ---- Event stream, server -> client (protocol.md §6) ----

std::string StreamReadyJson(std::int64_t seq);    // {"type":"ready","seq":5678}
std::string StreamEventJson(const Event& event);  // {"type":"event","event":{...}}
std::string StreamResyncJson();                   // {"type":"resync"}

// One server -> client stream message, as decoded by clients (fleetctl watch).
struct StreamMessage {
  enum class Kind { kReady, kEvent, kResync };
  Kind kind = Kind::kReady;
  std::int64_t seq = 0;        // kReady
  std::optional<Event> event;  // kEvent
  bool operator==(const StreamMessage&) const = default;
};

// Decodes any of the three messages above (unknown fields ignored). Errors as FromJson; an
// unknown "type" is kInvalidRequest on field "type".
Expected<StreamMessage> ParseStreamMessage(std::string_view text);

// ---- Type-specific objects (payload, result) ----

// Parses `text` with the limits above, requires a JSON object whose numbers are all finite, and
// returns it serialized compactly: the form of Job.payload_json and friends.
// Errors: kPayloadTooLarge, kInvalidJson, kInvalidRequest ("must be a JSON object", or a
// field problem naming the non-finite number, e.g. "a.b[2]").
Expected<std::string> CanonicalJsonObject(std::string_view text);

}  // namespace orb::protocol
