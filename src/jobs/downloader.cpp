#include "jobs/downloader.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sanitize.hpp"
#include "common/sha256.hpp"
#include "net/http_client.hpp"
#include "os/fs.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::uint64_t SizeOrZero(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

Status FsyncPath(const fs::path& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return Fail(Errc::kIo, "cannot fsync " + path.string() + ": " + ErrnoText(errno));
  }
  return Ok();
}

// Where the bytes come from.
struct Source {
  enum class Kind { kHttp, kFile } kind = Kind::kHttp;
  std::string origin;  // "https://host:port"
  std::string target;  // "/path?query"
  bool send_token = false;
  fs::path file;  // kFile

  std::string Url() const { return origin + target; }
};

std::string Origin(const boost::urls::url_view& url) {
  std::string origin = std::string(url.scheme()) + "://" + std::string(url.encoded_host_address());
  if (url.has_port()) origin += ":" + std::string(url.port());
  return origin;
}

std::uint16_t EffectivePort(const boost::urls::url_view& url) {
  if (url.has_port()) return url.port_number();
  return url.scheme() == "https" ? 443 : 80;
}

// True when `url` is under the control plane base `base_url` (same scheme, host and port, path
// below it): such a URL gets the agent's token.
bool UnderControlPlane(const boost::urls::url_view& url, const std::string& base_url) {
  auto base = boost::urls::parse_uri(base_url);
  if (!base || base->scheme() != url.scheme() || base->host() != url.host() ||
      EffectivePort(*base) != EffectivePort(url)) {
    return false;
  }
  std::string prefix = std::string(base->encoded_path());
  while (!prefix.empty() && prefix.back() == '/')
    prefix.pop_back();
  const std::string path = std::string(url.encoded_path());
  return path.compare(0, prefix.size(), prefix) == 0 &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// True when the token goes with a request for `url`: it is under one of the control plane URLs.
bool SendsToken(const boost::urls::url_view& url, const DownloadOptions& options) {
  if (!options.token) return false;
  return std::any_of(options.control_plane_urls.begin(), options.control_plane_urls.end(),
                     [&](const std::string& base) { return UnderControlPlane(url, base); });
}

Source HttpSource(const boost::urls::url_view& url, const DownloadOptions& options) {
  Source source;
  source.origin = Origin(url);
  source.target = std::string(url.encoded_path());
  if (source.target.empty()) source.target = "/";
  if (url.has_query()) source.target += "?" + std::string(url.encoded_query());
  source.send_token = SendsToken(url, options);
  return source;
}

Expected<Source> ResolveSource(const std::string& raw, std::string text,
                               const DownloadOptions& options) {
  const std::string shown = SanitizeUrl(raw);
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return Fail(Errc::kInvalidRequest, "artifact URL '" + shown + "' is not a URL");
  const boost::urls::url_view url = *parsed;
  Source source;
  if (url.scheme() == "file") {
    if (!url.host().empty() && url.host() != "localhost") {
      return Fail(Errc::kInvalidRequest, "file URL '" + shown + "' names a remote host");
    }
    source.kind = Source::Kind::kFile;
    source.file = std::string(url.path());
    return source;
  }
  if (url.scheme() != "http" && url.scheme() != "https") {
    return Fail(Errc::kInvalidRequest, "artifact URL '" + shown + "': unsupported scheme");
  }
  if (url.host().empty())
    return Fail(Errc::kInvalidRequest, "artifact URL '" + shown + "' has no host");
  return HttpSource(url, options);
}

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Where the bytes may come from, in order: one source for a URL; for a path, one per control
// plane replica.
Expected<std::vector<Source>> ResolveSources(const std::string& raw,
                                             const DownloadOptions& options) {
  std::vector<Source> sources;
  if (raw.empty() || raw.front() != '/') {
    auto source = ResolveSource(raw, raw, options);
    if (!source) return Fail(std::move(source.error()));
    sources.push_back(std::move(*source));
    return sources;
  }
  if (options.control_plane_urls.empty()) {
    return Fail(Errc::kInvalidRequest, "artifact URL '" + SanitizeUrl(raw) +
                                           "' is a path but no control plane URL is configured");
  }
  for (std::string base : options.control_plane_urls) {
    while (!base.empty() && base.back() == '/')
      base.pop_back();
    auto source = ResolveSource(raw, base + raw, options);
    if (!source) return Fail(std::move(source.error()));
    sources.push_back(std::move(*source));
  }
  return sources;
}

// `<sha256>.lock` held by flock (excludes other threads and other processes alike): exclusively
// to download, shared to use. Waits (polling for cancel and the deadline) unless `wait` is false.
// Once held, checks that the file locked is still the one under that name (RemoveIdleLock may
// have removed it meanwhile) and locks the new one if not.
class ShaLock {
 public:
  static Expected<ShaLock> Acquire(const fs::path& path, const DownloadOptions& options,
                                   bool exclusive) {
    auto lock = AcquireUnless(path, options, exclusive, nullptr);
    if (!lock) return Fail(std::move(lock.error()));
    return std::move(**lock);
  }
  // As Acquire, but stops waiting (nullopt) once `stop_waiting` says so: a run waiting to
  // download stops when another has put the file in place, since those using it hold the lock
  // shared for as long as their jobs run.
  static Expected<std::optional<ShaLock>> AcquireUnless(const fs::path& path,
                                                        const DownloadOptions& options,
                                                        bool exclusive,
                                                        const std::function<bool()>& stop_waiting) {
    for (;;) {
      ShaLock lock(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, os::kPrivateFileMode));
      if (lock.fd_ < 0) {
        return Fail(Errc::kIo, "cannot open lock " + path.string() + ": " + ErrnoText(errno));
      }
      for (;;) {
        if (::flock(lock.fd_, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
          return Fail(Errc::kIo, "cannot lock " + path.string() + ": " + ErrnoText(errno));
        }
        if (options.should_stop && options.should_stop()) {
          return Fail(Errc::kCancelled, "download cancelled while waiting for " + path.string());
        }
        if (options.deadline && SteadyClock::now() >= *options.deadline) {
          return Fail(Errc::kTimeout, "deadline passed waiting for " + path.string(), true);
        }
        if (stop_waiting && stop_waiting()) return std::optional<ShaLock>();
        std::this_thread::sleep_for(std::min(options.poll_interval, milliseconds(50)));
      }
      if (lock.StillNamed(path)) return std::optional<ShaLock>(std::move(lock));
    }
  }
  // Without waiting: nullopt when someone holds it (or its file went).
  static Expected<std::optional<ShaLock>> TryExclusive(const fs::path& path, bool create) {
    ShaLock lock(
        ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), os::kPrivateFileMode));
    if (lock.fd_ < 0) {
      if (errno == ENOENT) return std::optional<ShaLock>();
      return Fail(Errc::kIo, "cannot open lock " + path.string() + ": " + ErrnoText(errno));
    }
    if (::flock(lock.fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK || errno == EINTR) return std::optional<ShaLock>();
      return Fail(Errc::kIo, "cannot lock " + path.string() + ": " + ErrnoText(errno));
    }
    if (!lock.StillNamed(path)) return std::optional<ShaLock>();
    return std::optional<ShaLock>(std::move(lock));
  }
  ShaLock(ShaLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ShaLock& operator=(ShaLock&&) = delete;
  ShaLock(const ShaLock&) = delete;
  ShaLock& operator=(const ShaLock&) = delete;
  ~ShaLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }

  // Turns an exclusive hold into a shared one (not atomic: check the file again afterwards).
  Status Share(const fs::path& path) {
    if (::flock(fd_, LOCK_SH) != 0) {
      return Fail(Errc::kIo, "cannot lock " + path.string() + ": " + ErrnoText(errno));
    }
    return Ok();
  }
  // Hands the hold over to a lease.
  std::shared_ptr<const CacheLease> ToLease() {
    return std::make_shared<const CacheLease>(std::exchange(fd_, -1));
  }

 private:
  explicit ShaLock(int fd) : fd_(fd) {}
  bool StillNamed(const fs::path& path) const {
    struct stat held {};
    struct stat named {};
    return ::fstat(fd_, &held) == 0 && ::stat(path.c_str(), &named) == 0 &&
           held.st_ino == named.st_ino && held.st_dev == named.st_dev;
  }
  int fd_;
};

// Hashes the .part as it grows, from the page cache behind the writer, and starts its writeback,
// so that neither a second pass over the file nor a long fsync follows the transfer
// (bench/install). Used by one thread at a time: the Watcher's, then, after that thread has
// been joined, the downloading one. Any sign that the file changed other than by growing (it
// shrank, or was replaced) makes Digest() decline, and the caller hashes the file whole.
class GrowingFileHasher {
 public:
  explicit GrowingFileHasher(fs::path path) : path_(std::move(path)) {}

  // Hashes the bytes up to `size` not hashed yet.
  void CatchUp(std::uint64_t size) {
    if (broken_ || size <= hashed_) {
      if (size < hashed_) broken_ = true;
      return;
    }
    if (fd_.get() < 0) {
      fd_ = Fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
      struct stat st {};
      if (fd_.get() < 0 || ::fstat(fd_.get(), &st) != 0) return Break();
      inode_ = st.st_ino;
    }
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0 || st.st_ino != inode_) return Break();
    if (buffer_.empty()) buffer_.resize(std::size_t{1} << 20);
    while (hashed_ < size) {
      const auto want =
          static_cast<std::size_t>(std::min<std::uint64_t>(size - hashed_, buffer_.size()));
      const ssize_t n = ::pread(fd_.get(), buffer_.data(), want, static_cast<off_t>(hashed_));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Break();
      hash_.Update(buffer_.data(), static_cast<std::size_t>(n));
      hashed_ += static_cast<std::uint64_t>(n);
    }
    ::sync_file_range(fd_.get(), static_cast<off_t>(flushed_),
                      static_cast<off_t>(hashed_ - flushed_), SYNC_FILE_RANGE_WRITE);
    flushed_ = hashed_;
  }

  // The digest of the whole file of `size` bytes, or nullopt when it must be hashed afresh.
  std::optional<std::string> Digest(std::uint64_t size) {
    CatchUp(size);
    if (broken_ || hashed_ != size) return std::nullopt;
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != size) {
      return std::nullopt;
    }
    return hash_.FinishHex();
  }

 private:
  void Break() { broken_ = true; }

  fs::path path_;
  Fd fd_;
  ino_t inode_ = 0;
  Sha256 hash_;
  std::uint64_t hashed_ = 0;
  std::uint64_t flushed_ = 0;
  bool broken_ = false;
  std::vector<char> buffer_;
};

// Watches a transfer from beside it: progress from the .part's size, hashing as it grows, and
// stops it (through `stop`) on cancel, deadline or size limit.
class Watcher {
 public:
  enum class Reason { kNone, kCancelled, kDeadline, kTooLarge };

  Watcher(const fs::path& part, std::uint64_t limit, const DownloadOptions& options,
          GrowingFileHasher& hasher, std::function<void()> stop)
      : part_(part), limit_(limit), options_(options), hasher_(hasher), stop_(std::move(stop)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Watcher() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  Reason reason() const { return reason_.load(); }
  bool Stopped() const { return reason_.load() != Reason::kNone; }

 private:
  void Loop() {
    std::unique_lock lock(mutex_);
    std::uint64_t last = 0;
    while (!done_) {
      wake_.wait_for(lock, options_.poll_interval);
      if (done_) break;
      const std::uint64_t size = SizeOrZero(part_);
      Reason reason = Reason::kNone;
      if (size > limit_) {
        reason = Reason::kTooLarge;
      } else if (options_.should_stop && options_.should_stop()) {
        reason = Reason::kCancelled;
      } else if (options_.deadline && SteadyClock::now() >= *options_.deadline) {
        reason = Reason::kDeadline;
      }
      if (reason != Reason::kNone) {
        reason_.store(reason);
        stop_();
        break;
      }
      if (size != last) {
        last = size;
        lock.unlock();  // hashing takes a while: the destructor must not wait for the lock
        hasher_.CatchUp(size);
        if (options_.progress) options_.progress(size, options_.expected_size.value_or(0));
        lock.lock();
      }
    }
  }

  fs::path part_;
  std::uint64_t limit_;
  const DownloadOptions& options_;
  GrowingFileHasher& hasher_;
  std::function<void()> stop_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::atomic<Reason> reason_{Reason::kNone};
  std::thread thread_;
};

Error TooLarge(std::uint64_t limit) {
  return MakeError(Errc::kPayloadTooLarge,
                   "the artifact is larger than its limit of " + std::to_string(limit) + " bytes");
}

Status StopError(Watcher::Reason reason, std::uint64_t limit) {
  switch (reason) {
    case Watcher::Reason::kCancelled: return Fail(Errc::kCancelled, "download cancelled");
    case Watcher::Reason::kDeadline: return Fail(Errc::kTimeout, "download deadline passed", true);
    case Watcher::Reason::kTooLarge: return Fail(TooLarge(limit));
    case Watcher::Reason::kNone: break;
  }
  return Ok();
}

// Copies a local file into the .part, resuming at its current size.
Status CopyFile(const Source& source, const fs::path& part, std::uint64_t offset,
                std::uint64_t limit, const DownloadOptions& options) {
  Fd in(::open(source.file.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    const int error = errno;
    return Fail(error == ENOENT ? Errc::kNotFound : Errc::kIo,
                "cannot open " + source.file.string() + ": " + ErrnoText(error));
  }
  struct stat st {};
  if (::fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(Errc::kIo, source.file.string() + " is not a readable regular file");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > limit) return Fail(TooLarge(limit));
  if (offset > size) offset = 0;
  Fd out(::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, os::kPrivateFileMode));
  if (out.get() < 0 || ::ftruncate(out.get(), static_cast<off_t>(offset)) != 0 ||
      ::lseek(out.get(), static_cast<off_t>(offset), SEEK_SET) < 0 ||
      ::lseek(in.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
    return Fail(Errc::kIo, "cannot write " + part.string() + ": " + ErrnoText(errno));
  }
  std::vector<char> buffer(std::size_t{1} << 20);
  std::uint64_t done = offset;
  auto last_check = SteadyClock::now();
  for (;;) {
    const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Fail(Errc::kIo, "cannot read " + source.file.string() + ": " + ErrnoText(errno));
    if (n == 0) break;
    for (ssize_t written = 0; written < n;) {
      const ssize_t w =
          ::write(out.get(), buffer.data() + written, static_cast<std::size_t>(n - written));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Fail(Errc::kIo, "cannot write " + part.string() + ": " + ErrnoText(errno));
      written += w;
    }
    done += static_cast<std::uint64_t>(n);
    if (done > limit) return Fail(TooLarge(limit));
    if (options.progress) options.progress(done, options.expected_size.value_or(size));
    if (SteadyClock::now() - last_check >= options.poll_interval) {
      last_check = SteadyClock::now();
      if (options.should_stop && options.should_stop()) {
        return Fail(Errc::kCancelled, "download cancelled");
      }
      if (options.deadline && SteadyClock::now() >= *options.deadline) {
        return Fail(Errc::kTimeout, "download deadline passed", true);
      }
    }
  }
  return Ok();
}

std::unique_ptr<net::HttpClient> ClientFor(const Source& source, const DownloadOptions& options) {
  net::ClientOptions client_options;
  client_options.base_url = source.origin;
  if (source.send_token) client_options.bearer_token = options.token;
  client_options.ca_file = options.ca_file;
  client_options.connect_timeout = options.connect_timeout;
  client_options.request_timeout = options.attempt_timeout;
  return std::make_unique<net::HttpClient>(std::move(client_options));
}

// Fetches over HTTP(S) into the .part, resuming at `offset`, following redirects (NextHop).
// Returns the offset really kept. `replica_failed` is set when the failure is one another replica
// of the control plane may not share (unreachable, 502/503/504: net/retry.hpp).
Expected<std::uint64_t> FetchHttp(Source source, const fs::path& part, std::uint64_t offset,
                                  std::uint64_t limit, const DownloadOptions& options,
                                  std::optional<GrowingFileHasher>& hasher, bool& replica_failed) {
  replica_failed = false;
  auto client = ClientFor(source, options);
  int redirects = 0;
  for (int round = 0;; ++round) {
    net::ClientRequest request;
    request.target = source.target;
    request.response_file = part;
    request.response_file_offset = offset;
    if (options.deadline) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(*options.deadline - SteadyClock::now());
      if (left <= milliseconds(0)) return Fail(Errc::kTimeout, "download deadline passed", true);
      request.timeout = std::min(left, options.attempt_timeout);
    }
    Expected<net::ClientResponse> response = Fail(Errc::kInternal, "not sent");
    Watcher::Reason stopped = Watcher::Reason::kNone;
    {
      net::HttpClient& http = *client;
      Watcher watcher(part, limit, options, *hasher, [&http] { http.Cancel(); });
      net::RetryHooks hooks;
      hooks.should_stop = [&watcher] { return watcher.Stopped(); };
      response = net::SendWithRetry(http, request, options.retry, hooks);
      stopped = watcher.reason();
    }
    if (stopped != Watcher::Reason::kNone) {
      if (auto status = StopError(stopped, limit); !status) return Fail(status.error());
    }
    if (!response) {
      replica_failed = net::IsTransportFailure(response.error());
      return Fail(std::move(response.error()));
    }
    if (response->status == 416 && offset > 0 && round == 0) {
      // The .part is as long as the artifact or longer: start over.
      std::error_code ec;
      fs::remove(part, ec);
      offset = 0;
      hasher.emplace(part);
      continue;
    }
    if (IsRedirect(response->status)) {
      const auto location = response->Header("Location");
      if (!location) {
        return Fail(Errc::kHttp, "GET " + SanitizeUrl(source.Url()) + " answered " +
                                     std::to_string(response->status) + " without a Location");
      }
      auto hop = NextHop(source.Url(), *location, redirects, options);
      if (!hop) return Fail(std::move(hop.error()));
      auto parsed = boost::urls::parse_uri(hop->url);
      if (!parsed) return Fail(Errc::kHttp, "redirect to an unusable URL");
      source = HttpSource(*parsed, options);
      source.send_token = hop->send_token;
      client = ClientFor(source, options);
      ++redirects;
      --round;  // a redirect is not the first answer a 416 restart is judged by
      continue;
    }
    if (response->status / 100 != 2) {
      const bool retryable = net::IsRetryableStatus(response->status);
      replica_failed = net::IsFailoverStatus(response->status);
      return Fail(
          Errc::kHttp,
          "GET " + SanitizeUrl(source.Url()) + " answered " + std::to_string(response->status),
          retryable);
    }
    return response->status == 206 ? offset : 0;
  }
}

// `remove_bad` only under the lock: without it a bad file might be another run's fresh good one.
Expected<bool> CachedFileIsGood(const fs::path& path, const std::string& sha256, bool remove_bad) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  auto digest = Sha256FileHex(path);
  if (!digest) return Fail(digest.error());
  if (*digest == sha256) return true;
  if (remove_bad) fs::remove(path, ec);  // a corrupt cache entry: fetch it again
  return false;
}

Expected<DownloadResult> DownloadLocked(const std::vector<Source>& sources,
                                        const std::string& sha256, const fs::path& final_path,
                                        const fs::path& part, const DownloadOptions& options) {
  const std::uint64_t limit =
      std::min(options.max_bytes, options.expected_size.value_or(options.max_bytes));
  std::error_code ec;
  std::uint64_t offset = SizeOrZero(part);
  if (offset > limit) {
    fs::remove(part, ec);
    offset = 0;
  }
  DownloadResult result;
  result.path = final_path;
  std::optional<GrowingFileHasher> hasher;  // HTTP only; a file:// copy is hashed afterwards
  hasher.emplace(part);
  const Source& source = sources.front();
  if (source.kind == Source::Kind::kFile) {
    if (auto copied = CopyFile(source, part, offset, limit, options); !copied) {
      if (copied.error().code == Errc::kPayloadTooLarge) fs::remove(part, ec);
      return Fail(copied.error());
    }
    result.resumed_from = offset;
  } else {
    Expected<std::uint64_t> kept = Fail(Errc::kInternal, "no source");
    for (std::size_t i = 0; i < sources.size(); ++i) {
      bool replica_failed = false;
      kept = FetchHttp(sources[i], part, offset, limit, options, hasher, replica_failed);
      if (kept || !replica_failed || i + 1 == sources.size()) break;
      offset = SizeOrZero(part);  // the next replica goes on from what this one delivered
    }
    if (!kept) {
      if (kept.error().code == Errc::kPayloadTooLarge) fs::remove(part, ec);
      return Fail(kept.error());
    }
    result.resumed_from = *kept;
  }

  result.bytes = SizeOrZero(part);
  if (result.bytes > limit) {
    fs::remove(part, ec);
    return Fail(TooLarge(limit));
  }
  std::optional<std::string> streamed;
  if (source.kind != Source::Kind::kFile) streamed = hasher->Digest(result.bytes);
  // A mismatch of the streamed digest is checked again on the whole file before it counts.
  Expected<std::string> digest =
      streamed && *streamed == sha256 ? Expected<std::string>(*streamed) : Sha256FileHex(part);
  if (!digest) return Fail(digest.error());
  if (*digest != sha256) {
    fs::remove(part, ec);
    return Fail(Errc::kChecksumMismatch, "downloaded " + std::to_string(result.bytes) +
                                             " bytes hash to " + *digest + ", expected " + sha256);
  }
  // The HTTP client creates the .part with the usual 0644; the cache is the agent's only.
  if (::chmod(part.c_str(), os::kPrivateFileMode) != 0) {
    return Fail(Errc::kIo, "cannot chmod " + part.string() + ": " + ErrnoText(errno));
  }
  if (auto synced = FsyncPath(part, O_RDONLY); !synced) return Fail(synced.error());
  fs::rename(part, final_path, ec);
  if (ec) return Fail(Errc::kIo, "cannot rename " + part.string() + ": " + ec.message());
  if (auto synced = FsyncPath(final_path.parent_path(), O_RDONLY | O_DIRECTORY); !synced) {
    return Fail(synced.error());
  }
  if (options.progress) options.progress(result.bytes, result.bytes);
  return result;
}

}  // namespace

Expected<DownloadResult> Download(const std::string& url, const std::string& expected_sha256,
                                  const fs::path& cache_dir, const DownloadOptions& options) {
  std::string sha256 = expected_sha256;
  std::transform(sha256.begin(), sha256.end(), sha256.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (sha256.size() != 64 || !std::all_of(sha256.begin(), sha256.end(),
                                          [](unsigned char c) { return std::isxdigit(c) != 0; })) {
    return Fail(Errc::kInvalidRequest,
                "expected sha256 '" + expected_sha256 + "' is not 64 hex digits");
  }
  auto sources = ResolveSources(url, options);
  if (!sources) return Fail(std::move(sources.error()));
  if (auto made = os::MakePrivateDirs(cache_dir); !made) return Fail(std::move(made.error()));
  const fs::path final_path = cache_dir / sha256;
  const fs::path part = cache_dir / (sha256 + ".part");
  const fs::path lock_path = cache_dir / (sha256 + ".lock");

  // The file under a shared lock is the run's until the lease goes (the retention evicts only
  // what it can lock exclusively); its mtime says when it was last used.
  const auto leased = [&](DownloadResult result, ShaLock lock) -> DownloadResult {
    ::utimensat(AT_FDCWD, final_path.c_str(), nullptr, 0);
    result.bytes = SizeOrZero(final_path);
    result.lease = lock.ToLease();
    return result;
  };
  DownloadResult reused;
  reused.path = final_path;
  reused.reused = true;
  // Converting the exclusive hold to a shared one is not atomic: the retention may evict the file
  // in between, in which case this starts over (rarely more than once; bounded all the same).
  for (int round = 0; round < 3; ++round) {
    {
      // A verified file never changes once renamed into place: a shared hold suffices to use it.
      auto shared = ShaLock::Acquire(lock_path, options, /*exclusive=*/false);
      if (!shared) return Fail(std::move(shared.error()));
      auto cached = CachedFileIsGood(final_path, sha256, false);
      if (!cached) return Fail(cached.error());
      if (*cached) return leased(reused, std::move(*shared));
    }
    // Waiting to download ends when another run has put the file in place meanwhile: it is then
    // used under a shared hold (the next round), not waited for until every user's job is over.
    std::error_code exists_ec;
    auto waited = ShaLock::AcquireUnless(lock_path, options, /*exclusive=*/true, [&] {
      return fs::is_regular_file(final_path, exists_ec);
    });
    if (!waited) return Fail(std::move(waited.error()));
    if (!*waited) continue;
    auto lock = std::move(*waited);
    // Another run may have finished it meanwhile.
    auto cached = CachedFileIsGood(final_path, sha256, true);
    if (!cached) return Fail(cached.error());
    DownloadResult result = reused;
    if (!*cached) {
      auto downloaded = DownloadLocked(*sources, sha256, final_path, part, options);
      if (!downloaded) {
        return Fail(std::move(downloaded.error()).WithContext("download " + SanitizeUrl(url)));
      }
      result = std::move(*downloaded);
    }
    if (auto shared = lock->Share(lock_path); !shared) return Fail(std::move(shared.error()));
    std::error_code ec;
    if (fs::is_regular_file(final_path, ec)) return leased(std::move(result), std::move(*lock));
  }
  return Fail(Errc::kIo, "the cached artifact " + sha256 + " kept being evicted", true);
}

CacheLease::~CacheLease() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<bool> EvictCached(const fs::path& cache_dir, const std::string& sha256) {
  const fs::path lock_path = cache_dir / (sha256 + ".lock");
  auto lock = ShaLock::TryExclusive(lock_path, /*create=*/true);
  if (!lock) return Fail(std::move(lock.error()));
  if (!*lock) return false;  // a run uses it, or downloads it
  std::error_code ec;
  for (const fs::path& path : {cache_dir / sha256, cache_dir / (sha256 + ".part"), lock_path}) {
    fs::remove(path, ec);
    if (ec) return Fail(Errc::kIo, "cannot remove " + path.string() + ": " + ec.message());
  }
  return true;
}

Expected<bool> RemoveIdleLock(const fs::path& lock_file) {
  auto lock = ShaLock::TryExclusive(lock_file, /*create=*/false);
  if (!lock) return Fail(std::move(lock.error()));
  if (!*lock) return false;
  std::error_code ec;
  fs::remove(lock_file, ec);
  if (ec) return Fail(Errc::kIo, "cannot remove " + lock_file.string() + ": " + ec.message());
  return true;
}

Expected<DownloadHop> NextHop(const std::string& current, std::string_view location, int followed,
                              const DownloadOptions& options) {
  const std::string shown = SanitizeUrl(current);
  if (followed >= kMaxRedirects) {
    return Fail(Errc::kHttp,
                "GET " + shown + ": more than " + std::to_string(kMaxRedirects) + " redirects");
  }
  auto base = boost::urls::parse_uri(current);
  auto reference = boost::urls::parse_uri_reference(location);
  if (!base || !reference) {
    return Fail(Errc::kHttp, "GET " + shown + " redirected to an unusable Location '" +
                                 SanitizeUrl(std::string(location)) + "'");
  }
  boost::urls::url next;
  if (auto resolved = boost::urls::resolve(*base, *reference, next); !resolved) {
    return Fail(Errc::kHttp, "GET " + shown + " redirected to an unusable Location '" +
                                 SanitizeUrl(std::string(location)) + "'");
  }
  next.remove_fragment();
  const std::string scheme(next.scheme());
  if ((scheme != "http" && scheme != "https") || next.host().empty()) {
    return Fail(Errc::kHttp, "GET " + shown + " redirected to " + SanitizeUrl(next.buffer()) +
                                 ": only http(s) redirects are followed");
  }
  if (base->scheme() == "https" && scheme == "http") {
    return Fail(Errc::kHttp, "GET " + shown + " redirected from https to http (" +
                                 SanitizeUrl(next.buffer()) + "): refused");
  }
  DownloadHop hop;
  hop.url = std::string(next.buffer());
  hop.send_token = SendsToken(next, options);
  return hop;
}

}  // namespace orb::jobs
