#include "common/time.hpp"

#include <charconv>

#include <fmt/format.h>

namespace orb {
namespace {

using std::chrono::days;
using std::chrono::milliseconds;

bool ParseDigits(std::string_view text, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > text.size()) return false;
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

}  // namespace

std::int64_t ToUnixMillis(WallTime time) {
  return std::chrono::duration_cast<milliseconds>(time.time_since_epoch()).count();
}

WallTime FromUnixMillis(std::int64_t millis) {
  return WallTime{milliseconds{millis}};
}

std::string FormatTimestamp(WallTime time) {
  const auto millis_total = ToUnixMillis(time);
  const auto day_point = std::chrono::floor<days>(milliseconds{millis_total});
  const std::chrono::year_month_day ymd{std::chrono::sys_days{day_point}};
  auto rest = milliseconds{millis_total} - day_point;
  const auto hours = std::chrono::duration_cast<std::chrono::hours>(rest);
  rest -= hours;
  const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(rest);
  rest -= minutes;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(rest);
  rest -= seconds;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hours.count(), minutes.count(), seconds.count(), rest.count());
}

std::optional<WallTime> ParseTimestamp(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 20) return std::nullopt;
  if (!ParseDigits(text, 0, 4, year) || text[4] != '-' || !ParseDigits(text, 5, 2, month) ||
      text[7] != '-' || !ParseDigits(text, 8, 2, day) || (text[10] != 'T' && text[10] != 't') ||
      !ParseDigits(text, 11, 2, hour) || text[13] != ':' || !ParseDigits(text, 14, 2, minute) ||
      text[16] != ':' || !ParseDigits(text, 17, 2, second)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  int millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 3; ++i)
      millis *= 10;
  }
  if (pos >= text.size()) return std::nullopt;
  int offset_minutes = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const int sign = text[pos] == '+' ? 1 : -1;
    int off_h = 0, off_m = 0;
    if (!ParseDigits(text, pos + 1, 2, off_h) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !ParseDigits(text, pos + 4, 2, off_m) || off_h > 23 || off_m > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (off_h * 60 + off_m);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  // WallTime counts nanoseconds in 64 bits: about 1678..2262. Stay well inside it.
  if (year < 1970 || year > 2200) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  const auto base = std::chrono::sys_days{ymd} + std::chrono::hours{hour} +
                    std::chrono::minutes{minute} + std::chrono::seconds{second} +
                    milliseconds{millis} - std::chrono::minutes{offset_minutes};
  return WallTime{std::chrono::duration_cast<WallTime::duration>(base.time_since_epoch())};
}

}  // namespace orb
