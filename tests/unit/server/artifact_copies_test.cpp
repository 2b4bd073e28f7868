// ArtifactCopies: a replica's copies of the shared store's artifacts (docs/decisions/0016). The
// store is the fake, at the edge: it answers from memory and can be held in the middle of a read
// (a slow database) or fail there.
#include "server/artifact_copies.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::server {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kPiece = 1 << 20;  // what Store::ReadArtifact hands out at most

std::string Bytes(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = static_cast<char>('a' + i % 23);
  return bytes;
}

// One artifact in memory. A read stops after `hold_after` pieces until Release (or fails there
// when `fail` is set).
class HeldStore {
 public:
  explicit HeldStore(std::string content) : content_(std::move(content)) {}

  ArtifactCopies::Source source() {
    return {[this](const std::string&) -> Expected<std::uint64_t> {
              ++stats;
              if (missing) return Fail(Errc::kNotFound, "no artifact (test)");
              return content_.size();
            },
            [this](const std::string&, std::uint64_t offset, std::uint64_t length,
                   const store::ArtifactSink& write) -> Status {
              ++reads;
              for (std::uint64_t at = offset, piece = 0; at < offset + length; ++piece) {
                if (piece == hold_after) {
                  if (fail) return Fail(Errc::kStore, "the database went away (test)", true);
                  std::unique_lock lock(mutex_);
                  held_ = true;
                  released_.wait(lock, [&] { return released; });
                }
                const auto n = std::min<std::uint64_t>(kPiece, offset + length - at);
                if (auto written = write(std::span(content_.data() + at, n)); !written) {
                  return written;
                }
                at += n;
              }
              return Ok();
            }};
  }
  bool held() {
    const std::lock_guard lock(mutex_);
    return held_;
  }
  void Release() {
    const std::lock_guard lock(mutex_);
    released = true;
    released_.notify_all();
  }

  std::atomic<int> stats{0};
  std::atomic<int> reads{0};
  std::atomic<std::uint64_t> hold_after{1};
  std::atomic<bool> fail{false};
  std::atomic<bool> missing{false};

 private:
  const std::string content_;
  std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
  bool released = false;
};

// The copies over a temporary directory, each copy on a thread of its own.
struct Fixture {
  explicit Fixture(HeldStore& store, int max_running = 4)
      : copies(
            dir.path(), store.source(),
            [this](std::function<void()> copy) {
              const std::lock_guard lock(mutex);
              threads.emplace_back(std::move(copy));
            },
            max_running) {}
  ~Fixture() {
    const std::lock_guard lock(mutex);
    for (auto& thread : threads)
      thread.join();
  }

  // Open's answer, waited for.
  std::optional<Expected<ArtifactCopies::Body>> Open(const std::string& sha256 = kSha) {
    auto answer = std::make_shared<std::optional<Expected<ArtifactCopies::Body>>>();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    copies.Open(sha256, [answer, answered](Expected<ArtifactCopies::Body> body) {
      *answer = std::move(body);
      answered->store(true);
    });
    if (!orb::testing::WaitFor([&] { return answered->load(); }, 5s)) return std::nullopt;
    return *answer;
  }
  // The files in the directory, by name.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
      names.push_back(entry.path().filename().string());
    return names;
  }

  static constexpr const char* kSha =
      "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
  orb::testing::TempDir dir;
  std::mutex mutex;
  std::vector<std::thread> threads;
  ArtifactCopies copies;
};

// Whether WhenReadable(end) has answered, and how.
struct Waited {
  std::atomic<bool> answered{false};
  Status status = Ok();
};
std::shared_ptr<Waited> WhenReadable(net::GrowingBody& body, std::uint64_t end) {
  auto waited = std::make_shared<Waited>();
  body.WhenReadable(end, [waited](Status status) {
    waited->status = std::move(status);
    waited->answered.store(true);
  });
  return waited;
}

TEST(ArtifactCopiesTest, DownloadsShareOneCopyAndReadItAsItGrows) {
  const std::string content = Bytes(3 * kPiece + 5);
  HeldStore store(content);
  Fixture fixture(store);
  auto first = fixture.Open();
  ASSERT_TRUE(first && *first) << (first ? (*first).error().message : "no answer");
  ASSERT_TRUE((*first)->growing);
  ASSERT_TRUE(orb::testing::WaitFor([&] { return store.held(); }, 5s));
  // A second download while the copy is under way reads the same copy.
  auto second = fixture.Open();
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->growing, (*first)->growing);
  auto& body = *(*first)->growing;
  EXPECT_EQ(body.size(), content.size());

  // The first piece is here: readable now; the rest waits for the store, which is held (the
  // only thread that could make it readable is blocked, so "not yet" is certain).
  auto start = WhenReadable(body, kPiece);
  EXPECT_TRUE(start->answered.load());
  EXPECT_THAT(start->status, orb::testing::IsOk());
  std::string piece(kPiece, '\0');
  ASSERT_EQ(body.ReadAt(0, piece.data(), piece.size()).value_or(0), kPiece);
  EXPECT_TRUE(piece == content.substr(0, kPiece));
  auto end = WhenReadable(body, content.size());
  EXPECT_FALSE(end->answered.load());

  store.Release();
  ASSERT_TRUE(orb::testing::WaitFor([&] { return end->answered.load(); }, 5s));
  EXPECT_THAT(end->status, orb::testing::IsOk());
  std::string all(content.size(), '\0');
  ASSERT_EQ(body.ReadAt(0, all.data(), all.size()).value_or(0), content.size());
  EXPECT_TRUE(all == content);
  EXPECT_EQ(store.stats.load(), 1);
  EXPECT_EQ(store.reads.load(), 1);

  // The finished copy is the artifact's file, and downloads from now on read that.
  ASSERT_TRUE(orb::testing::WaitFor(
      [&] { return fixture.Files() == std::vector<std::string>{Fixture::kSha}; }, 5s));
  auto later = fixture.Open();
  ASSERT_TRUE(later && *later);
  EXPECT_FALSE((*later)->growing);
  EXPECT_EQ((*later)->file, fixture.dir.path() / Fixture::kSha);
  EXPECT_EQ(store.reads.load(), 1);
}

TEST(ArtifactCopiesTest, ACopyThatFailsEndsItsDownloadsAndLeavesNothing) {
  const std::string content = Bytes(2 * kPiece);
  HeldStore store(content);
  store.fail = true;
  Fixture fixture(store);
  auto first = fixture.Open();
  ASSERT_TRUE(first && *first);
  auto end = WhenReadable(*(*first)->growing, content.size());
  ASSERT_TRUE(orb::testing::WaitFor([&] { return end->answered.load(); }, 5s));
  EXPECT_THAT(end->status, orb::testing::FailsWith(Errc::kStore));
  // A later wait on the failed copy ends at once, the same way.
  EXPECT_FALSE(WhenReadable(*(*first)->growing, content.size())->status);
  ASSERT_TRUE(orb::testing::WaitFor([&] { return fixture.Files().empty(); }, 5s));

  // The next download starts a new copy.
  store.fail = false;
  store.hold_after = 100;
  auto retried = fixture.Open();
  ASSERT_TRUE(retried && *retried);
  ASSERT_TRUE((*retried)->growing);
  EXPECT_NE((*retried)->growing, (*first)->growing);
  auto all = WhenReadable(*(*retried)->growing, content.size());
  ASSERT_TRUE(orb::testing::WaitFor([&] { return all->answered.load(); }, 5s));
  EXPECT_THAT(all->status, orb::testing::IsOk());
  EXPECT_EQ(store.reads.load(), 2);
}

TEST(ArtifactCopiesTest, AnArtifactTheStoreDoesNotHaveIsNotFoundAndNotRemembered) {
  HeldStore store(Bytes(10));
  store.missing = true;
  Fixture fixture(store);
  auto answer = fixture.Open();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(*answer, orb::testing::FailsWith(Errc::kNotFound));
  EXPECT_TRUE(fixture.Files().empty());
  // Uploaded since through another replica: the next download finds it.
  store.missing = false;
  store.hold_after = 100;
  auto found = fixture.Open();
  ASSERT_TRUE(found && *found);
  EXPECT_EQ(store.stats.load(), 2);
}

// Each copy holds a worker the API's calls share: copies of different artifacts beyond the
// bound wait their turn instead of taking every worker.
TEST(ArtifactCopiesTest, CopiesOfDifferentArtifactsBeyondTheBoundWaitTheirTurn) {
  const std::string content = Bytes(2 * kPiece);
  HeldStore store(content);
  Fixture fixture(store, /*max_running=*/1);
  auto first = fixture.Open();
  ASSERT_TRUE(first && *first);
  ASSERT_TRUE(orb::testing::WaitFor([&] { return store.held(); }, 5s));
  const std::string other(64, 'e');
  auto answered = std::make_shared<std::atomic<bool>>(false);
  fixture.copies.Open(other, [answered](Expected<ArtifactCopies::Body> body) {
    EXPECT_TRUE(body.has_value());
    answered->store(true);
  });
  // Not started: the one copy allowed is held inside its read, and only its end starts the next.
  // Watched for 200 ms: a copy that did start would ask the store for the size within
  // microseconds of its thread starting.
  EXPECT_FALSE(orb::testing::WaitFor([&] { return store.stats.load() > 1; }, 200ms));
  EXPECT_FALSE(answered->load());

  store.Release();
  ASSERT_TRUE(orb::testing::WaitFor([&] { return answered->load(); }, 5s));
  EXPECT_EQ(store.stats.load(), 2);
  ASSERT_TRUE(orb::testing::WaitFor([&] { return fixture.Files().size() == 2; }, 5s));
}

}  // namespace
}  // namespace orb::server
