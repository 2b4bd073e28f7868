#include "common/regex.hpp"

#include <cstddef>
#include <string>

namespace orb {
namespace {

constexpr std::size_t kMaxDigits = 9;  // fits an int, which libstdc++ narrows the value to

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// The length of the run of digits at `i`.
std::size_t DigitsAt(std::string_view text, std::size_t i) {
  std::size_t n = 0;
  while (i + n < text.size() && IsDigit(text[i + n]))
    ++n;
  return n;
}

// True when a back reference or a repeat count of `pattern` has more digits than libstdc++ reads
// safely. Conservative: escapes and braces count inside bracket expressions too.
bool HasOverlongNumber(std::string_view pattern) {
  bool in_braces = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      if (DigitsAt(pattern, i + 1) > kMaxDigits) return true;
      ++i;  // the escaped character
    } else if (c == '{') {
      in_braces = true;
    } else if (c == '}') {
      in_braces = false;
    } else if (in_braces && IsDigit(c)) {
      const std::size_t n = DigitsAt(pattern, i);
      if (n > kMaxDigits) return true;
      i += n - 1;
    }
  }
  return false;
}

}  // namespace

Expected<std::regex> CompileRegex(std::string_view pattern) {
  if (HasOverlongNumber(pattern)) {
    return Fail(Errc::kInvalidPayload, "a back reference or repeat count has more than " +
                                           std::to_string(kMaxDigits) + " digits");
  }
  try {
    return std::regex(pattern.begin(), pattern.end(), std::regex::ECMAScript);
  } catch (const std::regex_error& error) {
    return Fail(Errc::kInvalidPayload, error.what());
  }
}

}  // namespace orb
