#pragma once

// Per-caller token buckets for the operator API (protocol.md §1: 429 rate_limited with
// Retry-After). A caller that sends faster than `rate_per_second` for longer than `burst`
// requests allows is told to wait. Agents are not limited here: their calls are paced by the
// protocol itself (long-poll, heartbeats). Pure: time is an argument. Thread-safe.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace orb::server {

class RateLimiter {
 public:
  using Time = std::chrono::steady_clock::time_point;

  // rate_per_second <= 0 disables limiting.
  RateLimiter(double rate_per_second, double burst);

  // Takes one token from `key`'s bucket. Returns 0 when allowed, else the whole seconds to wait
  // before a token is there again (for Retry-After, at least 1).
  int Acquire(const std::string& key, Time now);

 private:
  struct Bucket {
    double tokens = 0;
    Time updated{};
  };
  const double rate_;
  const double burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace orb::server
