#pragma once

// The harness of the handler tests beside it (build_handlers_test, sync_mods_test): an "agent"
// that runs handlers over a root the way the executor does (without its threads), fast deps, an
// Fs that ends the process at its Nth call, and a helper that runs a handler in a fork()ed child
// over it (to kill a handler at every step). Header-only.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"

namespace orb::jobs::harness {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

class NullSink final : public RunSink {
 public:
  void Progress(std::optional<int> percent, std::string /*message*/, std::string step) override {
    const std::lock_guard lock(mutex_);
    if (percent) last_percent_ = *percent;
    if (percent && *percent < max_percent_ && step != "done") regressions_++;
    if (percent) max_percent_ = std::max(max_percent_, *percent);
    steps_.push_back(step);
  }
  void LogLine(std::string_view /*level*/, std::string /*message*/) override {}
  int last_percent() const {
    const std::lock_guard lock(mutex_);
    return last_percent_;
  }

 private:
  mutable std::mutex mutex_;
  int last_percent_ = -1;
  int max_percent_ = 0;
  int regressions_ = 0;
  std::vector<std::string> steps_;
};

// Runs handlers of one agent root the way the executor does (without its threads).
class Agent {
 public:
  Agent(fs::path root, HandlerDeps deps) : root_(std::move(root)), deps_(std::move(deps)) {
    handlers_ = MakeHandlers(deps_);
  }

  Expected<std::string> Run(const std::string& type, const std::string& payload,
                            CancelToken* cancel = nullptr,
                            std::vector<std::string>* extra_locks = nullptr) {
    protocol::JobExecution execution;
    execution.job_id = "job-" + std::to_string(++runs_);
    execution.run_id = "run-" + std::to_string(runs_) + "-" + std::to_string(::getpid());
    execution.type = type;
    if (type == "SYNC_MODS" || type.find("INSTANCE") != std::string::npos) {
      execution.instance_id = "i1";
    } else {
      execution.server_id = "s1";
    }
    execution.payload_json = payload;
    CancelToken own;
    CancelToken& token = cancel != nullptr ? *cancel : own;
    const fs::path staging = root_ / ".staging" / execution.run_id;
    fs::create_directories(staging);
    HandlerContext context(execution, root_, staging, token,
                           JobLog(GetLogger("test"), execution.job_id, execution.run_id), sink_,
                           RealClock());
    if (extra_locks != nullptr) {
      context.SetLockProvider([extra_locks](const protocol::LockSet& locks) {
        for (const auto& lock : locks)
          extra_locks->push_back(lock.key);
        return Ok();
      });
    }
    Expected<std::string> result = Fail(Errc::kUnknownJobType, type);
    for (auto& handler : handlers_) {
      if (handler->type() == type) result = handler->Run(context);
    }
    std::error_code ec;
    fs::remove_all(staging, ec);
    return result;
  }

  NullSink& sink() { return sink_; }

 private:
  fs::path root_;
  HandlerDeps deps_;
  std::vector<std::unique_ptr<JobHandler>> handlers_;
  NullSink sink_;
  int runs_ = 0;
};

inline HandlerDeps FastDeps(os::Fs* fs = nullptr) {
  HandlerDeps deps;
  deps.fs = fs;
  deps.instance_settle_time = 200ms;
  deps.instance_term_timeout = 500ms;
  deps.instance_kill_timeout = 3000ms;
  deps.download_retry.initial_delay = 10ms;
  deps.download_retry.max_delay = 50ms;
  deps.download_retry.max_attempts = 5;
  deps.download_connect_timeout = 2s;
  return deps;
}

// Kills every instance process a root's scripts recorded (they are their own session leaders).
inline void KillInstances(const fs::path& root) {
  std::error_code ec;
  if (!fs::exists(root / "instances", ec)) return;
  for (const auto& entry : fs::directory_iterator(root / "instances", ec)) {
    std::ifstream pids(entry.path() / "data/pids");
    pid_t pid = 0;
    while (pids >> pid) {
      if (pid > 0) ::kill(-pid, SIGKILL);
    }
  }
}

// Forwards to RealFs and ends the process at the Nth call, before it happens.
class DyingFs final : public os::Fs {
 public:
  explicit DyingFs(int die_at) : die_at_(die_at) {}

  Expected<os::File> Open(const fs::path& p, os::OpenMode m) override {
    return Step(), real_.Open(p, m);
  }
  Expected<std::size_t> Read(os::File& f, std::span<char> b) override {
    return Step(), real_.Read(f, b);
  }
  Status Write(os::File& f, std::string_view d) override { return Step(), real_.Write(f, d); }
  Status Sync(os::File& f) override { return Step(), real_.Sync(f); }
  Status Close(os::File& f) override { return Step(), real_.Close(f); }
  Status Truncate(const fs::path& p, std::uint64_t s) override {
    return Step(), real_.Truncate(p, s);
  }
  Status SyncDir(const fs::path& d) override { return Step(), real_.SyncDir(d); }
  Status SyncFilesystem(const fs::path& p) override { return Step(), real_.SyncFilesystem(p); }
  Status Rename(const fs::path& a, const fs::path& b) override {
    return Step(), real_.Rename(a, b);
  }
  Expected<os::ExchangeResult> Exchange(const fs::path& a, const fs::path& b) override {
    return Step(), real_.Exchange(a, b);
  }
  Status Symlink(const fs::path& t, const fs::path& l) override {
    return Step(), real_.Symlink(t, l);
  }
  Expected<fs::path> ReadLink(const fs::path& l) override { return Step(), real_.ReadLink(l); }
  Status Unlink(const fs::path& p) override { return Step(), real_.Unlink(p); }
  Status MakeDir(const fs::path& d) override { return Step(), real_.MakeDir(d); }
  Status RemoveDir(const fs::path& d) override { return Step(), real_.RemoveDir(d); }
  Status RemoveTree(const fs::path& p) override { return Step(), real_.RemoveTree(p); }
  Expected<os::FileStat> Stat(const fs::path& p) override { return Step(), real_.Stat(p); }
  Expected<std::vector<os::DirEntry>> ReadDir(const fs::path& d) override {
    return Step(), real_.ReadDir(d);
  }
  Expected<std::string> ReadFile(const fs::path& p) override { return Step(), real_.ReadFile(p); }

 private:
  void Step() {
    if (++calls_ == die_at_) ::_exit(9);
  }
  os::RealFs real_;
  int die_at_;
  int calls_ = 0;
};

// Runs `type` with `payload` in a child over `root` that dies at Fs call `die_at`. Returns the
// child's exit code: 9 when it died, 0 when the handler finished first, 1 when it failed.
inline int RunInDyingChild(const fs::path& root, int die_at, const std::string& type,
                           const std::string& payload) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    DyingFs dying(die_at);
    Agent child(root, FastDeps(&dying));
    auto result = child.Run(type, payload);
    ::_exit(result ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace orb::jobs::harness
