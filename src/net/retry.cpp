#include "net/retry.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace orb::net {
namespace {

using std::chrono::milliseconds;

// Reads exactly `count` decimal digits at `pos`; nullopt if any is not a digit.
std::optional<int> Digits(std::string_view text, std::size_t pos, std::size_t count) {
  if (pos + count > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// IMF-fixdate, the only HTTP-date form a sender may generate (RFC 9110 §5.6.7):
// "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<WallTime> ParseImfFixdate(std::string_view text) {
  static constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                            "Fri", "Sat", "Sun"};
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (text.size() != 29) return std::nullopt;
  if (std::find(kDays.begin(), kDays.end(), text.substr(0, 3)) == kDays.end()) return std::nullopt;
  if (text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' || text[16] != ' ' ||
      text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  const auto month_it = std::find(kMonths.begin(), kMonths.end(), text.substr(8, 3));
  if (month_it == kMonths.end()) return std::nullopt;
  const auto day = Digits(text, 5, 2);
  const auto year = Digits(text, 12, 4);
  const auto hour = Digits(text, 17, 2);
  const auto minute = Digits(text, 20, 2);
  const auto second = Digits(text, 23, 2);
  if (!day || !year || !hour || !minute || !second) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  const std::chrono::year_month_day date{
      std::chrono::year{*year},
      std::chrono::month{static_cast<unsigned>(month_it - kMonths.begin() + 1)},
      std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok()) return std::nullopt;
  return WallTime{std::chrono::sys_days{date}} + std::chrono::hours{*hour} +
         std::chrono::minutes{*minute} + std::chrono::seconds{*second};
}

}  // namespace

std::optional<milliseconds> NextDelay(const RetryPolicy& policy, int attempt, double unit_random,
                                      std::optional<milliseconds> retry_after) {
  if (attempt < 1) attempt = 1;
  if (policy.max_attempts > 0 && attempt >= policy.max_attempts) return std::nullopt;

  // Doubles, so a long run of attempts saturates at the cap instead of overflowing.
  const double cap = static_cast<double>(std::max(policy.max_delay.count(), milliseconds::rep{0}));
  const double growth = std::pow(std::max(policy.multiplier, 1.0), attempt - 1);
  const double base = std::min(
      cap,
      static_cast<double>(std::max(policy.initial_delay.count(), milliseconds::rep{0})) * growth);
  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  const double unit = std::clamp(unit_random, 0.0, 1.0);
  const double delay = base * (1.0 + jitter * (2.0 * unit - 1.0));
  auto result = milliseconds(static_cast<std::int64_t>(std::llround(delay)));

  if (retry_after) {
    const auto server = std::clamp(*retry_after, milliseconds(0), policy.max_retry_after);
    result = std::max(result, server);
  }
  return result;
}

bool IsRetryableStatus(int status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool IsFailoverStatus(int status) {
  return status == 502 || status == 503 || status == 504;
}

bool IsTransportFailure(const Error& error) {
  return error.code == Errc::kNetwork || error.code == Errc::kTimeout;
}

std::optional<milliseconds> ParseRetryAfter(std::string_view value, WallTime now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  if (value.empty()) return std::nullopt;

  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // More than ten digits is beyond any sensible wait; saturate instead of overflowing.
    if (value.size() > 10)
      return std::chrono::duration_cast<milliseconds>(std::chrono::hours(24 * 365));
    std::int64_t seconds = 0;
    for (const char c : value)
      seconds = seconds * 10 + (c - '0');
    return milliseconds(seconds * 1000);
  }

  const auto date = ParseImfFixdate(value);
  if (!date) return std::nullopt;
  if (*date <= now) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(*date - now);
}

}  // namespace orb::net
