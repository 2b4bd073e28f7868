#include "cli/config.hpp"

#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::cli {
namespace {

using testing::FailsWith;
using testing::IsOk;

EnvLookup Env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    if (auto it = values.find(name); it != values.end()) return it->second;
    return std::nullopt;
  };
}

std::string WriteFile(const testing::TempDir& dir, const std::string& name,
                      const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

TEST(ResolveConnectionTest, DefaultsToTheLocalServerAndTakesTheTokenFromTheEnvironment) {
  auto connection = ResolveConnection({}, Env({{"FLEET_TOKEN", " secret\n"}}));
  ASSERT_THAT(connection, IsOk());
  EXPECT_EQ(connection->base_url, "http://127.0.0.1:8080");
  EXPECT_EQ(connection->token, "secret");
}

TEST(ResolveConnectionTest, PrefersFlagsOverTheEnvironment) {
  testing::TempDir dir;
  GlobalFlags flags;
  flags.server = "https://cmdr.example:8443/";
  flags.token_file = WriteFile(dir, "token", "from-file\nsecond line\n");
  auto connection = ResolveConnection(
      flags, Env({{"FLEET_SERVER", "http://other:1"}, {"FLEET_TOKEN", "from-env"}}));
  ASSERT_THAT(connection, IsOk());
  EXPECT_EQ(connection->base_url, "https://cmdr.example:8443");
  EXPECT_EQ(connection->token, "from-file");
}

TEST(ResolveConnectionTest, UsesFleetServerAndFleetTokenFileWhenNoFlagIsGiven) {
  testing::TempDir dir;
  const auto file = WriteFile(dir, "token", "t0ken");
  auto connection = ResolveConnection(
      {}, Env({{"FLEET_SERVER", "http://10.0.0.1:9000"}, {"FLEET_TOKEN_FILE", file}}));
  ASSERT_THAT(connection, IsOk());
  EXPECT_EQ(connection->base_url, "http://10.0.0.1:9000");
  EXPECT_EQ(connection->token, "t0ken");
}

TEST(ResolveConnectionTest, RefusesAServerThatIsNotAnHttpUrl) {
  GlobalFlags flags;
  flags.server = "127.0.0.1:8080";
  auto connection = ResolveConnection(flags, Env({{"FLEET_TOKEN", "t"}}));
  ASSERT_THAT(connection, FailsWith(Errc::kInvalidRequest));
  EXPECT_NE(connection.error().message.find("http://"), std::string::npos);
}

TEST(ResolveConnectionTest, SaysHowToGiveATokenWhenThereIsNone) {
  auto connection = ResolveConnection({}, Env({}));
  ASSERT_THAT(connection, FailsWith(Errc::kInvalidRequest));
  EXPECT_NE(connection.error().message.find("--token-file"), std::string::npos);
  EXPECT_NE(connection.error().message.find("FLEET_TOKEN"), std::string::npos);
}

TEST(ResolveConnectionTest, RefusesAMissingOrEmptyTokenFile) {
  testing::TempDir dir;
  GlobalFlags flags;
  flags.token_file = (dir / "missing").string();
  EXPECT_THAT(ResolveConnection(flags, Env({})), FailsWith(Errc::kIo));
  flags.token_file = WriteFile(dir, "empty", "  \n");
  EXPECT_THAT(ResolveConnection(flags, Env({})), FailsWith(Errc::kIo));
}

}  // namespace
}  // namespace orb::cli
