#pragma once

// The instance steps shared by START_INSTANCE, STOP_INSTANCE and RESTART_INSTANCE
// (job-types.md §1–2, §3): instances/<id>/instance.json and runtime.json, resolving the server's
// active build and command[0] inside it, spawning, readiness, stopping. An instance runs as a
// systemd transient unit "orb-instance-<id>.service" (os::SystemdUnit) or as a process session
// (os::Process: own session and process group, console log, stdin FIFO), as
// InstanceOptions::supervisor says; runtime.json names the unit when there is one, and keeps the
// main pid and its start time either way, so a new agent finds it again (SystemdUnit::Attach,
// Process::Attach), whatever its own setting is now.
//
// Every state change writes runtime.json atomically (os::WriteFileAtomically) before the handler
// goes on, so a new agent with new handler objects over the same root sees what the old one did.
// runtime.json is written before the spawn too (state starting, the run's id): an agent that dies
// before it writes the pid down leaves a process the next one finds by its ORB_RUN_ID.
// A process-session instance that exits while no handler watches it stays a zombie of the agent
// until the next START or STOP of that instance reaps it (one at most per instance).
//
// Thread-safety: stateless apart from its options; the caller (the executor) holds the
// `instance:<id>` lock, so two runs never work on one instance at a time.
// Errors (run.error.code): invalid_payload (bad payload, instance.json, no config, command[0]
// not inside the build), not_installed (no current build, build not committed),
// instance_not_ready, cancelled, timeout (a process survives SIGKILL), io.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "common/expected.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"
#include "os/process.hpp"
#include "os/systemd_unit.hpp"
#include "protocol/instance_json.hpp"

namespace orb::jobs {

struct InstanceOptions {
  std::chrono::milliseconds settle_time{5'000};  // ready without readyPattern: up this long
  std::chrono::milliseconds term_timeout{10'000};
  std::chrono::milliseconds kill_timeout{10'000};
  std::uint64_t console_max_bytes = 16ULL << 20;  // console.log rotated before a start when larger
  int console_keep = 3;                           // console.log.1 .. console.log.3
  std::size_t not_ready_lines = 50;               // console lines quoted by instance_not_ready
  InstanceSupervisor supervisor = InstanceSupervisor::kProcess;  // see job_handler.hpp
  os::SystemdOptions systemd;                                    // where the manager is

  // The handler dependencies' share: timeouts and supervisor.
  static InstanceOptions From(const HandlerDeps& deps);
};

// A running instance, as whichever supervisor started it.
class RunningInstance {
 public:
  explicit RunningInstance(os::Process process) : supervised_(std::move(process)) {}
  explicit RunningInstance(os::SystemdUnit unit) : supervised_(std::move(unit)) {}

  [[nodiscard]] const os::ProcessIdentity& identity() const;
  // The unit's name, or nullopt for a process session.
  [[nodiscard]] std::optional<std::string> unit() const;
  // "pid 42" or "pid 42 (unit orb-instance-a.service)", for log lines.
  [[nodiscard]] std::string Describe() const;

  bool IsAlive();
  // How it exited, once IsAlive() found it gone: from waitpid for a process session this agent
  // spawned, from the unit for a unit; nullopt when nobody can tell.
  [[nodiscard]] std::optional<os::ExitStatus> exit_status() const;
  Status WaitReady(std::string_view pattern, std::chrono::milliseconds timeout,
                   const os::CancelCheck& cancelled);
  Expected<os::StopResult> Stop(const os::StopSpec& spec);

 private:
  std::variant<os::Process, os::SystemdUnit> supervised_;
};

// The files of one instance under the agent's root.
struct InstancePaths {
  InstancePaths(const std::filesystem::path& root, const std::string& instance_id);
  std::filesystem::path dir;          // instances/<id>
  std::filesystem::path config;       // instance.json
  std::filesystem::path runtime;      // runtime.json
  std::filesystem::path data;         // data/ (the process's working directory)
  std::filesystem::path console_log;  // console.log
  std::filesystem::path stdin_fifo;   // stdin
  [[nodiscard]] os::ConsolePaths console() const { return {console_log, stdin_fifo}; }
};

class InstanceStore {
 public:
  InstanceStore(os::Fs& fs, InstanceOptions options) : fs_(fs), options_(options) {}

  // The instance id of the run (its target), checked as a protocol.md §1 name.
  static Expected<std::string> InstanceIdOf(const HandlerContext& context);

  // instance.json; nullopt when there is none yet.
  Expected<std::optional<protocol::InstanceConfig>> LoadConfig(const InstancePaths& paths);
  Status SaveConfig(const InstancePaths& paths, const protocol::InstanceConfig& config);
  // runtime.json; a fresh "stopped" one when there is none yet.
  Expected<protocol::InstanceRuntime> LoadRuntime(const InstancePaths& paths);
  Status SaveRuntime(const InstancePaths& paths, const protocol::InstanceRuntime& runtime);

  // The live main process runtime.json names, or nullopt when it does not run any more. A quick
  // check from /proc alone, for handlers that only ask "is it running?": a unit's main process
  // leads its own process group too.
  static std::optional<os::Process> FindRunning(const InstancePaths& paths,
                                                const protocol::InstanceRuntime& runtime);

  // START_INSTANCE's steps (job-types.md §3), progress from `first_percent` to 100.
  // `new_config` (the payload's config) replaces instance.json. Cancellable until the spawn.
  Expected<protocol::StartInstanceResult> Start(
      HandlerContext& context, const std::string& instance_id,
      const std::optional<protocol::InstanceConfig>& new_config, int first_percent = 0);

  // STOP_INSTANCE's steps (job-types.md §2), progress from `first_percent` to `last_percent`.
  // Not interruptible once it has begun.
  Expected<protocol::StopInstanceResult> Stop(HandlerContext& context,
                                              const std::string& instance_id,
                                              std::optional<int> timeout_seconds,
                                              int first_percent = 0, int last_percent = 100);

 private:
  struct Build {
    std::string build_id;
    std::filesystem::path dir;  // canonical
  };

  Expected<Build> ResolveBuild(const std::filesystem::path& root, const std::string& server_id);
  Expected<std::filesystem::path> ResolveCommand(const Build& build, const std::string& command0);
  Status MakeDirs(const std::filesystem::path& root, const std::filesystem::path& dir);
  // runtime.json of an instance it says runs but that is found gone, brought up to date:
  // stopped, with a lastExit "found not running" and how it ended where that can still be told (a
  // failed unit's exit; a zombie child's, reaped). Saved.
  Status RecordFoundNotRunning(HandlerContext& context, const InstancePaths& paths,
                               protocol::InstanceRuntime& runtime);
  // Whether this start makes a unit, as options_.supervisor says (kAuto: when systemd answers).
  bool UseUnit(HandlerContext& context);
  Expected<RunningInstance> Spawn(const std::string& instance_id, const os::SpawnSpec& spec,
                                  bool as_unit);
  // The main process runtime.json names: its pid and start time, or, for a spawn that was under
  // way when an agent died, the process whose ORB_RUN_ID is runtime.json's runId.
  static std::optional<os::ProcessIdentity> IdentityOf(const protocol::InstanceRuntime& runtime);
  // The running instance runtime.json names, attached through its unit when it has one (so a stop
  // covers its whole cgroup); through its process group when the manager does not answer.
  std::optional<RunningInstance> Find(HandlerContext& context, const InstancePaths& paths,
                                      const protocol::InstanceRuntime& runtime);
  // The last options_.not_ready_lines lines of console.log written after byte `offset`.
  std::string ConsoleTail(const InstancePaths& paths, std::uint64_t offset);
  // Waits for readiness; the Error says why it is not ready.
  Status WaitReady(HandlerContext& context, RunningInstance& process,
                   const protocol::InstanceConfig& config);
  os::StopSpec StopSpecFor(const std::optional<protocol::InstanceConfig>& config,
                           std::optional<int> timeout_seconds) const;
  // Stops `process` (falling back to the stop signal when the command cannot be sent) and records
  // the exit in runtime.json.
  Expected<os::StopResult> StopAndRecord(HandlerContext& context, const InstancePaths& paths,
                                         RunningInstance& process,
                                         protocol::InstanceRuntime runtime,
                                         const os::StopSpec& spec, std::string reason);

  os::Fs& fs_;
  InstanceOptions options_;
};

}  // namespace orb::jobs
