#include "common/regex.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace orb {
namespace {

using ::testing::HasSubstr;

TEST(CompileRegexTest, CompilesECMAScriptAndSaysWhatIsWrongOtherwise) {
  auto compiled = CompileRegex(R"(^Done \(([0-9.]+)s\)!$)");
  ASSERT_TRUE(compiled) << compiled.error().message;
  EXPECT_TRUE(std::regex_search("Done (1.5s)!", *compiled));

  auto broken = CompileRegex("Done (");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, Errc::kInvalidPayload);
}

TEST(CompileRegexTest, RefusesNumbersLibstdcxxWouldOverflowOnBeforeCompiling) {
  for (const char* pattern :
       {R"(\12345678901)", "a{12345678901}", "a{1,12345678901}", "x{ 0,99999999999999999999}"}) {
    auto compiled = CompileRegex(pattern);
    ASSERT_FALSE(compiled) << pattern;
    EXPECT_THAT(compiled.error().message, HasSubstr("more than 9 digits")) << pattern;
  }
  // Long digit runs elsewhere are text: after an escaped backslash, outside braces.
  EXPECT_TRUE(CompileRegex(R"(\\12345678901 port 123456789012345)"));
}

}  // namespace
}  // namespace orb
