#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "common/expected.hpp"

namespace orb::os {

// Supervision of game-server instance processes (job-types.md §2). An instance must outlive the
// agent, so nothing here ties the child to us:
//  - it runs in its own session and process group (setsid), so the agent's SIGTERM, its death or
//    systemd stopping the agent's unit (KillMode=process in packaging/orb-jobs-agent.service)
//    never reach it;
//  - stdout and stderr go to a console log opened O_APPEND, not to a pipe the agent would hold;
//  - stdin is a FIFO in the instance's state dir that the child itself holds open read-write, so
//    it never sees EOF when the agent goes away, and a restarted agent reopens it to send the stop
//    command.
// A process is identified by pid and start time (field 22 of /proc/<pid>/stat, clock ticks since
// boot), which the caller persists (runtime.json); Attach() re-finds it after an agent restart and
// refuses a pid that now belongs to another process.
//
// With systemd running, an instance can instead be its own transient unit: os::SystemdUnit
// (systemd_unit.hpp) starts one over sd-bus with the same stdin FIFO and console log, identifies
// its MainPID the same way and stops its whole cgroup (a double-forked grandchild included).
// jobs/instances chooses between the two (the agent's instanceSupervisor: auto, systemd, process).
//
// Thread-safety: a Process object is used by one thread at a time; different objects (even for
// the same pid) may be used from different threads. Errors: Expected/Status, never exceptions.

// Field 22 of /proc/<pid>/stat and what else we need from it.
struct ProcStat {
  char state = '?';  // R, S, D, Z, ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  std::uint64_t start_time = 0;  // clock ticks after boot
};

// Reads /proc/<pid>/stat. Errc::kNotFound when there is no such process.
Expected<ProcStat> ReadProcStat(pid_t pid);

// The identity of an instance process, persisted across agent restarts.
struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  bool operator==(const ProcessIdentity&) const = default;
};

// How a child ended (known only to its parent, which reaps it).
struct ExitStatus {
  int code = -1;                               // exit code, or -1 when killed by a signal
  int signal = 0;                              // the signal that killed it, or 0
  [[nodiscard]] std::string Describe() const;  // "exited with code 3", "killed by SIGKILL"
};

// Where an instance's stdin FIFO and console log live (instances/<id>/ in job-types.md §1).
struct ConsolePaths {
  std::filesystem::path console_log;  // created if missing, opened O_APPEND
  std::filesystem::path stdin_fifo;   // created (mode 0600) if missing; must be a FIFO
};

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is executed as a path (relative paths: to cwd)
  std::filesystem::path cwd;      // the instance's data/ directory
  // Added to (and overriding) the agent's environment, or the whole environment when
  // inherit_environment is false. Handlers add ORB_JOB_ID and ORB_RUN_ID here.
  std::vector<std::pair<std::string, std::string>> env;
  bool inherit_environment = true;
  ConsolePaths console;
};

// A check the long waits poll; true means "stop waiting" (the run was cancelled).
using CancelCheck = std::function<bool()>;

enum class StopMethod {
  kAlreadyStopped,  // it was not running
  kCommand,         // it exited after the stop command
  kSignal,          // it exited after the stop signal
  kSigterm,         // it needed SIGTERM to its process group
  kSigkill,         // it needed SIGKILL to its process group
};
std::string_view ToString(StopMethod method);

struct StopSpec {
  std::optional<std::string> command;       // written as one line to stdin; else `signal` is sent
  int signal = 15;                          // SIGTERM
  std::chrono::milliseconds grace{30'000};  // stopTimeoutSeconds
  std::chrono::milliseconds term_timeout{10'000};  // after SIGTERM to the group
  std::chrono::milliseconds kill_timeout{10'000};  // after SIGKILL: then it is an error
};

struct StopResult {
  StopMethod method = StopMethod::kAlreadyStopped;
  std::optional<ExitStatus> exit;  // when we are its parent and reaped it
  [[nodiscard]] bool forced() const {
    return method == StopMethod::kSigterm || method == StopMethod::kSigkill;
  }
};

class Process {
 public:
  // Starts argv as described above. Errors: Errc::kInvalidPayload for an empty argv or a stdin
  // path that is not a FIFO; Errc::kIo when the FIFO or log cannot be made, or fork, chdir or exec
  // fails (the message says which and why).
  static Expected<Process> Spawn(const SpawnSpec& spec);

  // Re-finds a running instance after an agent restart. Errc::kNotFound when no live process has
  // this pid and start time (gone, or the pid was reused) or it is not the leader of its own
  // process group (so not one of ours).
  static Expected<Process> Attach(const ProcessIdentity& identity, const ConsolePaths& console);

  // The live session leader whose environment (as it was exec'd) holds `entry` ("NAME=value",
  // matched whole), e.g. an instance by its ORB_RUN_ID when the agent died before it could write
  // the pid down. Scans /proc; processes whose environment we may not read are skipped.
  static std::optional<ProcessIdentity> FindByEnvironment(std::string_view entry);

  // Reaps `identity` when it is a zombie child of ours (an instance this agent spawned that
  // exited while nobody watched it) and says how it ended; nullopt otherwise. Without this it
  // would stay a zombie, which Attach counts as gone, until the agent exits.
  static std::optional<ExitStatus> ReapExited(const ProcessIdentity& identity);

  // Does not stop the process: instances outlive the objects (and the agent) that started them.
  ~Process() = default;
  Process(Process&&) noexcept = default;
  Process& operator=(Process&&) noexcept = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  [[nodiscard]] const ProcessIdentity& identity() const { return identity_; }
  [[nodiscard]] const ConsolePaths& console() const { return console_; }

  // True while the process runs. Reaps it when we are its parent (call it now and then so no
  // zombie stays); a zombie whose parent is someone else counts as gone.
  bool IsAlive();
  [[nodiscard]] const std::optional<ExitStatus>& exit_status() const { return exit_; }

  // Waits until `pattern` (ECMAScript regex, job-types.md readyPattern, searched in each line)
  // matches a line appended to the console log since Spawn/Attach. Errors: Errc::kInvalidPayload
  // for a pattern that is not a valid regex; Errc::kInstanceNotReady when the process exits first
  // (with how it exited and the last lines), Errc::kTimeout after `timeout`, Errc::kCancelled when
  // `cancelled` says so.
  Status WaitReady(std::string_view pattern, std::chrono::milliseconds timeout,
                   const CancelCheck& cancelled);

  // Writes `line` and a newline to the stdin FIFO. Errc::kInvalidState when nobody reads it.
  Status SendCommand(std::string_view line);

  // Stops the process and everything in its process group (job-types.md §2): the command (or
  // signal), up to `grace`; SIGTERM to the group, up to `term_timeout`; SIGKILL to the group, up to
  // `kill_timeout`; done once the leader is gone (reaped if it is our child, else gone from /proc
  // or a zombie) and no live process is left in the group. Errc::kTimeout if something survives
  // SIGKILL (for example a process stuck in the kernel).
  Expected<StopResult> Stop(const StopSpec& spec);

 private:
  friend class SystemdUnit;  // adopts a unit's MainPID with the console offset from before it
  Process(ProcessIdentity identity, ConsolePaths console, bool is_child, std::uint64_t log_offset)
      : identity_(identity),
        console_(std::move(console)),
        is_child_(is_child),
        log_offset_(log_offset) {}

  bool GroupHasLiveMembers() const;
  bool IsFullyGone();
  void MarkGone();
  bool WaitGone(std::chrono::milliseconds timeout);

  ProcessIdentity identity_;
  ConsolePaths console_;
  bool is_child_ = false;
  std::uint64_t log_offset_ = 0;  // WaitReady reads from here
  std::string partial_line_;
  std::optional<ExitStatus> exit_;
  bool gone_ = false;
  // Set by SystemdUnit: how its main process ended, asked of the unit once it is gone (systemd,
  // not we, reaps it).
  std::function<std::optional<ExitStatus>()> exit_probe_;
};

}  // namespace orb::os
