#include "common/numbers.hpp"

#include <cstdint>

#include <gtest/gtest.h>

namespace orb {
namespace {

TEST(ParseWholeNumberTest, TakesAllOfTheTextOrNothing) {
  EXPECT_EQ(ParseWholeNumber<int>("42"), 42);
  EXPECT_EQ(ParseWholeNumber<int>("-7"), -7);
  EXPECT_EQ(ParseWholeNumber<std::uint64_t>("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", " 1", "1 ", "+1", "1x", "0x10", "1.5", "--1"}) {
    EXPECT_FALSE(ParseWholeNumber<int>(bad).has_value()) << bad;
  }
  EXPECT_FALSE(ParseWholeNumber<std::uint64_t>("-1").has_value());
  EXPECT_FALSE(ParseWholeNumber<int>("2147483648").has_value());  // does not fit
}

}  // namespace
}  // namespace orb
