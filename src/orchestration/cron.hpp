#pragma once

// Cron expressions of schedules (docs/decisions/0017): 5 fields "minute hour day-of-month month
// day-of-week", or 6 with seconds first. Parsing and matching only; the time zone and DST rules
// are fire_times.hpp's. Pure; thread-safe.

#include <bitset>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace orb::orchestration {

// Longest expression ParseCron accepts (an operator's expression is a few dozen characters).
inline constexpr std::size_t kMaxCronLength = 256;

// A parsed expression: the set of values each field matches. Day-of-week 7 is stored as 0
// (Sunday). Bit i of `days_of_month` is day i (bit 0 unused); of `months`, month i (bit 0 unused).
struct CronExpr {
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;
  std::bitset<13> months;
  std::bitset<7> days_of_week;
  // A day field written as "*" (or "?"), whatever its step-less set: the rule of the two day
  // fields is "both restricted: a day matches either; otherwise both must match".
  bool day_of_month_star = true;
  bool day_of_week_star = true;
  bool has_seconds = false;  // written with 6 fields

  // True when the expression fires at least once every hour of the day (its hour field is every
  // hour): then it fires on every UTC instant whose local time matches, and DST's skipped and
  // repeated local times get no special treatment (fire_times.hpp).
  [[nodiscard]] bool FiresHourlyOrMoreOften() const { return hours.all(); }
  // Whether the day fields match this civil date (weekday 0 = Sunday).
  [[nodiscard]] bool MatchesDay(unsigned month, unsigned day, unsigned weekday) const;
  // False when no date of any year matches, e.g. "0 0 30 2 *" (30 February) or "0 0 31 4 *":
  // such an expression parses but never fires.
  [[nodiscard]] bool CanEverFire() const;

  bool operator==(const CronExpr&) const = default;
};

// Parses an expression. Fields are separated by spaces or tabs; each is a comma-separated list of
// `*`, `?` (day fields only, same as `*`), a value, a range `a-b`, with an optional step `/n`
// (`*/15`, `1-30/5`, `5/15` = from 5 to the field's maximum by 15). Months accept JAN..DEC and
// weekdays SUN..SAT (any case); weekday 0 and 7 are Sunday. Macros: @yearly (@annually),
// @monthly, @weekly, @daily (@midnight), @hourly; @reboot and every other macro are refused.
// Errors are invalid_request with a message naming the field and the value, e.g.
// `cron: hour field: value "25" is out of range 0-23`, and one detail {field: "cron", problem}.
Expected<CronExpr> ParseCron(std::string_view text);

}  // namespace orb::orchestration
