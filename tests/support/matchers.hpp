#pragma once

#include <ostream>

#include <gmock/gmock.h>

#include "common/expected.hpp"

namespace orb {

// Lets GoogleTest print results readably instead of as bytes.
template <class T>
void PrintTo(const Expected<T>& result, std::ostream* os) {
  if (result) {
    *os << "ok";
  } else {
    *os << result.error().Describe();
  }
}

}  // namespace orb

namespace orb::testing {

// EXPECT_THAT(store.Save(job), IsOk()); PrintTo above shows the error when it fails.
MATCHER(IsOk, "succeeds") {
  return arg.has_value();
}

// EXPECT_THAT(Decode(text), FailsWith(Errc::kInvalidJson));
MATCHER_P(FailsWith, code, std::string("fails with ") + std::string(::orb::ToString(code))) {
  return !arg.has_value() && arg.error().code == code;
}

}  // namespace orb::testing
