#include "protocol/backup_json.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::testing::HasSubstr;

const std::string kSha(64, 'a');

BackupManifestRecord SampleManifest() {
  BackupManifestRecord m;
  m.backup_id = "mc-1-2026-11-22";
  m.instance_id = "mc-1";
  m.created_at = *ParseTimestamp("2026-11-22T10:00:00.123Z");
  m.job_id = "job-1";
  m.archive_sha256 = kSha;
  m.archive_bytes = 1234;
  m.bytes = 10;
  m.files.push_back({"world", BackupEntryType::kDirectory, 0, 0755, 1795000000, "", ""});
  m.files.push_back({"world/level.dat", BackupEntryType::kFile, 10, 0644, 1795000001, kSha, ""});
  m.files.push_back({"latest", BackupEntryType::kSymlink, 0, 0777, 1795000002, "", "world"});
  m.changed_during_backup = {"world/level.dat"};
  m.skipped = {"server.sock"};
  return m;
}

TEST(BackupJsonTest, ManifestRoundTripsWithEveryField) {
  const auto manifest = SampleManifest();
  const std::string text = BackupManifestJson(manifest);
  EXPECT_THAT(text, HasSubstr(R"("createdAt":"2026-11-22T10:00:00.123Z")"));
  EXPECT_THAT(text, HasSubstr(R"("changedDuringBackup":["world/level.dat"])"));
  EXPECT_THAT(text, HasSubstr(R"("linkTarget":"world")"));
  auto parsed = ParseBackupManifest(text);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, manifest);
}

// File names are bytes: one that is not UTF-8 (here Latin-1 "Zürich" and a lone 0xFF) must come
// back exactly, or the backup holding it could never be verified or restored.
TEST(BackupJsonTest, NamesThatAreNotUtf8RoundTripAsHex) {
  auto manifest = SampleManifest();
  manifest.files.push_back(
      {"world/Z\xfcrich.dat", BackupEntryType::kFile, 1, 0644, 1795000003, kSha, ""});
  manifest.files.push_back(
      {"l\xff", BackupEntryType::kSymlink, 0, 0777, 1795000004, "", "t\xff/x"});
  const std::string text = BackupManifestJson(manifest);
  EXPECT_THAT(text, HasSubstr(R"("pathHex":"776f726c642f5afc726963682e646174")"));
  EXPECT_THAT(text, HasSubstr(R"("pathHex":"6cff","type":"symlink")"));
  EXPECT_THAT(text, HasSubstr(R"("linkTargetHex":"74ff2f78")"));
  EXPECT_THAT(text, HasSubstr(R"("path":"world/level.dat")"));  // UTF-8 names stay readable
  auto parsed = ParseBackupManifest(text);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, manifest);
}

TEST(BackupJsonTest, ManifestFileWithoutTypeIsAFile) {
  auto parsed = ParseBackupManifest(
      R"({"backupId":"b1","instanceId":"i1","createdAt":"2026-11-22T10:00:00Z",)"
      R"("archiveSha256":")" +
      kSha +
      R"(","archiveBytes":5,)"
      R"("files":[{"path":"a.txt","size":3,"sha256":")" +
      kSha + R"(","mode":420,"mtime":1}]})");
  ASSERT_THAT(parsed, IsOk());
  ASSERT_EQ(parsed->files.size(), 1u);
  EXPECT_EQ(parsed->files[0].type, BackupEntryType::kFile);
  EXPECT_EQ(parsed->files[0].mode, 0644u);
}

TEST(BackupJsonTest, DamagedManifestsAreBackupCorruptWithTheField) {
  const auto with_file = [](const std::string& file) {
    return R"({"backupId":"b1","instanceId":"i1","createdAt":"2026-11-22T10:00:00Z",)"
           R"("archiveSha256":")" +
           kSha + R"(","archiveBytes":5,"files":[)" + file + "]}";
  };
  const std::string good_file =
      R"({"path":"a","size":1,"sha256":")" + kSha + R"(","mode":420,"mtime":1})";
  struct Case {
    std::string text;
    std::string field;
  };
  const Case cases[] = {
      {"not json", "invalid JSON"},
      {"[]", "must be an object"},
      {with_file(R"({"path":"../etc/passwd","size":1,"sha256":")" + kSha +
                 R"(","mode":420,"mtime":1})"),
       "files[0].path"},
      {with_file(R"({"path":"/abs","size":1,"sha256":")" + kSha + R"(","mode":420,"mtime":1})"),
       "files[0].path"},
      {with_file(R"({"path":"a","size":1,"sha256":"XYZ","mode":420,"mtime":1})"),
       "files[0].sha256"},
      {with_file(R"({"path":"a","size":1,"sha256":")" + kSha + R"(","mode":99999,"mtime":1})"),
       "files[0].mode"},
      {with_file(R"({"path":"l","type":"symlink","mode":511,"mtime":1})"), "files[0].linkTarget"},
      {with_file(R"({"path":"d","type":"fifo","mode":511,"mtime":1})"), "files[0].type"},
      {with_file(good_file + "," + good_file), "duplicate path"},
      {with_file(R"({"pathHex":"2e2e2f78","size":1,"sha256":")" + kSha +
                 R"(","mode":420,"mtime":1})"),
       "files[0].path"},  // "../x" in hex is still refused
      {with_file(R"({"pathHex":"6g","size":1,"sha256":")" + kSha + R"(","mode":420,"mtime":1})"),
       "files[0].pathHex"},
      {with_file(R"({"pathHex":"616","size":1,"sha256":")" + kSha + R"(","mode":420,"mtime":1})"),
       "files[0].pathHex"},
      {with_file(R"({"path":"a","pathHex":"61","size":1,"sha256":")" + kSha +
                 R"(","mode":420,"mtime":1})"),
       "files[0].pathHex"},
      {R"({"backupId":"../x","instanceId":"i1","createdAt":"2026-11-22T10:00:00Z",)"
       R"("archiveSha256":")" +
           kSha + R"(","archiveBytes":5,"files":[]})",
       "backupId"},
      {R"({"backupId":"b1","instanceId":"i1","archiveSha256":")" + kSha +
           R"(","archiveBytes":5,"files":[]})",
       "createdAt"},
  };
  for (const auto& c : cases) {
    auto parsed = ParseBackupManifest(c.text);
    ASSERT_THAT(parsed, FailsWith(Errc::kBackupCorrupt)) << c.text;
    EXPECT_FALSE(parsed.error().retryable);
    EXPECT_THAT(parsed.error().message, HasSubstr(c.field)) << c.text;
  }
}

TEST(BackupJsonTest, VerifyRecordAndRestoreMarkerRoundTrip) {
  BackupVerifyRecord record;
  record.backup_id = "b1";
  record.level = VerifyLevel::kQuick;
  record.ok = false;
  record.checked_at = *ParseTimestamp("2026-11-22T10:00:00Z");
  record.job_id = "j";
  record.run_id = "r";
  record.files = 3;
  record.bytes = 99;
  record.problems = {{"archive", "sha256 differs"}, {"a/b", "missing"}};
  auto verify = ParseBackupVerify(BackupVerifyJson(record));
  ASSERT_THAT(verify, IsOk());
  EXPECT_EQ(*verify, record);

  RestoreMarker marker;
  marker.backup_id = "b1";
  marker.job_id = "job-7";
  marker.run_id = "run-7";
  marker.was_running = true;
  marker.restored_files = 12;
  marker.previous_data_kept_as = "data.pre-restore-run-7";
  marker.restored_at = *ParseTimestamp("2026-11-22T10:00:01Z");
  auto parsed = ParseRestoreMarker(RestoreMarkerJson(marker));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, marker);
  marker.previous_data_kept_as.reset();
  parsed = ParseRestoreMarker(RestoreMarkerJson(marker));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, marker);

  EXPECT_FALSE(ParseRestoreMarker(R"({"backupId":"b1","jobId":"j","runId":"../x",)"
                                  R"("restoredAt":"2026-11-22T10:00:01Z"})")
                   .has_value());
  EXPECT_FALSE(ParseBackupVerify(R"({"backupId":"b1","level":"deep","ok":true,)"
                                 R"("checkedAt":"2026-11-22T10:00:01Z"})")
                   .has_value());
}

TEST(BackupJsonTest, PayloadsGetTheirDefaults) {
  auto backup = ParseBackupInstancePayload("{}");
  ASSERT_THAT(backup, IsOk());
  EXPECT_FALSE(backup->backup_id.has_value());
  EXPECT_EQ(backup->mode, BackupMode::kLive);
  backup = ParseBackupInstancePayload(R"({"backupId":"b1","mode":"stopped"})");
  ASSERT_THAT(backup, IsOk());
  EXPECT_EQ(backup->backup_id, "b1");
  EXPECT_EQ(backup->mode, BackupMode::kStopped);

  auto verify = ParseVerifyBackupPayload(R"({"backupId":"b1"})");
  ASSERT_THAT(verify, IsOk());
  EXPECT_EQ(verify->level, VerifyLevel::kFull);
  verify = ParseVerifyBackupPayload(R"({"backupId":"b1","level":"quick"})");
  ASSERT_THAT(verify, IsOk());
  EXPECT_EQ(verify->level, VerifyLevel::kQuick);

  auto restore = ParseRestoreBackupPayload(R"({"backupId":"b1"})");
  ASSERT_THAT(restore, IsOk());
  EXPECT_FALSE(restore->start_after.has_value());
  restore = ParseRestoreBackupPayload(R"({"backupId":"b1","startAfter":false})");
  ASSERT_THAT(restore, IsOk());
  EXPECT_EQ(restore->start_after, false);

  auto prune = ParsePruneBackupsPayload(R"({"keepDaily":7,"dryRun":true})");
  ASSERT_THAT(prune, IsOk());
  PruneBackupsPayload want;
  want.keep_daily = 7;
  want.dry_run = true;
  EXPECT_EQ(*prune, want);
}

TEST(BackupJsonTest, BadPayloadsAreInvalidPayload) {
  EXPECT_THAT(ParseBackupInstancePayload(R"({"mode":"paused"})"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(ParseBackupInstancePayload(R"({"backupId":"../x"})"),
              FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(ParseVerifyBackupPayload("{}"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(ParseRestoreBackupPayload(R"({"backupId":"b1","startAfter":"yes"})"),
              FailsWith(Errc::kInvalidPayload));
  auto empty = ParsePruneBackupsPayload(R"({"keepLast":0,"dryRun":true})");
  ASSERT_THAT(empty, FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(empty.error().message, HasSubstr("must keep something"));
  EXPECT_THAT(ParsePruneBackupsPayload("not json"), FailsWith(Errc::kInvalidPayload));
}

TEST(BackupJsonTest, ResultsHaveTheDocumentedKeys) {
  BackupInstanceResult backup{"b1", kSha, 100, 2, 50, {"x"}, true};
  EXPECT_EQ(BackupInstanceResultJson(backup),
            R"({"backupId":"b1","archiveSha256":")" + kSha +
                R"(","archiveBytes":100,"files":2,"bytes":50,"changedDuringBackup":["x"],)"
                R"("alreadyExists":true})");
  EXPECT_EQ(VerifyBackupResultJson({"b1", VerifyLevel::kFull, true, 3, 9}),
            R"({"backupId":"b1","level":"full","ok":true,"files":3,"bytes":9})");
  EXPECT_EQ(RestoreBackupResultJson({"b1", 4, std::nullopt, false}),
            R"({"backupId":"b1","restoredFiles":4,"previousDataKeptAs":null,"started":false})");
  PruneBackupsResult prune;
  prune.kept = {{"b3", {"last 1", "daily 2026-11-20"}}};
  prune.removed = {"b1"};
  EXPECT_EQ(PruneBackupsResultJson(prune),
            R"({"kept":[{"backupId":"b3","reasons":["last 1","daily 2026-11-20"]}],)"
            R"("removed":["b1"],"dryRun":false,"garbage":[]})");
}

}  // namespace
}  // namespace orb::protocol
