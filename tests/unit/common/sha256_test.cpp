#include "common/sha256.hpp"

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb {
namespace {

// FIPS 180-2 / NIST CSRC example vectors.
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kTwoBlocks =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* kMillionA =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
constexpr const char* kTwoBlocksInput = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

TEST(Sha256Test, OneShotMatchesTheNistVectors) {
  EXPECT_EQ(Sha256Hex(""), kEmpty);
  EXPECT_EQ(Sha256Hex("abc"), kAbc);
  EXPECT_EQ(Sha256Hex(kTwoBlocksInput), kTwoBlocks);
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')), kMillionA);
}

TEST(Sha256Test, IncrementalUpdatesGiveTheSameDigestAsOneShot) {
  Sha256 hash;
  const std::string input = kTwoBlocksInput;
  for (const char c : input)
    hash.Update(std::string_view(&c, 1));
  EXPECT_EQ(hash.bytes(), input.size());
  EXPECT_EQ(hash.FinishHex(), kTwoBlocks);

  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i)
    hash.Update(chunk.data(), chunk.size());
  EXPECT_EQ(hash.FinishHex(), kMillionA);
}

TEST(Sha256Test, FinishStartsOverSoTheObjectCanBeReused) {
  Sha256 hash;
  hash.Update("abc");
  EXPECT_EQ(hash.FinishHex(), kAbc);
  EXPECT_EQ(hash.bytes(), 0u);
  EXPECT_EQ(hash.FinishHex(), kEmpty);
}

TEST(Sha256Test, BinaryDigestAndHexAgree) {
  Sha256 hash;
  hash.Update("abc");
  const auto digest = hash.Finish();
  EXPECT_EQ(digest[0], 0xba);
  EXPECT_EQ(digest[31], 0xad);
  EXPECT_EQ(ToHex(digest), kAbc);
}

TEST(Sha256Test, MovedToObjectKeepsTheStateSoFar) {
  Sha256 first;
  first.Update("a");
  Sha256 second(std::move(first));
  second.Update("bc");
  EXPECT_EQ(second.FinishHex(), kAbc);
  Sha256 third;
  third = std::move(second);
  third.Update("abc");
  EXPECT_EQ(third.FinishHex(), kAbc);
}

TEST(Sha256Test, HashesAFileInChunks) {
  testing::TempDir dir;
  const auto path = dir / "data.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(1000000, 'a');
  }
  const auto hex = Sha256FileHex(path);
  ASSERT_THAT(hex, testing::IsOk());
  EXPECT_EQ(*hex, kMillionA);
}

TEST(Sha256Test, MissingFileIsAnIoError) {
  testing::TempDir dir;
  EXPECT_THAT(Sha256FileHex(dir / "absent"), testing::FailsWith(Errc::kIo));
}

}  // namespace
}  // namespace orb
