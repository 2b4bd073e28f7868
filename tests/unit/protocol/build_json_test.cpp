#include "protocol/build_json.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kBuildSha =
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
constexpr const char* kShaLower = kBuildSha;

std::string Artifact() {
  return std::string(R"({"url": "https://fleet.example.com/v1/artifacts/x", "sha256": ")") +
         kBuildSha + R"(", "size": 123})";
}

TEST(BuildJsonTest, InstallPayloadGetsItsDefaults) {
  auto payload = ParseInstallServerPayload(R"({"buildId": "b1", "artifact": )" + Artifact() + "}");
  ASSERT_THAT(payload, IsOk());
  EXPECT_EQ(payload->build_id, "b1");
  EXPECT_EQ(payload->artifact.url, "https://fleet.example.com/v1/artifacts/x");
  EXPECT_EQ(payload->artifact.sha256, kShaLower);
  EXPECT_EQ(payload->artifact.size, 123U);
  EXPECT_FALSE(payload->artifact.format.has_value());
  EXPECT_FALSE(payload->activate);
}

TEST(BuildJsonTest, UpdateRestartsByDefaultAndActivateDoesNot) {
  auto update = ParseUpdateServerPayload(R"({"buildId": "b2", "artifact": )" + Artifact() + "}");
  ASSERT_THAT(update, IsOk());
  EXPECT_TRUE(update->restart_instances);
  auto activate = ParseActivateBuildPayload(R"({"buildId": "b2"})");
  ASSERT_THAT(activate, IsOk());
  EXPECT_FALSE(activate->restart_instances);
  auto explicit_restart =
      ParseActivateBuildPayload(R"({"buildId": "b2", "restartInstances": true})");
  ASSERT_THAT(explicit_restart, IsOk());
  EXPECT_TRUE(explicit_restart->restart_instances);
}

TEST(BuildJsonTest, BadPayloadsAreInvalidPayloadWithTheField) {
  auto bad_id = ParseInstallServerPayload(R"({"buildId": "../x", "artifact": )" + Artifact() + "}");
  ASSERT_THAT(bad_id, FailsWith(Errc::kInvalidPayload));
  EXPECT_EQ(bad_id.error().details.at(0).field, "payload.buildId");
  EXPECT_THAT(ParseUpdateServerPayload(R"({"buildId": "b1"})"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(ParseActivateBuildPayload("[1]"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(ParseInstallServerPayload(R"({"buildId": "b1", "artifact": {"url": "/x", "sha256": ")"
                                        R"(ABC", "size": 1}})"),
              FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(
      ParseSyncModsPayload(R"({"mods": [{"name": "a", "url": "http://h/a", "sha256": ")" +
                           std::string(kBuildSha) + R"(", "size": 1, "path": "../a.jar"}]})"),
      FailsWith(Errc::kInvalidPayload));
}

TEST(BuildJsonTest, SyncModsPayloadDecodesModsAndPolicy) {
  auto payload = ParseSyncModsPayload(
      R"({"mods": [{"name": "we", "url": "http://h/we.jar", "sha256": ")" + std::string(kBuildSha) +
      R"(", "size": 7, "path": "plugins/we.jar"}], "removeUnlisted": true, "restart": "ifRunning"})");
  ASSERT_THAT(payload, IsOk());
  ASSERT_EQ(payload->mods.size(), 1U);
  EXPECT_EQ(payload->mods[0], (ModRef{"we", "http://h/we.jar", kShaLower, 7, "plugins/we.jar"}));
  EXPECT_TRUE(payload->remove_unlisted);
  EXPECT_EQ(payload->restart, ModsRestart::kIfRunning);
  auto defaults = ParseSyncModsPayload(R"({"mods": []})");
  ASSERT_THAT(defaults, IsOk());
  EXPECT_FALSE(defaults->remove_unlisted);
  EXPECT_EQ(defaults->restart, ModsRestart::kNever);
}

TEST(BuildJsonTest, BuildRecordRoundTrips) {
  BuildRecord record{"b1", kShaLower, 12, 3456, FromUnixMillis(1795000000123), "job-1"};
  const std::string text = BuildRecordJson(record);
  EXPECT_THAT(text, HasSubstr(R"("committedAt":"2026-11-18T)"));
  auto parsed = ParseBuildRecord(text);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, record);
  EXPECT_THAT(ParseBuildRecord(R"({"buildId": "b1"})"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ParseBuildRecord("{not json"), FailsWith(Errc::kInvalidJson));
}

TEST(BuildJsonTest, ActivationLineIsOneLineAndRoundTrips) {
  Activation first{FromUnixMillis(1795000000000), "b1", std::nullopt, "j", "r", "INSTALL_SERVER"};
  Activation second{FromUnixMillis(1795000001000), "b2", "b1", "j2", "r2", "rollback"};
  for (const auto& activation : {first, second}) {
    const std::string line = ActivationLine(activation);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto parsed = ParseActivationLine(line);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, activation);
  }
  EXPECT_THAT(ParseActivationLine(R"({"at": "2026-11-18T00:00:00Z", "buil)"),
              FailsWith(Errc::kInvalidJson));
}

TEST(BuildJsonTest, ModsLockRoundTripsWithTheFilesEachModOwns) {
  ModsLock lock;
  lock.set_hash = "abc";
  lock.mods = {LockedMod{"a", kShaLower, 1, "plugins/a.jar", {"plugins/a.jar"}},
               LockedMod{"b", kShaLower, 2, "b.jar", {"b.jar", "b/config.yml"}}};
  lock.updated_at = FromUnixMillis(1795000000000);
  lock.job_id = "job-9";
  auto parsed = ParseModsLock(ModsLockJson(lock));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, lock);
  EXPECT_THAT(ParseModsLock(R"({"setHash": "x", "mods": [{"name": "a"}]})"),
              FailsWith(Errc::kInvalidRequest));
}

TEST(BuildJsonTest, ModSetHashIgnoresOrderButSeesEveryField) {
  const ModRef a{"a", "http://h/a", kShaLower, 1, "a.jar"};
  const ModRef b{"b", "http://h/b", kShaLower, 2, "b.jar"};
  EXPECT_EQ(ModSetHash({a, b}), ModSetHash({b, a}));
  ModRef moved = b;
  moved.path = "plugins/b.jar";
  EXPECT_NE(ModSetHash({a, b}), ModSetHash({a, moved}));
  ModRef resized = b;
  resized.size = 3;
  EXPECT_NE(ModSetHash({a, b}), ModSetHash({a, resized}));
  ModRef other_url = b;
  other_url.url = "http://mirror/b";  // where it comes from is not what is installed
  EXPECT_EQ(ModSetHash({a, b}), ModSetHash({a, other_url}));
  EXPECT_NE(ModSetHash({}), ModSetHash({a}));
}

TEST(BuildJsonTest, RestartPlanRoundTrips) {
  RestartPlan plan{"b2", "job-1", {"i1", "i2"}};
  auto parsed = ParseRestartPlan(RestartPlanJson(plan));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, plan);
}

TEST(BuildJsonTest, ResultsWriteTheSpecKeysAndFlagsOnlyWhenSet) {
  EXPECT_EQ(InstallServerResultJson({"s1", "b1", 3, 40, true, false}),
            R"({"serverId":"s1","buildId":"b1","files":3,"bytes":40,"activated":true})");
  EXPECT_THAT(InstallServerResultJson({"s1", "b1", 3, 40, false, true}),
              HasSubstr(R"("alreadyInstalled":true)"));
  UpdateServerResult update{"s1", "b2", "b1", {"i1"}, false, false};
  EXPECT_EQ(UpdateServerResultJson(update),
            R"({"serverId":"s1","buildId":"b2","previousBuildId":"b1","restarted":["i1"]})");
  ActivateBuildResult activate{"s1", "b1", std::nullopt, {}, false, true};
  EXPECT_EQ(ActivateBuildResultJson(activate),
            R"({"serverId":"s1","buildId":"b1","previousBuildId":null,"alreadyActive":true})");
  SyncModsResult mods{{"a"}, {}, {"c"}, {"b"}, false, false};
  EXPECT_EQ(SyncModsResultJson(mods),
            R"({"added":["a"],"updated":[],"removed":["c"],"unchanged":["b"]})");
  mods.already_synced = true;
  EXPECT_THAT(SyncModsResultJson(mods), HasSubstr(R"("alreadySynced":true)"));
}

}  // namespace
}  // namespace orb::protocol
