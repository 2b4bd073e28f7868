#include "agent/retention_config.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/config.hpp"
#include "support/matchers.hpp"

namespace orb::agent {
namespace retention_config_test {  // named: the agent tests are built as one unity file

using testing::FailsWith;
using testing::IsOk;

constexpr const char* kRequired = R"(
server = "http://127.0.0.1:8080"
agentId = "host-1"
tokenFile = "/etc/orb/token"
root = "/srv/orb"
stateDir = "/var/lib/orb"
)";

Expected<CommandLine> ParseArgs(std::vector<std::string> args) {
  args.insert(args.begin(), "orb-jobs-agent");
  for (const char* required :
       {"--server=http://h:1", "--agent-id=a", "--token-file=/t", "--root=/r", "--state-dir=/s"}) {
    args.emplace_back(required);
  }
  std::vector<const char*> argv;
  for (const auto& arg : args)
    argv.push_back(arg.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), "1.2.3");
}

bool Names(const Error& error, const std::string& field) {
  for (const auto& problem : error.details) {
    if (problem.field == field) return true;
  }
  return false;
}

TEST(RetentionConfigTest, DefaultsAreDocumentedOnes) {
  const AgentConfig config;
  EXPECT_EQ(config.retention.run_log_days, 14);
  EXPECT_EQ(config.retention.artifact_cache_mib, 10240U);  // 10 GiB
  EXPECT_EQ(config.retention.interval_minutes, 60);
}

TEST(RetentionConfigTest, TheRetentionTableSetsItsKeys) {
  AgentConfig config;
  ASSERT_THAT(
      ApplyToml(std::string(kRequired) + "[retention]\nrunLogDays = 0\nartifactCacheMiB = 512\n"
                                         "intervalMinutes = 5\n",
                "agent.toml", config),
      IsOk());
  EXPECT_EQ(config.retention.run_log_days, 0);
  EXPECT_EQ(config.retention.artifact_cache_mib, 512U);
  EXPECT_EQ(config.retention.interval_minutes, 5);
  EXPECT_THAT(Validate(config), IsOk());
}

TEST(RetentionConfigTest, BadRetentionKeysAreNamedAndChangeNothing) {
  AgentConfig config;
  auto applied = ApplyToml(std::string(kRequired) +
                               "[retention]\nrunLogDays = -1\nartifactCacheMiB = \"10G\"\n"
                               "intervalMinutes = 0\nkeepForever = true\n",
                           "agent.toml", config);
  ASSERT_THAT(applied, FailsWith(Errc::kInvalidRequest));
  for (const char* field : {"retention.runLogDays", "retention.artifactCacheMiB",
                            "retention.intervalMinutes", "retention.keepForever"}) {
    EXPECT_TRUE(Names(applied.error(), field)) << field << ": " << applied.error().message;
  }
  EXPECT_EQ(config.retention.run_log_days, 14);
  auto not_a_table = ApplyToml(std::string("retention = 3\n"), "agent.toml", config);
  ASSERT_THAT(not_a_table, FailsWith(Errc::kInvalidRequest));
  EXPECT_TRUE(Names(not_a_table.error(), "retention"));
}

TEST(RetentionConfigTest, FlagsSetTheSameAndAreChecked) {
  auto parsed = ParseArgs(
      {"--run-log-days", "30", "--artifact-cache-mib=2048", "--retention-interval-minutes", "15"});
  ASSERT_THAT(parsed, IsOk());
  ASSERT_TRUE(parsed->config);
  EXPECT_EQ(parsed->config->retention.run_log_days, 30);
  EXPECT_EQ(parsed->config->retention.artifact_cache_mib, 2048U);
  EXPECT_EQ(parsed->config->retention.interval_minutes, 15);
  auto bad = ParseArgs(
      {"--run-log-days=x", "--artifact-cache-mib=-5", "--retention-interval-minutes=2000"});
  ASSERT_THAT(bad, FailsWith(Errc::kInvalidRequest));
  for (const char* flag :
       {"--run-log-days", "--artifact-cache-mib", "--retention-interval-minutes"}) {
    EXPECT_TRUE(Names(bad.error(), flag)) << flag;
  }
}

}  // namespace retention_config_test
}  // namespace orb::agent
