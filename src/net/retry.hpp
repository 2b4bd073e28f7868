#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "common/error.hpp"
#include "common/time.hpp"

namespace orb::net {

// How a client backs off between attempts of one call: exponential backoff with jitter on
// network errors, 5xx, 429 and 408, honouring Retry-After (protocol.md §1 429/503).
// Plain values: copy freely.
struct RetryPolicy {
  std::chrono::milliseconds initial_delay{500};  // delay after the first failed attempt
  double multiplier = 2.0;                       // each further delay is this many times longer
  std::chrono::milliseconds max_delay{30000};    // caps the base delay before jitter is applied
  double jitter = 0.2;   // delays spread uniformly over base * (1 ± jitter)
  int max_attempts = 0;  // attempts in all, 0 = retry forever
  std::chrono::milliseconds max_retry_after{300000};  // a larger Retry-After is cut to this
};

// The pure backoff decision: no I/O, time and randomness come in as arguments. Thread-safe.
//
// `attempt` is the number of attempts made so far (1 after the first failure). Returns the wait
// before the next attempt, or nullopt when the policy allows no more attempts. The base delay is
// initial_delay * multiplier^(attempt-1), capped at max_delay; jitter then moves it by up to
// ±jitter (unit_random in [0, 1) picks where: 0 is the shortest, 0.5 the base), so a fleet that
// reached the cap does not retry in lockstep. A server's Retry-After (capped at max_retry_after)
// wins when it is longer than that.
std::optional<std::chrono::milliseconds> NextDelay(
    const RetryPolicy& policy, int attempt, double unit_random,
    std::optional<std::chrono::milliseconds> retry_after = std::nullopt);

// True for statuses worth another attempt: 408, 429 and every 5xx.
bool IsRetryableStatus(int status);

// Where a service has several replicas: true for the statuses that say "this one, or the way to
// it, is not working now" rather than "this request is refused": 502 and 504 (a proxy could not
// reach it) and 503 (shutting down, its store unreachable). 429 and 500 stay with the replica: the
// same request would get the same answer from the others.
bool IsFailoverStatus(int status);

// True for an HttpClient error that is about the way to the server, not the request: kNetwork
// (refused, reset, DNS, TLS handshake and certificate) and kTimeout. Another replica may not share
// it; a certificate failure counts, as another replica may present a good one.
bool IsTransportFailure(const Error& error);

// Parses a Retry-After value (RFC 9110 §10.2.3): delta-seconds ("120") or an HTTP-date in the
// IMF-fixdate form ("Sun, 06 Nov 1994 08:49:37 GMT"), which is turned into the time left after
// `now` (zero when it is already past). nullopt for anything else.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value, WallTime now);

}  // namespace orb::net
