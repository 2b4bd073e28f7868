#include "server/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace orb::server {

RateLimiter::RateLimiter(double rate_per_second, double burst)
    : rate_(rate_per_second), burst_(std::max(1.0, burst)) {}

int RateLimiter::Acquire(const std::string& key, Time now) {
  if (rate_ <= 0) return 0;
  const std::lock_guard lock(mutex_);
  auto [it, inserted] = buckets_.try_emplace(key);
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = burst_;
  } else {
    const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * rate_);
  }
  bucket.updated = now;
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return 0;
  }
  // Bounded memory: a table of many idle callers is cleared; they start with a full bucket.
  if (buckets_.size() > 100'000) buckets_.clear();
  return std::max(1, static_cast<int>(std::ceil((1.0 - bucket.tokens) / rate_)));
}

}  // namespace orb::server
