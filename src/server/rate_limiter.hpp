#pragma once

// Token buckets keyed by caller (protocol.md §1: 429 rate_limited with Retry-After): operator and
// viewer calls per token, failed authentications per client address. A key that sends faster than
// `rate_per_second` for longer than `burst` requests allow is told to wait. Agents are not limited
// per token: their calls are paced by the protocol itself (long-poll, heartbeats).
//
// Memory is bounded whatever the keys (an attacker chooses client addresses): at most `max_keys`
// buckets. A bucket that has refilled completely is the same as no bucket, so when the table is
// full such buckets are swept out (at most once per refill time, so a flood of new keys costs
// O(1) per call); keys that still find no room share one overflow bucket, which limits them
// together. No caller ever gets a fresh bucket because others filled the table.
//
// Pure: time is an argument. Thread-safe (one mutex; a call is a hash lookup).

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace orb::server {

class RateLimiter {
 public:
  using Time = std::chrono::steady_clock::time_point;
  static constexpr std::size_t kDefaultMaxKeys = 65'536;

  // rate_per_second <= 0 disables limiting. max_keys >= 1.
  RateLimiter(double rate_per_second, double burst, std::size_t max_keys = kDefaultMaxKeys);

  // Takes one token from `key`'s bucket. Returns 0 when allowed, else the whole seconds to wait
  // before a token is there again (for Retry-After, at least 1).
  int Acquire(std::string_view key, Time now);

  // What Acquire would answer, without taking a token (0 for a key without a bucket).
  int Wait(std::string_view key, Time now) const;

  // Buckets held (the overflow bucket not counted); at most max_keys.
  std::size_t size() const;

 private:
  struct Bucket {
    double tokens = 0;
    Time updated{};
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const {
      return std::hash<std::string_view>{}(key);
    }
  };

  // Refills `bucket` up to `now`; a new bucket starts full.
  void Refill(Bucket& bucket, Time now) const;
  int Take(Bucket& bucket, Time now);
  // Removes the buckets that are full again at `now`.
  void SweepFull(Time now);

  const double rate_;
  const double burst_;
  const std::size_t max_keys_;
  const std::chrono::steady_clock::duration refill_time_;  // empty to full
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket, Hash, std::equal_to<>> buckets_;
  Bucket overflow_;
  bool overflow_used_ = false;
  Time next_sweep_{};
};

}  // namespace orb::server
