#pragma once

// One of the real programs (fleet-cmdr, the agent testbed) as a child process of a test, for
// kill -9, SIGTERM and restarts. Killed (SIGKILL) and reaped when destroyed.
// Thread-safety: one thread at a time.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/wait_for.hpp"

extern char** environ;

namespace orb::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { Kill(SIGKILL); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts args[0] with the test's environment. Its stdout and stderr go to the test's, or are
  // appended to `output` when given (to read its log). False when it could not be spawned or one is
  // already running.
  bool Start(std::vector<std::string> args, const std::filesystem::path& output = {}) {
    if (pid_ > 0) return false;
    std::vector<char*> argv;
    for (auto& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!output.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0644);
      posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    }
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    return pid_ > 0;
  }

  [[nodiscard]] bool running() const { return pid_ > 0; }

  // Sends `signal`; for SIGKILL also reaps the process.
  void Kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    if (signal == SIGKILL) (void)Wait(std::chrono::seconds(10));
  }

  // Waits for the process to exit: its exit code, 128+n when signal n ended it, -1 when it did not
  // exit within `timeout` (or was never started).
  int Wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return exit_status_;
    int status = 0;
    const bool exited = WaitFor(
        [&] {
          const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
          return reaped == pid_ || reaped < 0;
        },
        timeout);
    if (!exited) return -1;
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_status_;
  }

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

}  // namespace orb::testing
