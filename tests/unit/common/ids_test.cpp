#include "common/ids.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "support/manual_clock.hpp"

namespace orb {
namespace {

TEST(IdGeneratorTest, IdsAreUuidV7AndStrictlyIncreasingWithinOneMillisecond) {
  testing::ManualClock clock;
  IdGenerator ids(clock);
  std::string previous;
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {  // > 4096: also crosses the sequence overflow
    const auto id = ids.Next();
    ASSERT_TRUE(IsUuidV7(id)) << id;
    ASSERT_GT(id, previous);
    previous = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(IdGeneratorTest, IdsSortByCreationTimeAndSurviveAClockStepBack) {
  testing::ManualClock clock;
  IdGenerator ids(clock);
  const auto first = ids.Next();
  clock.Advance(std::chrono::milliseconds(5));
  const auto second = ids.Next();
  EXPECT_LT(first, second);
  clock.SetWall(clock.WallNow() - std::chrono::hours(1));
  EXPECT_LT(second, ids.Next());
}

TEST(IdGeneratorTest, TimestampIsTheWallClockInMilliseconds) {
  testing::ManualClock clock;
  IdGenerator ids(clock);
  const auto id = ids.Next();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.WallNow().time_since_epoch())
          .count();
  const auto hex = id.substr(0, 8) + id.substr(9, 4);
  EXPECT_EQ(std::stoll(hex, nullptr, 16), millis);
}

TEST(NameTest, AcceptsOnlyFileNameSafeNames) {
  EXPECT_TRUE(IsValidName("mc-1"));
  EXPECT_TRUE(IsValidName("1.21.4-b87"));
  EXPECT_TRUE(IsValidName("A_b.c-d"));
  EXPECT_TRUE(IsValidName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidName(std::string(65, 'a')));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName(".hidden"));
  EXPECT_FALSE(IsValidName("-x"));
  EXPECT_FALSE(IsValidName("a/b"));
  EXPECT_FALSE(IsValidName(".."));
  EXPECT_FALSE(IsValidName("a b"));
  EXPECT_FALSE(IsValidName("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidName(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace orb
