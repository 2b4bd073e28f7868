#include "store/sqlite/file_artifacts.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/random.hpp"
#include "store/engine/artifacts.hpp"
#include "store/ops/rows.hpp"

namespace orb::store::sqlite {
namespace {

constexpr std::string_view kUploadPrefix = ".upload-";

Error IoError(const std::string& what, int err) {
  return MakeError(Errc::kStore, "store: " + what + ": " + std::strerror(err), true);
}

// A file descriptor closed on destruction.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Expected<FileArtifacts> FileArtifacts::Open(std::filesystem::path dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(Errc::kStore, "store: cannot create " + dir.string() + ": " + ec.message());
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with(kUploadPrefix)) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  return FileArtifacts(std::move(dir));
}

Expected<bool> FileArtifacts::Put(std::string_view sha256, std::uint64_t size,
                                  const ArtifactSource& read) {
  if (auto valid = engine::CheckArtifactPut(sha256, size); !valid) return Fail(valid.error());
  const std::filesystem::path target = dir_ / std::string(sha256);
  if (::access(target.c_str(), F_OK) == 0) return false;
  const std::filesystem::path upload = dir_ / (std::string(kUploadPrefix) + RandomHex(8));
  Fd fd(::open(upload.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Fail(IoError("cannot create " + upload.string(), errno));
  auto discard = [&upload](Error error) -> Expected<bool> {
    ::unlink(upload.c_str());
    return Fail(std::move(error));
  };
  Status streamed = engine::StreamArtifact(sha256, size, read, [&](std::span<const char> piece) {
    std::size_t done = 0;
    while (done < piece.size()) {
      const ssize_t n = ::write(fd.get(), piece.data() + done, piece.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status(Fail(IoError("cannot write " + upload.string(), errno)));
      done += static_cast<std::size_t>(n);
    }
    return Ok();
  });
  if (!streamed) return discard(streamed.error());
  if (::fdatasync(fd.get()) != 0) return discard(IoError("cannot sync " + upload.string(), errno));
  // link, not rename: an artifact that appeared meanwhile is never replaced.
  const bool linked = ::link(upload.c_str(), target.c_str()) == 0;
  const int link_errno = errno;
  ::unlink(upload.c_str());
  if (!linked && link_errno != EEXIST) {
    return Fail(IoError("cannot store " + target.string(), link_errno));
  }
  Fd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
    return Fail(IoError("cannot sync " + dir_.string(), errno));
  }
  return linked;
}

Expected<ArtifactStat> FileArtifacts::Stat(std::string_view sha256) {
  if (auto valid = engine::CheckArtifactName(sha256); !valid) return Fail(valid.error());
  const std::filesystem::path path = dir_ / std::string(sha256);
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return Fail(Errc::kNotFound, "no artifact " + std::string(sha256));
    return Fail(IoError("cannot stat " + path.string(), errno));
  }
  if (!S_ISREG(info.st_mode)) return Fail(Errc::kNotFound, "no artifact " + std::string(sha256));
  ArtifactStat stat;
  stat.sha256 = std::string(sha256);
  stat.size = static_cast<std::uint64_t>(info.st_size);
  stat.created_at = ops::Wall(static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000 +
                              info.st_mtim.tv_nsec / 1'000'000);
  return stat;
}

Status FileArtifacts::Read(std::string_view sha256, std::uint64_t offset, std::uint64_t length,
                           const ArtifactSink& write) {
  if (auto valid = engine::CheckArtifactName(sha256); !valid) return valid;
  const std::filesystem::path path = dir_ / std::string(sha256);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Fail(Errc::kNotFound, "no artifact " + std::string(sha256));
    return Fail(IoError("cannot open " + path.string(), errno));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return Fail(IoError("cannot stat " + path.string(), errno));
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (auto range = engine::CheckArtifactRange(size, offset, length); !range) return range;
  std::vector<char> buffer(std::min<std::uint64_t>(length, engine::kArtifactPiece));
  while (length > 0) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer.size()));
    const ssize_t n = ::pread(fd.get(), buffer.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(IoError("cannot read " + path.string(), errno));
    if (n == 0) return Fail(Errc::kStore, "store: " + path.string() + " is shorter than it was");
    if (auto sent = write(std::span<const char>(buffer.data(), static_cast<std::size_t>(n)));
        !sent) {
      return sent;
    }
    offset += static_cast<std::uint64_t>(n);
    length -= static_cast<std::uint64_t>(n);
  }
  return Ok();
}

Expected<std::vector<ArtifactStat>> FileArtifacts::List() {
  std::vector<ArtifactStat> stats;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!engine::CheckArtifactName(name)) continue;  // .upload-* and anything else
    auto stat = Stat(name);
    if (stat) {
      stats.push_back(*std::move(stat));
    } else if (stat.error().code != Errc::kNotFound) {  // removed meanwhile: not listed
      return Fail(stat.error());
    }
  }
  if (ec) return Fail(Errc::kIo, "cannot list " + dir_.string() + ": " + ec.message());
  return stats;
}

Status FileArtifacts::Remove(std::string_view sha256) {
  if (auto valid = engine::CheckArtifactName(sha256); !valid) return valid;
  const std::filesystem::path path = dir_ / std::string(sha256);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Fail(Errc::kNotFound, "no artifact " + std::string(sha256));
    return Fail(IoError("cannot remove " + path.string(), errno));
  }
  Fd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
    return Fail(IoError("cannot sync " + dir_.string(), errno));
  }
  return Ok();
}

}  // namespace orb::store::sqlite
