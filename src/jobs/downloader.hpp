#pragma once

// Downloads of artifacts into the one shared cache (job-types.md §1 "Downloads", `cache/artifacts`;
// §3 INSTALL_SERVER step 2, SYNC_MODS; protocol.md §5 `GET /v1/artifacts/{sha256}`).
//
// Thread-safety: Download may run on many threads at once, for the same or different sha256:
// one cross-thread and cross-process lock file per sha256 (`<sha256>.lock`, flock) serialises the
// downloads of one artifact (held exclusively); the second waiter then finds the verified file and
// reuses it. Whoever uses a cached file holds the same lock shared (CacheLease) for as long as it
// uses it, so the agent's retention, which evicts only what it can lock exclusively at once
// (EvictCached), never removes a file a running job reads. A lock file may be removed while nobody
// holds it (RemoveIdleLock): every locker checks, once it holds the lock, that the file it locked
// is still the one under that name, and locks again if not.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "net/retry.hpp"

namespace orb::jobs {

struct DownloadOptions {
  std::uint64_t max_bytes = std::uint64_t{16} << 30;  // larger artifacts are refused
  std::optional<std::uint64_t> expected_size{};       // the payload's `size`: checked, and the
                                                      // total given to progress
  // fleet-cmdr's replicas, in the agent's order of preference: URLs under any of these bases (same
  // scheme, host and port, path below it) get the bearer token; a URL that is just a path
  // ("/v1/artifacts/<sha256>") is fetched from the first, and from the next when one cannot be
  // reached or answers 502/503/504 after its retries (resuming the .part: the bytes are checked
  // against the sha256 in the end). The token is never sent anywhere else.
  std::vector<std::string> control_plane_urls{};
  std::optional<std::string> token{};
  std::optional<std::filesystem::path> ca_file{};  // https: trusted CAs (default: the system's)
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds attempt_timeout{std::chrono::hours(1)};  // one HTTP request
  // Nothing of the download waits past this (kTimeout, retryable, the .part stays).
  std::optional<std::chrono::steady_clock::time_point> deadline{};
  net::RetryPolicy retry{.initial_delay = std::chrono::milliseconds(500),
                         .max_delay = std::chrono::milliseconds(30'000),
                         .max_attempts = 5};
  std::function<void(std::uint64_t bytes, std::uint64_t total)> progress{};  // total 0: unknown
  std::function<bool()> should_stop{};  // true: cancel; polled about every 50 ms
  std::chrono::milliseconds poll_interval{50};
};

// A run's hold on a cached artifact: `<sha256>.lock` locked shared until the lease goes.
class CacheLease {
 public:
  explicit CacheLease(int fd) : fd_(fd) {}
  ~CacheLease();  // closing the descriptor releases the flock
  CacheLease(const CacheLease&) = delete;
  CacheLease& operator=(const CacheLease&) = delete;

 private:
  int fd_;
};

struct DownloadResult {
  std::filesystem::path path;  // cache_dir/<sha256>, verified
  std::uint64_t bytes = 0;
  bool reused = false;             // found complete in the cache: no request was made
  std::uint64_t resumed_from = 0;  // bytes of an earlier .part kept
  // Keep it (or a copy of the result) while the file is used: the retention leaves it alone.
  std::shared_ptr<const CacheLease> lease{};
};

// Makes sure cache_dir/<expected_sha256> holds the artifact at `url` (http://, https://, file://,
// or a fleet-cmdr path as above) and returns it, with a lease on it; the file's mtime is set to
// now on every use (what the retention's least-recently-used order goes by). Redirects (301, 302, 303, 307, 308) are followed
// as NextHop says, each hop resuming with `Range` like the first. A cached file with the right hash is reused; a
// cached file with the wrong hash is deleted and downloaded again. The bytes go to
// cache_dir/<sha256>.part, resumed with `Range` from where an earlier attempt or run stopped, then
// are checked and renamed (fsynced) into place, so the final name only ever holds verified bytes.
// Errors:
//   kInvalidRequest      expected_sha256 is not 64 hex digits, the URL is unsupported
//   kChecksumMismatch    the bytes do not hash to expected_sha256 (the .part is deleted); not
//                        retryable
//   kPayloadTooLarge     more than max_bytes, or more than expected_size (the .part is deleted)
//   kHttp                a non-2xx answer (retryable for 408, 429, 5xx), a bad Content-Range, a
//                        redirect NextHop refuses (not retryable)
//   kNetwork, kTimeout   retryable, after the retry policy gave up (the .part stays, resumable)
//   kNotFound            a file:// source that does not exist
//   kIo                  the cache cannot be written
//   kCancelled           should_stop said so (the .part stays, resumable; no final file)
// URLs in messages and errors are sanitized (common/sanitize.hpp): a presigned URL's query string
// never reaches a log or run.error.
Expected<DownloadResult> Download(const std::string& url, const std::string& expected_sha256,
                                  const std::filesystem::path& cache_dir,
                                  const DownloadOptions& options = {});

// Where a redirect leads, decided without I/O. `location` (the Location header) is resolved
// against `current` (an absolute http(s) URL); `followed` is how many redirects this download has
// followed before this one. The token goes with the next request only when the new URL is under
// one of options.control_plane_urls, by the same rule as the first request, so a redirect from
// fleet-cmdr to an object store never carries it.
// Errors (kHttp, not retryable): more than kMaxRedirects, https to http, a Location that is not an
// http(s) URL.
inline constexpr int kMaxRedirects = 5;

// For the agent's retention. Evicts the artifact `sha256` from `cache_dir` (the verified file, its
// .part and its lock file) unless someone holds its lock: true when evicted, false when in use.
// Errors: kIo.
Expected<bool> EvictCached(const std::filesystem::path& cache_dir, const std::string& sha256);
// Removes a lock file nobody holds: true when removed, false when held or already gone.
// Errors: kIo.
Expected<bool> RemoveIdleLock(const std::filesystem::path& lock_file);
struct DownloadHop {
  std::string url;
  bool send_token = false;
};
Expected<DownloadHop> NextHop(const std::string& current, std::string_view location, int followed,
                              const DownloadOptions& options);

}  // namespace orb::jobs
