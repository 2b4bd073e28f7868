#include "server/serve_config.hpp"

#include <chrono>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include "support/files.hpp"
#include "support/temp_dir.hpp"

namespace orb::server {
namespace {

TEST(ServeConfigTest, SqliteIsTheDefaultStore) {
  auto options = ToOptions(ServeFlags{});
  ASSERT_TRUE(options.has_value());
  EXPECT_TRUE(options->store_url.empty());
  EXPECT_EQ(options->store_writers, 2);
  EXPECT_EQ(options->store_timeout, std::chrono::seconds(15));
}

TEST(ServeConfigTest, APostgresqlUrlSelectsPostgresWithItsWriters) {
  ServeFlags flags;
  flags.store = "postgresql://orb@db.example:5432/fleet";
  flags.store_writers = 4;
  flags.store_timeout_seconds = 3;
  auto options = ToOptions(flags);
  ASSERT_TRUE(options.has_value());
  EXPECT_EQ(options->store_url, flags.store);
  EXPECT_EQ(options->store_writers, 4);
  EXPECT_EQ(options->store_timeout, std::chrono::seconds(3));
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

TEST(ServeConfigTest, RetentionFlagsReachTheOptions) {
  auto defaults = ToOptions(ServeFlags{});
  ASSERT_TRUE(defaults.has_value());
  EXPECT_EQ(defaults->retention.job_age, RetentionOptions::Days(30));
  EXPECT_EQ(defaults->retention.artifact_age, RetentionOptions::Days(30));
  EXPECT_EQ(defaults->retention.idempotency_key_age, RetentionOptions::Days(7));
  EXPECT_EQ(defaults->retention.batch_rows, 200);
  ServeFlags flags;
  flags.retention_days = 0;
  flags.artifact_retention_days = 3;
  flags.idempotency_key_days = 1;
  flags.retention_batch_rows = 50;
  auto options = ToOptions(flags);
  ASSERT_TRUE(options.has_value());
  EXPECT_EQ(options->retention.job_age, RetentionOptions::Days(0));
  EXPECT_EQ(options->retention.artifact_age, RetentionOptions::Days(3));
  EXPECT_EQ(options->retention.idempotency_key_age, RetentionOptions::Days(1));
  EXPECT_EQ(options->retention.batch_rows, 50);
}

TEST(ServeConfigTest, RunLogCapFlagsAndKeysReachTheOptions) {
  auto defaults = ToOptions(ServeFlags{});
  ASSERT_TRUE(defaults.has_value());
  EXPECT_EQ(defaults->run_log_max_lines, 20'000);
  EXPECT_EQ(defaults->run_log_max_bytes, 8 << 20);

  // A key of the TOML file, and a flag that wins over the file.
  ::orb::testing::TempDir dir;
  ::orb::testing::WriteText(dir / "fleet-cmdr.toml",
                            "data-dir = \"/var/lib/fleet-cmdr\"\nrun-log-max-lines = 0\n"
                            "run-log-max-bytes = 4096\n");
  CLI::App app{"fleet-cmdr"};
  app.set_config("--config");
  ServeFlags flags;
  AddServeFlags(app, flags);
  const std::string config = (dir / "fleet-cmdr.toml").string();
  const char* argv[] = {"fleet-cmdr", "--config", config.c_str(), "--run-log-max-bytes", "1024"};
  app.parse(5, argv);
  auto options = ToOptions(flags);
  ASSERT_TRUE(options.has_value());
  EXPECT_EQ(options->run_log_max_lines, 0);  // no cap
  EXPECT_EQ(options->run_log_max_bytes, 1024);

  ServeFlags negative;
  CLI::App strict{"fleet-cmdr"};
  AddServeFlags(strict, negative);
  const char* bad[] = {"fleet-cmdr", "--data-dir", "/d", "--run-log-max-lines", "-1"};
  EXPECT_THROW(strict.parse(5, bad), CLI::ValidationError);
}

}  // namespace
}  // namespace orb::server
