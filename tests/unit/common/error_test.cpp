#include "common/error.hpp"

#include <gtest/gtest.h>

#include "common/expected.hpp"
#include "support/matchers.hpp"

namespace orb {
namespace {

TEST(ErrorTest, EveryCodeRoundTripsThroughItsWireName) {
  for (int i = 0; i <= static_cast<int>(Errc::kStore); ++i) {
    const auto code = static_cast<Errc>(i);
    const auto name = ToString(code);
    ASSERT_FALSE(name.empty());
    EXPECT_EQ(ErrcFromString(name), code) << name;
  }
  EXPECT_EQ(ErrcFromString("no_such_code"), std::nullopt);
}

TEST(ErrorTest, WireNamesAreThoseOfTheSpec) {
  EXPECT_EQ(ToString(Errc::kInvalidJson), "invalid_json");
  EXPECT_EQ(ToString(Errc::kRunNotActive), "run_not_active");
  EXPECT_EQ(ToString(Errc::kIdempotencyConflict), "idempotency_conflict");
  EXPECT_EQ(ToString(Errc::kUnsupportedMediaType), "unsupported_media_type");
  EXPECT_EQ(ToString(Errc::kAgentLost), "agent_lost");
}

TEST(ErrorTest, WithContextPutsTheOutermostContextFirst) {
  Error error = MakeError(Errc::kIo, "disk full", true);
  error = std::move(error).WithContext("write archive");
  error = std::move(error).WithContext("backup mc-1");
  ASSERT_EQ(error.stack.size(), 2u);
  EXPECT_EQ(error.stack[0], "backup mc-1");
  EXPECT_EQ(error.stack[1], "write archive");
  EXPECT_TRUE(error.retryable);
  EXPECT_EQ(error.Describe(), "io_error: disk full (backup mc-1: write archive)");
}

Expected<int> Half(int value) {
  if (value % 2 != 0) return Fail(Errc::kInvalidRequest, "odd");
  return value / 2;
}

TEST(ErrorTest, ExpectedCarriesAValueOrAnError) {
  EXPECT_THAT(Half(4), testing::IsOk());
  EXPECT_EQ(*Half(4), 2);
  EXPECT_THAT(Half(3), testing::FailsWith(Errc::kInvalidRequest));
  Status ok = Ok();
  EXPECT_TRUE(ok.has_value());
}

}  // namespace
}  // namespace orb
