#include "common/time.hpp"

#include <gtest/gtest.h>

namespace orb {
namespace {

TEST(TimeTest, FormatsRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(1795341600123)), "2026-11-22T10:00:00.123Z");
}

TEST(TimeTest, ParsesWhatItFormatsAndOtherRfc3339Forms) {
  const auto t = FromUnixMillis(1795341600123);
  EXPECT_EQ(ParseTimestamp(FormatTimestamp(t)), t);
  EXPECT_EQ(ParseTimestamp("2026-11-22T10:00:00Z"), FromUnixMillis(1795341600000));
  EXPECT_EQ(ParseTimestamp("2026-11-22T10:00:00.1Z"), FromUnixMillis(1795341600100));
  EXPECT_EQ(ParseTimestamp("2026-11-22T10:00:00.123456Z"), FromUnixMillis(1795341600123));
  EXPECT_EQ(ParseTimestamp("2026-11-22T12:00:00.000+02:00"), FromUnixMillis(1795341600000));
}

TEST(TimeTest, RejectsMalformedTimestamps) {
  for (const char* bad :
       {"", "2026-11-22", "2026-11-22T10:00:00", "2026-13-22T10:00:00Z", "2026-02-30T10:00:00Z",
        "2026-11-22T25:00:00Z", "2026-11-22T10:00:00.Z", "2026-11-22T10:00:00Zjunk",
        "x026-11-22T10:00:00Z", "2026-11-22T10:00:00+2:00", "9999-11-22T10:00:00Z",
        "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"}) {
    EXPECT_EQ(ParseTimestamp(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace orb
