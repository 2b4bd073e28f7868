#include "os/fs.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "os/atomic.hpp"
#include "support/fault_fs.hpp"
#include "support/files.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::os {
namespace {

using ::orb::testing::WriteText;

using testing::FailsWith;
using ::testing::HasSubstr;
using testing::IsOk;

TEST(RealFsTest, WritesSyncsAndReadsAFile) {
  testing::TempDir dir;
  RealFs fs;
  auto file = fs.Open(dir / "a.txt", OpenMode::kCreateNew);
  ASSERT_THAT(file, IsOk());
  EXPECT_THAT(fs.Write(*file, "hello"), IsOk());
  EXPECT_THAT(fs.Sync(*file), IsOk());
  EXPECT_THAT(fs.Close(*file), IsOk());
  EXPECT_FALSE(file->is_open());
  EXPECT_THAT(fs.SyncDir(dir.path()), IsOk());
  auto content = fs.ReadFile(dir / "a.txt");
  ASSERT_THAT(content, IsOk());
  EXPECT_EQ(*content, "hello");
}

TEST(RealFsTest, CreatesFilesAndDirectoriesOwnerOnlyWhateverTheUmask) {
  // instance.json holds an instance's environment: no umask may make it readable by others.
  testing::TempDir dir;
  testing::ScopedUmask no_mask(0);
  RealFs fs;
  for (const auto mode : {OpenMode::kCreateNew, OpenMode::kCreateOrTruncate, OpenMode::kAppend}) {
    const auto path = dir / ("f" + std::to_string(static_cast<int>(mode)));
    auto file = fs.Open(path, mode);
    ASSERT_THAT(file, IsOk());
    EXPECT_EQ(testing::Mode(path), 0600U) << path;
  }
  ASSERT_THAT(WriteFileAtomically(fs, dir / "instance.json", R"({"env":{"PASSWORD":"x"}})"),
              IsOk());
  EXPECT_EQ(testing::Mode(dir / "instance.json"), 0600U);
  ASSERT_THAT(fs.MakeDir(dir / "d"), IsOk());
  EXPECT_EQ(testing::Mode(dir / "d"), 0700U);
  ASSERT_THAT(MakePrivateDirs(dir / "a/b/c"), IsOk());
  for (const char* level : {"a", "a/b", "a/b/c"})
    EXPECT_EQ(testing::Mode(dir / level), 0700U) << level;
  ASSERT_THAT(MakePrivateDirs(dir / "a/b/c"), IsOk());  // existing levels are fine
  WriteText(dir / "file", "x");
  EXPECT_THAT(MakePrivateDirs(dir / "file"), FailsWith(Errc::kIo));
}

TEST(RealFsTest, ErrorsNameThePathAndTheErrnoTextWithStableCodes) {
  testing::TempDir dir;
  RealFs fs;
  auto missing = fs.Open(dir / "missing.txt", OpenMode::kRead);
  ASSERT_THAT(missing, FailsWith(Errc::kNotFound));
  EXPECT_THAT(missing.error().message, HasSubstr((dir / "missing.txt").string()));
  EXPECT_THAT(missing.error().message, HasSubstr("No such file or directory"));

  ASSERT_THAT(fs.MakeDir(dir / "d"), IsOk());
  EXPECT_THAT(fs.MakeDir(dir / "d"), FailsWith(Errc::kAlreadyExists));
  WriteText(dir / "d/f", "x");
  auto not_empty = fs.RemoveDir(dir / "d");
  ASSERT_THAT(not_empty, FailsWith(Errc::kIo));
  EXPECT_THAT(not_empty.error().message, HasSubstr("rmdir"));

  auto rename = fs.Rename(dir / "nope", dir / "there");
  ASSERT_THAT(rename, FailsWith(Errc::kNotFound));
  EXPECT_THAT(rename.error().message, HasSubstr("nope"));
  EXPECT_THAT(rename.error().message, HasSubstr("there"));
}

TEST(RealFsTest, StatDoesNotFollowSymlinksAndReadDirIsSorted) {
  testing::TempDir dir;
  RealFs fs;
  WriteText(dir / "b.txt", "12345");
  ASSERT_THAT(fs.MakeDir(dir / "c"), IsOk());
  ASSERT_THAT(fs.Symlink("b.txt", dir / "a-link"), IsOk());

  auto link = fs.Stat(dir / "a-link");
  ASSERT_THAT(link, IsOk());
  EXPECT_EQ(link->kind, FileKind::kSymlink);
  auto target = fs.ReadLink(dir / "a-link");
  ASSERT_THAT(target, IsOk());
  EXPECT_EQ(*target, "b.txt");
  auto file = fs.Stat(dir / "b.txt");
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ(file->kind, FileKind::kRegular);
  EXPECT_EQ(file->size, 5u);

  auto entries = fs.ReadDir(dir.path());
  ASSERT_THAT(entries, IsOk());
  EXPECT_THAT(*entries, ::testing::ElementsAre(DirEntry{"a-link", FileKind::kSymlink},
                                               DirEntry{"b.txt", FileKind::kRegular},
                                               DirEntry{"c", FileKind::kDirectory}));
}

TEST(RealFsTest, ExchangeSwapsTwoDirectoriesAtomically) {
  testing::TempDir dir;
  RealFs fs;
  ASSERT_THAT(fs.MakeDir(dir / "a"), IsOk());
  ASSERT_THAT(fs.MakeDir(dir / "b"), IsOk());
  WriteText(dir / "a/from-a", "");
  auto exchanged = fs.Exchange(dir / "a", dir / "b");
  ASSERT_THAT(exchanged, IsOk());
  if (*exchanged == ExchangeResult::kUnsupported) {
    // No RENAME_EXCHANGE on this filesystem: the call must have moved nothing, so that the caller
    // can take the journaled fallback (ExchangeDirectories, tested in atomic_test.cpp).
    EXPECT_TRUE(std::filesystem::exists(dir / "a/from-a"));
    EXPECT_FALSE(std::filesystem::exists(dir / "b/from-a"));
    return;
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "b/from-a"));
  EXPECT_FALSE(std::filesystem::exists(dir / "a/from-a"));
}

TEST(RealFsTest, RemoveTreeRemovesEverythingAndAcceptsAMissingPath) {
  testing::TempDir dir;
  RealFs fs;
  std::filesystem::create_directories(dir / "t/x/y");
  WriteText(dir / "t/x/y/f", "data");
  WriteText(dir / "outside", "keep");
  ASSERT_THAT(fs.Symlink(dir / "outside", dir / "t/link"), IsOk());
  EXPECT_THAT(fs.RemoveTree(dir / "t"), IsOk());
  EXPECT_FALSE(std::filesystem::exists(dir / "t"));
  EXPECT_TRUE(std::filesystem::exists(dir / "outside"));  // links are not followed
  EXPECT_THAT(fs.RemoveTree(dir / "t"), IsOk());
}

TEST(RealFsTest, TruncateAndExistsWork) {
  testing::TempDir dir;
  RealFs fs;
  WriteText(dir / "f", "0123456789");
  EXPECT_THAT(fs.Truncate(dir / "f", 4), IsOk());
  EXPECT_EQ(std::filesystem::file_size(dir / "f"), 4u);
  auto present = Exists(fs, dir / "f");
  ASSERT_THAT(present, IsOk());
  EXPECT_TRUE(*present);
  auto absent = Exists(fs, dir / "g");
  ASSERT_THAT(absent, IsOk());
  EXPECT_FALSE(*absent);
}

TEST(FaultyFsTest, FailsOnlyTheNthCallOfTheChosenKind) {
  testing::TempDir dir;
  RealFs real;
  testing::FaultyFs fs(real);
  fs.FailNth(2, ENOSPC, FsOp::kMakeDir);
  EXPECT_THAT(fs.MakeDir(dir / "one"), IsOk());
  EXPECT_THAT(fs.SyncDir(dir.path()), IsOk());  // not counted
  auto second = fs.MakeDir(dir / "two");
  ASSERT_THAT(second, FailsWith(Errc::kIo));
  EXPECT_THAT(second.error().message, HasSubstr("No space left on device"));
  EXPECT_TRUE(fs.fault_hit());
  EXPECT_FALSE(std::filesystem::exists(dir / "two"));
  EXPECT_THAT(fs.MakeDir(dir / "three"), IsOk());
  EXPECT_EQ(fs.calls(), 3);
}

TEST(FaultyFsTest, AfterACrashEveryLaterCallFails) {
  testing::TempDir dir;
  RealFs real;
  testing::FaultyFs fs(real);
  fs.CrashAtNth(2);
  EXPECT_THAT(fs.MakeDir(dir / "one"), IsOk());
  EXPECT_THAT(fs.MakeDir(dir / "two"), FailsWith(Errc::kIo));
  EXPECT_THAT(fs.SyncDir(dir.path()), FailsWith(Errc::kIo));
  EXPECT_THAT(fs.Stat(dir / "one"), FailsWith(Errc::kIo));
  fs.Reset();
  EXPECT_THAT(fs.Stat(dir / "one"), IsOk());
  EXPECT_FALSE(fs.fault_hit());
}

}  // namespace
}  // namespace orb::os
