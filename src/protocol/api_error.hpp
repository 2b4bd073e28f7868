#pragma once

// The error side of the REST API (protocol.md §1): which HTTP status an Error gets, and the
// {"error": {...}} body every error response carries.
//
// Only the wire codes of protocol.md §1 (plus `internal`) ever reach a client. Local codes are
// mapped by WireCode():
//   kTimeout, kCancelled (shutting down), kNetwork  -> unavailable (503: transient, retry later)
//   every other local or run code (kIo, kStore, kHttp, kAgentLost, kChecksumMismatch, ...)
//                                                   -> internal (500)
// A store that is down should be reported as kUnavailable by the store itself (503, §1).
//
// Thread-safety: pure functions, safe from any thread. Nothing here throws except bad_alloc.

#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/expected.hpp"

namespace orb::protocol {

// The code a client sees for `code`: itself for the wire codes of §1 and kInternal; see above.
Errc WireCode(Errc code);

// HTTP status per the table of protocol.md §1: 400 invalid_json, invalid_request,
// invalid_payload, unknown_job_type; 401 unauthenticated; 403 forbidden; 404 not_found;
// 405 method_not_allowed; 409 invalid_state, not_cancellable, run_not_active,
// idempotency_conflict, already_exists; 413 payload_too_large; 415 unsupported_media_type;
// 429 rate_limited; 503 unavailable; 500 internal. Local codes: the status of WireCode(code).
int HttpStatusFor(Errc code);

// {"error":{"code":"invalid_request","message":"...","details":[{"field":..,"problem":..}]}}.
// `code` is WireCode(error.code), `message` is error.message (the context stack and
// `retryable` stay in the server's log), `details` is always present (an empty array when none).
std::string ErrorBodyJson(const Error& error);

// Parses an error body for clients (fleetctl, the agent). Unknown fields are ignored; a code this
// build does not know becomes kInternal with the code kept in the message.
// On success has_value() is true and the value is the server's error.
// Errors: kInvalidJson (not JSON), kInvalidRequest (not an error body).
Expected<Error> ErrorFromBodyJson(std::string_view text);

}  // namespace orb::protocol
