#include "net/program_text.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace orb::net {
namespace {

// Resident KiB of this executable's code mappings, from /proc/self/smaps.
std::size_t ResidentProgramTextKiB() {
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_text = false;
  std::size_t kib = 0;
  while (std::getline(smaps, line)) {
    std::istringstream fields(line);
    std::string first, perms, offset, device, inode, path;
    fields >> first >> perms >> offset >> device >> inode >> path;
    if (first.find('-') != std::string::npos && first.back() != ':') {
      in_text = perms.find('x') != std::string::npos && path == exe;
    } else if (in_text && first == "Rss:") {
      kib += std::stoul(perms);
    }
  }
  return kib;
}

TEST(ReleaseProgramTextTest, DropsMostOfTheResidentProgramCode) {
  const std::size_t before = ResidentProgramTextKiB();
  ASSERT_GT(before, 0u);

  EXPECT_GT(ReleaseProgramText(), 0u);

  // Reading smaps maps a few pages of code again; most of what GoogleTest's start-up left is gone.
  EXPECT_LT(ResidentProgramTextKiB(), before / 2);
}

TEST(ReleaseProgramTextTest, TheReleasedCodeStillRuns) {
  ReleaseProgramText();
  ReleaseProgramText();

  EXPECT_GT(ResidentProgramTextKiB(), 0u);
}

}  // namespace
}  // namespace orb::net
