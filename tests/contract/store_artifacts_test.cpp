// The store contract: artifacts (protocol.md §5 PUT/GET /v1/artifacts), streamed in and out in
// pieces, checked against their sha256, read by range.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/sha256.hpp"
#include "contract/store_contract.hpp"

namespace orb::store {
namespace {

// `size` bytes of a fixed pattern that changes every byte (so misplaced pieces show).
std::string Bytes(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = static_cast<char>((i * 131 + i / 4099) & 0xff);
  return bytes;
}

// A source that hands out `bytes` at most `step` bytes per call, as a socket would.
ArtifactSource SourceOf(const std::string& bytes, std::size_t step = 70'000) {
  auto offset = std::make_shared<std::size_t>(0);
  return [&bytes, step, offset](std::span<char> buffer) -> Expected<std::size_t> {
    const std::size_t n = std::min({step, buffer.size(), bytes.size() - *offset});
    std::memcpy(buffer.data(), bytes.data() + *offset, n);
    *offset += n;
    return n;
  };
}

class Collector {
 public:
  ArtifactSink Sink() {
    return [this](std::span<const char> piece) -> Status {
      EXPECT_LE(piece.size(), 1u << 20);
      bytes_.append(piece.data(), piece.size());
      ++pieces_;
      return Ok();
    };
  }
  const std::string& bytes() const { return bytes_; }
  int pieces() const { return pieces_; }

 private:
  std::string bytes_;
  int pieces_ = 0;
};

TEST_P(StoreContractTest, AnArtifactIsStoredOnceAndReadBackWholeAndByRange) {
  const std::string bytes = Bytes((5u << 20) / 2 + 123);  // 2.5 MiB and a bit: three pieces
  const std::string sha = Sha256Hex(bytes);
  auto stored = store().PutArtifact(sha, bytes.size(), SourceOf(bytes));
  ASSERT_THAT(stored, IsOk());
  EXPECT_TRUE(*stored);
  auto again = store().PutArtifact(sha, bytes.size(), SourceOf(bytes));
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(*again);

  auto stat = store().StatArtifact(sha);
  ASSERT_THAT(stat, IsOk());
  EXPECT_EQ(stat->sha256, sha);
  EXPECT_EQ(stat->size, bytes.size());

  Collector whole;
  ASSERT_THAT(store().ReadArtifact(sha, 0, bytes.size(), whole.Sink()), IsOk());
  EXPECT_TRUE(whole.bytes() == bytes);
  EXPECT_GE(whole.pieces(), 3);

  // Ranges across a piece boundary, at the very end, and empty.
  for (const auto& [offset, length] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {(1u << 20) - 10, 20}, {0, 1}, {bytes.size() - 7, 7}, {1234567, 1u << 20}, {42, 0}}) {
    Collector range;
    ASSERT_THAT(store().ReadArtifact(sha, offset, length, range.Sink()), IsOk());
    EXPECT_TRUE(range.bytes() == bytes.substr(offset, length)) << offset << "+" << length;
  }
  Collector none;
  EXPECT_THAT(store().ReadArtifact(sha, bytes.size() - 1, 2, none.Sink()),
              FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(store().ReadArtifact(sha, bytes.size() + 1, 0, none.Sink()),
              FailsWith(Errc::kInvalidRequest));
  EXPECT_TRUE(none.bytes().empty());
}

TEST_P(StoreContractTest, AnEmptyArtifactIsAnArtifact) {
  const std::string sha = Sha256Hex("");
  auto stored = store().PutArtifact(sha, 0, SourceOf(""));
  ASSERT_THAT(stored, IsOk());
  EXPECT_TRUE(*stored);
  auto stat = store().StatArtifact(sha);
  ASSERT_THAT(stat, IsOk());
  EXPECT_EQ(stat->size, 0u);
  Collector whole;
  ASSERT_THAT(store().ReadArtifact(sha, 0, 0, whole.Sink()), IsOk());
  EXPECT_TRUE(whole.bytes().empty());
}

TEST_P(StoreContractTest, AnUploadThatDoesNotMatchItsShaOrSizeStoresNothing) {
  const std::string bytes = Bytes(1500);
  const std::string sha = Sha256Hex(bytes);
  const std::string other = Sha256Hex("other");
  EXPECT_THAT(store().PutArtifact(other, bytes.size(), SourceOf(bytes)),
              FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(store().StatArtifact(other), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().PutArtifact(sha, bytes.size() + 1, SourceOf(bytes)),
              FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(store().PutArtifact(sha, bytes.size() - 1, SourceOf(bytes)),
              FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(store().StatArtifact(sha), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().PutArtifact("ABC", 3, SourceOf("abc")), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(store().PutArtifact(sha, kMaxArtifactBytes + 1, SourceOf(bytes)),
              FailsWith(Errc::kInvalidRequest));

  // A source that fails aborts the upload with its error.
  auto failing = [](std::span<char>) -> Expected<std::size_t> {
    return Fail(Errc::kIo, "the client went away");
  };
  EXPECT_THAT(store().PutArtifact(sha, bytes.size(), failing), FailsWith(Errc::kIo));
  EXPECT_THAT(store().StatArtifact(sha), FailsWith(Errc::kNotFound));
  ASSERT_THAT(store().PutArtifact(sha, bytes.size(), SourceOf(bytes)), IsOk());
  EXPECT_THAT(store().StatArtifact(sha), IsOk());
}

TEST_P(StoreContractTest, UnknownOrMalformedArtifactsAreNotFound) {
  Collector none;
  const std::string sha = Sha256Hex("never stored");
  EXPECT_THAT(store().StatArtifact(sha), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().ReadArtifact(sha, 0, 0, none.Sink()), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().StatArtifact("../etc/passwd"), FailsWith(Errc::kNotFound));
  EXPECT_THAT(store().ReadArtifact("x", 0, 0, none.Sink()), FailsWith(Errc::kNotFound));
}

TEST_P(StoreContractTest, AReaderThatStopsGetsItsOwnError) {
  const std::string bytes = Bytes(3u << 20);
  const std::string sha = Sha256Hex(bytes);
  ASSERT_THAT(store().PutArtifact(sha, bytes.size(), SourceOf(bytes)), IsOk());
  int calls = 0;
  auto stop = [&calls](std::span<const char>) -> Status {
    ++calls;
    return Fail(Errc::kIo, "the client went away");
  };
  EXPECT_THAT(store().ReadArtifact(sha, 0, bytes.size(), stop), FailsWith(Errc::kIo));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace orb::store
