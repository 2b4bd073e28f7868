#pragma once

#include <csignal>

#include <sys/resource.h>

namespace orb::testing {

// A disk that fills up mid-write, for the bytes no Fs seam carries (what libarchive and zstd
// write, the files libarchive extracts): every file this process writes stops at `bytes`
// (RLIMIT_FSIZE), and write() fails with EFBIG (SIGXFSZ ignored) as on a full disk.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*previous_)(int) = SIG_DFL;
};

}  // namespace orb::testing
