// numbers.hpp: decimal integers read from outside text (flags, config files, HTTP headers, the
// agent's journal), all of the text or nothing. Thread-safe.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

namespace orb {

// `text` as an Int: decimal digits, a leading '-' only for signed types, nothing before or
// after (no '+', no spaces). nullopt when it is empty, holds anything else or does not fit.
template <class Int>
std::optional<Int> ParseWholeNumber(std::string_view text) {
  Int value{};
  const char* const end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end) return std::nullopt;
  return value;
}

}  // namespace orb
