#pragma once

// The automatic-retry delay of protocol.md §3 ("retryBackoffSeconds: first delay before an
// automatic retry, default 10; doubles each attempt, capped at 600, ±20% jitter") as one pure
// function. The store calls it when a retryable run fails and the job has attempts left.
// Thread-safety: pure; safe from any thread. Errors: none (out-of-range inputs are clamped).

#include <chrono>

namespace orb::protocol {

// Longest delay before jitter (protocol.md §3).
inline constexpr std::chrono::seconds kMaxRetryBackoff{600};

// The delay before automatic retry number `attempt` (the attempt that just failed, 1-based):
// retry_backoff_seconds * 2^(attempt-1), capped at kMaxRetryBackoff, then scaled by a jitter
// factor in [0.8, 1.2) taken from `unit_random` in [0, 1) (0.5 gives the exact delay). The cap
// applies before the jitter so that retries of many jobs at the cap still spread out: the
// longest possible delay is 720 s. `attempt` < 1 counts as 1; retry_backoff_seconds <= 0 gives 0;
// unit_random outside [0, 1) is clamped into it.
std::chrono::milliseconds JobRetryDelay(int retry_backoff_seconds, int attempt, double unit_random);

}  // namespace orb::protocol
