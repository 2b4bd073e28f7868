#include "net/byte_range.hpp"

#include <limits>
#include <optional>

#include "common/numbers.hpp"

namespace orb::net {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// RFC 9110's 1*DIGIT: a number too long for 64 bits is still a number (beyond any file), so it
// saturates rather than making the header invalid. nullopt when not all digits.
std::optional<std::uint64_t> Digits(std::string_view text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  if (auto value = ParseWholeNumber<std::uint64_t>(text)) return value;
  return std::numeric_limits<std::uint64_t>::max();
}

}  // namespace

ByteRange ParseByteRange(std::string_view header, std::uint64_t size) {
  constexpr std::string_view kPrefix = "bytes=";
  header = Trim(header);
  if (header.size() < kPrefix.size()) return {};
  for (std::size_t i = 0; i < kPrefix.size(); ++i) {
    const char c = header[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != kPrefix[i]) return {};
  }
  const std::string_view spec = Trim(header.substr(kPrefix.size()));
  if (spec.find(',') != std::string_view::npos) return {};
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const std::string_view first_text = Trim(spec.substr(0, dash));
  const std::string_view last_text = Trim(spec.substr(dash + 1));
  const ByteRange unsatisfiable{ByteRange::Kind::kUnsatisfiable, 0, 0};

  if (first_text.empty()) {  // suffix: the last n bytes
    const auto n = Digits(last_text);
    if (!n) return {};
    if (*n == 0 || size == 0) return unsatisfiable;
    const std::uint64_t length = *n < size ? *n : size;
    return {ByteRange::Kind::kPartial, size - length, length};
  }
  const auto first = Digits(first_text);
  if (!first) return {};
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    const auto parsed = Digits(last_text);
    if (!parsed || *parsed < *first) return {};  // syntactically invalid: ignore the header
    if (*parsed < last) last = *parsed;
  }
  if (*first >= size) return unsatisfiable;
  return {ByteRange::Kind::kPartial, *first, last - *first + 1};
}

}  // namespace orb::net
