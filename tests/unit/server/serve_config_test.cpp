#include "server/serve_config.hpp"

#include <gtest/gtest.h>

namespace orb::server {
namespace {

TEST(ServeConfigTest, SqliteIsTheDefaultStore) {
  auto options = ToOptions(ServeFlags{});
  ASSERT_TRUE(options.has_value());
  EXPECT_TRUE(options->store_url.empty());
  EXPECT_EQ(options->store_writers, 2);
}

TEST(ServeConfigTest, APostgresqlUrlSelectsPostgresWithItsWriters) {
  ServeFlags flags;
  flags.store = "postgresql://orb@db.example:5432/fleet";
  flags.store_writers = 4;
  auto options = ToOptions(flags);
  ASSERT_TRUE(options.has_value());
  EXPECT_EQ(options->store_url, flags.store);
  EXPECT_EQ(options->store_writers, 4);
  flags.store = "postgres://orb@db.example/fleet";
  EXPECT_TRUE(ToOptions(flags).has_value());
}

TEST(ServeConfigTest, AnotherStoreIsRefusedWithoutShowingItsPassword) {
  ServeFlags flags;
  flags.store = "mysql://orb:hunter2secret@db.example/fleet";
  auto options = ToOptions(flags);
  ASSERT_FALSE(options.has_value());
  EXPECT_EQ(options.error().code, Errc::kInvalidRequest);
  EXPECT_NE(options.error().message.find("--store"), std::string::npos);
  EXPECT_NE(options.error().message.find("db.example"), std::string::npos);
  EXPECT_EQ(options.error().message.find("hunter2secret"), std::string::npos)
      << options.error().message;
}

}  // namespace
}  // namespace orb::server
