// HttpServer's file bodies over the FileIo seam (net/file_io.hpp): a disk that stops or fails in
// the middle of a transfer delays or fails that transfer only. The disk is the fake, at the edge.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "net/file_io.hpp"
#include "net/http_server.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"
#include "unit/net/test_client.hpp"

namespace orb::net {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::TestClient;

// The real file system, except that the operation named by `stop_at` blocks from its `after`-th
// call on (counting from 0) until Release, or fails when `fail` is set.
class FaultyDisk final : public FileIo {
 public:
  enum class Op { kRead, kAppend };
  FaultyDisk(Op stop_at, int after, bool fail = false)
      : stop_at_(stop_at), after_(after), fail_(fail) {}

  Expected<std::unique_ptr<ReadableFile>> OpenForReading(
      const std::filesystem::path& path) override {
    auto file = RealFileIo()->OpenForReading(path);
    if (!file) return file;
    return std::unique_ptr<ReadableFile>(std::make_unique<Readable>(*this, std::move(*file)));
  }
  Expected<std::unique_ptr<WritableFile>> Create(const std::filesystem::path& path) override {
    auto file = RealFileIo()->Create(path);
    if (!file) return file;
    return std::unique_ptr<WritableFile>(std::make_unique<Writable>(*this, std::move(*file)));
  }

  bool stuck() const { return stuck_.load(); }
  void Release() {
    const std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  // Status of the call; blocks while the disk is stuck.
  Status Enter(Op op) {
    if (op != stop_at_ || calls_[static_cast<int>(op)]++ < after_) return Ok();
    if (fail_) return Fail(Errc::kIo, "the disk failed (test)");
    std::unique_lock lock(mutex_);
    stuck_ = true;
    changed_.wait(lock, [&] { return released_; });
    return Ok();
  }

  class Readable final : public ReadableFile {
   public:
    Readable(FaultyDisk& disk, std::unique_ptr<ReadableFile> real)
        : disk_(disk), real_(std::move(real)) {}
    std::uint64_t size() const override { return real_->size(); }
    Expected<std::size_t> ReadAt(std::uint64_t offset, char* data, std::size_t length) override {
      if (auto entered = disk_.Enter(Op::kRead); !entered) return Fail(entered.error());
      return real_->ReadAt(offset, data, length);
    }

   private:
    FaultyDisk& disk_;
    std::unique_ptr<ReadableFile> real_;
  };

  class Writable final : public WritableFile {
   public:
    Writable(FaultyDisk& disk, std::unique_ptr<WritableFile> real)
        : disk_(disk), real_(std::move(real)) {}
    Status Append(const char* data, std::size_t length) override {
      if (auto entered = disk_.Enter(Op::kAppend); !entered) return entered;
      return real_->Append(data, length);
    }
    Status Close() override { return real_->Close(); }

   private:
    FaultyDisk& disk_;
    std::unique_ptr<WritableFile> real_;
  };

  const Op stop_at_;
  const int after_;
  const bool fail_;
  std::atomic<int> calls_[2] = {0, 0};
  std::atomic<bool> stuck_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  bool released_ = false;
};

// A body in memory that the test makes readable piece by piece, or fails.
class TestGrowingBody final : public GrowingBody {
 public:
  explicit TestGrowingBody(std::string content) : content_(std::move(content)) {}
  std::uint64_t size() const override { return content_.size(); }
  Expected<std::size_t> ReadAt(std::uint64_t offset, char* data, std::size_t length) override {
    const std::lock_guard lock(mutex_);
    reads_beyond_ += offset + length > readable_;
    const auto n = std::min<std::uint64_t>(length, content_.size() - offset);
    content_.copy(data, n, offset);
    return n;
  }
  void WhenReadable(std::uint64_t end, std::function<void(Status)> ready) override {
    std::unique_lock lock(mutex_);
    if (end > readable_ && !failed_) {
      waiting_.push_back({end, std::move(ready)});
      return;
    }
    const bool failed = failed_;
    lock.unlock();
    ready(failed ? orb::Fail(Errc::kIo, "the copy failed (test)") : Ok());
  }

  // Makes the first `readable` bytes readable (the copy grew to there).
  void GrowTo(std::uint64_t readable) {
    std::vector<std::function<void(Status)>> ready;
    {
      const std::lock_guard lock(mutex_);
      readable_ = readable;
      std::erase_if(waiting_, [&](auto& waiting) {
        if (waiting.first > readable_) return false;
        ready.push_back(std::move(waiting.second));
        return true;
      });
    }
    for (auto& then : ready)
      then(Ok());
  }
  void Fail() {
    std::vector<std::pair<std::uint64_t, std::function<void(Status)>>> waiting;
    {
      const std::lock_guard lock(mutex_);
      failed_ = true;
      waiting.swap(waiting_);
    }
    for (auto& [end, then] : waiting)
      then(orb::Fail(Errc::kIo, "the copy failed (test)"));
  }
  // Waits for readable bytes not answered yet.
  std::size_t waiting() {
    const std::lock_guard lock(mutex_);
    return waiting_.size();
  }
  // Reads of bytes that were not readable yet: net must never make one.
  int reads_beyond() {
    const std::lock_guard lock(mutex_);
    return reads_beyond_;
  }

 private:
  const std::string content_;
  std::mutex mutex_;
  std::uint64_t readable_ = 0;
  bool failed_ = false;
  int reads_beyond_ = 0;
  std::vector<std::pair<std::uint64_t, std::function<void(Status)>>> waiting_;
};

std::string Bytes(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = static_cast<char>('a' + i % 26);
  return bytes;
}

// One event loop; /file is `file` (with `file_size` when set), /upload streams to `upload`, /wait
// is a long-poll answered by the test, the rest is answered at once.
struct Fixture {
  Fixture(std::shared_ptr<FileIo> disk, std::filesystem::path file_path,
          std::optional<std::uint64_t> size = std::nullopt)
      : file(std::move(file_path)), file_size(size) {
    HttpServerOptions options;
    options.file_io = std::move(disk);
    server = std::make_unique<HttpServer>(
        options,
        [this](HttpRequest&& request, std::shared_ptr<Responder> responder) {
          HttpResponse response;
          if (request.path == "/file") {
            response.file = file;
            response.file_size = file_size;
          } else if (request.path == "/growing") {
            response.growing = growing;
          } else if (request.path == "/wait") {
            const std::lock_guard lock(mutex);
            parked.push_back(std::move(responder));
            return;
          } else if (request.body_file) {
            const std::lock_guard lock(mutex);
            stored = request.body_file;
            response.body = "stored";
          }
          responder->Send(std::move(response));
        },
        [this](const HttpRequest& head) {
          BodyPolicy policy;
          if (head.path == "/upload") {
            policy.limit = 64 << 20;
            policy.stream_to_file = file.parent_path() / "upload.part";
          }
          return policy;
        });
    EXPECT_THAT(server->Start(), orb::testing::IsOk());
  }

  std::shared_ptr<Responder> Parked() {
    const std::lock_guard lock(mutex);
    return parked.empty() ? nullptr : parked.front();
  }

  // A long-poll on another connection, answered from another thread, reaches its client.
  void ExpectALongPollAnswered() {
    TestClient poll(server->port());
    ASSERT_TRUE(poll.Write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(orb::testing::WaitFor([&] { return Parked() != nullptr; }, 2s));
    std::thread([responder = Parked()] {
      HttpResponse response;
      response.body = "job!";
      responder->Send(std::move(response));
    }).join();
    const auto answered = poll.Read(2s);
    ASSERT_TRUE(answered.has_value()) << poll.error().message();
    EXPECT_EQ(answered->body(), "job!");
  }

  std::filesystem::path file;
  std::optional<std::uint64_t> file_size;
  std::shared_ptr<GrowingBody> growing;  // served at /growing
  std::mutex mutex;
  std::vector<std::shared_ptr<Responder>> parked;
  std::optional<std::filesystem::path> stored;
  std::unique_ptr<HttpServer> server;
};

TEST(HttpServerDiskTest, ADownloadStuckOnARead) {
  orb::testing::TempDir dir;
  const std::string content = Bytes(3 << 20);  // 12 chunks
  std::ofstream(dir / "big.bin", std::ios::binary) << content;
  auto disk = std::make_shared<FaultyDisk>(FaultyDisk::Op::kRead, 2);
  Fixture fixture(disk, dir / "big.bin");
  TestClient download(fixture.server->port());
  ASSERT_TRUE(download.Write("GET /file HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(orb::testing::WaitFor([&] { return disk->stuck(); }, 5s));

  fixture.ExpectALongPollAnswered();

  disk->Release();
  const auto response = download.Read();
  ASSERT_TRUE(response.has_value()) << download.error().message();
  EXPECT_EQ(response->result_int(), 200);
  EXPECT_TRUE(response->body() == content);
}

TEST(HttpServerDiskTest, AnUploadStuckOnAWrite) {
  orb::testing::TempDir dir;
  const std::string content = Bytes(2 << 20);
  auto disk = std::make_shared<FaultyDisk>(FaultyDisk::Op::kAppend, 1);
  Fixture fixture(disk, dir / "unused");
  TestClient upload(fixture.server->port());
  ASSERT_TRUE(upload.Write("PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(content.size()) + "\r\n\r\n"));
  std::thread sender([&] { upload.Write(content); });
  ASSERT_TRUE(orb::testing::WaitFor([&] { return disk->stuck(); }, 5s));

  fixture.ExpectALongPollAnswered();

  disk->Release();
  sender.join();
  const auto response = upload.Read();
  ASSERT_TRUE(response.has_value()) << upload.error().message();
  EXPECT_EQ(response->body(), "stored");
  std::ifstream in(dir / "upload.part", std::ios::binary);
  EXPECT_TRUE(std::string(std::istreambuf_iterator<char>(in), {}) == content);
}

TEST(HttpServerDiskTest, AFailedWriteAnswers500AndRemovesThePartialUpload) {
  orb::testing::TempDir dir;
  auto disk = std::make_shared<FaultyDisk>(FaultyDisk::Op::kAppend, 1, /*fail=*/true);
  Fixture fixture(disk, dir / "unused");
  TestClient upload(fixture.server->port());
  const std::string content = Bytes(1 << 20);
  ASSERT_TRUE(upload.Write("PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(content.size()) + "\r\n\r\n" + content));
  const auto response = upload.Read();
  ASSERT_TRUE(response.has_value()) << upload.error().message();
  EXPECT_EQ(response->result_int(), 500);
  EXPECT_THAT(response->body(), HasSubstr("cannot store the request body"));
  EXPECT_TRUE(
      orb::testing::WaitFor([&] { return !std::filesystem::exists(dir / "upload.part"); }, 5s));
  EXPECT_FALSE(fixture.stored.has_value());
}

TEST(HttpServerDiskTest, AFailedReadCutsTheResponseShort) {
  orb::testing::TempDir dir;
  std::ofstream(dir / "big.bin", std::ios::binary) << Bytes(1 << 20);
  auto disk = std::make_shared<FaultyDisk>(FaultyDisk::Op::kRead, 1, /*fail=*/true);
  Fixture fixture(disk, dir / "big.bin");
  TestClient download(fixture.server->port());
  ASSERT_TRUE(download.Write("GET /file HTTP/1.1\r\nHost: t\r\n\r\n"));
  // The head announced 1 MiB: the client sees the connection end before the body does.
  EXPECT_FALSE(download.Read().has_value());
}

TEST(HttpServerDiskTest, AFileOfAnotherSizeThanTheHandlerExpectsIsNotServed) {
  orb::testing::TempDir dir;
  std::ofstream(dir / "short.bin", std::ios::binary) << "0123";  // what a crash can leave
  Fixture fixture(RealFileIo(), dir / "short.bin", 10);
  TestClient client(fixture.server->port());
  const auto response = client.Get("/file");
  ASSERT_TRUE(response.has_value()) << client.error().message();
  EXPECT_EQ(response->result_int(), 500);
  EXPECT_THAT(response->body(), HasSubstr("recorded size"));
  EXPECT_EQ(response->body().find("0123"), std::string::npos);
}

// A download of a body still being copied: what is readable leaves at once, the loop stays free
// while the rest is waited for, and the whole body arrives once it is all readable.
TEST(HttpServerDiskTest, AGrowingBodyIsSentAsItGrows) {
  orb::testing::TempDir dir;
  const std::string content = Bytes(3 << 20);  // 12 chunks of 256 KiB
  auto body = std::make_shared<TestGrowingBody>(content);
  Fixture fixture(RealFileIo(), dir / "unused");
  fixture.growing = body;
  body->GrowTo(256 * 1024);
  TestClient download(fixture.server->port());
  ASSERT_TRUE(download.Write("GET /growing HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto first = download.ReadAtLeast(256 * 1024);
  ASSERT_TRUE(first.has_value()) << download.error().message();
  EXPECT_THAT(*first, ::testing::StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(*first, HasSubstr("Content-Length: " + std::to_string(content.size())));
  const auto body_start = first->find("\r\n\r\n") + 4;
  EXPECT_TRUE(first->substr(body_start) == content.substr(0, first->size() - body_start));

  ASSERT_TRUE(orb::testing::WaitFor([&] { return body->waiting() == 1; }, 5s));
  fixture.ExpectALongPollAnswered();

  body->GrowTo(1 << 20);
  ASSERT_TRUE(download.ReadAtLeast(body_start + (1 << 20)).has_value());
  body->GrowTo(content.size());
  const auto response = download.Read();
  ASSERT_TRUE(response.has_value()) << download.error().message();
  EXPECT_EQ(response->result_int(), 200);
  EXPECT_TRUE(response->body() == content);
  EXPECT_EQ(body->reads_beyond(), 0);
}

TEST(HttpServerDiskTest, ARangeOfAGrowingBodyIsSentOnceItsBytesAreReadable) {
  orb::testing::TempDir dir;
  const std::string content = Bytes(3 << 20);
  auto body = std::make_shared<TestGrowingBody>(content);
  Fixture fixture(RealFileIo(), dir / "unused");
  fixture.growing = body;
  TestClient download(fixture.server->port());
  ASSERT_TRUE(download.Write("GET /growing HTTP/1.1\r\nHost: t\r\nRange: bytes=2097152-\r\n\r\n"));
  // The head leaves at once (the size is known); the bytes wait for the copy to reach them.
  const auto head = download.ReadAtLeast(1);
  ASSERT_TRUE(head.has_value()) << download.error().message();
  ASSERT_TRUE(orb::testing::WaitFor([&] { return body->waiting() == 1; }, 5s));
  body->GrowTo(content.size());
  const auto response = download.Read();
  ASSERT_TRUE(response.has_value()) << download.error().message();
  EXPECT_EQ(response->result_int(), 206);
  EXPECT_EQ(response->at(testing::http::field::content_range), "bytes 2097152-3145727/3145728");
  EXPECT_TRUE(response->body() == content.substr(2 << 20));
  EXPECT_EQ(body->reads_beyond(), 0);

  TestClient head_only(fixture.server->port());
  ASSERT_TRUE(head_only.Write("HEAD /growing HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto announced = head_only.ReadAtLeast(1);
  ASSERT_TRUE(announced.has_value());
  EXPECT_THAT(*announced, HasSubstr("Content-Length: 3145728"));
}

TEST(HttpServerDiskTest, AGrowingBodyThatFailsCutsTheResponseShort) {
  orb::testing::TempDir dir;
  auto body = std::make_shared<TestGrowingBody>(Bytes(1 << 20));
  Fixture fixture(RealFileIo(), dir / "unused");
  fixture.growing = body;
  body->GrowTo(256 * 1024);
  TestClient download(fixture.server->port());
  ASSERT_TRUE(download.Write("GET /growing HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(download.ReadAtLeast(256 * 1024).has_value()) << download.error().message();
  body->Fail();
  // The head announced 1 MiB: the client sees the connection end before the body does.
  EXPECT_FALSE(download.Read().has_value());
  // The server goes on serving others.
  fixture.ExpectALongPollAnswered();
}

}  // namespace
}  // namespace orb::net
