#include "jobs/instances/instance_store.hpp"

#include <algorithm>
#include <array>
#include <csignal>
#include <deque>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#include "common/ids.hpp"
#include "common/sanitize.hpp"
#include "os/atomic.hpp"
#include "os/console_log.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using protocol::InstanceConfig;
using protocol::InstanceRuntime;
using protocol::InstanceState;
using std::chrono::milliseconds;

constexpr milliseconds kSettlePoll{20};
constexpr std::size_t kMaxQuotedLineBytes = 1024;

int SignalNumber(const std::string& name) {
  if (name == "SIGINT") return SIGINT;
  if (name == "SIGHUP") return SIGHUP;
  if (name == "SIGQUIT") return SIGQUIT;
  if (name == "SIGKILL") return SIGKILL;
  if (name == "SIGUSR1") return SIGUSR1;
  if (name == "SIGUSR2") return SIGUSR2;
  return SIGTERM;  // the payload schema admits nothing else
}

// True when `inner` is `outer` or below it (both canonical).
bool IsWithin(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

// Maps a step's 0..100 onto the caller's [first, last] share of the run's progress.
int Scale(int first, int last, int percent) {
  return first + (last - first) * percent / 100;
}

}  // namespace

InstanceOptions InstanceOptions::From(const HandlerDeps& deps) {
  InstanceOptions options;
  options.settle_time = deps.instance_settle_time;
  options.term_timeout = deps.instance_term_timeout;
  options.kill_timeout = deps.instance_kill_timeout;
  options.supervisor = deps.instance_supervisor;
  options.systemd.address = deps.systemd_address;
  return options;
}

const os::ProcessIdentity& RunningInstance::identity() const {
  return std::visit([](const auto& s) -> const os::ProcessIdentity& { return s.identity(); },
                    supervised_);
}

std::optional<std::string> RunningInstance::unit() const {
  if (const auto* unit = std::get_if<os::SystemdUnit>(&supervised_)) return unit->unit();
  return std::nullopt;
}

std::string RunningInstance::Describe() const {
  std::string text = "pid " + std::to_string(identity().pid);
  if (auto name = unit()) text += " (unit " + *name + ")";
  return text;
}

bool RunningInstance::IsAlive() {
  return std::visit([](auto& s) { return s.IsAlive(); }, supervised_);
}

std::optional<os::ExitStatus> RunningInstance::exit_status() const {
  return std::visit([](const auto& s) { return s.exit_status(); }, supervised_);
}

Status RunningInstance::WaitReady(std::string_view pattern, std::chrono::milliseconds timeout,
                                  const os::CancelCheck& cancelled) {
  return std::visit([&](auto& s) { return s.WaitReady(pattern, timeout, cancelled); }, supervised_);
}

Expected<os::StopResult> RunningInstance::Stop(const os::StopSpec& spec) {
  return std::visit([&](auto& s) { return s.Stop(spec); }, supervised_);
}

InstancePaths::InstancePaths(const fs::path& root, const std::string& instance_id)
    : dir(root / "instances" / instance_id),
      config(dir / "instance.json"),
      runtime(dir / "runtime.json"),
      data(dir / "data"),
      console_log(dir / "console.log"),
      stdin_fifo(dir / "stdin") {}

Expected<std::string> InstanceStore::InstanceIdOf(const HandlerContext& context) {
  const auto& id = context.execution().instance_id;
  if (!id || !IsValidName(*id)) {
    return Fail(Errc::kInvalidPayload,
                "the job needs a valid instanceId (protocol.md §1 name), got " +
                    (id ? "\"" + *id + "\"" : std::string("none")));
  }
  return *id;
}

Expected<std::optional<InstanceConfig>> InstanceStore::LoadConfig(const InstancePaths& paths) {
  auto text = fs_.ReadFile(paths.config);
  if (!text) {
    if (text.error().code == Errc::kNotFound) return std::optional<InstanceConfig>();
    return Fail(std::move(text.error()));
  }
  auto config = protocol::ParseInstanceConfig(*text);
  if (!config) return Fail(std::move(config.error()).WithContext(paths.config.string()));
  return std::optional<InstanceConfig>(std::move(*config));
}

Status InstanceStore::SaveConfig(const InstancePaths& paths, const InstanceConfig& config) {
  return os::WriteFileAtomically(fs_, paths.config, protocol::InstanceConfigJson(config));
}

Expected<InstanceRuntime> InstanceStore::LoadRuntime(const InstancePaths& paths) {
  auto text = fs_.ReadFile(paths.runtime);
  if (!text) {
    if (text.error().code == Errc::kNotFound) return InstanceRuntime{};
    return Fail(std::move(text.error()));
  }
  auto runtime = protocol::ParseInstanceRuntime(*text);
  if (!runtime) return Fail(std::move(runtime.error()).WithContext(paths.runtime.string()));
  return runtime;
}

Status InstanceStore::SaveRuntime(const InstancePaths& paths, const InstanceRuntime& runtime) {
  return os::WriteFileAtomically(fs_, paths.runtime, protocol::InstanceRuntimeJson(runtime));
}

std::optional<os::ProcessIdentity> InstanceStore::IdentityOf(const InstanceRuntime& runtime) {
  if (runtime.state == InstanceState::kStopped) return std::nullopt;
  if (runtime.pid && runtime.start_time) {
    return os::ProcessIdentity{static_cast<pid_t>(*runtime.pid), *runtime.start_time};
  }
  // Written just before a spawn: the agent may have died before it wrote the pid down.
  if (runtime.state == InstanceState::kStarting && runtime.run_id) {
    return os::Process::FindByEnvironment("ORB_RUN_ID=" + *runtime.run_id);
  }
  return std::nullopt;
}

std::optional<os::Process> InstanceStore::FindRunning(const InstancePaths& paths,
                                                      const InstanceRuntime& runtime) {
  const auto identity = IdentityOf(runtime);
  if (!identity) return std::nullopt;
  auto process = os::Process::Attach(*identity, paths.console());
  if (!process || !process->IsAlive()) return std::nullopt;
  return std::move(*process);
}

std::optional<RunningInstance> InstanceStore::Find(HandlerContext& context,
                                                   const InstancePaths& paths,
                                                   const InstanceRuntime& runtime) {
  const auto identity = IdentityOf(runtime);
  if (!identity) return std::nullopt;
  if (runtime.unit) {
    auto unit =
        os::SystemdUnit::Attach(options_.systemd, *runtime.unit, *identity, paths.console());
    if (unit) {
      if (!unit->IsAlive()) return std::nullopt;
      return RunningInstance(std::move(*unit));
    }
    if (unit.error().code == Errc::kNotFound) return std::nullopt;
    // The manager does not answer (it restarted, or this agent cannot reach it now): the main
    // process is still found by pid and start time, and stopped through its process group.
    context.LogLine("warn", "cannot reach systemd for " + *runtime.unit + " (" +
                                unit.error().Describe() + "); using its process group instead");
  }
  auto process = os::Process::Attach(*identity, paths.console());
  if (!process || !process->IsAlive()) return std::nullopt;
  return RunningInstance(std::move(*process));
}

Status InstanceStore::RecordFoundNotRunning(HandlerContext& context, const InstancePaths& paths,
                                            InstanceRuntime& runtime) {
  protocol::InstanceExit exit;
  exit.pid = runtime.pid;
  exit.reason = "found not running";
  exit.at = context.clock().WallNow();
  std::optional<os::ExitStatus> ended;
  if (runtime.pid && runtime.unit) {
    // A unit that failed while nobody watched still holds how its main process ended.
    if (auto collected = os::SystemdUnit::CollectExit(options_.systemd, *runtime.unit)) {
      ended = *collected;
    }
  } else if (runtime.pid && runtime.start_time) {
    ended = os::Process::ReapExited(
        os::ProcessIdentity{static_cast<pid_t>(*runtime.pid), *runtime.start_time});
  }
  if (ended) {
    if (ended->signal != 0) {
      exit.signal = ended->signal;
    } else {
      exit.exit_code = ended->code;
    }
  }
  context.LogLine("info", "the instance was no longer running" +
                              (ended ? " (process " + std::to_string(runtime.pid.value_or(0)) +
                                           " " + ended->Describe() + ")"
                                     : std::string()));
  runtime.state = InstanceState::kStopped;
  runtime.pid.reset();
  runtime.start_time.reset();
  runtime.unit.reset();
  runtime.last_exit = std::move(exit);
  return SaveRuntime(paths, runtime);
}

bool InstanceStore::UseUnit(HandlerContext& context) {
  if (options_.supervisor == InstanceSupervisor::kSystemd) return true;
  if (options_.supervisor == InstanceSupervisor::kProcess || !os::SystemdBooted()) return false;
  // Only a manager that answers before anything is started: a unit start that fails later must
  // not be followed by a second start as a process.
  auto reachable = os::SystemdUnit::Probe(options_.systemd);
  if (!reachable) {
    context.LogLine("info", "systemd runs but does not answer (" + reachable.error().Describe() +
                                "); starting the instance as a process session");
  }
  return reachable.has_value();
}

Expected<RunningInstance> InstanceStore::Spawn(const std::string& instance_id,
                                               const os::SpawnSpec& spec, bool as_unit) {
  if (as_unit) {
    auto unit = os::SystemdUnit::Start(options_.systemd, os::InstanceUnitName(instance_id), spec);
    if (!unit) return Fail(std::move(unit.error()));
    return RunningInstance(std::move(*unit));
  }
  auto process = os::Process::Spawn(spec);
  if (!process) return Fail(std::move(process.error()));
  return RunningInstance(std::move(*process));
}

Status InstanceStore::MakeDirs(const fs::path& root, const fs::path& dir) {
  return os::MakeDirsBelow(fs_, root, dir);
}

Expected<InstanceStore::Build> InstanceStore::ResolveBuild(const fs::path& root,
                                                           const std::string& server_id) {
  const fs::path server_dir = root / "servers" / server_id;
  const fs::path link = server_dir / "current";
  auto target = fs_.ReadLink(link);
  if (!target) {
    if (target.error().code == Errc::kNotFound) {
      return Fail(Errc::kNotInstalled,
                  "server " + server_id + " has no current build (" + link.string() + ")");
    }
    return Fail(std::move(target.error()));
  }
  std::error_code ec;
  const fs::path builds = fs::canonical(server_dir / "builds", ec);
  if (ec)
    return Fail(Errc::kNotInstalled, "server " + server_id + " has no builds: " + ec.message());
  const fs::path dir = fs::canonical(target->is_absolute() ? *target : server_dir / *target, ec);
  if (ec) {
    return Fail(Errc::kNotInstalled, "the current build of server " + server_id + " (" +
                                         target->string() + ") is missing: " + ec.message());
  }
  if (dir.parent_path() != builds) {
    return Fail(Errc::kNotInstalled, link.string() + " -> " + target->string() +
                                         " is not a build of server " + server_id);
  }
  auto record = os::Exists(fs_, dir / ".build.json");
  if (!record) return Fail(std::move(record.error()));
  if (!*record) {
    return Fail(Errc::kNotInstalled, "build " + dir.filename().string() + " of server " +
                                         server_id + " is not committed (no .build.json)");
  }
  return Build{dir.filename().string(), dir};
}

Expected<fs::path> InstanceStore::ResolveCommand(const Build& build, const std::string& command0) {
  const fs::path relative(command0);
  if (command0.empty() || relative.is_absolute()) {
    return Fail(Errc::kInvalidPayload,
                "command[0] \"" + command0 + "\" must be a relative path inside the build");
  }
  std::error_code ec;
  const fs::path resolved = fs::canonical(build.dir / relative, ec);
  if (ec) {
    return Fail(Errc::kInvalidPayload, "command[0] \"" + command0 + "\" is not in build " +
                                           build.build_id + ": " + ec.message());
  }
  if (!IsWithin(resolved, build.dir) || resolved == build.dir) {
    return Fail(Errc::kInvalidPayload, "command[0] \"" + command0 + "\" resolves to " +
                                           resolved.string() + ", outside build " + build.build_id +
                                           ": refused");
  }
  if (!fs::is_regular_file(resolved, ec)) {
    return Fail(Errc::kInvalidPayload,
                "command[0] \"" + command0 + "\" is not a regular file in build " + build.build_id);
  }
  return resolved;
}

std::string InstanceStore::ConsoleTail(const InstancePaths& paths, std::uint64_t offset) {
  auto stat = fs_.Stat(paths.console_log);
  if (!stat) return "(console log unreadable: " + stat.error().message + ")";
  if (stat->size < offset) offset = 0;  // rotated since
  auto file = fs_.Open(paths.console_log, os::OpenMode::kRead);
  if (!file) return "(console log unreadable: " + file.error().message + ")";
  std::deque<std::string> lines;
  std::string current;
  std::uint64_t position = 0;
  std::array<char, 64 * 1024> buffer{};
  const auto push = [&](std::string line) {
    if (line.size() > kMaxQuotedLineBytes) line.resize(kMaxQuotedLineBytes);
    lines.push_back(std::move(line));
    if (lines.size() > options_.not_ready_lines) lines.pop_front();
  };
  for (;;) {
    auto n = fs_.Read(*file, std::span<char>(buffer));
    if (!n || *n == 0) break;
    std::string_view chunk(buffer.data(), *n);
    if (position < offset) {
      const std::uint64_t skip = std::min<std::uint64_t>(offset - position, chunk.size());
      chunk.remove_prefix(static_cast<std::size_t>(skip));
    }
    position += *n;
    for (const char c : chunk) {
      if (c == '\n') {
        push(std::move(current));
        current.clear();
      } else if (current.size() <= kMaxQuotedLineBytes) {
        current.push_back(c);
      }
    }
  }
  if (!current.empty()) push(std::move(current));
  std::string text;
  for (const auto& line : lines) {
    if (!text.empty()) text += '\n';
    text += line;
  }
  return text;
}

Status InstanceStore::WaitReady(HandlerContext& context, RunningInstance& process,
                                const InstanceConfig& config) {
  const auto cancelled = [&context] { return context.cancelled(); };
  if (config.ready_pattern) {
    const milliseconds timeout(std::chrono::seconds(config.ready_timeout_seconds));
    auto ready = process.WaitReady(*config.ready_pattern, timeout, cancelled);
    if (ready || ready.error().code != Errc::kTimeout) return ready;
    return Fail(Errc::kInstanceNotReady, "readyPattern \"" + *config.ready_pattern +
                                             "\" not seen within " +
                                             std::to_string(config.ready_timeout_seconds) + " s");
  }
  // No pattern: ready means still running after the settle time (job-types.md: 5 s).
  const auto deadline = context.clock().Now() + options_.settle_time;
  for (;;) {
    if (!process.IsAlive()) {
      const auto& exit = process.exit_status();
      return Fail(Errc::kInstanceNotReady,
                  "process " + std::to_string(process.identity().pid) + " " +
                      (exit ? exit->Describe() : std::string("exited")) + " within " +
                      std::to_string(options_.settle_time.count()) + " ms of its start");
    }
    if (context.clock().Now() >= deadline) return Ok();
    if (context.cancel().WaitFor(kSettlePoll)) {
      return Fail(Errc::kCancelled, "readiness wait cancelled");
    }
  }
}

os::StopSpec InstanceStore::StopSpecFor(const std::optional<InstanceConfig>& config,
                                        std::optional<int> timeout_seconds) const {
  os::StopSpec spec;
  const InstanceConfig defaults;
  const InstanceConfig& used = config ? *config : defaults;
  spec.command = used.stop_command;
  spec.signal = SignalNumber(used.stop_signal);
  spec.grace = std::chrono::seconds(timeout_seconds.value_or(used.stop_timeout_seconds));
  spec.term_timeout = options_.term_timeout;
  spec.kill_timeout = options_.kill_timeout;
  return spec;
}

Expected<os::StopResult> InstanceStore::StopAndRecord(
    HandlerContext& context, const InstancePaths& paths, RunningInstance& process,
    InstanceRuntime runtime, const os::StopSpec& spec, std::string reason) {
  runtime.state = InstanceState::kStopping;
  if (auto saved = SaveRuntime(paths, runtime); !saved) return Fail(std::move(saved.error()));
  auto stopped = process.Stop(spec);
  if (!stopped && spec.command && stopped.error().code == Errc::kInvalidState) {
    // Nobody reads the stdin FIFO (the process closed it): the stop signal still works.
    context.LogLine("warn", "cannot send the stop command (" + stopped.error().message +
                                "); sending the stop signal instead");
    os::StopSpec by_signal = spec;
    by_signal.command.reset();
    stopped = process.Stop(by_signal);
  }
  if (!stopped) return Fail(std::move(stopped.error()));  // runtime.json keeps pid: retry finds it
  protocol::InstanceExit exit;
  exit.pid = process.identity().pid;
  if (stopped->exit) {
    if (stopped->exit->signal != 0) {
      exit.signal = stopped->exit->signal;
    } else {
      exit.exit_code = stopped->exit->code;
    }
  }
  exit.forced = stopped->forced();
  exit.reason = std::move(reason);
  exit.at = context.clock().WallNow();
  runtime.state = InstanceState::kStopped;
  runtime.pid.reset();
  runtime.start_time.reset();
  runtime.unit.reset();
  runtime.last_exit = std::move(exit);
  if (auto saved = SaveRuntime(paths, runtime); !saved) return Fail(std::move(saved.error()));
  return stopped;
}

Expected<protocol::StartInstanceResult> InstanceStore::Start(
    HandlerContext& context, const std::string& instance_id,
    const std::optional<InstanceConfig>& new_config, int first_percent) {
  const auto percent = [first_percent](int p) { return Scale(first_percent, 100, p); };
  const InstancePaths paths(context.root(), instance_id);
  context.Progress(percent(0), "checking instance " + instance_id, "check");

  auto runtime = LoadRuntime(paths);
  if (!runtime) return Fail(std::move(runtime.error()));
  auto stored = LoadConfig(paths);
  if (!stored && !new_config) return Fail(std::move(stored.error()));
  if (new_config) {  // replaces the stored one, also a damaged one
    if (auto made = MakeDirs(context.root(), paths.dir); !made) return Fail(made.error());
    if (auto saved = SaveConfig(paths, *new_config); !saved) return Fail(saved.error());
    context.LogLine("info",
                    "instance.json of " + instance_id + " replaced by the payload's config");
  }
  if (auto running = Find(context, paths, *runtime)) {
    context.LogLine("info", "instance " + instance_id + " already runs as " + running->Describe());
    if (!runtime->pid || runtime->state != InstanceState::kRunning) {
      // An agent died inside a start: between the spawn and writing the pid down (found by its
      // ORB_RUN_ID), or while it waited for the ready line. The process lives on, so the start
      // is finished here: it is recorded as running. Its ready line is not waited for again (it
      // may be in the console log already, and a process that never gets ready would be
      // stopped by nothing but the next STOP or RESTART).
      if (runtime->state == InstanceState::kStarting) {
        context.LogLine("warn", "the start of instance " + instance_id + " by run " +
                                    runtime->run_id.value_or("?") +
                                    " was interrupted after the spawn; its process runs");
      }
      runtime->pid = running->identity().pid;
      runtime->start_time = running->identity().start_time;
      runtime->state = InstanceState::kRunning;
      if (auto saved = SaveRuntime(paths, *runtime); !saved) return Fail(saved.error());
    }
    if (new_config) context.LogLine("info", "the new config takes effect at the next start");
    context.Progress(100, "already running", "done");
    return protocol::StartInstanceResult{instance_id, running->identity().pid,
                                         runtime->build_id.value_or(""), true};
  }
  if (runtime->state != InstanceState::kStopped || runtime->pid) {
    if (auto saved = RecordFoundNotRunning(context, paths, *runtime); !saved) {
      return Fail(saved.error());
    }
  }
  if (!new_config && !*stored) {
    return Fail(Errc::kInvalidPayload, "instance " + instance_id +
                                           " has no instance.json: the first START_INSTANCE "
                                           "needs a config");
  }
  const InstanceConfig config = new_config ? *new_config : **stored;
  if (context.cancelled()) return Fail(context.cancel().ToError());

  context.Progress(percent(10), "resolving the current build of " + config.server_id, "build");
  auto build = ResolveBuild(context.root(), config.server_id);
  if (!build) return Fail(std::move(build.error()));
  auto program = ResolveCommand(*build, config.command.front());
  if (!program) return Fail(std::move(program.error()));
  if (auto made = MakeDirs(context.root(), paths.data); !made) return Fail(made.error());
  if (auto rotated = os::RotateIfLarger(fs_, paths.console_log, options_.console_max_bytes,
                                        options_.console_keep);
      !rotated && rotated.error().code != Errc::kNotFound) {
    context.LogLine("warn", "console log rotation failed: " + rotated.error().Describe());
  }
  std::uint64_t console_offset = 0;
  if (auto stat = fs_.Stat(paths.console_log)) console_offset = stat->size;

  os::SpawnSpec spec;
  spec.argv = config.command;
  spec.argv.front() = program->string();
  spec.cwd = paths.data;
  for (const auto& [name, value] : config.env) {
    // A password in the environment must not reach a log or a run's error, whoever prints it.
    if (IsSecretName(name)) RegisterSecret(value);
    spec.env.emplace_back(name, value);
  }
  spec.env.emplace_back("ORB_JOB_ID", context.execution().job_id);
  spec.env.emplace_back("ORB_RUN_ID", context.execution().run_id);
  spec.console = paths.console();

  // The point of no return: once spawned, the start is finished normally (job-types.md §3).
  if (auto marked = context.MarkPastPointOfNoReturn(); !marked) return Fail(marked.error());
  const bool as_unit = UseUnit(context);
  // Written before the spawn: an agent that dies before the write after it leaves a runtime.json
  // by which the next one finds the process (its ORB_RUN_ID) instead of starting a second one.
  InstanceRuntime started;
  started.state = InstanceState::kStarting;
  if (as_unit) started.unit = os::InstanceUnitName(instance_id);
  started.run_id = context.execution().run_id;
  started.build_id = build->build_id;
  started.started_at = context.clock().WallNow();
  started.last_exit = runtime->last_exit;
  if (auto saved = SaveRuntime(paths, started); !saved) {
    return Fail(std::move(saved.error()).WithContext("start " + instance_id));
  }
  context.Progress(percent(30),
                   "starting " + config.command.front() + " of build " + build->build_id, "spawn");
  auto process = Spawn(instance_id, spec, as_unit);
  if (!process) {
    (void)SaveRuntime(paths, *runtime);  // nothing runs; a failure here only costs a scan later
    return Fail(std::move(process.error()).WithContext("start " + instance_id));
  }
  started.pid = process->identity().pid;
  started.start_time = process->identity().start_time;
  started.unit = process->unit();
  context.LogLine("info", "instance " + instance_id + " spawned as " + process->Describe() +
                              " on build " + build->build_id);
  if (auto saved = SaveRuntime(paths, started); !saved) {
    // The start fails: do not leave behind what it started.
    (void)process->Stop(StopSpecFor(config, std::nullopt));
    return Fail(std::move(saved.error()).WithContext("start " + instance_id));
  }

  context.Progress(
      percent(50),
      config.ready_pattern ? "waiting for the ready line" : "waiting for it to stay up", "ready");
  if (auto ready = WaitReady(context, *process, config); !ready) {
    Error error = std::move(ready.error());
    const bool not_ready = error.code == Errc::kInstanceNotReady;
    if (not_ready) {
      // os::Process quotes fewer lines; the whole quote is rebuilt from the console log below.
      if (const auto cut = error.message.find("; last console lines:"); cut != std::string::npos) {
        error.message.resize(cut);
      }
      error.message = "instance " + instance_id + " not ready: " + error.message;
    }
    context.LogLine("error", error.message + "; stopping it");
    auto stopped = StopAndRecord(context, paths, *process, started,
                                 StopSpecFor(config, std::nullopt), "not ready: " + error.message);
    if (!stopped) context.LogLine("error", "stopping it failed: " + stopped.error().Describe());
    if (not_ready) {
      const std::string tail = ConsoleTail(paths, console_offset);
      if (!tail.empty()) error.message += "; last console lines:\n" + tail;
    }
    return Fail(std::move(error));
  }
  started.state = InstanceState::kRunning;
  if (auto saved = SaveRuntime(paths, started); !saved) return Fail(std::move(saved.error()));
  context.LogLine("info", "instance " + instance_id + " is ready");
  context.Progress(100, "running", "done");
  return protocol::StartInstanceResult{instance_id, process->identity().pid, build->build_id,
                                       false};
}

Expected<protocol::StopInstanceResult> InstanceStore::Stop(HandlerContext& context,
                                                           const std::string& instance_id,
                                                           std::optional<int> timeout_seconds,
                                                           int first_percent, int last_percent) {
  const auto percent = [&](int p) { return Scale(first_percent, last_percent, p); };
  const InstancePaths paths(context.root(), instance_id);
  context.Progress(percent(0), "checking instance " + instance_id, "check");
  auto runtime = LoadRuntime(paths);
  if (!runtime) return Fail(std::move(runtime.error()));
  std::optional<InstanceConfig> config;
  if (auto loaded = LoadConfig(paths)) {
    config = std::move(*loaded);
  } else {
    // A damaged instance.json must not keep the instance running: stop it by SIGTERM.
    context.LogLine("warn", "stopping with the default stop signal: " + loaded.error().Describe());
  }

  auto process = Find(context, paths, *runtime);
  if (!process) {
    if (runtime->state != InstanceState::kStopped || runtime->pid) {
      if (auto saved = RecordFoundNotRunning(context, paths, *runtime); !saved) {
        return Fail(saved.error());
      }
    }
    context.Progress(percent(100), "already stopped", "done");
    return protocol::StopInstanceResult{instance_id, std::nullopt, false, true};
  }

  const os::StopSpec spec = StopSpecFor(config, timeout_seconds);
  const std::string how =
      spec.command ? "the stop command \"" + *spec.command + "\""
                   : "the stop signal " + (config ? config->stop_signal : std::string("SIGTERM"));
  context.LogLine("info", "stopping instance " + instance_id + " (" + process->Describe() +
                              ") with " + how + ", up to " +
                              std::to_string(spec.grace.count() / 1000) + " s");
  context.Progress(percent(20), "stopping with " + how, "stop");
  auto stopped = StopAndRecord(context, paths, *process, *runtime, spec,
                               "stopped by " + context.execution().type);
  if (!stopped) return Fail(std::move(stopped.error()).WithContext("stop " + instance_id));
  protocol::StopInstanceResult result{instance_id, std::nullopt, stopped->forced(), false};
  if (stopped->exit && stopped->exit->signal == 0) result.exit_code = stopped->exit->code;
  context.LogLine(stopped->forced() ? "warn" : "info",
                  "instance " + instance_id + " stopped (" +
                      std::string(ToString(stopped->method)) +
                      (stopped->exit ? ", " + stopped->exit->Describe() : std::string()) + ")");
  context.Progress(percent(100), "stopped", "stopped");
  return result;
}

}  // namespace orb::jobs
