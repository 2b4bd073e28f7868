#include "protocol/job_retry.hpp"

#include <algorithm>
#include <cmath>

namespace orb::protocol {

std::chrono::milliseconds JobRetryDelay(int retry_backoff_seconds, int attempt,
                                        double unit_random) {
  if (retry_backoff_seconds <= 0) return std::chrono::milliseconds(0);
  const double cap_ms = static_cast<double>(
      std::chrono::duration_cast<std::chrono::milliseconds>(kMaxRetryBackoff).count());
  // 2^30 s is far past the cap for any backoff >= 1 s, so larger exponents cannot matter and the
  // computation never overflows.
  const int doublings = std::clamp(attempt, 1, 31) - 1;
  const double base_ms = std::min(
      cap_ms, static_cast<double>(retry_backoff_seconds) * 1000.0 * std::ldexp(1.0, doublings));
  const double r = std::isfinite(unit_random) ? std::clamp(unit_random, 0.0, 1.0) : 0.5;
  const double factor = 0.8 + 0.4 * std::min(r, 0.999999999);
  // Whole milliseconds, rounded down so the jitter stays below +20%; the epsilon keeps exact
  // products (10000 * 0.8) from dropping a millisecond to floating-point error.
  return std::chrono::milliseconds(static_cast<long long>(std::floor(base_ms * factor + 1e-6)));
}

}  // namespace orb::protocol
