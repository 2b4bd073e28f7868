#include "jobs/archive_stream.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/sha256.hpp"
#include "support/temp_dir.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using ::orb::testing::TempDir;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int Shell(const std::string& command) {
  return std::system(command.c_str());
}

std::string RandomBytes(std::mt19937& rng, std::size_t size) {
  std::string out(size, '\0');
  for (auto& c : out)
    c = static_cast<char>(rng() % 7 == 0 ? rng() : 'a' + rng() % 3);  // compresses somewhat
  return out;
}

class Output {
 public:
  explicit Output(const fs::path& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) {}
  ~Output() { ::close(fd_); }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Files of awkward sizes (empty, one byte, a piece's size, several pieces) between "headers",
// their contents written as a backup writes them (read into Room()) or copied in by Write():
// what comes out is the same stream in concatenated frames, each file's sha256 and the file's.
TEST(ArchiveStreamTest, EveryByteComesOutInOrderAndEveryFileIsHashed) {
  TempDir dir;
  std::mt19937 rng(7);
  const std::vector<std::size_t> sizes = {0,     1,       511,     65536, (1U << 20) - 3, 1U << 20,
                                          0,     3500000, 1234567, 17,    (1U << 20) + 1, 4U << 20,
                                          70000, 0,       999999};
  std::string expected_stream;
  std::vector<std::string> expected_digests;
  {
    Output out(dir / "a.zst");
    ArchiveStream stream(out.get(), ArchiveStreamOptions{});
    ASSERT_TRUE(stream.ok()) << stream.error();
    for (std::size_t slot = 0; slot < sizes.size(); ++slot) {
      const std::string header = RandomBytes(rng, 512);
      ASSERT_TRUE(stream.Write(header.data(), header.size()));
      expected_stream += header;
      const std::string content = RandomBytes(rng, sizes[slot]);
      expected_digests.push_back(Sha256Hex(content));
      expected_stream += content;
      if (content.empty()) stream.ExpectContent(slot, 0, true);
      std::size_t done = 0;
      while (done < content.size()) {
        std::size_t n = 0;
        if (slot % 2 == 0) {  // the backup's way: into the stream's own free space
          const std::span<char> room = stream.Room();
          ASSERT_GE(room.size(), std::size_t{64} << 10);
          n = std::min(room.size(), content.size() - done);
          std::memcpy(room.data(), content.data() + done, n);
          stream.ExpectContent(slot, n, done + n == content.size());
          ASSERT_TRUE(stream.Write(room.data(), n));
        } else {  // from elsewhere, in uneven parts
          n = std::min<std::size_t>(1 + rng() % 300000, content.size() - done);
          stream.ExpectContent(slot, n, done + n == content.size());
          ASSERT_TRUE(stream.Write(content.data() + done, n));
        }
        EXPECT_EQ(stream.expected(), 0U);
        done += n;
      }
    }
    const std::string trailer(1024, '\0');
    ASSERT_TRUE(stream.Write(trailer.data(), trailer.size()));
    expected_stream += trailer;
    ASSERT_TRUE(stream.Finish()) << stream.error();

    EXPECT_EQ(stream.TakeFileDigests(), expected_digests);
    EXPECT_EQ(stream.archive_bytes(), fs::file_size(dir / "a.zst"));
    EXPECT_EQ(stream.ArchiveSha256Hex(), *Sha256FileHex(dir / "a.zst"));
  }
  // The standard tool reads it back whole, and sees several frames, each with its checksum.
  ASSERT_EQ(
      Shell("zstd -q -d -c '" + (dir / "a.zst").string() + "' > '" + (dir / "a").string() + "'"),
      0);
  EXPECT_TRUE(ReadFile(dir / "a") == expected_stream);
  EXPECT_EQ(Shell("zstd -lv '" + (dir / "a.zst").string() +
                  "' 2>&1 | grep -Eq 'Zstandard Frames: ([2-9]|[1-9][0-9]+)$'"),
            0);
  EXPECT_EQ(Shell("zstd -lv '" + (dir / "a.zst").string() + "' 2>&1 | grep -q 'Check: XXH64'"), 0);
}

TEST(ArchiveStreamTest, AFailedWriteEndsTheStreamWithItsError) {
  TempDir dir;
  { std::ofstream(dir / "ro") << ""; }
  const int fd = ::open((dir / "ro").c_str(), O_RDONLY | O_CLOEXEC);  // write(): EBADF
  ASSERT_GE(fd, 0);
  std::mt19937 rng(3);
  const std::string data = RandomBytes(rng, 6U << 20);
  {
    ArchiveStream stream(fd, ArchiveStreamOptions{});
    bool accepted = true;
    for (std::size_t at = 0; at < data.size() && accepted; at += 100000) {
      accepted = stream.Write(data.data() + at, std::min<std::size_t>(100000, data.size() - at));
    }
    EXPECT_FALSE(stream.Finish());
    EXPECT_FALSE(stream.ok());
    EXPECT_EQ(stream.error(), std::generic_category().message(EBADF));
    EXPECT_FALSE(stream.Write("x", 1));
    EXPECT_TRUE(stream.Room().empty());
  }
  ::close(fd);
}

// A stream dropped half-way (a cancelled or failed backup) stops its threads without waiting for
// a Finish() that never comes.
TEST(ArchiveStreamTest, AnAbandonedStreamStopsItsThreads) {
  TempDir dir;
  std::mt19937 rng(5);
  const std::string data = RandomBytes(rng, 9U << 20);
  Output out(dir / "a.zst");
  {
    ArchiveStream stream(out.get(), ArchiveStreamOptions{});
    stream.ExpectContent(0, data.size(), true);
    ASSERT_TRUE(stream.Write(data.data(), data.size()));
  }  // the test would hang here if a thread kept waiting
  SUCCEED();
}

}  // namespace
}  // namespace orb::jobs
