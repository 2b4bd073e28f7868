#include "server/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace orb::server {

RateLimiter::RateLimiter(double rate_per_second, double burst, std::size_t max_keys)
    : rate_(rate_per_second),
      burst_(std::max(1.0, burst)),
      max_keys_(std::max<std::size_t>(1, max_keys)),
      refill_time_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(rate_per_second > 0 ? burst_ / rate_per_second : 0))) {}

void RateLimiter::Refill(Bucket& bucket, Time now) const {
  const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * rate_);
  bucket.updated = std::max(bucket.updated, now);
}

int RateLimiter::Take(Bucket& bucket, Time now) {
  Refill(bucket, now);
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1.0 - bucket.tokens) / rate_)));
}

void RateLimiter::SweepFull(Time now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    Refill(it->second, now);
    it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
  }
}

int RateLimiter::Acquire(std::string_view key, Time now) {
  if (rate_ <= 0) return 0;
  const std::lock_guard lock(mutex_);
  if (auto it = buckets_.find(key); it != buckets_.end()) return Take(it->second, now);
  if (buckets_.size() >= max_keys_ && now >= next_sweep_) {
    SweepFull(now);
    // Until then no bucket of the table can have refilled completely: sweeping again would only
    // cost time.
    next_sweep_ =
        now +
        std::max(refill_time_, std::chrono::steady_clock::duration(std::chrono::milliseconds(100)));
  }
  if (buckets_.size() >= max_keys_) {
    if (!overflow_used_) {
      overflow_used_ = true;
      overflow_ = Bucket{burst_, now};
    }
    return Take(overflow_, now);
  }
  Bucket& bucket = buckets_.emplace(std::string(key), Bucket{burst_, now}).first->second;
  return Take(bucket, now);
}

int RateLimiter::Wait(std::string_view key, Time now) const {
  if (rate_ <= 0) return 0;
  const std::lock_guard lock(mutex_);
  const auto it = buckets_.find(key);
  if (it == buckets_.end()) return 0;
  Bucket bucket = it->second;
  Refill(bucket, now);
  if (bucket.tokens >= 1.0) return 0;
  return std::max(1, static_cast<int>(std::ceil((1.0 - bucket.tokens) / rate_)));
}

std::size_t RateLimiter::size() const {
  const std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace orb::server
