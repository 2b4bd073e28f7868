#include "net/byte_range.hpp"

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
    const auto n = ParseWholeNumber<std::uint64_t>(last_text);
    if (!n) return {};
    if (*n == 0 || size == 0) return unsatisfiable;
    const std::uint64_t length = *n < size ? *n : size;
    return {ByteRange::Kind::kPartial, size - length, length};
  }
  const auto first = ParseWholeNumber<std::uint64_t>(first_text);
  if (!first) return {};
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    const auto parsed = ParseWholeNumber<std::uint64_t>(last_text);
    if (!parsed || *parsed < *first) return {};  // syntactically invalid: ignore the header
    if (*parsed < last) last = *parsed;
  }
  if (*first >= size) return unsatisfiable;
  return {ByteRange::Kind::kPartial, *first, last - *first + 1};
}

}  // namespace orb::net
