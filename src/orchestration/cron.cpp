#include "orchestration/cron.hpp"

#include <array>
#include <cctype>
#include <optional>
#include <vector>

namespace orb::orchestration {
namespace {

struct FieldSpec {
  const char* name;
  unsigned min;
  unsigned max;
  // Names accepted for values (index + names_base), or nullptr.
  const std::array<std::string_view, 12>* names;
  unsigned names_count;
  unsigned names_base;
  bool is_day_field;
};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 12> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI",
                                                        "SAT", "",    "",    "",    "",    ""};

constexpr FieldSpec kSecond{"second", 0, 59, nullptr, 0, 0, false};
constexpr FieldSpec kMinute{"minute", 0, 59, nullptr, 0, 0, false};
constexpr FieldSpec kHour{"hour", 0, 23, nullptr, 0, 0, false};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31, nullptr, 0, 0, true};
constexpr FieldSpec kMonth{"month", 1, 12, &kMonthNames, 12, 1, false};
// 7 is Sunday too; it is folded onto 0 after parsing.
constexpr FieldSpec kDayOfWeek{"day-of-week", 0, 7, &kDayNames, 7, 0, true};

Error CronError(std::string problem) {
  return ::orb::InvalidField("cron", std::move(problem));
}

Error FieldError(const FieldSpec& spec, std::string problem) {
  return CronError(std::string(spec.name) + " field: " + std::move(problem));
}

// Quoted for an error message: printable ASCII kept, anything else as '?', at most 40 characters.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < 40; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out += (c >= 0x20 && c < 0x7f && c != '"') ? static_cast<char>(c) : '?';
  }
  if (text.size() > 40) out += "...";
  return out + "\"";
}

// A value: digits or (for months and weekdays) a three-letter name.
Expected<unsigned> ParseValue(const FieldSpec& spec, std::string_view text) {
  if (text.empty()) return Fail(FieldError(spec, "empty value"));
  if (std::isdigit(static_cast<unsigned char>(text[0]))) {
    unsigned value = 0;
    for (const char c : text) {
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return Fail(FieldError(spec, "value " + Quote(text) + " is not a number"));
      value = value * 10 + static_cast<unsigned>(c - '0');
      if (value > 1000) break;  // out of range anyway; no overflow
    }
    if (value < spec.min || value > spec.max) {
      return Fail(FieldError(spec, "value " + Quote(text) + " is out of range " +
                                       std::to_string(spec.min) + "-" + std::to_string(spec.max)));
    }
    return value;
  }
  if (spec.names != nullptr && text.size() == 3) {
    std::string upper;
    for (const char c : text)
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (unsigned i = 0; i < spec.names_count; ++i) {
      if ((*spec.names)[i] == upper) return i + spec.names_base;
    }
  }
  return Fail(FieldError(spec, "value " + Quote(text) + " is not " +
                                   (spec.names != nullptr ? "a number or a name" : "a number")));
}

// One field into `bits` (bit v for value v). Returns whether it was written as a bare "*"/"?".
Expected<bool> ParseField(const FieldSpec& spec, std::string_view field, std::bitset<64>& bits) {
  if (spec.is_day_field && field == "?") field = "*";
  const bool star = field == "*";
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = field.find(',', start);
    const std::string_view item = field.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) return Fail(FieldError(spec, "empty list item in " + Quote(field)));
    std::string_view range = item;
    unsigned step = 1;
    bool has_step = false;
    if (const std::size_t slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      unsigned value = 0;
      bool digits = !step_text.empty() && step_text.size() <= 4;
      for (const char c : step_text) {
        if (!std::isdigit(static_cast<unsigned char>(c))) digits = false;
      }
      if (digits) {
        for (const char c : step_text)
          value = value * 10 + static_cast<unsigned>(c - '0');
      }
      if (!digits || value == 0 || value > spec.max - spec.min + 1) {
        return Fail(FieldError(spec, "step " + Quote(step_text) + " in " + Quote(item) +
                                         " must be a number from 1 to " +
                                         std::to_string(spec.max - spec.min + 1)));
      }
      step = value;
      has_step = true;
    }
    unsigned low = spec.min;
    unsigned high = spec.max;
    if (range == "*") {
      // every value, by step
    } else if (const std::size_t dash = range.find('-'); dash != std::string_view::npos) {
      auto first = ParseValue(spec, range.substr(0, dash));
      if (!first) return Fail(std::move(first.error()));
      auto last = ParseValue(spec, range.substr(dash + 1));
      if (!last) return Fail(std::move(last.error()));
      if (*first > *last) {
        return Fail(FieldError(spec, "range " + Quote(range) + " starts after it ends"));
      }
      low = *first;
      high = *last;
    } else {
      auto value = ParseValue(spec, range);
      if (!value) return Fail(std::move(value.error()));
      low = *value;
      // "5/15": from 5 to the maximum by 15; "5": only 5.
      high = has_step ? spec.max : *value;
    }
    for (unsigned v = low; v <= high; v += step)
      bits.set(v);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return star;
}

template <std::size_t N>
std::bitset<N> Narrow(const std::bitset<64>& bits) {
  std::bitset<N> out;
  for (std::size_t i = 0; i < N; ++i)
    out[i] = bits[i];
  return out;
}

std::optional<std::string_view> ExpandMacro(std::string_view text) {
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@hourly") return "0 * * * *";
  return std::nullopt;
}

}  // namespace

bool CronExpr::MatchesDay(unsigned month, unsigned day, unsigned weekday) const {
  if (month > 12 || !months[month] || day > 31 || weekday > 6) return false;
  const bool dom = days_of_month[day];
  const bool dow = days_of_week[weekday];
  if (!day_of_month_star && !day_of_week_star) return dom || dow;
  return dom && dow;
}

bool CronExpr::CanEverFire() const {
  if (seconds.none() || minutes.none() || hours.none()) return false;
  // Restricted weekdays (alone, or OR-ed with restricted days) match some day of every month.
  if (!day_of_week_star) return months.any() && days_of_week.any();
  constexpr std::array<unsigned, 13> kLongest = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (unsigned m = 1; m <= 12; ++m) {
    if (!months[m]) continue;
    for (unsigned d = 1; d <= kLongest[m]; ++d) {
      if (days_of_month[d]) return true;
    }
  }
  return false;
}

Expected<CronExpr> ParseCron(std::string_view text) {
  if (text.size() > kMaxCronLength) {
    return Fail(CronError("is longer than " + std::to_string(kMaxCronLength) + " characters"));
  }
  // Surrounding blanks are ignored, as between fields.
  const auto is_blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && is_blank(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back()))
    text.remove_suffix(1);
  if (text.empty()) return Fail(CronError("is empty"));
  if (text.front() == '@') {
    const auto expanded = ExpandMacro(text);
    if (!expanded) {
      return Fail(CronError("macro " + Quote(text) +
                            " is not supported (@yearly, @annually, @monthly, @weekly, @daily, "
                            "@midnight and @hourly are; @reboot is not)"));
    }
    text = *expanded;
  }
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i]))
      ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_blank(text[i]))
      ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  if (fields.size() != 5 && fields.size() != 6) {
    return Fail(
        CronError("expected 5 fields (minute hour day-of-month month day-of-week) or 6 "
                  "with seconds first, got " +
                  std::to_string(fields.size())));
  }
  CronExpr expr;
  expr.has_seconds = fields.size() == 6;
  std::size_t next = 0;
  std::bitset<64> bits;
  if (expr.has_seconds) {
    if (auto ok = ParseField(kSecond, fields[next++], bits); !ok)
      return Fail(std::move(ok.error()));
    expr.seconds = Narrow<60>(bits);
  } else {
    expr.seconds.set(0);
  }
  const auto parse = [&](const FieldSpec& spec) -> Expected<bool> {
    bits.reset();
    return ParseField(spec, fields[next++], bits);
  };
  if (auto ok = parse(kMinute); !ok) return Fail(std::move(ok.error()));
  expr.minutes = Narrow<60>(bits);
  if (auto ok = parse(kHour); !ok) return Fail(std::move(ok.error()));
  expr.hours = Narrow<24>(bits);
  auto dom = parse(kDayOfMonth);
  if (!dom) return Fail(std::move(dom.error()));
  expr.days_of_month = Narrow<32>(bits);
  expr.day_of_month_star = *dom;
  if (auto ok = parse(kMonth); !ok) return Fail(std::move(ok.error()));
  expr.months = Narrow<13>(bits);
  auto dow = parse(kDayOfWeek);
  if (!dow) return Fail(std::move(dow.error()));
  if (bits[7]) bits.set(0);  // 7 is Sunday
  expr.days_of_week = Narrow<7>(bits);
  expr.day_of_week_star = *dow;
  return expr;
}

}  // namespace orb::orchestration
