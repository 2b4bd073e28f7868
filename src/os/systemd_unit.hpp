#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "os/process.hpp"

struct sd_bus;

namespace orb::os {

// An instance as its own systemd transient service (job-types.md §2, "with systemd"), started
// with StartTransientUnit over sd-bus. systemd tracks the whole cgroup, so a grandchild that
// double-forked out of the process group is still stopped, and the unit has nothing to do with
// the agent's own unit: the instance outlives the agent like a process session does.
//  - stdin is the instance's FIFO, opened O_RDWR by us and handed to systemd as
//    StandardInputFileDescriptor (the service keeps a writer itself, so it never sees EOF);
//    stdout and stderr are the console log opened O_APPEND, handed the same way;
//  - Type=exec, so a command that cannot be executed fails the start job instead of a later
//    readiness wait; KillMode=mixed, SendSIGKILL=yes;
//  - the main process is identified by MainPID and its /proc start time, as with Process, and
//    readiness and the stop command go through an attached Process (systemd runs every service
//    in its own session, so MainPID leads its process group);
//  - stop follows §2: the command (or KillUnit(main, stopSignal)), grace, KillUnit(all,
//    SIGTERM), KillUnit(all, SIGKILL), done once the unit is inactive or failed (its cgroup is
//    empty) or gone; the exit status comes from the unit (ExecMainCode/ExecMainStatus), also for
//    an instance started by an earlier agent; a failed unit is reset once read.
//
// The connection is a direct one to the manager's private socket (what systemctl uses as root):
// no D-Bus daemon is needed, and the manager sends its signals to every direct connection.
// Every method call has a deadline (SystemdOptions::call_timeout), and so has every wait.
//
// Thread-safety: one thread per object. Errors: Expected/Status, never exceptions.

struct SystemdOptions {
  // A D-Bus address of the manager's private socket ("unix:path=/run/systemd/private"). Empty:
  // the system manager as root, else the user manager of $XDG_RUNTIME_DIR.
  std::string address;
  std::chrono::milliseconds call_timeout{10'000};   // every method call
  std::chrono::milliseconds start_timeout{30'000};  // the start job (Type=exec: until execve)
};

// True when the machine was booted with systemd (sd_booted()).
bool SystemdBooted();

// "orb-instance-<instanceId>.service".
std::string InstanceUnitName(std::string_view instance_id);

class SystemdUnit {
 public:
  // Starts spec.argv as the transient service `unit`. A failed unit of that name left from an
  // earlier run is reset first. Errors: Errc::kInvalidPayload as Process::Spawn; Errc::kUnavailable
  // when the manager cannot be reached; Errc::kInvalidState when the unit is already active;
  // Errc::kIo when systemd refuses the unit or the start job fails (the message says why);
  // Errc::kTimeout when the start job does not end within start_timeout (the unit is killed).
  static Expected<SystemdUnit> Start(const SystemdOptions& options, const std::string& unit,
                                     const SpawnSpec& spec);

  // Re-finds a running instance after an agent restart. Errc::kNotFound when the unit is not
  // active, or its MainPID is not `identity` (another start, or the pid was reused).
  static Expected<SystemdUnit> Attach(const SystemdOptions& options, const std::string& unit,
                                      const ProcessIdentity& identity, const ConsolePaths& console);

  // Connects to the manager and lets go: Errc::kUnavailable when it does not answer.
  static Status Probe(const SystemdOptions& options);

  // How the main process of `unit` ended when the unit is failed (a non-zero exit or a signal,
  // while nobody was stopping it), and resets the unit; nullopt when the unit is not failed
  // (active, or gone: a clean exit leaves nothing behind). Errc::kUnavailable as above.
  static Expected<std::optional<ExitStatus>> CollectExit(const SystemdOptions& options,
                                                         const std::string& unit);

  // Does not stop the unit.
  ~SystemdUnit();
  SystemdUnit(SystemdUnit&&) noexcept;
  SystemdUnit& operator=(SystemdUnit&&) noexcept;
  SystemdUnit(const SystemdUnit&) = delete;
  SystemdUnit& operator=(const SystemdUnit&) = delete;

  [[nodiscard]] const std::string& unit() const { return unit_; }
  [[nodiscard]] const ProcessIdentity& identity() const { return process_.identity(); }
  [[nodiscard]] const ConsolePaths& console() const { return process_.console(); }

  // True while the main process runs.
  bool IsAlive() { return process_.IsAlive(); }
  // How the main process ended, read from the unit once IsAlive() found it gone; nullopt while it
  // runs, and after a clean exit whose unit systemd has already unloaded.
  [[nodiscard]] const std::optional<ExitStatus>& exit_status() const {
    return process_.exit_status();
  }

  // As Process::WaitReady / Process::SendCommand.
  Status WaitReady(std::string_view pattern, std::chrono::milliseconds timeout,
                   const CancelCheck& cancelled) {
    return process_.WaitReady(pattern, timeout, cancelled);
  }
  Status SendCommand(std::string_view line) { return process_.SendCommand(line); }

  // Stops the unit as described above. Errc::kTimeout if it is not inactive `kill_timeout`
  // after SIGKILL; Errc::kUnavailable when the manager cannot be reached.
  Expected<StopResult> Stop(const StopSpec& spec);

 private:
  struct BusDeleter {
    void operator()(sd_bus* bus) const;
  };
  using BusPtr = std::unique_ptr<sd_bus, BusDeleter>;

  SystemdUnit(BusPtr bus, std::string unit, std::string path, Process process);
  static Expected<BusPtr> Connect(const SystemdOptions& options);

  BusPtr bus_;
  std::string unit_;
  std::string path_;  // the unit's object path
  Process process_;
};

}  // namespace orb::os
