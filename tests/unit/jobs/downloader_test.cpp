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
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/sha256.hpp"
#include "support/files.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"
#include "unit/jobs/artifact_server.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::orb::testing::ArtifactServer;
using ::orb::testing::FailsWith;
using ::orb::testing::FaultyRelay;
using ::orb::testing::IsOk;
using ::orb::testing::TcpRelay;
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
  options.control_plane_urls = {server_.Url("")};
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

TEST_F(DownloaderTest, TheCacheIsItsOwnersOnlyWhateverTheUmask) {
  const std::string sha = server_.Add(RandomBytes(1000, 11));
  ::orb::testing::ScopedUmask no_mask(0);
  ASSERT_THAT(Download(server_.Url("/public/" + sha), sha, cache_ / "artifacts", FastRetries()),
              IsOk());
  EXPECT_EQ(::orb::testing::Mode(cache_), 0700U);
  EXPECT_EQ(::orb::testing::Mode(cache_ / "artifacts"), 0700U);
  EXPECT_EQ(::orb::testing::Mode(cache_ / "artifacts" / sha), 0600U);
  EXPECT_EQ(::orb::testing::Mode(cache_ / "artifacts" / (sha + ".lock")), 0600U);
}

TEST_F(DownloaderTest, ARunsLeaseKeepsItsArtifactFromEvictionAndMarksItsLastUse) {
  const std::string sha = server_.Add(RandomBytes(5000, 12));
  const fs::path lock = cache_ / (sha + ".lock");
  auto first = Download(server_.Url("/public/" + sha), sha, cache_, FastRetries());
  ASSERT_THAT(first, IsOk());
  ASSERT_TRUE(first->lease);
  // Held (shared) by the run: neither the artifact nor its lock file may go.
  EXPECT_THAT(EvictCached(cache_, sha), ::testing::Optional(false));
  EXPECT_THAT(RemoveIdleLock(lock), ::testing::Optional(false));
  first->lease.reset();
  // Nobody holds it: the lock file may go; the next use makes a new one and marks the use.
  EXPECT_THAT(RemoveIdleLock(lock), ::testing::Optional(true));
  EXPECT_FALSE(fs::exists(lock));
  const auto long_ago = fs::file_time_type::clock::now() - std::chrono::hours(48);
  fs::last_write_time(cache_ / sha, long_ago);
  auto again = Download(server_.Url("/public/" + sha), sha, cache_, FastRetries());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->reused);
  EXPECT_TRUE(fs::exists(lock));
  EXPECT_GT(fs::last_write_time(cache_ / sha), long_ago + std::chrono::hours(47));
  EXPECT_THAT(EvictCached(cache_, sha), ::testing::Optional(false));
  again->lease.reset();
  EXPECT_THAT(EvictCached(cache_, sha), ::testing::Optional(true));
  EXPECT_FALSE(fs::exists(cache_ / sha));
  EXPECT_FALSE(fs::exists(lock));
  EXPECT_EQ(server_.requests(), 1);  // the reuse made no request
}

TEST_F(DownloaderTest, NeverSendsTheTokenOutsideTheControlPlane) {
  const std::string sha = server_.Add("public bytes");
  FaultyRelay relay({.upstream_port = server_.port()});
  DownloadOptions options = FastRetries();
  options.control_plane_urls = {server_.Url("/v1")};
  options.token = kToken;
  ASSERT_THAT(Download(relay.Url("/public/" + sha), sha, cache_, options), IsOk());
  ASSERT_EQ(server_.authorizations().size(), 1U);
  EXPECT_EQ(server_.authorizations()[0], "");
}

TEST_F(DownloaderTest, APathComesFromTheNextReplicaWhenOneIsDownOrCutsTheTransfer) {
  const std::string content = RandomBytes(4 << 20, 7);
  const std::string sha = server_.Add(content);
  // Replicas of the control plane, in order: one that is down (refused), one whose transfer is cut
  // after 300 KiB every time (its 5 attempts bring 1.5 of the 4 MiB), and one that works. All three
  // serve the same artifact.
  TcpRelay down({.upstream_port = server_.port(), .listen = false});
  FaultyRelay cutting({.upstream_port = server_.port(), .cut_after = 300 * 1024, .cuts = 100});
  DownloadOptions options = FastRetries();
  options.control_plane_urls = {down.Url(), cutting.Url(), server_.Url("")};
  options.token = kToken;
  auto result = Download("/v1/artifacts/" + sha, sha, cache_, options);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(ReadFile(cache_ / sha), content);
  // The last replica went on from what the cut transfers had delivered, with the token.
  EXPECT_EQ(cutting.connections(), 5);
  EXPECT_EQ(server_.requests(), 6);
  const auto ranges = server_.ranges();
  EXPECT_THAT(ranges.back(), StartsWith("bytes="));
  EXPECT_NE(ranges.back(), "bytes=0-");
  for (const auto& authorization : server_.authorizations())
    EXPECT_EQ(authorization, std::string("Bearer ") + kToken);
}

TEST_F(DownloaderTest, AReplicaThatRefusesTheRequestIsNotAReasonToAskAnother) {
  const std::string sha = server_.Add("bytes");
  ArtifactServer other(dir_ / "store", "another-token");  // 401 for our token
  DownloadOptions options = FastRetries();
  options.control_plane_urls = {other.Url(""), server_.Url("")};
  options.token = kToken;
  auto result = Download("/v1/artifacts/" + sha, sha, cache_, options);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::kHttp);
  EXPECT_EQ(server_.requests(), 0);
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

// A run that found no file and waits to download it stops waiting once another run has put the
// file in place: those using it hold its lock shared for as long as their jobs run, so waiting for
// the exclusive hold would last until every one of them ended.
TEST_F(DownloaderTest, AWaitingDownloadUsesTheFileAnotherRunPutInPlace) {
  const std::string content = RandomBytes(64 << 10, 8);
  const std::string sha = server_.Add(content);
  std::filesystem::create_directories(cache_);
  // Another run's shared hold, kept for the whole test (its job is running).
  const int user = ::open((cache_ / (sha + ".lock")).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(user, 0);
  ASSERT_EQ(::flock(user, LOCK_SH), 0);
  std::atomic<bool> waiting{false};
  DownloadOptions options = FastRetries();
  options.deadline = std::chrono::steady_clock::now() + 20s;  // so that a failure ends
  options.should_stop = [&] {
    waiting = true;  // polled only while a lock is waited for: here, the exclusive one
    return false;
  };
  auto run = std::async(std::launch::async, [&] {
    return Download(server_.Url("/public/" + sha), sha, cache_, options);
  });
  ASSERT_TRUE(WaitFor([&] { return waiting.load(); }, 10s));
  WriteFile(cache_ / sha, content);  // the other run's download, renamed into place
  const bool ended = run.wait_for(10s) == std::future_status::ready;
  ::close(user);
  ASSERT_TRUE(ended) << "still waiting for the exclusive hold while the file is in place";
  auto result = run.get();
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(result->reused);
  EXPECT_EQ(server_.requests(), 0);
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

// ---------------------------------------------------------------- redirects, sanitized errors

TEST_F(DownloaderTest, ErrorsNeverCarryAPresignedQueryString) {
  const std::string sha = server_.Add("x");
  const std::string url = server_.Url("/public/missing?X-Amz-Signature=s3cr3t&token=t0ken");
  auto result = Download(url, sha, cache_, FastRetries());
  ASSERT_THAT(result, FailsWith(Errc::kHttp));
  const std::string described = result.error().Describe();
  EXPECT_THAT(described, HasSubstr("/public/missing?[redacted] answered 404"));
  EXPECT_EQ(described.find("s3cr3t"), std::string::npos) << described;
  EXPECT_EQ(described.find("t0ken"), std::string::npos) << described;
  auto bad = Download("ftp://user:pw@host/x?sig=abc", std::string(64, 'a'), cache_);
  ASSERT_THAT(bad, FailsWith(Errc::kInvalidRequest));
  EXPECT_EQ(bad.error().Describe().find("pw@"), std::string::npos) << bad.error().Describe();
  EXPECT_EQ(bad.error().Describe().find("abc"), std::string::npos) << bad.error().Describe();
}

TEST_F(DownloaderTest, FollowsARedirectToAnObjectStoreWithoutTheToken) {
  // fleet-cmdr answers its artifact URL with a redirect to a presigned object-store URL (another
  // origin): the token goes to fleet-cmdr only.
  const std::string content = RandomBytes(300 * 1024, 9);
  fs::create_directories(dir_ / "store2");
  ArtifactServer store(dir_ / "store2", "not-the-agent-token");
  const std::string sha = store.Add(content);
  server_.AddRedirect("/v1/artifacts/" + sha,
                      store.Url("/public/" + sha + "?X-Amz-Signature=abc&X-Amz-Expires=60"));
  DownloadOptions options = FastRetries();
  options.control_plane_urls = {server_.Url("")};
  options.token = kToken;
  auto result = Download("/v1/artifacts/" + sha, sha, cache_, options);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(ReadFile(result->path), content);
  ASSERT_EQ(server_.authorizations().size(), 1U);
  EXPECT_EQ(server_.authorizations()[0], std::string("Bearer ") + kToken);
  ASSERT_EQ(store.authorizations().size(), 1U);
  EXPECT_EQ(store.authorizations()[0], "");
}

TEST_F(DownloaderTest, FollowsRelativeRedirectsAndStopsAfterFive) {
  const std::string sha = server_.Add(RandomBytes(5000, 10));
  // /hop/1 -> /hop/2 -> ... -> /hop/5 -> /public/<sha>: five redirects are followed.
  for (int i = 1; i <= 5; ++i) {
    server_.AddRedirect("/hop/" + std::to_string(i),
                        i < 5 ? "/hop/" + std::to_string(i + 1) : "/public/" + sha, 307);
  }
  ASSERT_THAT(Download(server_.Url("/hop/1"), sha, cache_, FastRetries()), IsOk());
  // A sixth is refused, and the error says why without retrying.
  fs::remove_all(cache_);
  server_.AddRedirect("/loop/0", "/hop/1", 301);
  auto result = Download(server_.Url("/loop/0"), sha, cache_, FastRetries());
  ASSERT_THAT(result, FailsWith(Errc::kHttp));
  EXPECT_FALSE(result.error().retryable);
  EXPECT_THAT(result.error().message, HasSubstr("more than 5 redirects"));
}

TEST(NextHopTest, RefusesHttpsToHttpAndKeepsTheTokenOnTheControlPlaneOnly) {
  DownloadOptions options;
  options.control_plane_urls = {"https://fleet.example:8443/"};
  options.token = "t";
  auto same =
      NextHop("https://fleet.example:8443/v1/artifacts/a", "/v1/artifacts/b?x=1", 0, options);
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ(same->url, "https://fleet.example:8443/v1/artifacts/b?x=1");
  EXPECT_TRUE(same->send_token);
  auto other = NextHop("https://fleet.example:8443/v1/artifacts/a",
                       "https://bucket.s3.example/a?sig=1#frag", 0, options);
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->url, "https://bucket.s3.example/a?sig=1");
  EXPECT_FALSE(other->send_token);
  auto other_port =
      NextHop("https://fleet.example:8443/a", "https://fleet.example:9443/a", 0, options);
  ASSERT_THAT(other_port, IsOk());
  EXPECT_FALSE(other_port->send_token);
  auto relative = NextHop("http://mirror.example/dir/a.zip", "../b.zip", 1, options);
  ASSERT_THAT(relative, IsOk());
  EXPECT_EQ(relative->url, "http://mirror.example/b.zip");
  auto upgrade = NextHop("http://mirror.example/a", "https://mirror.example/a", 0, options);
  EXPECT_THAT(upgrade, IsOk());

  auto downgrade = NextHop("https://mirror.example/a", "http://mirror.example/a?sig=x", 0, options);
  ASSERT_THAT(downgrade, FailsWith(Errc::kHttp));
  EXPECT_FALSE(downgrade.error().retryable);
  EXPECT_THAT(downgrade.error().message, HasSubstr("https to http"));
  EXPECT_EQ(downgrade.error().message.find("sig=x"), std::string::npos);
  EXPECT_THAT(NextHop("https://a/x", "file:///etc/passwd", 0, options), FailsWith(Errc::kHttp));
  EXPECT_THAT(NextHop("https://a/x", "https://b/y", 5, options), FailsWith(Errc::kHttp));
  EXPECT_THAT(NextHop("https://a/x", "https://b/y", 4, options), IsOk());
}

}  // namespace
}  // namespace orb::jobs
