#include "jobs/downloader.hpp"

#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/sha256.hpp"
#include "net/http_server.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::orb::testing::TempDir;
using ::orb::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kToken[] = "agent-token-1";

std::string RandomBytes(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (auto& c : out)
    c = static_cast<char>(random());
  return out;
}

void WriteFile(const fs::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// fleet-cmdr's artifact store in miniature, on net::HttpServer: GET /v1/artifacts/<sha256> with
// the agent's token (Range served by the server), /public/<sha256> without. Can fail the first N
// requests with 503. Records every request's Range and Authorization headers.
class ArtifactServer {
 public:
  explicit ArtifactServer(const fs::path& dir) : dir_(dir) {
    server_ = std::make_unique<net::HttpServer>(
        net::HttpServerOptions{},
        [this](net::HttpRequest&& request, std::shared_ptr<net::Responder> responder) {
          responder->Send(Handle(request));
        });
    EXPECT_THAT(server_->Start(), IsOk());
  }
  ~ArtifactServer() { server_->Stop(); }

  // Stores `content`, returns its sha256.
  std::string Add(const std::string& content) {
    const std::string sha = Sha256Hex(content);
    WriteFile(dir_ / sha, content);
    return sha;
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::uint16_t port() const { return server_->port(); }
  void FailFirst(int n) { fail_left_ = n; }
  int requests() const { return requests_.load(); }
  std::vector<std::string> ranges() const {
    std::lock_guard lock(mutex_);
    return ranges_;
  }
  std::vector<std::string> authorizations() const {
    std::lock_guard lock(mutex_);
    return authorizations_;
  }

 private:
  net::HttpResponse Handle(const net::HttpRequest& request) {
    ++requests_;
    const std::string* range = request.FindHeader("Range");
    const std::string* auth = request.FindHeader("Authorization");
    {
      std::lock_guard lock(mutex_);
      ranges_.push_back(range != nullptr ? *range : "");
      authorizations_.push_back(auth != nullptr ? *auth : "");
    }
    net::HttpResponse response;
    if (fail_left_.fetch_sub(1) > 0) {
      response.status = 503;
      response.body = net::ErrorBody("unavailable", "try later");
      return response;
    }
    std::string name;
    if (request.path.rfind("/v1/artifacts/", 0) == 0) {
      if (auth == nullptr || *auth != std::string("Bearer ") + kToken) {
        response.status = 401;
        response.body = net::ErrorBody("unauthenticated", "no token");
        return response;
      }
      name = request.path.substr(14);
    } else if (request.path.rfind("/public/", 0) == 0) {
      name = request.path.substr(8);
    }
    if (name.empty() || name.find('/') != std::string::npos || !fs::exists(dir_ / name)) {
      response.status = 404;
      response.body = net::ErrorBody("not_found", "no such artifact");
      return response;
    }
    response.content_type = "application/octet-stream";
    response.file = dir_ / name;
    return response;
  }

  fs::path dir_;
  std::unique_ptr<net::HttpServer> server_;
  std::atomic<int> fail_left_{0};
  std::atomic<int> requests_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> ranges_;
  std::vector<std::string> authorizations_;
};

// A byte relay in front of the artifact server (no HTTP in it): throttles what flows back to the
// client and cuts the first `cuts` connections after `cut_after` response bytes.
class FaultyRelay {
 public:
  struct Options {
    std::uint16_t upstream_port = 0;
    std::size_t bytes_per_second = 0;  // 0: unthrottled
    std::size_t cut_after = 0;
    int cuts = 0;
  };

  explicit FaultyRelay(Options options) : options_(options), cuts_left_(options.cuts) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listener_, 16), 0);
    socklen_t length = sizeof(address);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    accepter_ = std::thread([this] { Accept(); });
  }
  ~FaultyRelay() {
    stop_ = true;
    accepter_.join();
    for (auto& thread : pipes_)
      thread.join();
    ::close(listener_);
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  void Accept() {
    while (!stop_) {
      pollfd poll_fd{listener_, POLLIN, 0};
      if (::poll(&poll_fd, 1, 20) <= 0) continue;
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(options_.upstream_port);
      if (::connect(upstream, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(client);
        ::close(upstream);
        continue;
      }
      const bool cut = cuts_left_.fetch_sub(1) > 0;
      pipes_.emplace_back([this, client, upstream, cut] { Pipe(client, upstream, cut); });
    }
  }

  void Pipe(int client, int upstream, bool cut) {
    std::vector<char> buffer(16 * 1024);
    std::size_t sent_back = 0;
    const auto start = std::chrono::steady_clock::now();
    while (!stop_) {
      pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (::poll(fds, 2, 20) <= 0) continue;
      if (fds[0].revents != 0) {
        const ssize_t n = ::read(client, buffer.data(), buffer.size());
        if (n <= 0 || ::write(upstream, buffer.data(), static_cast<std::size_t>(n)) != n) break;
      }
      if (fds[1].revents != 0) {
        std::size_t want = buffer.size();
        if (options_.bytes_per_second > 0) want = std::min(want, options_.bytes_per_second / 20);
        if (cut) want = std::min(want, options_.cut_after - sent_back);
        const ssize_t n = ::read(upstream, buffer.data(), want);
        if (n <= 0 || ::write(client, buffer.data(), static_cast<std::size_t>(n)) != n) break;
        sent_back += static_cast<std::size_t>(n);
        if (cut && sent_back >= options_.cut_after) break;
        if (options_.bytes_per_second > 0) {
          // Throttling is the point here, not a wait for a condition.
          const auto due =
              start + std::chrono::microseconds(sent_back * 1'000'000 / options_.bytes_per_second);
          std::this_thread::sleep_until(due);
        }
      }
    }
    ::close(client);
    ::close(upstream);
  }

  Options options_;
  std::atomic<int> cuts_left_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accepter_;
  std::vector<std::thread> pipes_;  // only touched by the accepter, joined after it
};

DownloadOptions FastRetries() {
  DownloadOptions options;
  options.retry.initial_delay = 10ms;
  options.retry.max_delay = 50ms;
  options.retry.max_attempts = 5;
  options.connect_timeout = 2s;
  options.attempt_timeout = 20s;
  return options;
}

class DownloaderTest : public ::testing::Test {
 protected:
  DownloaderTest() { fs::create_directories(dir_ / "store"); }

  TempDir dir_;
  ArtifactServer server_{dir_ / "store"};
  fs::path cache_ = dir_ / "cache";
};

TEST_F(DownloaderTest, DownloadsAControlPlaneArtifactWithTheTokenAndThenReusesIt) {
  const std::string content = RandomBytes(700 * 1024, 1);
  const std::string sha = server_.Add(content);
  DownloadOptions options = FastRetries();
  options.control_plane_url = server_.Url("");
  options.token = kToken;
  options.expected_size = content.size();
  std::uint64_t last_progress = 0;
  options.progress = [&](std::uint64_t bytes, std::uint64_t) { last_progress = bytes; };

  auto result = Download("/v1/artifacts/" + sha, sha, cache_, options);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->path, cache_ / sha);
  EXPECT_FALSE(result->reused);
  EXPECT_EQ(ReadFile(cache_ / sha), content);
  EXPECT_FALSE(fs::exists(cache_ / (sha + ".part")));
  EXPECT_EQ(last_progress, content.size());
  EXPECT_EQ(server_.authorizations().at(0), std::string("Bearer ") + kToken);

  auto again = Download(server_.Url("/v1/artifacts/" + sha), sha, cache_, options);
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->reused);
  EXPECT_EQ(server_.requests(), 1);
}

TEST_F(DownloaderTest, NeverSendsTheTokenOutsideTheControlPlane) {
  const std::string sha = server_.Add("public bytes");
  FaultyRelay relay({.upstream_port = server_.port()});
  DownloadOptions options = FastRetries();
  options.control_plane_url = server_.Url("/v1");
  options.token = kToken;
  ASSERT_THAT(Download(relay.Url("/public/" + sha), sha, cache_, options), IsOk());
  ASSERT_EQ(server_.authorizations().size(), 1U);
  EXPECT_EQ(server_.authorizations()[0], "");
}

TEST_F(DownloaderTest, ResumesWithRangeAfterTheBodyIsCut) {
  const std::string content = RandomBytes(2 << 20, 2);
  const std::string sha = server_.Add(content);
  FaultyRelay relay({.upstream_port = server_.port(), .cut_after = 300 * 1024, .cuts = 1});
  auto result = Download(relay.Url("/public/" + sha), sha, cache_, FastRetries());
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(ReadFile(cache_ / sha), content);
  const auto ranges = server_.ranges();
  ASSERT_EQ(ranges.size(), 2U);
  EXPECT_EQ(ranges[0], "");
  EXPECT_THAT(ranges[1], StartsWith("bytes="));
  EXPECT_NE(ranges[1], "bytes=0-");
}

TEST_F(DownloaderTest, ResumesAPartFileLeftByAnEarlierRun) {
  const std::string content = RandomBytes(500 * 1024, 3);
  const std::string sha = server_.Add(content);
  fs::create_directories(cache_);
  WriteFile(cache_ / (sha + ".part"), content.substr(0, 1000));
  auto result = Download(server_.Url("/public/" + sha), sha, cache_, FastRetries());
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->resumed_from, 1000U);
  EXPECT_EQ(server_.ranges(), std::vector<std::string>{"bytes=1000-"});
  EXPECT_EQ(ReadFile(cache_ / sha), content);
}

TEST_F(DownloaderTest, RetriesWhenTheFirstRequestsFail) {
  const std::string sha = server_.Add(RandomBytes(10'000, 4));
  server_.FailFirst(2);
  ASSERT_THAT(Download(server_.Url("/public/" + sha), sha, cache_, FastRetries()), IsOk());
  EXPECT_EQ(server_.requests(), 3);
}

TEST_F(DownloaderTest, GivesUpWithARetryableHttpErrorWhenTheServerKeepsFailing) {
  const std::string sha = server_.Add("x");
  server_.FailFirst(100);
  DownloadOptions options = FastRetries();
  options.retry.max_attempts = 3;
  auto result = Download(server_.Url("/public/" + sha), sha, cache_, options);
  ASSERT_THAT(result, FailsWith(Errc::kHttp));
  EXPECT_TRUE(result.error().retryable);
  EXPECT_EQ(server_.requests(), 3);
}

TEST_F(DownloaderTest, AHashMismatchDeletesThePartAndFails) {
  const std::string sha = server_.Add("the real bytes");
  fs::rename(dir_ / "store" / sha, dir_ / "store/swapped");
  WriteFile(dir_ / "store/swapped", "tampered bytes");
  auto result = Download(server_.Url("/public/swapped"), sha, cache_, FastRetries());
  ASSERT_THAT(result, FailsWith(Errc::kChecksumMismatch));
  EXPECT_FALSE(result.error().retryable);
  EXPECT_FALSE(fs::exists(cache_ / sha));
  EXPECT_FALSE(fs::exists(cache_ / (sha + ".part")));
}

TEST_F(DownloaderTest, CancelMidDownloadKeepsAResumablePartButNoFinalFile) {
  const std::string content = RandomBytes(2 << 20, 5);
  const std::string sha = server_.Add(content);
  std::atomic<bool> cancel{false};
  std::atomic<std::uint64_t> progress{0};
  DownloadOptions options = FastRetries();
  options.should_stop = [&] { return cancel.load(); };
  options.progress = [&](std::uint64_t bytes, std::uint64_t) { progress = bytes; };
  Expected<DownloadResult> result = Fail(Errc::kInternal, "not run");
  {
    FaultyRelay slow({.upstream_port = server_.port(), .bytes_per_second = 256 * 1024});
    auto running = std::async(std::launch::async, [&] {
      return Download(slow.Url("/public/" + sha), sha, cache_, options);
    });
    ASSERT_TRUE(WaitFor([&] { return progress.load() > 100'000; }, 10s));
    cancel = true;
    ASSERT_EQ(running.wait_for(5s), std::future_status::ready);
    result = running.get();
  }
  EXPECT_THAT(result, FailsWith(Errc::kCancelled));
  EXPECT_FALSE(fs::exists(cache_ / sha));
  const auto kept = fs::file_size(cache_ / (sha + ".part"));
  EXPECT_GT(kept, 0U);
  EXPECT_LT(kept, content.size());

  auto resumed = Download(server_.Url("/public/" + sha), sha, cache_, FastRetries());
  ASSERT_THAT(resumed, IsOk());
  EXPECT_EQ(resumed->resumed_from, kept);
  EXPECT_EQ(ReadFile(cache_ / sha), content);
}

TEST_F(DownloaderTest, ConcurrentDownloadsOfOneArtifactShareOneTransfer) {
  const std::string content = RandomBytes(1 << 20, 6);
  const std::string sha = server_.Add(content);
  FaultyRelay slow({.upstream_port = server_.port(), .bytes_per_second = 4 << 20});
  std::vector<std::future<Expected<DownloadResult>>> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(std::async(std::launch::async, [&] {
      return Download(slow.Url("/public/" + sha), sha, cache_, FastRetries());
    }));
  }
  for (auto& run : runs)
    EXPECT_THAT(run.get(), IsOk());
  EXPECT_EQ(server_.requests(), 1);
  EXPECT_EQ(*Sha256FileHex(cache_ / sha), sha);
}

TEST_F(DownloaderTest, CopiesFileUrlsAndReportsAMissingFile) {
  const std::string content = RandomBytes(300'000, 7);
  WriteFile(dir_ / "local.bin", content);
  const std::string sha = Sha256Hex(content);
  auto result = Download("file://" + (dir_ / "local.bin").string(), sha, cache_);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(ReadFile(cache_ / sha), content);
  EXPECT_THAT(Download("file://" + (dir_ / "nope.bin").string(), std::string(64, 'a'), cache_),
              FailsWith(Errc::kNotFound));
}

TEST_F(DownloaderTest, RefusesArtifactsOverTheSizeLimit) {
  const std::string content = RandomBytes(400'000, 8);
  const std::string sha = server_.Add(content);
  WriteFile(dir_ / "local.bin", content);
  DownloadOptions options = FastRetries();
  options.max_bytes = 100'000;
  EXPECT_THAT(Download(server_.Url("/public/" + sha), sha, cache_, options),
              FailsWith(Errc::kPayloadTooLarge));
  EXPECT_THAT(Download("file://" + (dir_ / "local.bin").string(), sha, cache_, options),
              FailsWith(Errc::kPayloadTooLarge));
  options.max_bytes = 1 << 20;
  options.expected_size = 1000;  // the payload's size is a limit too
  EXPECT_THAT(Download(server_.Url("/public/" + sha), sha, cache_, options),
              FailsWith(Errc::kPayloadTooLarge));
  EXPECT_FALSE(fs::exists(cache_ / sha));
  EXPECT_FALSE(fs::exists(cache_ / (sha + ".part")));
}

TEST_F(DownloaderTest, RejectsBadHashesAndUnsupportedUrls) {
  EXPECT_THAT(Download(server_.Url("/public/x"), "../../etc/passwd", cache_),
              FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Download("ftp://host/x", std::string(64, 'a'), cache_),
              FailsWith(Errc::kInvalidRequest));
  auto relative = Download("/v1/artifacts/x", std::string(64, 'a'), cache_);
  ASSERT_THAT(relative, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(relative.error().message, HasSubstr("control plane"));
}

}  // namespace
}  // namespace orb::jobs
