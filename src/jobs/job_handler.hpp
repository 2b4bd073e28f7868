#pragma once

// The interface every job type implements (job-types.md §1 and §3), and what a handler gets to
// work with. registry.cpp lists the eleven handlers (MakeHandlers).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "common/expected.hpp"
#include "common/job_log.hpp"
#include "jobs/cancel_token.hpp"
#include "net/retry.hpp"
#include "os/fs.hpp"
#include "protocol/locks.hpp"
#include "protocol/types.hpp"

namespace orb::jobs {

// Where a handler's progress and log lines go: implemented by the agent (its reporter throttles
// them, journals them and ships them to fleet-cmdr, protocol.md §4). Called from the run's thread;
// implementations must be thread-safe across runs.
class RunSink {
 public:
  virtual ~RunSink() = default;
  // A progress step: percent 0..100 when known, else a step message.
  virtual void Progress(std::optional<int> percent, std::string message, std::string step) = 0;
  // One log line, shipped as is (level: trace|debug|info|warn|error).
  virtual void LogLine(std::string_view level, std::string message) = 0;
};

// Everything one run of one handler sees. Made by the executor for the duration of Run().
// Thread-safety: used by the handler's thread; the cancel token may be set from any thread.
class HandlerContext {
 public:
  // Log messages longer than this are cut (with a marker) so a batch stays under the body limit.
  static constexpr std::size_t kMaxLogLineBytes = 4096;

  HandlerContext(const protocol::JobExecution& execution, std::filesystem::path root,
                 std::filesystem::path staging_dir, CancelToken& cancel, JobLog log, RunSink& sink,
                 const Clock& clock)
      : execution_(execution),
        root_(std::move(root)),
        staging_dir_(std::move(staging_dir)),
        log_(std::move(log)),
        clock_(clock),
        cancel_(cancel),
        sink_(sink) {}

  const protocol::JobExecution& execution() const { return execution_; }
  // The agent's root (job-types.md §1).
  const std::filesystem::path& root() const { return root_; }
  // root/.staging/<runId>: made by the executor before Run, removed after it.
  const std::filesystem::path& staging_dir() const { return staging_dir_; }
  // The agent's own log, every line prefixed "jobId=… runId=…".
  const JobLog& log() const { return log_; }
  const Clock& clock() const { return clock_; }

  const CancelToken& cancel() const { return cancel_; }
  // At a safe point: `if (ctx.cancel().cancelled()) return Fail(ctx.cancel().ToError());`
  [[nodiscard]] bool cancelled() const { return cancel_.cancelled(); }

  // Progress shipped to fleet-cmdr (throttled by the agent, protocol.md §4). percent is clamped to
  // 0..100.
  void Progress(std::optional<int> percent, std::string message, std::string step = {});

  // A log line shipped to fleet-cmdr and written to the run's log file and the agent's log.
  void LogLine(std::string_view level, std::string message);

  // Maps every later Progress percent p onto first + (last - first) * p / 100, so a step shared
  // with another handler (InstanceStore::Start inside UPDATE_SERVER) reports within its share.
  // SetProgressRange(0, 100) undoes it.
  void SetProgressRange(int first, int last) {
    progress_first_ = first;
    progress_last_ = last;
  }

  // Takes more local locks for the rest of the run, on top of the job's own (job-types.md §3:
  // "plus any instance an update restarts"). The executor provides it (SetLockProvider); they are
  // released with the job's locks when the run ends. Callers ask only for keys that come after
  // the job's own in the fixed order server -> instance -> backups (instance locks under a held
  // server lock), so waiting here cannot deadlock. Without a provider (handler tests) it succeeds
  // at once. Errors: kTimeout (retryable, "lock timeout"), kCancelled.
  using LockProvider = std::function<Status(const protocol::LockSet& locks)>;
  void SetLockProvider(LockProvider provider) { lock_provider_ = std::move(provider); }
  [[nodiscard]] Status LockMore(const protocol::LockSet& locks) {
    return lock_provider_ ? lock_provider_(locks) : Ok();
  }

  // Whether a run is still going on this agent (its staging is then in use). The executor
  // provides it (SetRunLiveness); without one (handler tests) every run counts as live, so nothing
  // of another run is ever taken for garbage.
  using RunLiveness = std::function<bool(const std::string& run_id)>;
  void SetRunLiveness(RunLiveness liveness) { run_liveness_ = std::move(liveness); }
  // True when the agent knows which runs are live (a provider is set).
  [[nodiscard]] bool knows_live_runs() const { return static_cast<bool>(run_liveness_); }
  [[nodiscard]] bool IsRunLive(const std::string& run_id) const {
    return run_id == execution_.run_id || !run_liveness_ || run_liveness_(run_id);
  }

  // After this a cancel is ignored and the result gets "cancelIgnored" (job-types.md §3). Fails
  // with kCancelled when a cancel came first: the handler must then stop, not cross the point.
  [[nodiscard]] Status MarkPastPointOfNoReturn() { return cancel_.MarkPastPointOfNoReturn(); }

 private:
  const protocol::JobExecution& execution_;
  std::filesystem::path root_;
  std::filesystem::path staging_dir_;
  JobLog log_;
  const Clock& clock_;
  CancelToken& cancel_;
  RunSink& sink_;
  int progress_first_ = 0;
  int progress_last_ = 100;
  LockProvider lock_provider_;
  RunLiveness run_liveness_;
};

// `first` + (`last` - `first`) * done / total, with done capped at total; `last` when total is 0
// (nothing to do is all done).
int BytePercent(std::uint64_t done, std::uint64_t total, int first, int last);

// Byte progress (archives, downloads, copies) as percents from `first` to `last`, sent only when
// the percent grows: the callbacks come every few hundred KB, one message per percent is plenty,
// and a total that grows on the way (a backup's walk still running) never sends it backwards.
// Messages read "<what> <done> of <total> MiB" ("<done> of <total> MiB" without `what`).
// Thread-safety: one run's thread.
class ByteProgressReporter {
 public:
  ByteProgressReporter(HandlerContext& context, int first, int last, std::string step,
                       std::string what = {})
      : context_(context),
        first_(first),
        last_(last),
        step_(std::move(step)),
        what_(std::move(what)) {}
  void operator()(std::uint64_t done, std::uint64_t total);

 private:
  HandlerContext& context_;
  int first_;
  int last_;
  std::string step_;
  std::string what_;
  int reported_ = -1;
};

// One job type. Run() returns the result as a JSON object text (canonical or not; the executor
// canonicalizes it), or an Error: code kCancelled ends the run CANCELLED (or FAILED "timeout" when
// the executor cancelled it for its timeout); any other code ends it FAILED with
// error {code, message, stack, retryable}.
// Thread-safety: Run() may be called for several runs at once (of different lock keys).
class JobHandler {
 public:
  virtual ~JobHandler() = default;
  virtual std::string_view type() const = 0;  // "BACKUP_INSTANCE", ... (protocol/job_types.hpp)
  virtual Expected<std::string> Run(HandlerContext& context) = 0;
};

// How instances are supervised so they outlive the agent (job-types.md §2): as a systemd transient
// unit (os::SystemdUnit) or as a process session (os::Process). kAuto: a unit when the machine was
// booted with systemd and its manager answers (the system manager as root, else the user's),
// otherwise a process session.
enum class InstanceSupervisor { kAuto, kSystemd, kProcess };
std::string_view ToString(InstanceSupervisor supervisor);  // "auto" | "systemd" | "process"
std::optional<InstanceSupervisor> InstanceSupervisorFromString(std::string_view text);

// What handlers need from the outside world, built once by main/ (style.md "The OS and the time are
// injected").
// Every member has a working default, so HandlerDeps{} works (without fleet-cmdr artifacts); the
// agent's main fills in the control plane, token and CA from its config; tests shrink durations.
struct HandlerDeps {
  // The filesystem seam every handler writes through (os/fs.hpp). nullptr: a process-wide
  // os::RealFs. Not owned; must outlive the handlers.
  os::Fs* fs = nullptr;
  // START_INSTANCE without a readyPattern: how long the process must stay up to count as ready
  // (job-types.md §3: 5 s).
  std::chrono::milliseconds instance_settle_time{5'000};
  // Stopping an instance (job-types.md §2): after the stop command/signal has had its
  // stopTimeoutSeconds, how long SIGTERM to the process group gets, then SIGKILL; a process still
  // there after both fails the stop.
  std::chrono::milliseconds instance_term_timeout{10'000};
  std::chrono::milliseconds instance_kill_timeout{10'000};
  // kProcess here so that handlers built by tests never reach the host's systemd; the agent's
  // config (instanceSupervisor) defaults to kAuto.
  InstanceSupervisor instance_supervisor = InstanceSupervisor::kProcess;
  // The systemd manager's private socket as a D-Bus address. Empty: the system manager's as
  // root, else the user manager's under $XDG_RUNTIME_DIR (os::SystemdOptions).
  std::string systemd_address{};

  // Downloads of INSTALL_SERVER, UPDATE_SERVER and SYNC_MODS (jobs/downloader.hpp) into the one
  // artifact cache. Empty: <root>/cache/artifacts (job-types.md §1).
  std::filesystem::path artifact_cache{};
  // fleet-cmdr's base URLs (the agent's `server` list, in order of preference): artifact URLs under
  // any of them get the agent's token, and "/v1/artifacts/..." paths are fetched from the first
  // that answers (jobs/downloader.hpp). Empty: such paths are refused.
  std::vector<std::string> control_plane_urls{};
  // The agent's token file, read again for every download (so a rotated token is picked up).
  // Empty: no token is sent.
  std::filesystem::path token_file{};
  std::optional<std::filesystem::path> ca_file{};  // https: trusted CAs (default: the system's)
  std::uint64_t max_artifact_bytes = std::uint64_t{16} << 30;
  net::RetryPolicy download_retry{.initial_delay = std::chrono::milliseconds(500),
                                  .max_delay = std::chrono::milliseconds(30'000),
                                  .max_attempts = 5};
  std::chrono::milliseconds download_connect_timeout{10'000};
};

// The one list of handlers the agent ships. `hello` declares exactly their types.
std::vector<std::unique_ptr<JobHandler>> MakeHandlers(const HandlerDeps& deps);

}  // namespace orb::jobs
