#include "os/atomic.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/fault_fs.hpp"
#include "support/files.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::os {
namespace {

using ::orb::testing::WriteText;

namespace fs = std::filesystem;
using testing::FailsWith;
using testing::IsOk;

// The whole tree under `root`: "f:<content>" for files, "l:<target>" for links, "d" for dirs.
using Tree = std::map<std::string, std::string>;

Tree Snapshot(const fs::path& root) {
  Tree tree;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const std::string name = entry.path().lexically_relative(root).string();
    if (entry.is_symlink()) {
      tree[name] = "l:" + fs::read_symlink(entry.path()).string();
    } else if (entry.is_directory()) {
      tree[name] = "d";
    } else {
      std::ifstream in(entry.path(), std::ios::binary);
      std::ostringstream content;
      content << in.rdbuf();
      tree[name] = "f:" + content.str();
    }
  }
  return tree;
}

// Drops temp names ("." files), which only a crash may leave and start-up removes.
Tree WithoutHidden(Tree tree) {
  std::erase_if(tree, [](const auto& item) {
    return fs::path(item.first).filename().string().front() == '.';
  });
  return tree;
}

std::string Describe(const Tree& tree) {
  std::string text;
  for (const auto& [name, what] : tree)
    text += name + "=" + what + " ";
  return text;
}

struct FaultCase {
  int error_number;
  bool crash;
};

class AtomicFaultTest : public ::testing::TestWithParam<FaultCase> {
 protected:
  void Inject(testing::FaultyFs& faulty, int n) const {
    if (GetParam().crash) {
      faulty.CrashAtNth(n, GetParam().error_number);
    } else {
      faulty.FailNth(n, GetParam().error_number);
    }
  }
};

TEST_P(AtomicFaultTest, WriteFileAtomicallyLeavesTheOldOrTheNewFileWhicheverCallFails) {
  int n = 1;
  for (; n < 100; ++n) {
    testing::TempDir dir;
    WriteText(dir / "runtime.json", "old");
    const Tree before = Snapshot(dir.path());
    Tree asked = before;
    asked["runtime.json"] = "f:new";
    RealFs real;
    testing::FaultyFs faulty(real);
    Inject(faulty, n);

    const Status status = WriteFileAtomically(faulty, dir / "runtime.json", "new");

    const Tree after = Snapshot(dir.path());
    if (!GetParam().crash) {
      EXPECT_TRUE(after == before || after == asked)
          << "fault at call " << n << ": " << Describe(after);
    } else {
      const Tree visible = WithoutHidden(after);
      EXPECT_TRUE(visible == before || visible == asked)
          << "crash at call " << n << ": " << Describe(after);
    }
    if (status) {
      EXPECT_EQ(WithoutHidden(after), asked) << "call " << n;
    }
    if (!faulty.fault_hit()) {
      EXPECT_THAT(status, IsOk());
      break;
    }
    EXPECT_FALSE(status) << "an injected fault at call " << n << " was not reported";
  }
  EXPECT_GT(n, 4);  // open, write, fsync, close, rename, fsync dir were each failed in turn
  EXPECT_LT(n, 100);
}

TEST_P(AtomicFaultTest, SwitchSymlinkPointsAtTheOldOrTheNewBuildWhicheverCallFails) {
  int n = 1;
  for (; n < 100; ++n) {
    testing::TempDir dir;
    fs::create_directories(dir / "builds/b1");
    fs::create_directories(dir / "builds/b2");
    fs::create_symlink("builds/b1", dir / "current");
    const Tree before = Snapshot(dir.path());
    Tree asked = before;
    asked["current"] = "l:builds/b2";
    RealFs real;
    testing::FaultyFs faulty(real);
    Inject(faulty, n);

    const Status status = SwitchSymlink(faulty, dir / "current", "builds/b2", "run-1");

    Tree after = Snapshot(dir.path());
    if (GetParam().crash)
      std::erase_if(after, [](const auto& item) {
        return item.first == "current.tmp-run-1";  // a crash may leave the temp link
      });
    EXPECT_TRUE(after == before || after == asked)
        << "fault at call " << n << ": " << Describe(after);
    if (status) {
      EXPECT_EQ(after, asked) << "call " << n;
    }
    if (!faulty.fault_hit()) {
      EXPECT_THAT(status, IsOk());
      break;
    }
    EXPECT_FALSE(status) << "an injected fault at call " << n << " was not reported";
  }
  EXPECT_GT(n, 3);
  EXPECT_LT(n, 100);
}

TEST_P(AtomicFaultTest, ExchangeFallbackEndsSwappedOrAsBeforeAfterRecoveryWhicheverCallFails) {
  int n = 1;
  for (; n < 100; ++n) {
    testing::TempDir dir;
    fs::create_directories(dir / "data");
    fs::create_directories(dir / "staged");
    WriteText(dir / "data/world.dat", "old world");
    WriteText(dir / "staged/world.dat", "restored world");
    const Tree before = Snapshot(dir.path());
    Tree asked;
    asked["data"] = "d";
    asked["data/world.dat"] = "f:restored world";
    asked["staged"] = "d";
    asked["staged/world.dat"] = "f:old world";
    RealFs real;
    testing::FaultyFs faulty(real);
    faulty.SetExchangeUnsupported(true);
    Inject(faulty, n);

    const Status status = ExchangeDirectories(faulty, dir / "data", dir / "staged");
    const Tree right_after = Snapshot(dir.path());
    // The next start of the agent: recovery on the real filesystem.
    ASSERT_THAT(RecoverExchange(real, dir.path()), IsOk()) << "call " << n;

    const Tree after = Snapshot(dir.path());
    EXPECT_TRUE(after == before || after == asked)
        << "fault at call " << n << ": " << Describe(after);
    if (status) {
      EXPECT_EQ(after, asked) << "call " << n;
      EXPECT_EQ(right_after, asked) << "success left a journal behind at call " << n;
    }
    if (!faulty.fault_hit()) {
      EXPECT_THAT(status, IsOk());
      break;
    }
  }
  EXPECT_GT(n, 10);  // the journal write, three renames, fsyncs and the journal's removal
  EXPECT_LT(n, 100);
}

INSTANTIATE_TEST_SUITE_P(Faults, AtomicFaultTest,
                         ::testing::Values(FaultCase{EIO, false}, FaultCase{ENOSPC, false},
                                           FaultCase{EIO, true}),
                         [](const auto& test_info) {
                           const FaultCase& fault = test_info.param;
                           return std::string(fault.crash ? "CrashWith" : "FailWith") +
                                  (fault.error_number == EIO ? "Eio" : "Enospc");
                         });

TEST(ExchangeDirectoriesTest, SwapsWithRenameExchangeWhenTheFilesystemHasIt) {
  testing::TempDir dir;
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  WriteText(dir / "a/x", "from a");
  RealFs fs;
  ASSERT_THAT(ExchangeDirectories(fs, dir / "a", dir / "b"), IsOk());
  EXPECT_TRUE(fs::exists(dir / "b/x"));
  EXPECT_FALSE(fs::exists(dir / "a/x"));
  EXPECT_EQ(Snapshot(dir.path()).size(), 3u);  // a, b, b/x: no journal
}

TEST(ExchangeDirectoriesTest, RefusesNamesInDifferentDirectories) {
  testing::TempDir dir;
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "sub/b");
  RealFs fs;
  EXPECT_THAT(ExchangeDirectories(fs, dir / "a", dir / "sub/b"), FailsWith(Errc::kInternal));
  EXPECT_THAT(ExchangeDirectories(fs, dir / "a", dir / "a"), FailsWith(Errc::kInternal));
}

TEST(ExchangeDirectoriesTest, RecoveryKeepsAJournalThatMatchesNothingOnDisk) {
  testing::TempDir dir;
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  WriteText(dir / ".a.exchange-journal", "orb-exchange-v1\na\nb\n1\n2\n3\n");
  RealFs fs;
  auto recovered = RecoverExchange(fs, dir.path());
  ASSERT_THAT(recovered, FailsWith(Errc::kIo));
  EXPECT_THAT(recovered.error().message, ::testing::HasSubstr("match no step"));
  EXPECT_TRUE(fs::exists(dir / ".a.exchange-journal"));
  EXPECT_TRUE(fs::exists(dir / "a"));
  EXPECT_TRUE(fs::exists(dir / "b"));
}

TEST(ExchangeDirectoriesTest, RecoveryRefusesACorruptJournal) {
  testing::TempDir dir;
  WriteText(dir / ".a.exchange-journal", "garbage");
  RealFs fs;
  EXPECT_THAT(RecoverExchange(fs, dir.path()), FailsWith(Errc::kIo));
}

}  // namespace
}  // namespace orb::os
