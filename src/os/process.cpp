#include "os/process.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/regex.hpp"
#include "os/fs.hpp"

namespace orb::os {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kPollInterval{10};
constexpr std::size_t kKeptLines = 20;  // console lines quoted in a readiness failure

// Owns a raw descriptor (the fds handed to the child are not files of the Fs seam).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Moves a descriptor to number >= 10 (close-on-exec), so the child's dup2 onto 0..3 never
// overwrites another of the descriptors it still has to dup.
Expected<Fd> MoveHigh(Fd fd, std::string_view what) {
  const int high = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 10);
  if (high < 0) return Fail(Errc::kIo, "spawn: dup " + std::string(what) + ": " + ErrnoText(errno));
  return Fd(high);
}

Expected<Fd> OpenStdinFifo(const fs::path& path) {
  if (::mkfifo(path.c_str(), 0600) != 0 && errno != EEXIST) {
    return Fail(Errc::kIo, "mkfifo " + path.string() + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return Fail(Errc::kIo, "stat " + path.string() + ": " + ErrnoText(errno));
  }
  if (!S_ISFIFO(st.st_mode)) {
    return Fail(Errc::kInvalidPayload, path.string() + " exists and is not a FIFO");
  }
  // O_RDWR: opening does not wait for a writer, and the child keeps a writer itself (no EOF).
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Fail(Errc::kIo, "open " + path.string() + ": " + ErrnoText(errno));
  return Fd(fd);
}

// What the child reports through the close-on-exec pipe when it cannot exec.
struct ChildFailure {
  int stage = 0;  // 1 chdir, 2 exec, 3 setsid, 4 dup2
  int error_number = 0;
};

[[noreturn]] void ChildFail(int report_fd, int stage) {
  const ChildFailure failure{stage, errno};
  [[maybe_unused]] const ssize_t ignored = ::write(report_fd, &failure, sizeof failure);
  ::_exit(127);
}

std::string_view StageName(int stage) {
  switch (stage) {
    case 1: return "chdir";
    case 2: return "exec";
    case 3: return "setsid";
    case 4: return "dup2";
    default: return "start";
  }
}

std::string SignalName(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? "SIG" + std::string(abbrev) : "signal " + std::to_string(signal);
}

// Calls visit(pid) for every process in /proc until it returns true. False when /proc cannot be
// listed.
template <typename Visit>
bool ForEachPid(Visit&& visit) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return false;
  while (const dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid <= 0) continue;
    if (visit(static_cast<pid_t>(pid))) break;
  }
  ::closedir(proc);
  return true;
}

ExitStatus FromWaitStatus(int status) {
  ExitStatus exit;
  if (WIFEXITED(status)) exit.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  return exit;
}

std::uint64_t FileSize(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace

Expected<ProcStat> ReadProcStat(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ESRCH) {
      return Fail(Errc::kNotFound, "no process " + std::to_string(pid));
    }
    return Fail(Errc::kIo, "open " + path + ": " + ErrnoText(errno));
  }
  Fd holder(fd);
  std::array<char, 1024> buffer{};
  const ssize_t n = ::read(fd, buffer.data(), buffer.size() - 1);
  if (n <= 0) {
    if (n < 0 && errno == ESRCH) return Fail(Errc::kNotFound, "no process " + std::to_string(pid));
    return Fail(Errc::kIo, "read " + path + ": " + (n < 0 ? ErrnoText(errno) : "empty"));
  }
  const std::string_view text(buffer.data(), static_cast<std::size_t>(n));
  // "pid (comm) state ppid pgrp session ...": comm may hold spaces and ')', so cut at the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return Fail(Errc::kIo, "cannot parse " + path);
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  std::string current;
  for (const char c : text.substr(close + 1)) {
    if (c == ' ' || c == '\n') {
      if (!current.empty()) fields.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) fields.push_back(std::move(current));
  if (fields.size() < 20 || fields[0].size() != 1) return Fail(Errc::kIo, "cannot parse " + path);
  try {
    ProcStat stat;
    stat.state = fields[0][0];
    stat.ppid = static_cast<pid_t>(std::stol(fields[1]));
    stat.pgrp = static_cast<pid_t>(std::stol(fields[2]));
    stat.session = static_cast<pid_t>(std::stol(fields[3]));
    stat.start_time = std::stoull(fields[19]);  // field 22
    return stat;
  } catch (const std::exception&) {
    return Fail(Errc::kIo, "cannot parse " + path);
  }
}

std::string ExitStatus::Describe() const {
  if (signal != 0) return "killed by " + SignalName(signal);
  return "exited with code " + std::to_string(code);
}

std::string_view ToString(StopMethod method) {
  switch (method) {
    case StopMethod::kAlreadyStopped: return "already stopped";
    case StopMethod::kCommand: return "stop command";
    case StopMethod::kSignal: return "stop signal";
    case StopMethod::kSigterm: return "SIGTERM to the process group";
    case StopMethod::kSigkill: return "SIGKILL to the process group";
  }
  return "unknown";
}

Expected<Process> Process::Spawn(const SpawnSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Fail(Errc::kInvalidPayload, "spawn: the command is empty");
  }
  const std::string context = "spawn " + spec.argv[0];

  auto fifo = OpenStdinFifo(spec.console.stdin_fifo);
  if (!fifo) return Fail(std::move(fifo.error()).WithContext(context));
  const int log_raw = ::open(spec.console.console_log.c_str(),
                             O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, kPrivateFileMode);
  if (log_raw < 0) {
    return Fail(Errc::kIo,
                context + ": open " + spec.console.console_log.string() + ": " + ErrnoText(errno));
  }
  Fd log(log_raw);
  std::array<int, 2> report_pipe{};
  if (::pipe2(report_pipe.data(), O_CLOEXEC) != 0) {
    return Fail(Errc::kIo, context + ": pipe: " + ErrnoText(errno));
  }
  Fd report_read(report_pipe[0]);
  Fd report_write_low(report_pipe[1]);
  auto fifo_high = MoveHigh(std::move(*fifo), "stdin");
  if (!fifo_high) return Fail(std::move(fifo_high.error()));
  auto log_high = MoveHigh(std::move(log), "log");
  if (!log_high) return Fail(std::move(log_high.error()));
  auto report_write = MoveHigh(std::move(report_write_low), "pipe");
  if (!report_write) return Fail(std::move(report_write.error()));
  const std::uint64_t log_offset = FileSize(spec.console.console_log);

  // Everything the child needs is prepared here: after fork it may only make async-signal-safe
  // calls (the agent is multi-threaded).
  std::map<std::string, std::string> env_map;
  if (spec.inherit_environment) {
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
      const std::string_view item(*entry);
      const auto eq = item.find('=');
      if (eq != std::string_view::npos) {
        env_map[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
      }
    }
  }
  for (const auto& [key, value] : spec.env)
    env_map[key] = value;
  std::vector<std::string> env_strings;
  env_strings.reserve(env_map.size());
  for (const auto& [key, value] : env_map)
    env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& item : env_strings)
    envp.push_back(item.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = spec.argv;
  std::vector<char*> argv;
  for (auto& item : argv_strings)
    argv.push_back(item.data());
  argv.push_back(nullptr);
  const std::string cwd = spec.cwd.string();
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  const int max_fd = open_max > 0 && open_max < 65536 ? static_cast<int>(open_max) : 65536;
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);

  const int fifo_fd = fifo_high->get();
  const int log_fd = log_high->get();
  const int report_fd = report_write->get();
  const pid_t pid = ::fork();
  if (pid < 0) return Fail(Errc::kIo, context + ": fork: " + ErrnoText(errno));
  if (pid == 0) {
    // The child: async-signal-safe calls only.
    for (int sig = 1; sig < NSIG; ++sig)
      ::sigaction(sig, &default_action, nullptr);
    ::sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
    if (::setsid() < 0) ChildFail(report_fd, 3);
    if (::dup2(fifo_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) {
      ChildFail(report_fd, 4);
    }
    if (::dup2(report_fd, 3) < 0) ChildFail(report_fd, 4);
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    if (::close_range(4, ~0U, 0) != 0) {
      for (int fd = 4; fd < max_fd; ++fd)
        ::close(fd);
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ChildFail(3, 1);
    ::execve(argv[0], argv.data(), envp.data());
    ChildFail(3, 2);
  }

  report_write->Reset();
  ChildFailure failure;
  ssize_t got = 0;
  do {
    got = ::read(report_read.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got > 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const std::string where =
        failure.stage == 1 ? " " + cwd : (failure.stage == 2 ? " " + spec.argv[0] : "");
    return Fail(Errc::kIo, context + ": " + std::string(StageName(failure.stage)) + where + ": " +
                               ErrnoText(failure.error_number));
  }
  // exec succeeded; the child is ours and unreaped, so its /proc entry is there.
  auto stat = ReadProcStat(pid);
  if (!stat) return Fail(std::move(stat.error()).WithContext(context));
  return Process(ProcessIdentity{pid, stat->start_time}, spec.console, true, log_offset);
}

Expected<Process> Process::Attach(const ProcessIdentity& identity, const ConsolePaths& console) {
  const std::string what = "process " + std::to_string(identity.pid);
  if (identity.pid <= 1) return Fail(Errc::kNotFound, what + ": not an instance pid");
  auto stat = ReadProcStat(identity.pid);
  if (!stat) return Fail(std::move(stat.error()));
  if (stat->start_time != identity.start_time) {
    return Fail(Errc::kNotFound, what + " started at tick " + std::to_string(stat->start_time) +
                                     ", not " + std::to_string(identity.start_time) +
                                     ": the pid was reused, the instance is gone");
  }
  if (stat->state == 'Z' || stat->state == 'X') {
    return Fail(Errc::kNotFound, what + " has exited");
  }
  if (stat->pgrp != identity.pid) {
    return Fail(Errc::kNotFound, what + " does not lead its own process group: not an instance");
  }
  return Process(identity, console, stat->ppid == ::getpid(), FileSize(console.console_log));
}

std::optional<ExitStatus> Process::ReapExited(const ProcessIdentity& identity) {
  if (identity.pid <= 1) return std::nullopt;
  auto stat = ReadProcStat(identity.pid);
  if (!stat || stat->start_time != identity.start_time || stat->state != 'Z' ||
      stat->ppid != ::getpid()) {
    return std::nullopt;
  }
  int status = 0;
  if (::waitpid(identity.pid, &status, WNOHANG) != identity.pid) return std::nullopt;
  return FromWaitStatus(status);
}

bool Process::IsAlive() {
  if (gone_) return false;
  if (is_child_) {
    int status = 0;
    const pid_t reaped = ::waitpid(identity_.pid, &status, WNOHANG);
    if (reaped == identity_.pid) {
      exit_ = FromWaitStatus(status);
      gone_ = true;
      return false;
    }
    if (reaped == 0) return true;
    // ECHILD: somebody else reaped it (or it is not our child after all); fall back to /proc.
    is_child_ = false;
  }
  auto stat = ReadProcStat(identity_.pid);
  if (!stat) {
    if (stat.error().code != Errc::kNotFound) return true;  // cannot tell: assume it runs
    MarkGone();
    return false;
  }
  if (stat->start_time != identity_.start_time || stat->state == 'Z' || stat->state == 'X') {
    MarkGone();
    return false;
  }
  return true;
}

void Process::MarkGone() {
  gone_ = true;
  if (!exit_ && exit_probe_) exit_ = exit_probe_();
}

bool Process::GroupHasLiveMembers() const {
  bool found = false;
  const bool listed = ForEachPid([&](pid_t pid) {
    auto stat = ReadProcStat(pid);
    found = stat && stat->pgrp == identity_.pid && stat->state != 'Z' && stat->state != 'X';
    return found;
  });
  if (!listed) return ::kill(-identity_.pid, 0) == 0;
  return found;
}

std::optional<ProcessIdentity> Process::FindByEnvironment(std::string_view entry) {
  std::optional<ProcessIdentity> match;
  std::string environ_text;
  ForEachPid([&](pid_t pid) {
    auto stat = ReadProcStat(pid);
    if (!stat || stat->session != pid || stat->state == 'Z' || stat->state == 'X') return false;
    const Fd file(
        ::open(("/proc/" + std::to_string(pid) + "/environ").c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) return false;  // gone, or not ours to read
    environ_text.clear();
    std::array<char, 4096> buffer{};
    for (;;) {
      const ssize_t n = ::read(file.get(), buffer.data(), buffer.size());
      if (n <= 0) break;
      environ_text.append(buffer.data(), static_cast<std::size_t>(n));
    }
    std::string_view rest(environ_text);
    while (!rest.empty()) {
      const auto end = rest.find('\0');
      if (rest.substr(0, end) == entry) {
        match = ProcessIdentity{pid, stat->start_time};
        return true;
      }
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
    return false;
  });
  return match;
}

bool Process::IsFullyGone() {
  return !IsAlive() && !GroupHasLiveMembers();
}

bool Process::WaitGone(milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    if (IsFullyGone()) return true;
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status Process::WaitReady(std::string_view pattern_text, milliseconds timeout,
                          const CancelCheck& cancelled) {
  const auto deadline = steady_clock::now() + timeout;
  const std::string what = "process " + std::to_string(identity_.pid);
  auto compiled = CompileRegex(pattern_text);
  if (!compiled) {
    return Fail(Errc::kInvalidPayload, "readyPattern \"" + std::string(pattern_text) +
                                           "\" is not a valid regex: " + compiled.error().message);
  }
  const std::regex pattern = std::move(*compiled);
  std::deque<std::string> last_lines;
  std::array<char, 16 * 1024> buffer{};
  for (;;) {
    // Liveness first: output written before the exit is still read below.
    const bool alive = IsAlive();
    const int fd = ::open(console_.console_log.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      Fd holder(fd);
      struct stat st {};
      if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) < log_offset_) {
        log_offset_ = 0;  // rotated (copytruncate): start again at the new beginning
        partial_line_.clear();
      }
      for (;;) {
        const ssize_t n =
            ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(log_offset_));
        if (n <= 0) break;
        log_offset_ += static_cast<std::uint64_t>(n);
        partial_line_.append(buffer.data(), static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (auto end = partial_line_.find('\n'); end != std::string::npos;
             end = partial_line_.find('\n', start)) {
          std::string line = partial_line_.substr(start, end - start);
          start = end + 1;
          if (std::regex_search(line, pattern)) {
            partial_line_.erase(0, start);
            return Ok();
          }
          last_lines.push_back(std::move(line));
          if (last_lines.size() > kKeptLines) last_lines.pop_front();
        }
        partial_line_.erase(0, start);
      }
    }
    if (!alive) {
      std::string message =
          what + " " + (exit_ ? exit_->Describe() : std::string("exited")) + " before it was ready";
      if (!partial_line_.empty()) last_lines.push_back(partial_line_);
      if (!last_lines.empty()) message += "; last console lines:";
      for (const auto& line : last_lines)
        message += "\n" + line;
      return Fail(Errc::kInstanceNotReady, std::move(message));
    }
    if (cancelled && cancelled())
      return Fail(Errc::kCancelled, what + ": readiness wait cancelled");
    if (steady_clock::now() >= deadline) {
      return Fail(Errc::kTimeout,
                  what + " not ready within " + std::to_string(timeout.count()) + " ms", true);
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status Process::SendCommand(std::string_view line) {
  const std::string path = console_.stdin_fifo.string();
  // O_NONBLOCK: fails with ENXIO at once instead of waiting when nobody holds the read end.
  const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENXIO) return Fail(Errc::kInvalidState, "nobody reads " + path);
    return Fail(Errc::kIo, "open " + path + ": " + ErrnoText(errno));
  }
  Fd holder(fd);
  std::string data(line);
  data.push_back('\n');
  // A reader that vanishes between open and write would raise SIGPIPE: block it on this thread
  // and swallow the one we caused, so the agent never dies of it.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t old_mask;
  sigset_t pending;
  sigemptyset(&pending);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  ::sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  std::size_t done = 0;
  int write_error = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN) {
      std::this_thread::sleep_for(kPollInterval);  // the FIFO is full: the reader is behind
    } else if (errno != EINTR) {
      write_error = errno;
      break;
    }
  }
  if (write_error == EPIPE && !was_pending) {
    const timespec zero{};
    ::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (write_error == EPIPE) return Fail(Errc::kInvalidState, "nobody reads " + path);
  if (write_error != 0) return Fail(Errc::kIo, "write " + path + ": " + ErrnoText(write_error));
  return Ok();
}

Expected<StopResult> Process::Stop(const StopSpec& spec) {
  const std::string what = "stop process " + std::to_string(identity_.pid);
  StopResult result;
  if (IsFullyGone()) {
    result.exit = exit_;
    return result;
  }
  if (IsAlive()) {
    if (spec.command) {
      if (auto sent = SendCommand(*spec.command); !sent) {
        return Fail(std::move(sent.error()).WithContext(what));
      }
      result.method = StopMethod::kCommand;
    } else {
      // The leader is alive (and, if not our child, checked by start time just now).
      if (::kill(identity_.pid, spec.signal) != 0 && errno != ESRCH) {
        return Fail(Errc::kIo, what + ": kill: " + ErrnoText(errno));
      }
      result.method = StopMethod::kSignal;
    }
    if (WaitGone(spec.grace)) {
      result.exit = exit_;
      return result;
    }
  }
  // The group id cannot be reused while any member lives, so signalling -pgid is safe.
  result.method = StopMethod::kSigterm;
  if (::kill(-identity_.pid, SIGTERM) != 0 && errno != ESRCH) {
    return Fail(Errc::kIo, what + ": kill group: " + ErrnoText(errno));
  }
  if (WaitGone(spec.term_timeout)) {
    result.exit = exit_;
    return result;
  }
  result.method = StopMethod::kSigkill;
  if (::kill(-identity_.pid, SIGKILL) != 0 && errno != ESRCH) {
    return Fail(Errc::kIo, what + ": kill group: " + ErrnoText(errno));
  }
  if (WaitGone(spec.kill_timeout)) {
    result.exit = exit_;
    return result;
  }
  return Fail(Errc::kTimeout, what + ": still present " +
                                  std::to_string(spec.kill_timeout.count()) + " ms after SIGKILL");
}

}  // namespace orb::os
