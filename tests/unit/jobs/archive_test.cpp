#include "jobs/archive.hpp"

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/sha256.hpp"
#include "support/file_size_limit.hpp"
#include "support/files.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::orb::testing::TempDir;
using ::testing::HasSubstr;

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

std::string Quote(const fs::path& path) {
  return "'" + path.string() + "'";
}

// Every path under `root` (symlinks not followed) with its type and content.
std::map<std::string, std::string> Snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const auto rel = fs::relative(it->path(), root).string();
    if (it->is_symlink()) {
      out[rel] = "link:" + fs::read_symlink(it->path()).string();
    } else if (it->is_regular_file()) {
      out[rel] = "file:" + ReadFile(it->path());
    } else {
      out[rel] = "other";
    }
  }
  return out;
}

// One entry of a hand-made archive.
struct Item {
  std::string name;
  unsigned type = AE_IFREG;
  std::string content{};
  std::string link{};  // symlink target
  std::string hardlink{};
  unsigned mode = 0644;
};

// Writes `items` with libarchive's writer: any name, any type, nothing checked.
void MakeArchive(const fs::path& path, const std::vector<Item>& items, bool zip = false) {
  archive* a = archive_write_new();
  if (zip) {
    archive_write_set_format_zip(a);
  } else {
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
  }
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& item : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, item.name.c_str());
    archive_entry_set_filetype(e, item.type);
    archive_entry_set_perm(e, item.mode);
    if (!item.link.empty()) archive_entry_set_symlink(e, item.link.c_str());
    if (!item.hardlink.empty()) archive_entry_set_hardlink(e, item.hardlink.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(item.content.size()));
    if (item.type == AE_IFCHR) archive_entry_set_rdev(e, 0x0103);
    ASSERT_GE(archive_write_header(a, e), ARCHIVE_WARN) << archive_error_string(a);
    if (!item.content.empty()) archive_write_data(a, item.content.data(), item.content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

class SafeExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_ / "outside/target.txt", "precious");
    before_ = Snapshot(dir_.path());
  }

  // Extracting `items` is refused with unsafe_archive naming `entry`, and the whole TempDir is
  // exactly as before apart from the archive and the (empty) staging directory.
  void ExpectRefused(const std::vector<Item>& items, const std::string& entry, bool zip = false) {
    const fs::path archive = dir_ / (zip ? "evil.zip" : "evil.tar.gz");
    MakeArchive(archive, items, zip);
    auto result = SafeExtract(archive, dir_ / "staging");
    EXPECT_THAT(result, FailsWith(Errc::kUnsafeArchive));
    if (!result) {
      EXPECT_THAT(result.error().message, HasSubstr(entry));
    }
    auto after = Snapshot(dir_.path());
    after.erase(archive.filename().string());
    EXPECT_EQ(after.erase("staging"), 1U) << "staging must stay, empty";
    EXPECT_EQ(after, before_);
    fs::remove(archive);
    fs::remove(dir_ / "staging");
  }

  TempDir dir_;
  std::map<std::string, std::string> before_;
};

TEST_F(SafeExtractTest, ExtractsTarGzTarZstAndZipMadeByTheStandardTools) {
  const fs::path src = dir_ / "src";
  WriteFile(src / "bin/start.sh", "#!/bin/sh\necho hi\n");
  fs::permissions(src / "bin/start.sh", fs::perms(0755));
  WriteFile(src / "conf/server.properties", "motd=hello\n");
  fs::create_symlink("../conf/server.properties", src / "bin/props");
  ASSERT_EQ(Shell("tar -C " + Quote(src) + " -czf " + Quote(dir_ / "a.tar.gz") + " ."), 0);
  ASSERT_EQ(
      Shell("tar -C " + Quote(src) + " --zstd -cf " + Quote(dir_ / "a.tar.zst") + " bin conf"), 0);
  ASSERT_EQ(Shell("tar -C " + Quote(src) + " -cf " + Quote(dir_ / "a.tar") + " bin conf"), 0);
  ASSERT_EQ(Shell("cd " + Quote(src) + " && zip -qry " + Quote(dir_ / "a.zip") + " bin conf"), 0);

  for (const std::string name : {"a.tar.gz", "a.tar.zst", "a.tar", "a.zip"}) {
    SCOPED_TRACE(name);
    const fs::path staging = dir_ / ("out-" + name);
    std::uint64_t last_progress = 0;
    ExtractOptions options;
    options.progress = [&](std::uint64_t done, std::uint64_t) { last_progress = done; };
    auto result = SafeExtract(dir_ / name, staging, options);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->files, 2U);
    EXPECT_EQ(result->symlinks, 1U);
    EXPECT_EQ(ReadFile(staging / "bin/start.sh"), "#!/bin/sh\necho hi\n");
    EXPECT_EQ(ReadFile(staging / "bin/props"), "motd=hello\n");
    EXPECT_EQ(fs::status(staging / "bin/start.sh").permissions() & fs::perms::all, fs::perms(0755));
    EXPECT_EQ(last_progress, fs::file_size(dir_ / name));
  }
}

TEST_F(SafeExtractTest, KeepsModesButDropsSetuidSetgidAndSticky) {
  MakeArchive(dir_ / "m.tar.gz", {{.name = "d", .type = AE_IFDIR, .mode = 01755},
                                  {.name = "d/suid", .content = "x", .mode = 06750},
                                  {.name = "d/ro", .content = "y", .mode = 0400}});
  ASSERT_THAT(SafeExtract(dir_ / "m.tar.gz", dir_ / "staging"), IsOk());
  EXPECT_EQ(fs::status(dir_ / "staging/d/suid").permissions(), fs::perms(0750));
  EXPECT_EQ(fs::status(dir_ / "staging/d/ro").permissions(), fs::perms(0400));
  EXPECT_EQ(fs::status(dir_ / "staging/d").permissions(), fs::perms(0755));
}

TEST_F(SafeExtractTest, RefusesAbsolutePaths) {
  ExpectRefused({{.name = "ok.txt", .content = "fine"},
                 {.name = (dir_ / "outside/evil").string(), .content = "evil"}},
                "outside/evil");
}

TEST_F(SafeExtractTest, RefusesDotDotComponents) {
  ExpectRefused({{.name = "../outside/evil", .content = "evil"}}, "../outside/evil");
  ExpectRefused({{.name = "a/", .type = AE_IFDIR, .mode = 0755},
                 {.name = "a/../../outside/evil", .content = "evil"}},
                "a/../../outside/evil");
}

TEST_F(SafeExtractTest, RefusesSymlinksPointingOutside) {
  ExpectRefused({{.name = "link", .type = AE_IFLNK, .link = "../outside"}}, "link");
  ExpectRefused({{.name = "link", .type = AE_IFLNK, .link = (dir_ / "outside").string()}}, "link");
  // Each link alone stays inside; together `y` would be staging/.. .
  ExpectRefused({{.name = "x", .type = AE_IFLNK, .link = "."},
                 {.name = "y", .type = AE_IFLNK, .link = "x/.."}},
                "y");
  ExpectRefused({{.name = "link", .type = AE_IFLNK, .link = "../outside"}}, "link", true);
}

TEST_F(SafeExtractTest, RefusesEntriesWhoseParentIsASymlink) {
  ExpectRefused({{.name = "sub", .type = AE_IFDIR, .mode = 0755},
                 {.name = "link", .type = AE_IFLNK, .link = "sub"},
                 {.name = "link/evil", .content = "evil"}},
                "link/evil");
  ExpectRefused({{.name = "link", .type = AE_IFLNK, .link = "sub"},
                 {.name = "link", .content = "replaces the link"}},
                "link");
}

TEST_F(SafeExtractTest, RefusesHardLinksOutsideOrToLaterEntries) {
  ExpectRefused({{.name = "h", .hardlink = "../outside/target.txt"}}, "h");
  ExpectRefused({{.name = "h", .hardlink = (dir_ / "outside/target.txt").string()}}, "h");
  ExpectRefused({{.name = "h", .hardlink = "later"}, {.name = "later", .content = "x"}}, "h");
}

// (No tar or zip format can carry a socket; the same check refuses anything not a file, a
// directory or a link.)
TEST_F(SafeExtractTest, RefusesDevicesAndFifos) {
  ExpectRefused({{.name = "dev", .type = AE_IFCHR}}, "dev");
  ExpectRefused({{.name = "fifo", .type = AE_IFIFO}}, "fifo");
  ExpectRefused({{.name = "blk", .type = AE_IFBLK}}, "blk");
}

TEST_F(SafeExtractTest, RefusesMoreThanTheByteLimitAndRemovesWhatItWrote) {
  MakeArchive(dir_ / "big.tar.gz", {{.name = "a", .content = std::string(4000, 'a')},
                                    {.name = "b", .content = std::string(4000, 'b')}});
  ExtractOptions options;
  options.max_total_bytes = 6000;
  EXPECT_THAT(SafeExtract(dir_ / "big.tar.gz", dir_ / "staging", options),
              FailsWith(Errc::kUnsafeArchive));
  EXPECT_TRUE(fs::is_empty(dir_ / "staging"));
}

TEST_F(SafeExtractTest, AcceptsHardLinksToEarlierFilesAndInsideSymlinks) {
  MakeArchive(dir_ / "ok.tar.gz", {{.name = "a/file", .content = "data"},
                                   {.name = "a/hard", .hardlink = "a/file"},
                                   {.name = "a/up", .type = AE_IFLNK, .link = "../b/c"},
                                   {.name = "self", .type = AE_IFLNK, .link = "."}});
  auto result = SafeExtract(dir_ / "ok.tar.gz", dir_ / "staging");
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(ReadFile(dir_ / "staging/a/hard"), "data");
  EXPECT_EQ(fs::read_symlink(dir_ / "staging/a/up"), "../b/c");
}

TEST_F(SafeExtractTest, StopsWhenCancelledAndLeavesStagingEmpty) {
  MakeArchive(dir_ / "c.tar.gz", {{.name = "a", .content = "1"}, {.name = "b", .content = "2"}});
  ExtractOptions options;
  options.should_stop = [] { return true; };
  EXPECT_THAT(SafeExtract(dir_ / "c.tar.gz", dir_ / "staging", options),
              FailsWith(Errc::kCancelled));
  EXPECT_TRUE(fs::is_empty(dir_ / "staging"));
}

TEST_F(SafeExtractTest, FailsWithIoOnAGarbageFile) {
  WriteFile(dir_ / "junk.tar", std::string(3000, 'j'));
  EXPECT_THAT(SafeExtract(dir_ / "junk.tar", dir_ / "staging"), FailsWith(Errc::kIo));
}

// ---------------------------------------------------------------------------------------------

// A tree of a few MB: incompressible and compressible files, many small ones, an empty file,
// nested and empty directories, a symlink and an executable.
void MakeTree(const fs::path& root) {
  std::mt19937 random(42);
  std::string noise(3 << 20, '\0');
  for (auto& c : noise)
    c = static_cast<char>(random());
  WriteFile(root / "a_big.bin", noise);
  std::string text;
  while (text.size() < (2 << 20))
    text += "level=" + std::to_string(text.size()) + "\n";
  WriteFile(root / "world/region/r.0.0.mca", text);
  for (int i = 0; i < 200; ++i) {
    WriteFile(root / "plugins" / ("p" + std::to_string(i) + ".yml"), "n: " + std::to_string(i));
  }
  WriteFile(root / "empty.txt", "");
  fs::create_directories(root / "logs/old");
  WriteFile(root / "run.sh", "#!/bin/sh\n");
  fs::permissions(root / "run.sh", fs::perms(0750));
  fs::create_symlink("world/region", root / "region");
}

TEST(BackupArchiveTest, TheArchiveIsItsOwnersOnlyWhateverTheUmask) {
  TempDir dir;
  MakeTree(dir / "data");
  ::orb::testing::ScopedUmask no_mask(0);
  ASSERT_THAT(WriteBackupArchive(dir / "data", dir / "b.tar.zst"), IsOk());
  EXPECT_EQ(::orb::testing::Mode(dir / "b.tar.zst"), 0600U);
}

TEST(BackupArchiveTest, RoundTripIsStandardAndVerifiesAndAFlippedByteIsFound) {
  TempDir dir;
  MakeTree(dir / "data");
  std::uint64_t progress_calls = 0;
  BackupOptions options;
  options.progress = [&](std::uint64_t, std::uint64_t) { ++progress_calls; };
  auto manifest = WriteBackupArchive(dir / "data", dir / "b.tar.zst", options);
  ASSERT_THAT(manifest, IsOk());
  EXPECT_GT(progress_calls, 5U);
  EXPECT_EQ(manifest->archive_bytes, fs::file_size(dir / "b.tar.zst"));
  EXPECT_EQ(manifest->archive_sha256, *Sha256FileHex(dir / "b.tar.zst"));
  EXPECT_TRUE(manifest->changed.empty());
  std::uint64_t file_bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "data")) {
    if (entry.is_regular_file() && !entry.is_symlink()) file_bytes += entry.file_size();
  }
  EXPECT_EQ(manifest->file_bytes, file_bytes);

  // The standard tools accept it; zstd sees a content checksum.
  EXPECT_EQ(Shell("zstd -q -t " + Quote(dir / "b.tar.zst")), 0);
  EXPECT_EQ(Shell("tar --zstd -tvf " + Quote(dir / "b.tar.zst")), 0);
  EXPECT_EQ(Shell("zstd -lv " + Quote(dir / "b.tar.zst") + " | grep -q 'Check: XXH64'"), 0);
  fs::create_directories(dir / "x");
  ASSERT_EQ(Shell("tar --zstd -C " + Quote(dir / "x") + " -xf " + Quote(dir / "b.tar.zst")), 0);
  int files = 0;
  for (const auto& entry : manifest->entries) {
    if (entry.type != EntryType::kFile) continue;
    ++files;
    EXPECT_EQ(*Sha256FileHex(dir / "x" / entry.path), entry.sha256) << entry.path;
  }
  EXPECT_EQ(files, 204);
  EXPECT_EQ(fs::read_symlink(dir / "x/region"), "world/region");
  EXPECT_EQ(fs::status(dir / "x/run.sh").permissions() & fs::perms::all, fs::perms(0750));
  EXPECT_TRUE(fs::is_directory(dir / "x/logs/old"));

  auto verified = VerifyBackupArchive(dir / "b.tar.zst", *manifest);
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->bytes, manifest->file_bytes);

  // And our own extractor takes it back.
  EXPECT_THAT(SafeExtract(dir / "b.tar.zst", dir / "restored"), IsOk());
  EXPECT_EQ(Snapshot(dir / "restored"), Snapshot(dir / "data"));

  // One flipped byte in the middle: a problem for the entry it lands in and for the archive.
  {
    std::fstream file(dir / "b.tar.zst", std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(manifest->archive_bytes / 2));
    char c = 0;
    file.get(c);
    file.seekp(static_cast<std::streamoff>(manifest->archive_bytes / 2));
    file.put(static_cast<char>(c ^ 0x40));
  }
  auto broken = VerifyBackupArchive(dir / "b.tar.zst", *manifest);
  ASSERT_THAT(broken, FailsWith(Errc::kBackupCorrupt));
  EXPECT_FALSE(broken.error().retryable);
  bool archive_named = false;
  for (const auto& problem : broken.error().details) {
    if (problem.field == "archive" && problem.problem.find("sha256") != std::string::npos) {
      archive_named = true;
    }
  }
  EXPECT_TRUE(archive_named);
  EXPECT_GE(broken.error().details.size(), 2U) << broken.error().Describe();
}

TEST(BackupArchiveTest, VerifyNamesTheFileWhoseHashOrPresenceDiffers) {
  TempDir dir;
  MakeTree(dir / "data");
  auto manifest = WriteBackupArchive(dir / "data", dir / "b.tar.zst");
  ASSERT_THAT(manifest, IsOk());

  BackupManifest wrong_hash = *manifest;
  for (auto& entry : wrong_hash.entries) {
    if (entry.path == "plugins/p7.yml") entry.sha256 = std::string(64, '0');
  }
  auto result = VerifyBackupArchive(dir / "b.tar.zst", wrong_hash);
  ASSERT_THAT(result, FailsWith(Errc::kBackupCorrupt));
  EXPECT_THAT(result.error().message, HasSubstr("plugins/p7.yml"));

  BackupManifest missing = *manifest;
  missing.entries.erase(missing.entries.begin());
  missing.entries.push_back({.path = "ghost.dat", .size = 1, .sha256 = std::string(64, '1')});
  result = VerifyBackupArchive(dir / "b.tar.zst", missing);
  ASSERT_THAT(result, FailsWith(Errc::kBackupCorrupt));
  std::set<std::string> fields;
  for (const auto& problem : result.error().details)
    fields.insert(problem.field);
  EXPECT_EQ(fields, (std::set<std::string>{"a_big.bin", "ghost.dat"}));
}

TEST(BackupArchiveTest, RecordsAFileThatChangesWhileItIsRead) {
  TempDir dir;
  MakeTree(dir / "data");
  bool appended = false;
  BackupOptions options;
  options.progress = [&](std::uint64_t, std::uint64_t) {
    if (appended) return;
    appended = true;  // a_big.bin sorts first, so it is the file being read right now
    std::ofstream(dir / "data/a_big.bin", std::ios::app) << "grown";
  };
  auto manifest = WriteBackupArchive(dir / "data", dir / "b.tar.zst", options);
  ASSERT_THAT(manifest, IsOk());
  EXPECT_EQ(manifest->changed, std::vector<std::string>{"a_big.bin"});
  EXPECT_EQ(manifest->entries.front().size, 3U << 20);  // the size seen at open
  EXPECT_THAT(VerifyBackupArchive(dir / "b.tar.zst", *manifest), IsOk());
}

TEST(BackupArchiveTest, CancelStopsTheBackupAndRemovesThePartialArchive) {
  TempDir dir;
  MakeTree(dir / "data");
  BackupOptions options;
  int calls = 0;
  options.should_stop = [&] { return ++calls > 3; };
  EXPECT_THAT(WriteBackupArchive(dir / "data", dir / "b.tar.zst", options),
              FailsWith(Errc::kCancelled));
  EXPECT_FALSE(fs::exists(dir / "b.tar.zst"));
}

// Thousands of empty files with random names: everything passes through libarchive's write
// callback as headers, so the full disk is found inside a libarchive call (libarchive 3.6 leaks
// its client buffer when such a call fails; the ASan build of this test finds that leak).
TEST(BackupArchiveTest, AFullDiskUnderHeadersFailsCleanlyAndRemovesThePartialArchive) {
  TempDir dir;
  std::mt19937_64 random(7);
  fs::create_directories(dir / "data");
  for (int i = 0; i < 6000; ++i) {
    WriteFile(dir / "data" / (std::to_string(random()) + std::to_string(random()) + ".cfg"), "");
  }
  Expected<BackupManifest> result = Fail(Errc::kInternal, "not run");
  {
    const ::orb::testing::FileSizeLimit full(64 << 10);
    result = WriteBackupArchive(dir / "data", dir / "b.tar.zst");
  }
  EXPECT_THAT(result, FailsWith(Errc::kIo));
  EXPECT_FALSE(fs::exists(dir / "b.tar.zst"));
  EXPECT_THAT(WriteBackupArchive(dir / "data", dir / "b.tar.zst"), IsOk());
}

TEST(BackupArchiveTest, FailsWithIoWhenTheSourceIsMissing) {
  TempDir dir;
  EXPECT_THAT(WriteBackupArchive(dir / "nope", dir / "b.tar.zst"), FailsWith(Errc::kIo));
}

}  // namespace
}  // namespace orb::jobs
