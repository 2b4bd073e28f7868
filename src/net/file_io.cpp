#include "net/file_io.hpp"

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace orb::net {
namespace {

Error FileError(const char* what, const std::filesystem::path& path, int error_number) {
  return MakeError(error_number == ENOENT ? Errc::kNotFound : Errc::kIo,
                   std::string(what) + " " + path.string() + ": " +
                       std::generic_category().message(error_number));
}

class PosixReadable final : public ReadableFile {
 public:
  PosixReadable(int fd, std::uint64_t size, std::filesystem::path path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  ~PosixReadable() override { ::close(fd_); }
  PosixReadable(const PosixReadable&) = delete;
  PosixReadable& operator=(const PosixReadable&) = delete;

  std::uint64_t size() const override { return size_; }

  Expected<std::size_t> ReadAt(std::uint64_t offset, char* data, std::size_t length) override {
    for (;;) {
      const ssize_t n = ::pread(fd_, data, length, static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return Fail(FileError("cannot read", path_, errno));
    }
  }

 private:
  int fd_;
  std::uint64_t size_;
  std::filesystem::path path_;
};

class PosixWritable final : public WritableFile {
 public:
  PosixWritable(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritable() override {
    if (fd_ >= 0) ::close(fd_);
  }
  PosixWritable(const PosixWritable&) = delete;
  PosixWritable& operator=(const PosixWritable&) = delete;

  Status Append(const char* data, std::size_t length) override {
    while (length > 0) {
      const ssize_t n = ::write(fd_, data, length);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Fail(FileError("cannot write", path_, errno));
      data += n;
      length -= static_cast<std::size_t>(n);
    }
    return Ok();
  }

  Status Close() override {
    const int fd = std::exchange(fd_, -1);
    if (fd >= 0 && ::close(fd) != 0) return Fail(FileError("cannot close", path_, errno));
    return Ok();
  }

 private:
  int fd_;
  std::filesystem::path path_;
};

class PosixFileIo final : public FileIo {
 public:
  Expected<std::unique_ptr<ReadableFile>> OpenForReading(
      const std::filesystem::path& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail(FileError("cannot open", path, errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int error_number = errno;
      ::close(fd);
      return Fail(FileError("cannot stat", path, error_number));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return Fail(MakeError(Errc::kNotFound, path.string() + " is not a regular file"));
    }
    return std::unique_ptr<ReadableFile>(
        std::make_unique<PosixReadable>(fd, static_cast<std::uint64_t>(st.st_size), path));
  }

  Expected<std::unique_ptr<WritableFile>> Create(const std::filesystem::path& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Fail(FileError("cannot create", path, errno));
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritable>(fd, path));
  }
};

}  // namespace

std::shared_ptr<FileIo> RealFileIo() {
  static const std::shared_ptr<FileIo> real = std::make_shared<PosixFileIo>();
  return real;
}

Status SyncPath(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(FileError("cannot open", path, errno));
  const int synced = ::fsync(fd);
  const int error_number = errno;
  ::close(fd);
  if (synced != 0) return Fail(FileError("cannot fsync", path, error_number));
  return Ok();
}

}  // namespace orb::net
