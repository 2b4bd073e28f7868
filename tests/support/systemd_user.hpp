#pragma once

// A systemd user manager of a test's own, for os::SystemdUnit and the instance handlers' systemd
// variant: `systemd --user` in a private mount namespace where /run/systemd/system exists (so it
// runs although PID 1 is not systemd), with its own XDG_RUNTIME_DIR. Outside that namespace
// sd_booted() stays false, so nothing else in the test process takes it for the host's systemd.
// Managers of test processes that run at once (ctest -j) would share one cgroup, where one
// removes the slice another is creating a unit in (exit 219, EXIT_CGROUP): one manager runs at a
// time on the machine, under a lock file held from Start() to Stop().

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os/systemd_unit.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {

class SystemdUser {
 public:
  using milliseconds = std::chrono::milliseconds;

  SystemdUser() = default;
  ~SystemdUser() { Stop(); }
  SystemdUser(const SystemdUser&) = delete;
  SystemdUser& operator=(const SystemdUser&) = delete;

  // An empty string when it runs, else why not.
  std::string Start(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    runtime_dir_ = dir / "xdg";
    fs::create_directories(runtime_dir_);
    fs::permissions(runtime_dir_, fs::perms::owner_all, fs::perm_options::replace);
    if (::access("/lib/systemd/systemd", X_OK) != 0) return "no /lib/systemd/systemd";
    if (::access("/usr/bin/unshare", X_OK) != 0) return "no /usr/bin/unshare";
    lock_fd_ = ::open("/tmp/orb-tests-systemd-user.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd_ < 0) return "cannot open /tmp/orb-tests-systemd-user.lock";
    if (!WaitFor([&] { return ::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0; }, milliseconds(120000))) {
      return "another test's systemd manager held the lock for 120 s";
    }
    const std::string log = (dir / "systemd.log").string();
    pid_ = ::fork();
    if (pid_ < 0) return "fork failed";
    if (pid_ == 0) {
      ::setenv("XDG_RUNTIME_DIR", runtime_dir_.c_str(), 1);  // NOLINT: the forked child only
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out >= 0) {
        ::dup2(out, 1);
        ::dup2(out, 2);
      }
      ::execl("/usr/bin/unshare", "unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
              "mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/system && "
              "exec /lib/systemd/systemd --user",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const fs::path socket = runtime_dir_ / "systemd/private";
    int status = 0;
    bool exited = false;
    const auto ready = WaitFor(
        [&] {
          if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited = true;
            return true;
          }
          return Accepts(socket);
        },
        milliseconds(15000));
    if (exited) {
      pid_ = 0;
      return "systemd --user in a private mount namespace did not start: " + LogText(log);
    }
    if (!ready) return "systemd --user did not listen on " + socket.string() + " in time";
    return "";
  }

  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);  // the manager stops its units and exits
      int status = 0;
      if (!WaitFor([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; },
                   milliseconds(15000))) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
      pid_ = 0;
    }
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
    lock_fd_ = -1;
  }

  [[nodiscard]] os::SystemdOptions Options() const {
    os::SystemdOptions options;
    options.address = "unix:path=" + (runtime_dir_ / "systemd/private").string();
    options.call_timeout = milliseconds(10000);
    options.start_timeout = milliseconds(15000);
    return options;
  }

 private:
  // Whether the manager listens on its private socket: a connect succeeds. The file alone is not
  // enough: it exists from bind(), and a test that connected between bind() and listen() got
  // "Connection refused" (seen under a loaded asan run).
  static bool Accepts(const std::filesystem::path& socket) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = socket.string();
    if (path.size() >= sizeof(address.sun_path)) return false;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const bool connected =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return connected;
  }

  static std::string LogText(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::filesystem::path runtime_dir_;
  pid_t pid_ = 0;
  int lock_fd_ = -1;
};

}  // namespace orb::testing
