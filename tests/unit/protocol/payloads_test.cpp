#include "protocol/payloads/payloads.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/job_types.hpp"
#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr std::string_view kSha =
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

// The fields of every problem of a rejected payload (empty if it was accepted).
std::vector<std::string> ProblemFields(std::string_view type, const std::string& payload) {
  const Status status = ValidatePayload(type, payload);
  std::vector<std::string> fields;
  if (!status) {
    for (const auto& problem : status.error().details)
      fields.push_back(problem.field);
  }
  return fields;
}

struct Case {
  std::string payload;
  std::vector<std::string> fields;  // exactly the expected detail fields, in order
};

void ExpectCases(std::string_view type, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(type) + " " + c.payload);
    const Status status = ValidatePayload(type, c.payload);
    if (c.fields.empty()) {
      EXPECT_THAT(status, IsOk());
      continue;
    }
    ASSERT_THAT(status, FailsWith(Errc::kInvalidPayload));
    EXPECT_THAT(ProblemFields(type, c.payload), ElementsAreArray(c.fields));
  }
}

std::string Artifact(std::string_view url, std::string_view sha = kSha,
                     std::string_view extra = R"(, "size": 10, "format": "tar.gz")") {
  return R"({"url": ")" + std::string(url) + R"(", "sha256": ")" + std::string(sha) + "\"" +
         std::string(extra) + "}";
}

std::string Install(const std::string& artifact, std::string_view rest = "") {
  return R"({"buildId": "b1", "artifact": )" + artifact + std::string(rest) + "}";
}

TEST(PayloadsTest, EveryTypeAcceptsTheExampleOfJobTypesMd) {
  for (const auto& info : AllJobTypes()) {
    SCOPED_TRACE(info.name);
    EXPECT_THAT(ValidatePayload(info.name, info.example_payload), IsOk());
  }
}

TEST(PayloadsTest, UnknownTypeIsUnknownJobType) {
  const Status status = ValidatePayload("REBOOT_HOST", "{}");
  ASSERT_THAT(status, FailsWith(Errc::kUnknownJobType));
  ASSERT_EQ(status.error().details.size(), 1u);
  EXPECT_EQ(status.error().details[0].field, "type");
  EXPECT_THAT(status.error().message, HasSubstr("REBOOT_HOST"));
}

TEST(PayloadsTest, MessageNamesTheFirstProblemAndCountsTheOthers) {
  const Status one = ValidatePayload("PRUNE_BACKUPS", R"({"keepLast": -1})");
  ASSERT_THAT(one, FailsWith(Errc::kInvalidPayload));
  EXPECT_EQ(one.error().message, "payload.keepLast: must be an integer between 0 and 1000000");
  ASSERT_EQ(one.error().details.size(), 1u);
  EXPECT_EQ(one.error().details[0].problem, "must be an integer between 0 and 1000000");

  const Status three = ValidatePayload("VERIFY_BACKUP", R"({"level": "deep", "x": 1})");
  ASSERT_THAT(three, FailsWith(Errc::kInvalidPayload));
  EXPECT_EQ(three.error().message, "payload.backupId: is required (and 2 more problems)");
}

TEST(PayloadsTest, InstallServerAcceptsEveryUrlSchemeAndOptionalField) {
  ExpectCases("INSTALL_SERVER",
              {
                  {Install(Artifact("https://dl.example.com/a.tar.gz")), {}},
                  {Install(Artifact("http://10.0.0.1:8080/v1/artifacts/x?y=1")), {}},
                  {Install(Artifact("file:///srv/artifacts/a.tar")), {}},
                  {Install(Artifact("file://localhost/srv/a.tar")), {}},
                  {Install(Artifact("https://h/a", kSha, R"(, "size": 1)")), {}},
                  {Install(Artifact("https://h/a"), R"(, "activate": true)"), {}},
              });
}

TEST(PayloadsTest, InstallServerRejectsEachBrokenRuleWithItsFieldPath) {
  ExpectCases(
      "INSTALL_SERVER",
      {
          {R"({"artifact": )" + Artifact("https://h/a") + "}", {"payload.buildId"}},
          {R"({"buildId": "../x", "artifact": )" + Artifact("https://h/a") + "}",
           {"payload.buildId"}},
          {R"({"buildId": ".hidden", "artifact": )" + Artifact("https://h/a") + "}",
           {"payload.buildId"}},
          {R"({"buildId": "b1"})", {"payload.artifact"}},
          {R"({"buildId": "b1", "artifact": "https://h/a"})", {"payload.artifact"}},
          {Install(Artifact("ftp://h/a")), {"payload.artifact.url"}},
          {Install(Artifact("https://user:pw@h/a")), {"payload.artifact.url"}},
          {Install(Artifact("https://token@h/a")), {"payload.artifact.url"}},
          {Install(Artifact("dl/a.tar.gz")), {"payload.artifact.url"}},
          {Install(Artifact("https:///a")), {"payload.artifact.url"}},
          {Install(Artifact("file://otherhost/a")), {"payload.artifact.url"}},
          {Install(Artifact("https://h/a b")), {"payload.artifact.url"}},
          {Install(Artifact("https://h/" + std::string(5000, 'a'))), {"payload.artifact.url"}},
          {Install(Artifact("https://h/a",
                            "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15"
                            "B0F00A08")),
           {"payload.artifact.sha256"}},
          {Install(Artifact("https://h/a", "abc")), {"payload.artifact.sha256"}},
          {Install(Artifact("https://h/a", kSha, R"(, "size": 0)")), {"payload.artifact.size"}},
          {Install(Artifact("https://h/a", kSha, R"(, "size": "10")")), {"payload.artifact.size"}},
          {Install(Artifact("https://h/a", kSha, R"(, "size": 10.5)")), {"payload.artifact.size"}},
          {Install(Artifact("https://h/a", kSha, "")), {"payload.artifact.size"}},
          {Install(Artifact("https://h/a", kSha, R"(, "size": 1, "format": "rar")")),
           {"payload.artifact.format"}},
          {Install(Artifact("https://h/a", kSha, R"(, "size": 1, "md5": "x")")),
           {"payload.artifact.md5"}},
          {Install(Artifact("https://h/a"), R"(, "activate": "yes")"), {"payload.activate"}},
          {Install(Artifact("https://h/a"), R"(, "restartInstances": true)"),
           {"payload.restartInstances"}},
      });
}

TEST(PayloadsTest, EveryProblemOfOnePayloadIsListed) {
  EXPECT_THAT(ProblemFields("INSTALL_SERVER",
                            R"({"buildId": "", "artifact": {"url": "ftp://x", "sha256": "abc"},
                                "extra": 1, "other": 2})"),
              ElementsAre("payload.buildId", "payload.artifact.url", "payload.artifact.sha256",
                          "payload.artifact.size", "payload.extra", "payload.other"));
}

TEST(PayloadsTest, UpdateServerAndActivateBuildFollowTheirSchemas) {
  ExpectCases("UPDATE_SERVER",
              {
                  {Install(Artifact("https://h/a")), {}},
                  {Install(Artifact("https://h/a"), R"(, "restartInstances": false)"), {}},
                  {Install(Artifact("https://h/a"), R"(, "restartInstances": 1)"),
                   {"payload.restartInstances"}},
                  {Install(Artifact("https://h/a"), R"(, "activate": true)"), {"payload.activate"}},
                  {R"({"buildId": "b1"})", {"payload.artifact"}},
              });
  ExpectCases("ACTIVATE_BUILD", {
                                    {R"({"buildId": "b1"})", {}},
                                    {R"({"buildId": "b1", "restartInstances": true})", {}},
                                    {R"({})", {"payload.buildId"}},
                                    {R"({"buildId": "a/b"})", {"payload.buildId"}},
                                    {R"({"buildId": 7})", {"payload.buildId"}},
                                    {R"({"buildId": "b1", "artifact": {}})", {"payload.artifact"}},
                                });
}

std::string Config(std::string_view fields) {
  return R"({"config": {"serverId": "paper", "command": ["bin/start.sh"])" + std::string(fields) +
         "}}";
}

TEST(PayloadsTest, StartInstanceAcceptsAMinimalConfigAndNoConfig) {
  ExpectCases("START_INSTANCE", {
                                    {"{}", {}},
                                    {Config(""), {}},
                                    {Config(R"(, "env": {})"), {}},
                                    {Config(R"(, "env": {"_X1": ""})"), {}},
                                    {Config(R"(, "readyPattern": "^Done \\([0-9.]+s\\)!$")"), {}},
                                    {Config(R"(, "stopSignal": "SIGUSR2")"), {}},
                                    {Config(R"(, "stopTimeoutSeconds": 3600)"), {}},
                                });
}

TEST(PayloadsTest, StartInstanceRejectsEachBrokenConfigRuleWithItsFieldPath) {
  ExpectCases(
      "START_INSTANCE",
      {
          {R"({"config": null})", {"payload.config"}},
          {R"({"config": {"command": ["bin/x"]}})", {"payload.config.serverId"}},
          {R"({"config": {"serverId": "paper"}})", {"payload.config.command"}},
          {R"({"config": {"serverId": "paper", "command": []}})", {"payload.config.command"}},
          {R"({"config": {"serverId": "paper", "command": "bin/x"}})", {"payload.config.command"}},
          {R"({"config": {"serverId": "paper", "command": ["/bin/sh"]}})",
           {"payload.config.command[0]"}},
          {R"({"config": {"serverId": "paper", "command": ["../bin/sh"]}})",
           {"payload.config.command[0]"}},
          {R"({"config": {"serverId": "paper", "command": ["bin/x", 5, ""]}})",
           {"payload.config.command[1]", "payload.config.command[2]"}},
          {Config(R"(, "env": {"1X": "a", "A": 5, "ORB_RUN_ID": "x"})"),
           {"payload.config.env.A", "payload.config.env.1X", "payload.config.env.ORB_RUN_ID"}},
          {Config(R"(, "env": ["A=1"])"), {"payload.config.env"}},
          {Config(R"(, "stopSignal": "SIGSEGV")"), {"payload.config.stopSignal"}},
          {Config(R"(, "stopTimeoutSeconds": 0)"), {"payload.config.stopTimeoutSeconds"}},
          {Config(R"(, "stopTimeoutSeconds": 3601)"), {"payload.config.stopTimeoutSeconds"}},
          {Config(R"(, "readyTimeoutSeconds": -5)"), {"payload.config.readyTimeoutSeconds"}},
          {Config(R"(, "readyPattern": "Done (")"), {"payload.config.readyPattern"}},
          {Config(R"(, "readyPattern": "[z-a]")"), {"payload.config.readyPattern"}},
          {Config(R"(, "readyPattern": "")"), {"payload.config.readyPattern"}},
          {Config(R"(, "stopCommand": "stop\nrm -rf /")"), {"payload.config.stopCommand"}},
          {Config(R"(, "user": "root")"), {"payload.config.user"}},
          {R"({"timeoutSeconds": 30})", {"payload.timeoutSeconds"}},
      });
}

TEST(PayloadsTest, HostileReadyPatternsAreAnsweredWithoutCrashing) {
  const std::string nested = std::string(512, '(') + std::string(512, ')');
  EXPECT_THAT(ValidatePayload("START_INSTANCE", Config(R"(, "readyPattern": ")" + nested + "\"")),
              IsOk());
  EXPECT_THAT(ProblemFields("START_INSTANCE", Config(R"(, "readyPattern": "(a{1000}){1000}")")),
              ElementsAre("payload.config.readyPattern"));
  EXPECT_THAT(ProblemFields("START_INSTANCE",
                            Config(R"(, "readyPattern": ")" + std::string(1025, 'a') + "\"")),
              ElementsAre("payload.config.readyPattern"));
}

TEST(PayloadsTest, AReadyPatternWithAnOverlongNumberIsRefusedBeforeTheRegexCompilerReadsIt) {
  // libstdc++ 12 reads a back reference's or a repeat count's digits into a long without a bound
  // (signed overflow, undefined behaviour; found by tests/fuzz/create_job_fuzz.cpp).
  for (const std::string pattern : {R"(a\\6666666666666666666666)", R"(a{99999999999})",
                                    R"(a{1,99999999999})", R"([\\12345678901])"}) {
    const Status status =
        ValidatePayload("START_INSTANCE", Config(R"(, "readyPattern": ")" + pattern + "\""));
    ASSERT_FALSE(status) << pattern;
    ASSERT_EQ(status.error().details.size(), 1U) << pattern;
    EXPECT_EQ(status.error().details[0].field, "payload.config.readyPattern");
    EXPECT_THAT(status.error().details[0].problem, HasSubstr("more than 9 digits")) << pattern;
  }
  // Nine digits are read safely, and an escaped digit run is no back reference.
  EXPECT_THAT(ValidatePayload("START_INSTANCE",
                              Config(R"(, "readyPattern": "a{000000002}|\\\\12345678901")")),
              IsOk());
}

TEST(PayloadsTest, StopAndRestartTakeAnOptionalBoundedTimeout) {
  for (const std::string_view type : {"STOP_INSTANCE", "RESTART_INSTANCE"}) {
    ExpectCases(type, {
                          {"{}", {}},
                          {R"({"timeoutSeconds": 1})", {}},
                          {R"({"timeoutSeconds": 3600})", {}},
                          {R"({"timeoutSeconds": 0})", {"payload.timeoutSeconds"}},
                          {R"({"timeoutSeconds": 3601})", {"payload.timeoutSeconds"}},
                          {R"({"timeoutSeconds": 30.5})", {"payload.timeoutSeconds"}},
                          {R"({"timeoutSeconds": "30"})", {"payload.timeoutSeconds"}},
                          {R"({"timeoutSeconds": null})", {"payload.timeoutSeconds"}},
                          {R"({"force": true})", {"payload.force"}},
                      });
  }
}

TEST(PayloadsTest, BackupVerifyAndRestoreCheckIdsAndEnums) {
  ExpectCases("BACKUP_INSTANCE", {
                                     {"{}", {}},
                                     {R"({"mode": "stopped"})", {}},
                                     {R"({"backupId": "b-2026.11_22"})", {}},
                                     {R"({"mode": "hot"})", {"payload.mode"}},
                                     {R"({"backupId": "a/b"})", {"payload.backupId"}},
                                     {R"({"backupId": ""})", {"payload.backupId"}},
                                 });
  ExpectCases("VERIFY_BACKUP",
              {
                  {R"({"backupId": "b1"})", {}},
                  {R"({"backupId": "b1", "level": "quick"})", {}},
                  {"{}", {"payload.backupId"}},
                  {R"({"backupId": "b1", "level": "deep"})", {"payload.level"}},
                  {R"({"backupId": "..", "level": "FULL"})", {"payload.backupId", "payload.level"}},
              });
  ExpectCases("RESTORE_BACKUP",
              {
                  {R"({"backupId": "b1"})", {}},
                  {R"({"backupId": "b1", "startAfter": null})", {}},
                  {R"({"backupId": "b1", "startAfter": true})", {}},
                  {R"({"backupId": "b1", "startAfter": false})", {}},
                  {R"({"backupId": "b1", "startAfter": "yes"})", {"payload.startAfter"}},
                  {R"({"startAfter": true})", {"payload.backupId"}},
              });
}

TEST(PayloadsTest, PruneBackupsRefusesAPolicyThatKeepsNothing) {
  ExpectCases("PRUNE_BACKUPS",
              {
                  {R"({"keepLast": 1})", {}},
                  {R"({"keepYearly": 1, "dryRun": true})", {}},
                  {"{}", {"payload"}},
                  {R"({"keepLast": 0, "keepHourly": 0, "keepDaily": 0, "keepWeekly": 0,
               "keepMonthly": 0, "keepYearly": 0, "dryRun": false})",
                   {"payload"}},
                  {R"({"dryRun": true})", {"payload"}},
                  {R"({"keepLast": -1})", {"payload.keepLast"}},
                  {R"({"keepLast": 1, "keepDaily": 1.5})", {"payload.keepDaily"}},
                  {R"({"keepLast": 1, "keepWeekly": 1000001})", {"payload.keepWeekly"}},
                  {R"({"keepLast": 1, "dryRun": "no"})", {"payload.dryRun"}},
                  {R"({"keepLast": 1, "keepForever": true})", {"payload.keepForever"}},
              });
  const Status status = ValidatePayload("PRUNE_BACKUPS", "{}");
  ASSERT_THAT(status, FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(status.error().message, HasSubstr("never deletes everything"));
}

std::string Mod(std::string_view name, std::string_view path) {
  return R"({"name": ")" + std::string(name) + R"(", "url": "https://h/)" + std::string(name) +
         R"(.jar", "sha256": ")" + std::string(kSha) + R"(", "size": 12, "path": ")" +
         std::string(path) + R"("})";
}

std::string Mods(const std::vector<std::string>& mods, std::string_view rest = "") {
  std::string out = R"({"mods": [)";
  for (std::size_t i = 0; i < mods.size(); ++i)
    out += (i > 0 ? ", " : "") + mods[i];
  return out + "]" + std::string(rest) + "}";
}

TEST(PayloadsTest, SyncModsAcceptsDistinctModsAndAnEmptySet) {
  ExpectCases("SYNC_MODS", {
                               {Mods({}), {}},
                               {Mods({}, R"(, "removeUnlisted": true)"), {}},
                               {Mods({Mod("a", "plugins/a.jar"), Mod("b", "plugins/b.jar")}), {}},
                               {Mods({Mod("a", "plugins/a"), Mod("b", "plugins/ab")}), {}},
                               {Mods({Mod("a", "a.jar")}, R"(, "restart": "never")"), {}},
                           });
}

TEST(PayloadsTest, SyncModsRejectsUnsafePathsAndDuplicates) {
  ExpectCases(
      "SYNC_MODS",
      {
          {"{}", {"payload.mods"}},
          {R"({"mods": {}})", {"payload.mods"}},
          {R"({"mods": [1]})", {"payload.mods[0]"}},
          {Mods({Mod("a", "/etc/passwd")}), {"payload.mods[0].path"}},
          {Mods({Mod("a", "plugins/../../x")}), {"payload.mods[0].path"}},
          {Mods({Mod("a", "plugins//a.jar")}), {"payload.mods[0].path"}},
          {Mods({Mod("a", "plugins/")}), {"payload.mods[0].path"}},
          {Mods({Mod("a", "./a.jar")}), {"payload.mods[0].path"}},
          {Mods({Mod("a", ".restore/a.jar")}), {"payload.mods[0].path"}},
          {Mods({Mod("a", "a\\\\b.jar")}), {"payload.mods[0].path"}},
          {Mods({Mod("a", "a\\u0000b.jar")}), {"payload.mods[0].path"}},
          {Mods({Mod("a", "")}), {"payload.mods[0].path"}},
          {Mods({Mod("a", "x/" + std::string(300, 'a'))}), {"payload.mods[0].path"}},
          {Mods({Mod("a", "a.jar"), Mod("a", "b.jar")}), {"payload.mods[1].name"}},
          {Mods({Mod("a", "a.jar"), Mod("b", "c.jar"), Mod("c", "a.jar")}),
           {"payload.mods[2].path"}},
          {Mods({Mod("a", "plugins/a"), Mod("b", "plugins/a/b.jar")}), {"payload.mods[1].path"}},
          {Mods({Mod("a/b", "a.jar")}), {"payload.mods[0].name"}},
          {Mods({R"({"name": "a", "path": "a.jar", "extra": 1})"}),
           {"payload.mods[0].url", "payload.mods[0].sha256", "payload.mods[0].size",
            "payload.mods[0].extra"}},
          {Mods({Mod("a", "a.jar")}, R"(, "restart": "always")"), {"payload.restart"}},
          {Mods({Mod("a", "a.jar")}, R"(, "removeUnlisted": "true")"), {"payload.removeUnlisted"}},
      });
}

TEST(PayloadsTest, SyncModsRefusesMoreThanAThousandMods) {
  std::vector<std::string> mods;
  for (int i = 0; i < 1001; ++i)
    mods.push_back(Mod("m" + std::to_string(i), "m.jar"));
  EXPECT_THAT(ProblemFields("SYNC_MODS", Mods(mods)), ElementsAre("payload.mods"));
}

TEST(PayloadsTest, TextThatIsNotAJsonObjectIsAnInvalidPayloadNotACrash) {
  const std::vector<std::string> texts = {
      "",
      "{",
      "}",
      "[]",
      "null",
      "\"x\"",
      "42",
      "{\"a\": }",
      "{} {}",
      "{'a': 1}",
      "\xff\xfe",
      R"({"backupId": "b\xff"})",
      std::string(100000, '['),
      std::string(100000, '[') + std::string(100000, ']'),
  };
  for (const auto& info : AllJobTypes()) {
    for (const auto& text : texts) {
      SCOPED_TRACE(std::string(info.name) + " " + text.substr(0, 20));
      const Status status = ValidatePayload(info.name, text);
      ASSERT_THAT(status, FailsWith(Errc::kInvalidPayload));
      EXPECT_THAT(ProblemFields(info.name, text), ElementsAre("payload"));
    }
  }
}

TEST(PayloadsTest, HugeAndOddNumbersAreFieldProblemsNotCrashes) {
  for (const std::string number :
       {"99999999999999999999999", "18446744073709551615", "9223372036854775808",
        "-9223372036854775809", "1e400", "-1e400", "1e308", "1.0", "-0", "1E2", "0.0000001"}) {
    SCOPED_TRACE(number);
    const Status status = ValidatePayload("PRUNE_BACKUPS", R"({"keepLast": )" + number + "}");
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code, Errc::kInvalidPayload);
  }
}

TEST(PayloadsTest, DeeplyNestedUnknownFieldsAreRejectedWithoutBeingWalked) {
  std::string deep = R"({"backupId": "b1", "x": )";
  deep += std::string(15, '[') + std::string(15, ']') + "}";
  EXPECT_THAT(ProblemFields("VERIFY_BACKUP", deep), ElementsAre("payload.x"));
}

boost::json::value Parsed(const Expected<std::string>& text) {
  EXPECT_TRUE(text.has_value());
  return text ? boost::json::parse(*text) : boost::json::value();
}

TEST(PayloadsTest, NormalizeFillsTheDocumentedConstantDefaults) {
  EXPECT_EQ(Parsed(NormalizePayload("VERIFY_BACKUP", R"({"backupId": "b1"})")),
            boost::json::parse(R"({"backupId": "b1", "level": "full"})"));
  EXPECT_EQ(Parsed(NormalizePayload("BACKUP_INSTANCE", "{}")),
            boost::json::parse(R"({"mode": "live"})"));
  EXPECT_EQ(Parsed(NormalizePayload("RESTORE_BACKUP", R"({"backupId": "b1"})")),
            boost::json::parse(R"({"backupId": "b1", "startAfter": null})"));
  EXPECT_EQ(Parsed(NormalizePayload("PRUNE_BACKUPS", R"({"keepLast": 3})")),
            boost::json::parse(R"({"keepLast": 3, "keepHourly": 0, "keepDaily": 0,
                                   "keepWeekly": 0, "keepMonthly": 0, "keepYearly": 0,
                                   "dryRun": false})"));
  EXPECT_EQ(Parsed(NormalizePayload("ACTIVATE_BUILD", R"({"buildId": "b1"})")),
            boost::json::parse(R"({"buildId": "b1", "restartInstances": false})"));
  EXPECT_EQ(Parsed(NormalizePayload("SYNC_MODS", Mods({Mod("a", "a.jar")}))),
            boost::json::parse(
                Mods({Mod("a", "a.jar")}, R"(, "removeUnlisted": false, "restart": "never")")));
}

TEST(PayloadsTest, NormalizeLeavesDefaultsThatAreNotConstantsAbsent) {
  EXPECT_EQ(Parsed(NormalizePayload("STOP_INSTANCE", "{}")), boost::json::parse("{}"));
  EXPECT_EQ(Parsed(NormalizePayload("START_INSTANCE", "{}")), boost::json::parse("{}"));
  EXPECT_EQ(Parsed(NormalizePayload("START_INSTANCE", Config(""))),
            boost::json::parse(Config(R"(, "stopSignal": "SIGTERM", "stopTimeoutSeconds": 30,
                                         "readyTimeoutSeconds": 120)")));
}

TEST(PayloadsTest, NormalizeKeepsGivenValuesAndRefusesInvalidPayloads) {
  EXPECT_EQ(Parsed(NormalizePayload("VERIFY_BACKUP", R"({"backupId": "b1", "level": "quick"})")),
            boost::json::parse(R"({"backupId": "b1", "level": "quick"})"));
  EXPECT_THAT(NormalizePayload("VERIFY_BACKUP", "{}"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(NormalizePayload("NOPE", "{}"), FailsWith(Errc::kUnknownJobType));
}

TEST(PayloadsTest, NormalizedPayloadsOfEveryTypeStillValidate) {
  const std::vector<std::pair<std::string_view, std::string>> minimal = {
      {"INSTALL_SERVER", Install(Artifact("https://h/a"))},
      {"UPDATE_SERVER", Install(Artifact("https://h/a"))},
      {"ACTIVATE_BUILD", R"({"buildId": "b1"})"},
      {"START_INSTANCE", Config("")},
      {"STOP_INSTANCE", "{}"},
      {"RESTART_INSTANCE", "{}"},
      {"BACKUP_INSTANCE", "{}"},
      {"VERIFY_BACKUP", R"({"backupId": "b1"})"},
      {"RESTORE_BACKUP", R"({"backupId": "b1"})"},
      {"PRUNE_BACKUPS", R"({"keepDaily": 7})"},
      {"SYNC_MODS", Mods({Mod("a", "a.jar")})},
  };
  ASSERT_EQ(minimal.size(), AllJobTypes().size());
  for (const auto& [type, payload] : minimal) {
    SCOPED_TRACE(type);
    const auto normalized = NormalizePayload(type, payload);
    ASSERT_THAT(normalized, IsOk());
    EXPECT_THAT(ValidatePayload(type, *normalized), IsOk());
    EXPECT_EQ(NormalizePayload(type, *normalized).value_or(""), *normalized);  // idempotent
  }
}

TEST(PayloadsTest, RelativePathRulesAreTheDocumentedOnes) {
  EXPECT_EQ(RelativePathProblem("plugins/worldedit.jar"), std::nullopt);
  EXPECT_EQ(RelativePathProblem("a"), std::nullopt);
  EXPECT_EQ(RelativePathProblem("a.b/c..d/e-f_g"), std::nullopt);
  for (const std::string_view bad : std::initializer_list<std::string_view>{
           "", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", ".git", "a/.hidden", "a\\b",
           std::string_view("a\0b", 3), "a\nb"}) {
    EXPECT_NE(RelativePathProblem(bad), std::nullopt) << bad;
  }
  EXPECT_NE(RelativePathProblem(std::string(1025, 'a')), std::nullopt);
}

TEST(PayloadsTest, UrlRulesAreTheDocumentedOnes) {
  EXPECT_EQ(UrlProblem("https://fleet.example.com:8443/v1/artifacts/abc"), std::nullopt);
  EXPECT_EQ(UrlProblem("HTTP://example.com/a"), std::nullopt);
  EXPECT_EQ(UrlProblem("file:///tmp/a.tar"), std::nullopt);
  for (const std::string_view bad :
       {"", "example.com/a", "/tmp/a", "ftp://h/a", "s3://b/k", "https://u:p@h/a", "https://u@h/a",
        "file://h/tmp/a", "file:tmp/a", "http://", "https://h/a b", "javascript:alert(1)"}) {
    EXPECT_NE(UrlProblem(bad), std::nullopt) << bad;
  }
  EXPECT_THAT(UrlProblem("https://u:p@h/a").value_or(""), HasSubstr("credentials"));
  // fleet-cmdr's own artifact path, as PUT /v1/artifacts returns it; nothing else relative.
  EXPECT_EQ(UrlProblem("/v1/artifacts/" + std::string(kSha)), std::nullopt);
  for (const std::string& bad :
       {std::string("/v1/artifacts/abc"), std::string("/v1/artifacts/"),
        "/v1/artifacts/" + std::string(kSha) + "/x", "/v1/jobs/" + std::string(kSha)}) {
    EXPECT_NE(UrlProblem(bad), std::nullopt) << bad;
  }
}

TEST(PayloadsTest, Sha256IsExactlySixtyFourLowerCaseHexDigits) {
  EXPECT_TRUE(IsSha256Hex(kSha));
  EXPECT_FALSE(IsSha256Hex(kSha.substr(1)));
  EXPECT_FALSE(IsSha256Hex(std::string(kSha) + "0"));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + "g"));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + "A"));
}

}  // namespace
}  // namespace orb::protocol
