#pragma once

#include <filesystem>

#include <unistd.h>

#include "os/fs.hpp"

namespace orb::testing {

// An os::Fs that forwards to another one and ends the process with _exit(exit_code) at its Nth
// call, before the call reaches the disk: an abrupt death (no destructors, no cleanup, nothing
// flushed), for "kill the agent at every step" tests that run the code under test in a fork()ed
// child. n == 0 never kills. Not thread-safe: one thread (the child's) uses it.
class KillingFs final : public os::Fs {
 public:
  KillingFs(os::Fs& inner, int n, int exit_code = 9) : inner_(inner), n_(n), code_(exit_code) {}

  [[nodiscard]] int calls() const { return calls_; }

  Expected<os::File> Open(const std::filesystem::path& path, os::OpenMode mode) override {
    Tick();
    return inner_.Open(path, mode);
  }
  Expected<std::size_t> Read(os::File& file, std::span<char> buffer) override {
    Tick();
    return inner_.Read(file, buffer);
  }
  Status Write(os::File& file, std::string_view data) override {
    Tick();
    return inner_.Write(file, data);
  }
  Status Sync(os::File& file) override {
    Tick();
    return inner_.Sync(file);
  }
  Status Close(os::File& file) override {
    Tick();
    return inner_.Close(file);
  }
  Status Truncate(const std::filesystem::path& path, std::uint64_t size) override {
    Tick();
    return inner_.Truncate(path, size);
  }
  Status SyncDir(const std::filesystem::path& dir) override {
    Tick();
    return inner_.SyncDir(dir);
  }
  Status SyncFilesystem(const std::filesystem::path& any) override {
    Tick();
    return inner_.SyncFilesystem(any);
  }
  Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    Tick();
    return inner_.Rename(from, to);
  }
  Expected<os::ExchangeResult> Exchange(const std::filesystem::path& a,
                                        const std::filesystem::path& b) override {
    Tick();
    return inner_.Exchange(a, b);
  }
  Status Symlink(const std::filesystem::path& target, const std::filesystem::path& link) override {
    Tick();
    return inner_.Symlink(target, link);
  }
  Expected<std::filesystem::path> ReadLink(const std::filesystem::path& link) override {
    Tick();
    return inner_.ReadLink(link);
  }
  Status Unlink(const std::filesystem::path& path) override {
    Tick();
    return inner_.Unlink(path);
  }
  Status MakeDir(const std::filesystem::path& dir) override {
    Tick();
    return inner_.MakeDir(dir);
  }
  Status RemoveDir(const std::filesystem::path& dir) override {
    Tick();
    return inner_.RemoveDir(dir);
  }
  Status RemoveTree(const std::filesystem::path& path) override {
    Tick();
    return inner_.RemoveTree(path);
  }
  Expected<os::FileStat> Stat(const std::filesystem::path& path) override {
    Tick();
    return inner_.Stat(path);
  }
  Expected<std::vector<os::DirEntry>> ReadDir(const std::filesystem::path& dir) override {
    Tick();
    return inner_.ReadDir(dir);
  }
  Expected<std::string> ReadFile(const std::filesystem::path& path) override {
    Tick();
    return inner_.ReadFile(path);
  }

 private:
  void Tick() {
    if (++calls_ == n_) ::_exit(code_);
  }

  os::Fs& inner_;
  int n_;
  int code_;
  int calls_ = 0;
};

}  // namespace orb::testing
