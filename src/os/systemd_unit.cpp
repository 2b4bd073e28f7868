#include "os/systemd_unit.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "os/fs.hpp"

extern char** environ;  // NOLINT: POSIX

namespace orb::os {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* kDestination = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kUnitInterface = "org.freedesktop.systemd1.Unit";
constexpr const char* kServiceInterface = "org.freedesktop.systemd1.Service";
constexpr milliseconds kPoll{20};
// How long the unit may take to leave "active" once its main process is gone from /proc.
constexpr milliseconds kExitSettle{2'000};
constexpr int kCldExited = 1;  // ExecMainCode: the si_code of the main process's SIGCHLD
// systemd's own exit codes for a service it could not set up (EXIT_CHDIR = 200, EXIT_EXEC = 203,
// ... in systemd.exec(5)).
constexpr int kFirstSetupExit = 200;

std::uint64_t Usec(milliseconds ms) {
  return static_cast<std::uint64_t>(ms.count()) * 1000U;
}

// An sd_bus_error freed on scope exit.
struct BusError {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  BusError() = default;
  ~BusError() { sd_bus_error_free(&error); }
  BusError(const BusError&) = delete;
  BusError& operator=(const BusError&) = delete;
  [[nodiscard]] std::string Text(int r) const {
    if (sd_bus_error_is_set(&error)) {
      return std::string(error.name) + ": " + (error.message ? error.message : "");
    }
    return ErrnoText(-r);
  }
  [[nodiscard]] bool Is(const char* name) const { return sd_bus_error_has_name(&error, name); }
};

struct MessageDeleter {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageDeleter>;

struct SlotDeleter {
  void operator()(sd_bus_slot* s) const { sd_bus_slot_unref(s); }
};
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotDeleter>;

std::string ManagerAddress(const SystemdOptions& options) {
  if (!options.address.empty()) return options.address;
  if (::geteuid() == 0) return "unix:path=/run/systemd/private";
  // NOLINTNEXTLINE(concurrency-mt-unsafe): the agent never changes its environment
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  return std::string("unix:path=") +
         (runtime ? runtime : "/run/user/" + std::to_string(::geteuid())) + "/systemd/private";
}

// What the main process's exit left on the unit.
struct ExitInfo {
  std::optional<std::int32_t> code;    // ExecMainCode (CLD_*), 0 until it exited
  std::optional<std::int32_t> status;  // ExecMainStatus
};

std::optional<ExitStatus> ToExitStatus(const ExitInfo& info) {
  if (!info.code || !info.status || *info.code == 0) return std::nullopt;
  ExitStatus exit;
  if (*info.code == kCldExited) {
    exit.code = *info.status;
  } else {
    exit.signal = *info.status;
  }
  return exit;
}

// PropertiesChanged of the unit: the exit code may only be seen here, because a unit that ends
// inactive is unloaded (garbage-collected) right after.
int OnPropertiesChanged(sd_bus_message* m, void* userdata, sd_bus_error* /*error*/) {
  auto* info = static_cast<ExitInfo*>(userdata);
  const char* interface = nullptr;
  if (sd_bus_message_read(m, "s", &interface) < 0) return 0;
  if (sd_bus_message_enter_container(m, 'a', "{sv}") <= 0) return 0;
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    const char* name = nullptr;
    if (sd_bus_message_read(m, "s", &name) < 0) return 0;
    if (std::strcmp(name, "ExecMainCode") == 0 || std::strcmp(name, "ExecMainStatus") == 0) {
      std::int32_t value = 0;
      if (sd_bus_message_read(m, "v", "i", &value) < 0) return 0;
      (std::strcmp(name, "ExecMainCode") == 0 ? info->code : info->status) = value;
    } else if (sd_bus_message_skip(m, "v") < 0) {
      return 0;
    }
    if (sd_bus_message_exit_container(m) < 0) return 0;
  }
  return 0;
}

struct JobWait {
  std::string path;
  std::optional<std::string> result;
};

int OnJobRemoved(sd_bus_message* m, void* userdata, sd_bus_error* /*error*/) {
  auto* wait = static_cast<JobWait*>(userdata);
  std::uint32_t id = 0;
  const char* path = nullptr;
  const char* unit = nullptr;
  const char* result = nullptr;
  if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0) return 0;
  if (wait->path == path) wait->result = result;
  return 0;
}

// Dispatches what has arrived, then waits up to `timeout` for more.
Status Pump(sd_bus* bus, milliseconds timeout) {
  for (;;) {
    const int r = sd_bus_process(bus, nullptr);
    if (r < 0) return Fail(Errc::kUnavailable, "systemd connection: " + ErrnoText(-r));
    if (r == 0) break;
  }
  const int r = sd_bus_wait(bus, Usec(timeout));
  if (r < 0 && r != -EINTR) return Fail(Errc::kUnavailable, "systemd connection: " + ErrnoText(-r));
  return Ok();
}

Expected<std::string> GetString(sd_bus* bus, const std::string& path, const char* interface,
                                const char* name, BusError& error) {
  char* value = nullptr;
  const int r = sd_bus_get_property_string(bus, kDestination, path.c_str(), interface, name,
                                           &error.error, &value);
  if (r < 0) return Fail(Errc::kUnavailable, std::string("get ") + name + ": " + error.Text(r));
  std::string out(value);
  std::free(value);
  return out;
}

template <typename T>
Expected<T> GetTrivial(sd_bus* bus, const std::string& path, const char* interface,
                       const char* name, char type) {
  BusError error;
  T value{};
  const int r = sd_bus_get_property_trivial(bus, kDestination, path.c_str(), interface, name,
                                            &error.error, type, &value);
  if (r < 0) return Fail(Errc::kUnavailable, std::string("get ") + name + ": " + error.Text(r));
  return value;
}

// The unit's ActiveState, or "gone" when the manager no longer has it loaded.
Expected<std::string> ActiveState(sd_bus* bus, const std::string& path) {
  BusError error;
  auto state = GetString(bus, path, kUnitInterface, "ActiveState", error);
  if (!state) {
    if (error.Is("org.freedesktop.DBus.Error.UnknownObject") ||
        error.Is("org.freedesktop.systemd1.NoSuchUnit")) {
      return std::string("gone");
    }
    return Fail(std::move(state.error()));
  }
  return state;
}

bool IsDown(const std::string& state) {
  return state == "inactive" || state == "failed" || state == "gone";
}

// The unit's object path, without loading it: Errc::kNotFound when the manager does not have it.
Expected<std::string> GetUnit(sd_bus* bus, const std::string& unit) {
  BusError error;
  sd_bus_message* reply = nullptr;
  const int r = sd_bus_call_method(bus, kDestination, kManagerPath, kManager, "GetUnit",
                                   &error.error, &reply, "s", unit.c_str());
  if (r < 0) {
    if (error.Is("org.freedesktop.systemd1.NoSuchUnit")) {
      return Fail(Errc::kNotFound, "no unit " + unit);
    }
    return Fail(Errc::kUnavailable, "GetUnit " + unit + ": " + error.Text(r));
  }
  MessagePtr holder(reply);
  const char* path = nullptr;
  if (sd_bus_message_read(reply, "o", &path) < 0) {
    return Fail(Errc::kUnavailable, "GetUnit " + unit + ": bad reply");
  }
  return std::string(path);
}

// How the unit's main process ended, once the process is gone: waits (bounded) for the manager to
// have handled its SIGCHLD. nullopt when the unit is unloaded (a clean exit) or cannot be asked.
std::optional<ExitStatus> UnitExit(sd_bus* bus, const std::string& path) {
  const auto deadline = steady_clock::now() + kExitSettle;
  for (;;) {
    auto state = ActiveState(bus, path);
    if (!state || *state == "gone") return std::nullopt;
    if (IsDown(*state)) {
      ExitInfo info;
      if (auto code = GetTrivial<std::int32_t>(bus, path, kServiceInterface, "ExecMainCode", 'i')) {
        info.code = *code;
      }
      if (auto status =
              GetTrivial<std::int32_t>(bus, path, kServiceInterface, "ExecMainStatus", 'i')) {
        info.status = *status;
      }
      return ToExitStatus(info);
    }
    if (steady_clock::now() >= deadline || !Pump(bus, kPoll)) return std::nullopt;
  }
}

void ResetFailed(sd_bus* bus, const std::string& unit) {
  BusError error;
  (void)sd_bus_call_method(bus, kDestination, kManagerPath, kManager, "ResetFailedUnit",
                           &error.error, nullptr, "s", unit.c_str());
}

Status KillUnit(sd_bus* bus, const std::string& unit, const char* who, int signal) {
  BusError error;
  const int r = sd_bus_call_method(bus, kDestination, kManagerPath, kManager, "KillUnit",
                                   &error.error, nullptr, "ssi", unit.c_str(), who, signal);
  if (r < 0 && !error.Is("org.freedesktop.systemd1.NoSuchUnit") &&
      !error.Is("org.freedesktop.systemd1.NoSuchProcess")) {
    return Fail(Errc::kUnavailable, "KillUnit " + unit + ": " + error.Text(r));
  }
  return Ok();
}

std::vector<std::string> Environment(const SpawnSpec& spec) {
  std::vector<std::string> env;
  if (spec.inherit_environment) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      const std::string_view entry(*e);
      const auto eq = entry.find('=');
      if (eq == std::string_view::npos) continue;
      // These describe the agent's own unit, not the instance's.
      static constexpr std::array<std::string_view, 8> kAgentUnitOnly = {
          "NOTIFY_SOCKET", "LISTEN_FDS",   "LISTEN_PID",    "LISTEN_FDNAMES",
          "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID", "JOURNAL_STREAM"};
      if (std::find(kAgentUnitOnly.begin(), kAgentUnitOnly.end(), entry.substr(0, eq)) !=
          kAgentUnitOnly.end()) {
        continue;
      }
      bool overridden = false;
      for (const auto& [name, value] : spec.env) {
        if (entry.substr(0, eq) == name) overridden = true;
      }
      if (!overridden) env.emplace_back(entry);
    }
  }
  for (const auto& [name, value] : spec.env) {
    std::string entry = name;
    entry.append("=").append(value);
    env.push_back(std::move(entry));
  }
  return env;
}

Status AppendProperties(sd_bus_message* m, const SpawnSpec& spec, const fs::path& program,
                        int stdin_fd, int log_fd) {
  int r = sd_bus_message_open_container(m, 'a', "(sv)");
  const auto add_string = [&](const char* name, const std::string& value) {
    if (r >= 0) r = sd_bus_message_append(m, "(sv)", name, "s", value.c_str());
  };
  const auto add_fd = [&](const char* name, int fd) {
    if (r >= 0) r = sd_bus_message_append(m, "(sv)", name, "h", fd);
  };
  add_string("Description", "orb-jobs instance " + program.string());
  add_string("Type", "exec");
  add_string("WorkingDirectory", spec.cwd.string());
  add_string("KillMode", "mixed");
  if (r >= 0) r = sd_bus_message_append(m, "(sv)", "SendSIGKILL", "b", 1);
  add_fd("StandardInputFileDescriptor", stdin_fd);
  add_fd("StandardOutputFileDescriptor", log_fd);
  add_fd("StandardErrorFileDescriptor", log_fd);
  // Environment=as
  if (r >= 0) r = sd_bus_message_open_container(m, 'r', "sv");
  if (r >= 0) r = sd_bus_message_append(m, "s", "Environment");
  if (r >= 0) r = sd_bus_message_open_container(m, 'v', "as");
  if (r >= 0) r = sd_bus_message_open_container(m, 'a', "s");
  for (const auto& entry : Environment(spec)) {
    if (r >= 0) r = sd_bus_message_append(m, "s", entry.c_str());
  }
  if (r >= 0) r = sd_bus_message_close_container(m);
  if (r >= 0) r = sd_bus_message_close_container(m);
  if (r >= 0) r = sd_bus_message_close_container(m);
  // ExecStart=a(sasb): path, argv, ignore-failure
  if (r >= 0) r = sd_bus_message_open_container(m, 'r', "sv");
  if (r >= 0) r = sd_bus_message_append(m, "s", "ExecStart");
  if (r >= 0) r = sd_bus_message_open_container(m, 'v', "a(sasb)");
  if (r >= 0) r = sd_bus_message_open_container(m, 'a', "(sasb)");
  if (r >= 0) r = sd_bus_message_open_container(m, 'r', "sasb");
  if (r >= 0) r = sd_bus_message_append(m, "s", program.c_str());
  if (r >= 0) r = sd_bus_message_open_container(m, 'a', "s");
  for (const auto& arg : spec.argv) {
    if (r >= 0) r = sd_bus_message_append(m, "s", arg.c_str());
  }
  if (r >= 0) r = sd_bus_message_close_container(m);  // as
  if (r >= 0) r = sd_bus_message_append(m, "b", 0);
  if (r >= 0) r = sd_bus_message_close_container(m);  // (sasb)
  if (r >= 0) r = sd_bus_message_close_container(m);  // a(sasb)
  if (r >= 0) r = sd_bus_message_close_container(m);  // v
  if (r >= 0) r = sd_bus_message_close_container(m);  // (sv)
  if (r >= 0) r = sd_bus_message_close_container(m);  // a(sv)
  if (r >= 0) r = sd_bus_message_append(m, "a(sa(sv))", 0);
  if (r < 0) return Fail(Errc::kInternal, "StartTransientUnit message: " + ErrnoText(-r));
  return Ok();
}

}  // namespace

bool SystemdBooted() {
  return sd_booted() > 0;
}

std::string InstanceUnitName(std::string_view instance_id) {
  return "orb-instance-" + std::string(instance_id) + ".service";
}

void SystemdUnit::BusDeleter::operator()(sd_bus* bus) const {
  sd_bus_flush_close_unref(bus);
}

SystemdUnit::SystemdUnit(BusPtr bus, std::string unit, std::string path, Process process)
    : bus_(std::move(bus)),
      unit_(std::move(unit)),
      path_(std::move(path)),
      process_(std::move(process)) {
  // The bus lives as long as this object (and process_ with it); moving keeps its address.
  process_.exit_probe_ = [bus = bus_.get(), unit_path = path_] { return UnitExit(bus, unit_path); };
  if (process_.gone_ && !process_.exit_) process_.exit_ = process_.exit_probe_();
}

SystemdUnit::~SystemdUnit() = default;
SystemdUnit::SystemdUnit(SystemdUnit&&) noexcept = default;
SystemdUnit& SystemdUnit::operator=(SystemdUnit&&) noexcept = default;

Expected<SystemdUnit::BusPtr> SystemdUnit::Connect(const SystemdOptions& options) {
  const std::string address = ManagerAddress(options);
  sd_bus* raw = nullptr;
  int r = sd_bus_new(&raw);
  if (r < 0) return Fail(Errc::kInternal, "sd_bus_new: " + ErrnoText(-r));
  BusPtr bus(raw);
  r = sd_bus_set_address(raw, address.c_str());
  if (r >= 0) r = sd_bus_negotiate_fds(raw, 1);
  if (r >= 0) r = sd_bus_set_method_call_timeout(raw, Usec(options.call_timeout));
  if (r >= 0) r = sd_bus_start(raw);
  if (r < 0) {
    return Fail(Errc::kUnavailable, "connect to systemd at " + address + ": " + ErrnoText(-r));
  }
  return bus;
}

Expected<SystemdUnit> SystemdUnit::Start(const SystemdOptions& options, const std::string& unit,
                                         const SpawnSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Fail(Errc::kInvalidPayload, "spawn: the command is empty");
  }
  const std::string context = "start unit " + unit;
  fs::path program(spec.argv[0]);
  if (program.is_relative()) program = spec.cwd / program;

  const fs::path& fifo_path = spec.console.stdin_fifo;
  if (::mkfifo(fifo_path.c_str(), 0600) != 0 && errno != EEXIST) {
    return Fail(Errc::kIo, context + ": mkfifo " + fifo_path.string() + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::lstat(fifo_path.c_str(), &st) != 0) {
    return Fail(Errc::kIo, context + ": stat " + fifo_path.string() + ": " + ErrnoText(errno));
  }
  if (!S_ISFIFO(st.st_mode)) {
    return Fail(Errc::kInvalidPayload, fifo_path.string() + " exists and is not a FIFO");
  }
  const File fifo(::open(fifo_path.c_str(), O_RDWR | O_CLOEXEC), fifo_path);
  if (fifo.fd() < 0) {
    return Fail(Errc::kIo, context + ": open " + fifo_path.string() + ": " + ErrnoText(errno));
  }
  const fs::path& log_path = spec.console.console_log;
  const File log(
      ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, kPrivateFileMode),
      log_path);
  if (log.fd() < 0) {
    return Fail(Errc::kIo, context + ": open " + log_path.string() + ": " + ErrnoText(errno));
  }
  struct stat log_stat {};
  const std::uint64_t log_offset =
      ::fstat(log.fd(), &log_stat) == 0 ? static_cast<std::uint64_t>(log_stat.st_size) : 0;

  auto connected = Connect(options);
  if (!connected) return Fail(std::move(connected.error()).WithContext(context));
  sd_bus* bus = connected->get();

  // A failed unit of this name (an earlier run that ended badly) would make the name taken.
  if (auto existing = GetUnit(bus, unit)) {
    auto state = ActiveState(bus, *existing);
    if (state && !IsDown(*state)) {
      return Fail(Errc::kInvalidState, context + ": the unit is already " + *state);
    }
    ResetFailed(bus, unit);
  }

  JobWait job;
  sd_bus_slot* raw_slot = nullptr;
  int r = sd_bus_match_signal(bus, &raw_slot, nullptr, kManagerPath, kManager, "JobRemoved",
                              OnJobRemoved, &job);
  if (r < 0) return Fail(Errc::kUnavailable, context + ": match JobRemoved: " + ErrnoText(-r));
  SlotPtr slot(raw_slot);

  sd_bus_message* raw_call = nullptr;
  r = sd_bus_message_new_method_call(bus, &raw_call, kDestination, kManagerPath, kManager,
                                     "StartTransientUnit");
  if (r < 0) return Fail(Errc::kInternal, context + ": " + ErrnoText(-r));
  MessagePtr call(raw_call);
  r = sd_bus_message_append(raw_call, "ss", unit.c_str(), "fail");
  if (r < 0) return Fail(Errc::kInternal, context + ": " + ErrnoText(-r));
  if (auto appended = AppendProperties(raw_call, spec, program, fifo.fd(), log.fd()); !appended) {
    return Fail(std::move(appended.error()).WithContext(context));
  }
  BusError error;
  sd_bus_message* raw_reply = nullptr;
  r = sd_bus_call(bus, raw_call, Usec(options.call_timeout), &error.error, &raw_reply);
  if (r < 0) {
    if (error.Is("org.freedesktop.systemd1.UnitExists")) {
      return Fail(Errc::kInvalidState, context + ": " + error.Text(r));
    }
    return Fail(Errc::kIo, context + ": StartTransientUnit: " + error.Text(r));
  }
  MessagePtr reply(raw_reply);
  const char* job_path = nullptr;
  if (sd_bus_message_read(raw_reply, "o", &job_path) < 0) {
    return Fail(Errc::kUnavailable, context + ": bad StartTransientUnit reply");
  }
  job.path = job_path;

  const auto deadline = steady_clock::now() + options.start_timeout;
  while (!job.result) {
    if (steady_clock::now() >= deadline) {
      // Nobody would know of a unit that starts after all: do not leave it behind.
      (void)KillUnit(bus, unit, "all", SIGKILL);
      return Fail(Errc::kTimeout, context + ": the start job did not finish within " +
                                      std::to_string(options.start_timeout.count()) + " ms");
    }
    if (auto pumped = Pump(bus, kPoll * 5); !pumped) {
      return Fail(std::move(pumped.error()).WithContext(context));
    }
  }
  auto path = GetUnit(bus, unit);
  if (!path) return Fail(std::move(path.error()).WithContext(context));
  if (*job.result != "done") {
    std::string why = "the start job ended \"" + *job.result + "\"";
    ExitInfo info;
    if (auto code = GetTrivial<std::int32_t>(bus, *path, kServiceInterface, "ExecMainCode", 'i')) {
      info.code = *code;
    }
    if (auto status =
            GetTrivial<std::int32_t>(bus, *path, kServiceInterface, "ExecMainStatus", 'i')) {
      info.status = *status;
    }
    auto exit = ToExitStatus(info);
    auto exec_pid = GetTrivial<std::uint32_t>(bus, *path, kServiceInterface, "ExecMainPID", 'u');
    // The program ran and ended before systemd called the start done (an instance that exits at
    // once): started, as Process::Spawn would say, and already gone with its exit on record;
    // the readiness check reports it. Exit codes from kFirstSetupExit up are systemd's own (it
    // could not chdir, set up stdio or execute: the start failed).
    if (exit && (exit->signal != 0 || exit->code < kFirstSetupExit) && exec_pid && *exec_pid > 0) {
      Process process(ProcessIdentity{static_cast<pid_t>(*exec_pid), 0}, spec.console, false,
                      log_offset);
      process.gone_ = true;
      process.exit_ = exit;
      return SystemdUnit(std::move(*connected), unit, std::move(*path), std::move(process));
    }
    if (exit) why += ": " + exit->Describe();
    ResetFailed(bus, unit);
    return Fail(Errc::kIo, context + " (" + program.string() + "): " + why);
  }
  // MainPID is 0 once the main process has exited (it may already have): ExecMainPID still names
  // it, and the first readiness check says how it ended.
  auto main_pid = GetTrivial<std::uint32_t>(bus, *path, kServiceInterface, "MainPID", 'u');
  if (!main_pid) return Fail(std::move(main_pid.error()).WithContext(context));
  if (*main_pid == 0) {
    main_pid = GetTrivial<std::uint32_t>(bus, *path, kServiceInterface, "ExecMainPID", 'u');
    if (!main_pid) return Fail(std::move(main_pid.error()).WithContext(context));
  }
  const auto pid = static_cast<pid_t>(*main_pid);
  if (pid <= 0) {
    return Fail(Errc::kIo, context + " (" + program.string() + "): systemd names no main process");
  }
  ProcessIdentity identity{pid, 0};
  if (auto proc = ReadProcStat(pid)) identity.start_time = proc->start_time;
  Process process(identity, spec.console, false, log_offset);
  if (identity.start_time == 0) process.gone_ = true;
  return SystemdUnit(std::move(*connected), unit, std::move(*path), std::move(process));
}

Status SystemdUnit::Probe(const SystemdOptions& options) {
  auto connected = Connect(options);
  if (!connected) return Fail(std::move(connected.error()));
  return Ok();
}

Expected<std::optional<ExitStatus>> SystemdUnit::CollectExit(const SystemdOptions& options,
                                                             const std::string& unit) {
  const std::string context = "exit of unit " + unit;
  auto connected = Connect(options);
  if (!connected) return Fail(std::move(connected.error()).WithContext(context));
  sd_bus* bus = connected->get();
  auto path = GetUnit(bus, unit);
  if (!path) {
    if (path.error().code == Errc::kNotFound) return std::optional<ExitStatus>();
    return Fail(std::move(path.error()).WithContext(context));
  }
  auto state = ActiveState(bus, *path);
  if (!state) return Fail(std::move(state.error()).WithContext(context));
  if (*state != "failed") return std::optional<ExitStatus>();
  ExitInfo info;
  auto code = GetTrivial<std::int32_t>(bus, *path, kServiceInterface, "ExecMainCode", 'i');
  if (!code) return Fail(std::move(code.error()).WithContext(context));
  auto status = GetTrivial<std::int32_t>(bus, *path, kServiceInterface, "ExecMainStatus", 'i');
  if (!status) return Fail(std::move(status.error()).WithContext(context));
  info.code = *code;
  info.status = *status;
  ResetFailed(bus, unit);
  return ToExitStatus(info);
}

Expected<SystemdUnit> SystemdUnit::Attach(const SystemdOptions& options, const std::string& unit,
                                          const ProcessIdentity& identity,
                                          const ConsolePaths& console) {
  const std::string context = "attach unit " + unit;
  auto connected = Connect(options);
  if (!connected) return Fail(std::move(connected.error()).WithContext(context));
  sd_bus* bus = connected->get();
  auto path = GetUnit(bus, unit);
  if (!path) return Fail(std::move(path.error()).WithContext(context));
  auto state = ActiveState(bus, *path);
  if (!state) return Fail(std::move(state.error()).WithContext(context));
  if (*state != "active" && *state != "reloading") {
    return Fail(Errc::kNotFound, context + ": the unit is " + *state);
  }
  auto main_pid = GetTrivial<std::uint32_t>(bus, *path, kServiceInterface, "MainPID", 'u');
  if (!main_pid) return Fail(std::move(main_pid.error()).WithContext(context));
  if (static_cast<pid_t>(*main_pid) != identity.pid) {
    return Fail(Errc::kNotFound, context + ": its main pid is " + std::to_string(*main_pid) +
                                     ", not " + std::to_string(identity.pid));
  }
  auto process = Process::Attach(identity, console);
  if (!process) return Fail(std::move(process.error()).WithContext(context));
  return SystemdUnit(std::move(*connected), unit, std::move(*path), std::move(*process));
}

Expected<StopResult> SystemdUnit::Stop(const StopSpec& spec) {
  const std::string what = "stop unit " + unit_;
  sd_bus* bus = bus_.get();
  ExitInfo info;
  sd_bus_slot* raw_slot = nullptr;
  // No sender: messages on a direct connection carry none.
  int r =
      sd_bus_match_signal(bus, &raw_slot, nullptr, path_.c_str(), "org.freedesktop.DBus.Properties",
                          "PropertiesChanged", OnPropertiesChanged, &info);
  if (r < 0) return Fail(Errc::kUnavailable, what + ": match: " + ErrnoText(-r));
  SlotPtr slot(raw_slot);

  // Down once the unit is inactive, failed or unloaded; what it left is read before the reset.
  const auto down = [&]() -> Expected<bool> {
    if (auto pumped = Pump(bus, milliseconds(0)); !pumped) return Fail(std::move(pumped.error()));
    auto state = ActiveState(bus, path_);
    if (!state) return Fail(std::move(state.error()));
    if (!IsDown(*state)) return false;
    // The exit code may have come as PropertiesChanged just before the reply: dispatch it.
    if (auto pumped = Pump(bus, milliseconds(0)); !pumped) return Fail(std::move(pumped.error()));
    // An unloaded unit's path answers too, for a fresh stub with ExecMainCode 0: only a code
    // the unit itself still holds (a failed unit) adds to what PropertiesChanged said.
    if (*state != "gone") {
      auto code = GetTrivial<std::int32_t>(bus, path_, kServiceInterface, "ExecMainCode", 'i');
      auto status = GetTrivial<std::int32_t>(bus, path_, kServiceInterface, "ExecMainStatus", 'i');
      if (code && status && *code != 0) {
        info.code = *code;
        info.status = *status;
      }
      if (*state == "failed") ResetFailed(bus, unit_);
    }
    return true;
  };
  const auto wait_down = [&](milliseconds timeout) -> Expected<bool> {
    const auto deadline = steady_clock::now() + timeout;
    for (;;) {
      auto is_down = down();
      if (!is_down || *is_down) return is_down;
      if (steady_clock::now() >= deadline) return false;
      if (auto pumped = Pump(bus, kPoll); !pumped) return Fail(std::move(pumped.error()));
    }
  };

  StopResult result;
  auto already = down();
  if (!already) return Fail(std::move(already.error()).WithContext(what));
  if (*already) {
    result.exit = ToExitStatus(info);
    return result;
  }
  if (process_.IsAlive()) {
    if (spec.command) {
      if (auto sent = process_.SendCommand(*spec.command); !sent) {
        return Fail(std::move(sent.error()).WithContext(what));
      }
      result.method = StopMethod::kCommand;
    } else {
      if (auto killed = KillUnit(bus, unit_, "main", spec.signal); !killed) {
        return Fail(std::move(killed.error()).WithContext(what));
      }
      result.method = StopMethod::kSignal;
    }
    auto gone = wait_down(spec.grace);
    if (!gone) return Fail(std::move(gone.error()).WithContext(what));
    if (*gone) {
      result.exit = ToExitStatus(info);
      return result;
    }
  }
  for (const auto& [signal, method, timeout] :
       {std::tuple{SIGTERM, StopMethod::kSigterm, spec.term_timeout},
        std::tuple{SIGKILL, StopMethod::kSigkill, spec.kill_timeout}}) {
    result.method = method;
    if (auto killed = KillUnit(bus, unit_, "all", signal); !killed) {
      return Fail(std::move(killed.error()).WithContext(what));
    }
    auto gone = wait_down(timeout);
    if (!gone) return Fail(std::move(gone.error()).WithContext(what));
    if (*gone) {
      result.exit = ToExitStatus(info);
      return result;
    }
  }
  return Fail(Errc::kTimeout, what + ": still active " + std::to_string(spec.kill_timeout.count()) +
                                  " ms after SIGKILL");
}

}  // namespace orb::os
