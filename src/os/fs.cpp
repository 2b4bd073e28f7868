#include "os/fs.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

namespace orb::os {
namespace {

namespace fs = std::filesystem;

FileKind KindOf(mode_t mode) {
  if (S_ISREG(mode)) return FileKind::kRegular;
  if (S_ISDIR(mode)) return FileKind::kDirectory;
  if (S_ISLNK(mode)) return FileKind::kSymlink;
  if (S_ISFIFO(mode)) return FileKind::kFifo;
  return FileKind::kOther;
}

int OpenFlags(OpenMode mode) {
  switch (mode) {
    case OpenMode::kRead: return O_RDONLY;
    case OpenMode::kCreateNew: return O_WRONLY | O_CREAT | O_EXCL;
    case OpenMode::kCreateOrTruncate: return O_WRONLY | O_CREAT | O_TRUNC;
    case OpenMode::kAppend: return O_WRONLY | O_CREAT | O_APPEND;
  }
  return O_RDONLY;
}

Status SyncFd(int fd, std::string_view what, const fs::path& path) {
  if (::fsync(fd) != 0) return Fail(FsError(what, path, errno));
  return Ok();
}

}  // namespace

std::string_view ToString(FsOp op) {
  switch (op) {
    case FsOp::kOpen: return "open";
    case FsOp::kRead: return "read";
    case FsOp::kWrite: return "write";
    case FsOp::kSync: return "fsync";
    case FsOp::kClose: return "close";
    case FsOp::kTruncate: return "truncate";
    case FsOp::kSyncDir: return "fsync dir";
    case FsOp::kSyncFilesystem: return "syncfs";
    case FsOp::kRename: return "rename";
    case FsOp::kExchange: return "exchange";
    case FsOp::kSymlink: return "symlink";
    case FsOp::kReadLink: return "readlink";
    case FsOp::kUnlink: return "unlink";
    case FsOp::kMakeDir: return "mkdir";
    case FsOp::kRemoveDir: return "rmdir";
    case FsOp::kRemoveTree: return "remove tree";
    case FsOp::kStat: return "stat";
    case FsOp::kReadDir: return "read dir";
    case FsOp::kReadFile: return "read file";
  }
  return "unknown";
}

Expected<File> RealFs::Open(const fs::path& path, OpenMode mode) {
  int fd = -1;
  do {
    fd = ::open(path.c_str(), OpenFlags(mode) | O_CLOEXEC, kPrivateFileMode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Fail(FsError("open", path, errno));
  return File(fd, path);
}

Expected<std::size_t> RealFs::Read(File& file, std::span<char> buffer) {
  for (;;) {
    const ssize_t n = ::read(file.fd(), buffer.data(), buffer.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return Fail(FsError("read", file.path(), errno));
  }
}

Status RealFs::Write(File& file, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(file.fd(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(FsError("write", file.path(), errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Ok();
}

Status RealFs::Sync(File& file) {
  return SyncFd(file.fd(), "fsync", file.path());
}

Status RealFs::Close(File& file) {
  // The descriptor is released even when close fails (POSIX leaves it unspecified; Linux frees it).
  const int fd = file.Release();
  if (fd >= 0 && ::close(fd) != 0 && errno != EINTR)
    return Fail(FsError("close", file.path(), errno));
  return Ok();
}

Status RealFs::Truncate(const fs::path& path, std::uint64_t size) {
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
    return Fail(FsError("truncate", path, errno));
  }
  return Ok();
}

Status RealFs::SyncDir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail(FsError("fsync dir", dir, errno));
  File holder(fd, dir);
  return SyncFd(fd, "fsync dir", dir);
}

Status RealFs::SyncFilesystem(const fs::path& any) {
  const int fd = ::open(any.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(FsError("syncfs", any, errno));
  File holder(fd, any);
  if (::syncfs(fd) != 0) return Fail(FsError("syncfs", any, errno));
  return Ok();
}

Status RealFs::Rename(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Fail(FsError("rename " + from.string() + " ->", to, errno));
  }
  return Ok();
}

Expected<ExchangeResult> RealFs::Exchange(const fs::path& a, const fs::path& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno == EINVAL || errno == ENOSYS) return ExchangeResult::kUnsupported;
    return Fail(FsError("exchange " + a.string() + " <->", b, errno));
  }
  return ExchangeResult::kExchanged;
}

Status RealFs::Symlink(const fs::path& target, const fs::path& link) {
  if (::symlink(target.c_str(), link.c_str()) != 0) {
    return Fail(FsError("symlink " + link.string() + " ->", target, errno));
  }
  return Ok();
}

Expected<fs::path> RealFs::ReadLink(const fs::path& link) {
  std::array<char, 4096> buffer{};
  const ssize_t n = ::readlink(link.c_str(), buffer.data(), buffer.size());
  if (n < 0) return Fail(FsError("readlink", link, errno));
  if (static_cast<std::size_t>(n) >= buffer.size()) {
    return Fail(FsError("readlink", link, ENAMETOOLONG));
  }
  return fs::path(std::string(buffer.data(), static_cast<std::size_t>(n)));
}

Status RealFs::Unlink(const fs::path& path) {
  if (::unlink(path.c_str()) != 0) return Fail(FsError("unlink", path, errno));
  return Ok();
}

Status RealFs::MakeDir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), kPrivateDirMode) != 0) return Fail(FsError("mkdir", dir, errno));
  return Ok();
}

Status RealFs::RemoveDir(const fs::path& dir) {
  if (::rmdir(dir.c_str()) != 0) return Fail(FsError("rmdir", dir, errno));
  return Ok();
}

Status RealFs::RemoveTree(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);  // does not follow symlinks; a missing path is not an error
  if (ec) {
    // Another remover (the agent's retention, another run's garbage collection) may have taken
    // parts of the tree away under our feet: what counts is that it is gone.
    std::error_code gone;
    if (!fs::exists(fs::symlink_status(path, gone)) && !gone) return Ok();
    return Fail(FsError("remove tree", path, ec.value()));
  }
  return Ok();
}

Expected<FileStat> RealFs::Stat(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Fail(FsError("stat", path, errno));
  FileStat result;
  result.kind = KindOf(st.st_mode);
  result.size = static_cast<std::uint64_t>(st.st_size);
  result.mode = st.st_mode & 07777;
  result.device = st.st_dev;
  result.inode = st.st_ino;
  result.mtime_ns =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return result;
}

Expected<std::vector<DirEntry>> RealFs::ReadDir(const fs::path& dir) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return Fail(FsError("read dir", dir, errno));
  std::vector<DirEntry> entries;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(handle);
    if (entry == nullptr) break;
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    DirEntry item{std::string(name), FileKind::kOther};
    switch (entry->d_type) {
      case DT_REG: item.kind = FileKind::kRegular; break;
      case DT_DIR: item.kind = FileKind::kDirectory; break;
      case DT_LNK: item.kind = FileKind::kSymlink; break;
      case DT_FIFO: item.kind = FileKind::kFifo; break;
      case DT_UNKNOWN: {
        struct stat st {};
        if (::fstatat(::dirfd(handle), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
          item.kind = KindOf(st.st_mode);
        }
        break;
      }
      default: break;
    }
    entries.push_back(std::move(item));
  }
  const int read_error = errno;
  ::closedir(handle);
  if (read_error != 0) return Fail(FsError("read dir", dir, read_error));
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return entries;
}

Expected<std::string> RealFs::ReadFile(const fs::path& path) {
  auto file = Open(path, OpenMode::kRead);
  if (!file) return Fail(std::move(file.error()));
  std::string content;
  std::array<char, 64 * 1024> buffer{};
  for (;;) {
    auto n = Read(*file, buffer);
    if (!n) return Fail(std::move(n.error()));
    if (*n == 0) break;
    if (content.size() + *n > kMaxReadFileBytes) return Fail(FsError("read file", path, EFBIG));
    content.append(buffer.data(), *n);
  }
  return content;
}

Status MakePrivateDirs(const fs::path& dir) {
  fs::path current;
  for (const auto& part : dir) {
    current /= part;
    if (::mkdir(current.c_str(), kPrivateDirMode) == 0 || errno == EEXIST) continue;
    return Fail(FsError("mkdir", current, errno));
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Fail(FsError("mkdir", dir, ENOTDIR));
  return Ok();
}

Expected<bool> Exists(Fs& fs, const fs::path& path) {
  auto stat = fs.Stat(path);
  if (stat) return true;
  if (stat.error().code == Errc::kNotFound) return false;
  return Fail(std::move(stat.error()));
}

}  // namespace orb::os
