#include "cli/api.hpp"

#include <gtest/gtest.h>

#include "cli/exit_codes.hpp"
#include "cli/labels_flag.hpp"
#include "support/matchers.hpp"

namespace orb::cli {
namespace {

using testing::FailsWith;
using testing::IsOk;

TEST(EscapeUrlComponentTest, KeepsUnreservedCharactersAndEncodesTheRest) {
  EXPECT_EQ(EscapeUrlComponent("host-1.eu_2~"), "host-1.eu_2~");
  EXPECT_EQ(EscapeUrlComponent("a/b c?d&e"), "a%2Fb%20c%3Fd%26e");
  EXPECT_EQ(EscapeUrlComponent("é"), "%C3%A9");
}

TEST(QueryStringTest, JoinsOnlyTheSetValues) {
  EXPECT_EQ(QueryString({}), "");
  EXPECT_EQ(QueryString({{"agentId", std::nullopt}}), "");
  EXPECT_EQ(QueryString({{"agentId", "host 1"}, {"status", std::nullopt}, {"limit", "5"}}),
            "?agentId=host%201&limit=5");
}

TEST(ExitCodeForTest, SeparatesConnectionProblemsFromApiErrors) {
  EXPECT_EQ(ExitCodeFor(MakeError(Errc::kNetwork, "refused")), kExitConnect);
  EXPECT_EQ(ExitCodeFor(MakeError(Errc::kTimeout, "slow")), kExitConnect);
  EXPECT_EQ(ExitCodeFor(MakeError(Errc::kNotFound, "no job")), kExitApi);
  EXPECT_EQ(ExitCodeFor(MakeError(Errc::kUnavailable, "down")), kExitApi);
  EXPECT_EQ(ExitCodeFor(MakeError(Errc::kHttp, "garbage")), kExitApi);
  EXPECT_EQ(ExitCodeFor(MakeError(Errc::kCancelled, "ctrl-c")), kExitInterrupted);
}

TEST(ParseLabelsTest, SplitsAtTheFirstEqualsSign) {
  auto labels = ParseLabels({"region=eu", "note=a=b", "empty="}, "--label");
  ASSERT_THAT(labels, IsOk());
  EXPECT_EQ(labels->at("region"), "eu");
  EXPECT_EQ(labels->at("note"), "a=b");
  EXPECT_EQ(labels->at("empty"), "");
}

TEST(ParseLabelsTest, RefusesAnItemWithoutKeyOrEqualsSign) {
  EXPECT_THAT(ParseLabels({"region"}, "--label"), FailsWith(Errc::kInvalidRequest));
  auto bad = ParseLabels({"=eu"}, "--selector");
  ASSERT_THAT(bad, FailsWith(Errc::kInvalidRequest));
  EXPECT_NE(bad.error().message.find("--selector"), std::string::npos);
}

}  // namespace
}  // namespace orb::cli
