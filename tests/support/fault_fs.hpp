#pragma once

#include <cerrno>
#include <filesystem>
#include <mutex>
#include <optional>
#include <utility>

#include "os/fs.hpp"

namespace orb::testing {

// An os::Fs that forwards to another one and fails one chosen call, the way LevelDB's tests wrap
// Env (style.md "The OS and the time are injected"). Fault-injection tests loop over N: fail
// call 1, then call 2, ... until an operation completes without reaching the fault (fault_hit()
// stays false).
//   FailNth:  only the Nth call fails (a transient error such as EIO or ENOSPC).
//   CrashAtNth: the Nth call and every later one fail, as if the process died there: nothing the
//     code under test does afterwards (its cleanup included) reaches the disk.
// Counting is over all calls, or only over calls of one FsOp when `op` is given.
// Thread-safety: all members are safe from any thread.
class FaultyFs final : public os::Fs {
 public:
  explicit FaultyFs(os::Fs& inner) : inner_(inner) {}

  void FailNth(int n, int error_number = EIO, std::optional<os::FsOp> op = std::nullopt);
  void CrashAtNth(int n, int error_number = EIO, std::optional<os::FsOp> op = std::nullopt);
  // Makes Exchange answer kUnsupported (as on a filesystem without RENAME_EXCHANGE).
  void SetExchangeUnsupported(bool unsupported);
  // No fault; counters back to zero.
  void Reset();

  [[nodiscard]] bool fault_hit() const;
  [[nodiscard]] int calls() const;  // calls counted so far (of the chosen op, if any)

  Expected<os::File> Open(const std::filesystem::path& path, os::OpenMode mode) override;
  Expected<std::size_t> Read(os::File& file, std::span<char> buffer) override;
  Status Write(os::File& file, std::string_view data) override;
  Status Sync(os::File& file) override;
  Status Close(os::File& file) override;
  Status Truncate(const std::filesystem::path& path, std::uint64_t size) override;
  Status SyncDir(const std::filesystem::path& dir) override;
  Status SyncFilesystem(const std::filesystem::path& any) override;
  Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  Expected<os::ExchangeResult> Exchange(const std::filesystem::path& a,
                                        const std::filesystem::path& b) override;
  Status Symlink(const std::filesystem::path& target, const std::filesystem::path& link) override;
  Expected<std::filesystem::path> ReadLink(const std::filesystem::path& link) override;
  Status Unlink(const std::filesystem::path& path) override;
  Status MakeDir(const std::filesystem::path& dir) override;
  Status RemoveDir(const std::filesystem::path& dir) override;
  Status RemoveTree(const std::filesystem::path& path) override;
  Expected<os::FileStat> Stat(const std::filesystem::path& path) override;
  Expected<std::vector<os::DirEntry>> ReadDir(const std::filesystem::path& dir) override;
  Expected<std::string> ReadFile(const std::filesystem::path& path) override;

 private:
  // Counts the call; returns the injected error when this call must fail.
  std::optional<Error> Check(std::string_view what, const std::filesystem::path& path, os::FsOp op);

  os::Fs& inner_;
  mutable std::mutex mutex_;
  int fail_at_ = 0;  // 0: no fault
  bool crash_ = false;
  bool crashed_ = false;
  bool hit_ = false;
  int error_number_ = EIO;
  std::optional<os::FsOp> op_;
  int calls_ = 0;
  bool exchange_unsupported_ = false;
};

// Header-only: the test-support library is compiled without the src/ include root.

inline void FaultyFs::FailNth(int n, int error_number, std::optional<os::FsOp> op) {
  const std::lock_guard lock(mutex_);
  fail_at_ = n;
  crash_ = false;
  crashed_ = false;
  hit_ = false;
  error_number_ = error_number;
  op_ = op;
  calls_ = 0;
}

inline void FaultyFs::CrashAtNth(int n, int error_number, std::optional<os::FsOp> op) {
  FailNth(n, error_number, op);
  const std::lock_guard lock(mutex_);
  crash_ = true;
}

inline void FaultyFs::SetExchangeUnsupported(bool unsupported) {
  const std::lock_guard lock(mutex_);
  exchange_unsupported_ = unsupported;
}

inline void FaultyFs::Reset() {
  FailNth(0);
}

inline bool FaultyFs::fault_hit() const {
  const std::lock_guard lock(mutex_);
  return hit_;
}

inline int FaultyFs::calls() const {
  const std::lock_guard lock(mutex_);
  return calls_;
}

inline std::optional<Error> FaultyFs::Check(std::string_view what,
                                            const std::filesystem::path& path, os::FsOp op) {
  const std::lock_guard lock(mutex_);
  if (crashed_) return os::FsError(what, path, error_number_);
  if (op_ && *op_ != op) return std::nullopt;
  ++calls_;
  if (fail_at_ == 0 || calls_ != fail_at_) return std::nullopt;
  hit_ = true;
  crashed_ = crash_;
  Error error = os::FsError(what, path, error_number_);
  error.message += " (injected)";
  return error;
}

#define ORB_FAULT_CHECK(what, path, op)        \
  if (auto injected = Check(what, path, op)) { \
    return Fail(std::move(*injected));         \
  }

inline Expected<os::File> FaultyFs::Open(const std::filesystem::path& path, os::OpenMode mode) {
  ORB_FAULT_CHECK("open", path, os::FsOp::kOpen);
  return inner_.Open(path, mode);
}
inline Expected<std::size_t> FaultyFs::Read(os::File& file, std::span<char> buffer) {
  ORB_FAULT_CHECK("read", file.path(), os::FsOp::kRead);
  return inner_.Read(file, buffer);
}
inline Status FaultyFs::Write(os::File& file, std::string_view data) {
  ORB_FAULT_CHECK("write", file.path(), os::FsOp::kWrite);
  return inner_.Write(file, data);
}
inline Status FaultyFs::Sync(os::File& file) {
  ORB_FAULT_CHECK("fsync", file.path(), os::FsOp::kSync);
  return inner_.Sync(file);
}
inline Status FaultyFs::Close(os::File& file) {
  if (auto injected = Check("close", file.path(), os::FsOp::kClose)) {
    file.Reset();  // like close(2): the descriptor is gone even when it reports an error
    return Fail(std::move(*injected));
  }
  return inner_.Close(file);
}
inline Status FaultyFs::Truncate(const std::filesystem::path& path, std::uint64_t size) {
  ORB_FAULT_CHECK("truncate", path, os::FsOp::kTruncate);
  return inner_.Truncate(path, size);
}
inline Status FaultyFs::SyncDir(const std::filesystem::path& dir) {
  ORB_FAULT_CHECK("fsync dir", dir, os::FsOp::kSyncDir);
  return inner_.SyncDir(dir);
}
inline Status FaultyFs::SyncFilesystem(const std::filesystem::path& any) {
  ORB_FAULT_CHECK("syncfs", any, os::FsOp::kSyncFilesystem);
  return inner_.SyncFilesystem(any);
}
inline Status FaultyFs::Rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  ORB_FAULT_CHECK("rename " + from.string() + " ->", to, os::FsOp::kRename);
  return inner_.Rename(from, to);
}
inline Expected<os::ExchangeResult> FaultyFs::Exchange(const std::filesystem::path& a,
                                                       const std::filesystem::path& b) {
  ORB_FAULT_CHECK("exchange " + a.string() + " <->", b, os::FsOp::kExchange);
  {
    const std::lock_guard lock(mutex_);
    if (exchange_unsupported_) return os::ExchangeResult::kUnsupported;
  }
  return inner_.Exchange(a, b);
}
inline Status FaultyFs::Symlink(const std::filesystem::path& target,
                                const std::filesystem::path& link) {
  ORB_FAULT_CHECK("symlink " + link.string() + " ->", target, os::FsOp::kSymlink);
  return inner_.Symlink(target, link);
}
inline Expected<std::filesystem::path> FaultyFs::ReadLink(const std::filesystem::path& link) {
  ORB_FAULT_CHECK("readlink", link, os::FsOp::kReadLink);
  return inner_.ReadLink(link);
}
inline Status FaultyFs::Unlink(const std::filesystem::path& path) {
  ORB_FAULT_CHECK("unlink", path, os::FsOp::kUnlink);
  return inner_.Unlink(path);
}
inline Status FaultyFs::MakeDir(const std::filesystem::path& dir) {
  ORB_FAULT_CHECK("mkdir", dir, os::FsOp::kMakeDir);
  return inner_.MakeDir(dir);
}
inline Status FaultyFs::RemoveDir(const std::filesystem::path& dir) {
  ORB_FAULT_CHECK("rmdir", dir, os::FsOp::kRemoveDir);
  return inner_.RemoveDir(dir);
}
inline Status FaultyFs::RemoveTree(const std::filesystem::path& path) {
  ORB_FAULT_CHECK("remove tree", path, os::FsOp::kRemoveTree);
  return inner_.RemoveTree(path);
}
inline Expected<os::FileStat> FaultyFs::Stat(const std::filesystem::path& path) {
  ORB_FAULT_CHECK("stat", path, os::FsOp::kStat);
  return inner_.Stat(path);
}
inline Expected<std::vector<os::DirEntry>> FaultyFs::ReadDir(const std::filesystem::path& dir) {
  ORB_FAULT_CHECK("read dir", dir, os::FsOp::kReadDir);
  return inner_.ReadDir(dir);
}
inline Expected<std::string> FaultyFs::ReadFile(const std::filesystem::path& path) {
  ORB_FAULT_CHECK("read file", path, os::FsOp::kReadFile);
  return inner_.ReadFile(path);
}

#undef ORB_FAULT_CHECK

}  // namespace orb::testing
