#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

#include "common/error.hpp"
#include "common/expected.hpp"

namespace orb::os {

// The filesystem seam of the agent (style.md "The OS and the time are injected": an injectable OS,
// like LevelDB's Env). Handlers and the atomic helpers of os/atomic.hpp call only these
// primitives, so a test can wrap RealFs and fail any one call (tests/support/fault_fs.hpp).
// job-types.md §1 rules.
//
// Errors: every call returns Status/Expected. The message names the operation, the path(s) and
// the errno text ("rename /a -> /b: No space left on device"). Codes: ENOENT gives
// Errc::kNotFound, EEXIST gives Errc::kAlreadyExists, everything else Errc::kIo.
// Thread-safety: RealFs is stateless and safe from any thread; a File is used by one thread.

// The kinds of calls, for counting and targeted fault injection.
enum class FsOp {
  kOpen,
  kRead,
  kWrite,
  kSync,
  kClose,
  kTruncate,
  kSyncDir,
  kSyncFilesystem,
  kRename,
  kExchange,
  kSymlink,
  kReadLink,
  kUnlink,
  kMakeDir,
  kRemoveDir,
  kRemoveTree,
  kStat,
  kReadDir,
  kReadFile,
};

std::string_view ToString(FsOp op);

// The Error of a failed call: "<what> <path>: <errno text>", code from errno as above.
inline Error FsError(std::string_view what, const std::filesystem::path& path, int error_number) {
  const Errc code = error_number == ENOENT   ? Errc::kNotFound
                    : error_number == EEXIST ? Errc::kAlreadyExists
                                             : Errc::kIo;
  return MakeError(code, std::string(what) + " " + path.string() + ": " +
                             std::generic_category().message(error_number));
}

// An open file descriptor and the path it was opened as (for messages). Move-only; the
// destructor closes silently, Fs::Close reports close errors.
class File {
 public:
  File() = default;
  File(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  ~File() { Reset(); }
  File(File&& other) noexcept : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}
  File& operator=(File&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
      path_ = std::move(other.path_);
    }
    return *this;
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] bool is_open() const { return fd_ >= 0; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Gives up ownership of the descriptor.
  int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

// What the agent creates is its owner's only, whatever the umask: instance.json holds an instance's
// environment (passwords), backups hold its data. The instances run as the agent's user, so they
// read all of it; anyone else needs the agent's user. Used by every file and directory the agent
// makes: RealFs, archives, downloads, the journal, run logs.
inline constexpr unsigned kPrivateFileMode = 0600;
inline constexpr unsigned kPrivateDirMode = 0700;

enum class OpenMode {
  kRead,              // O_RDONLY
  kCreateNew,         // O_WRONLY | O_CREAT | O_EXCL, a new file is kPrivateFileMode
  kCreateOrTruncate,  // O_WRONLY | O_CREAT | O_TRUNC
  kAppend,            // O_WRONLY | O_CREAT | O_APPEND
};

enum class FileKind { kRegular, kDirectory, kSymlink, kFifo, kOther };

// lstat(2) of a path: a symlink is reported as itself, never followed.
struct FileStat {
  FileKind kind = FileKind::kOther;
  std::uint64_t size = 0;
  std::uint32_t mode = 0;  // permission bits
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t mtime_ns = 0;  // since the Unix epoch
};

struct DirEntry {
  std::string name;
  FileKind kind = FileKind::kOther;
  bool operator==(const DirEntry&) const = default;
};

// What renameat2(RENAME_EXCHANGE) said: done, or not supported by this filesystem/kernel
// (EINVAL, ENOSYS), in which case callers use the journaled fallback of ExchangeDirectories.
enum class ExchangeResult { kExchanged, kUnsupported };

// The largest file ReadFile reads; bigger files are an error (read them with Open + Read).
inline constexpr std::uint64_t kMaxReadFileBytes = 64ULL << 20;

class Fs {
 public:
  virtual ~Fs() = default;

  virtual Expected<File> Open(const std::filesystem::path& path, OpenMode mode) = 0;
  // Reads up to buffer.size() bytes; 0 at end of file.
  virtual Expected<std::size_t> Read(File& file, std::span<char> buffer) = 0;
  // Writes all of `data` (retrying short writes and EINTR).
  virtual Status Write(File& file, std::string_view data) = 0;
  virtual Status Sync(File& file) = 0;   // fsync
  virtual Status Close(File& file) = 0;  // the descriptor is gone afterwards, also on error
  virtual Status Truncate(const std::filesystem::path& path, std::uint64_t size) = 0;
  virtual Status SyncDir(const std::filesystem::path& dir) = 0;  // fsync of a directory
  // syncfs(2) of the filesystem that holds `any`: every file and directory written there is on
  // disk afterwards, in one journal commit instead of one fsync per file.
  virtual Status SyncFilesystem(const std::filesystem::path& any) = 0;
  virtual Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // renameat2(RENAME_EXCHANGE): both must exist; atomically swaps the two names.
  virtual Expected<ExchangeResult> Exchange(const std::filesystem::path& a,
                                            const std::filesystem::path& b) = 0;
  virtual Status Symlink(const std::filesystem::path& target,
                         const std::filesystem::path& link) = 0;
  virtual Expected<std::filesystem::path> ReadLink(const std::filesystem::path& link) = 0;
  virtual Status Unlink(const std::filesystem::path& path) = 0;    // kNotFound when missing
  virtual Status MakeDir(const std::filesystem::path& dir) = 0;    // one level, kPrivateDirMode
  virtual Status RemoveDir(const std::filesystem::path& dir) = 0;  // rmdir: must be empty
  // rm -rf: removes a file, link or tree without following links; a missing path is success.
  virtual Status RemoveTree(const std::filesystem::path& path) = 0;
  virtual Expected<FileStat> Stat(const std::filesystem::path& path) = 0;  // lstat; kNotFound
  // The entries of a directory without "." and "..", sorted by name.
  virtual Expected<std::vector<DirEntry>> ReadDir(const std::filesystem::path& dir) = 0;
  // The whole file (at most kMaxReadFileBytes).
  virtual Expected<std::string> ReadFile(const std::filesystem::path& path) = 0;
};

// Fs on POSIX calls.
class RealFs final : public Fs {
 public:
  Expected<File> Open(const std::filesystem::path& path, OpenMode mode) override;
  Expected<std::size_t> Read(File& file, std::span<char> buffer) override;
  Status Write(File& file, std::string_view data) override;
  Status Sync(File& file) override;
  Status Close(File& file) override;
  Status Truncate(const std::filesystem::path& path, std::uint64_t size) override;
  Status SyncDir(const std::filesystem::path& dir) override;
  Status SyncFilesystem(const std::filesystem::path& any) override;
  Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  Expected<ExchangeResult> Exchange(const std::filesystem::path& a,
                                    const std::filesystem::path& b) override;
  Status Symlink(const std::filesystem::path& target, const std::filesystem::path& link) override;
  Expected<std::filesystem::path> ReadLink(const std::filesystem::path& link) override;
  Status Unlink(const std::filesystem::path& path) override;
  Status MakeDir(const std::filesystem::path& dir) override;
  Status RemoveDir(const std::filesystem::path& dir) override;
  Status RemoveTree(const std::filesystem::path& path) override;
  Expected<FileStat> Stat(const std::filesystem::path& path) override;
  Expected<std::vector<DirEntry>> ReadDir(const std::filesystem::path& dir) override;
  Expected<std::string> ReadFile(const std::filesystem::path& path) override;
};

// True when `path` exists (lstat); an error other than "not found" is returned as is.
Expected<bool> Exists(Fs& fs, const std::filesystem::path& path);

// mkdir -p of `dir` outside the Fs seam (the agent's own state, the artifact cache): the levels it
// creates get kPrivateDirMode; existing ones are left as they are. Errors: kIo naming the path.
Status MakePrivateDirs(const std::filesystem::path& dir);

}  // namespace orb::os
