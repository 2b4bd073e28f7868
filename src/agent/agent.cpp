#include "agent/agent.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include "agent/control_plane.hpp"
#include "agent/executor.hpp"
#include "agent/journal.hpp"
#include "agent/reporter.hpp"
#include "agent/retention.hpp"
#include "common/job_log.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "os/fs.hpp"

namespace orb::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ControlPlaneOptions ApiOptions(const AgentOptions& options, std::shared_ptr<ServerSet> servers) {
  ControlPlaneOptions api;
  api.servers = std::move(servers);
  api.agent_id = options.config.agent_id;
  api.token = options.token;
  if (!options.config.token_file.empty()) api.token_file = options.config.token_file;
  api.ca_file = options.config.ca_file;
  api.user_agent = "orb-jobs-agent/" + options.version;
  api.request_timeout = options.request_timeout;
  api.retry_initial_delay = options.retry_initial_delay;
  api.retry_max_delay = options.retry_max_delay;
  return api;
}

constexpr milliseconds kErrorPause = seconds(5);   // after a failed notify or jobs/next
constexpr milliseconds kHelloPause = seconds(30);  // after a refused hello (e.g. bad token)

}  // namespace

class Agent::Callbacks {
 public:
  explicit Callbacks(Agent* agent) : agent_(agent) {}
  void RunDone() {
    const std::lock_guard lock(mutex_);
    if (agent_ != nullptr) agent_->OnRunDone();
  }
  void JournalHealth(bool writable, const std::string& problem) {
    const std::lock_guard lock(mutex_);
    if (agent_ != nullptr) agent_->OnJournalHealth(writable, problem);
  }
  // Once this returns no callback runs, nor will run, in the Agent.
  void CutOff() {
    const std::lock_guard lock(mutex_);
    agent_ = nullptr;
  }

 private:
  std::mutex mutex_;
  Agent* agent_;
};

Agent::Agent(AgentOptions options, std::vector<std::unique_ptr<jobs::JobHandler>> handlers,
             const Clock& clock, net::ServiceNotifier* notifier)
    : options_(std::move(options)),
      handlers_(std::move(handlers)),
      clock_(clock),
      notifier_(notifier),
      servers_(std::make_shared<ServerSet>(options_.config.servers, clock_, options_.failover)),
      loop_api_(MakeHttpControlPlane(ApiOptions(options_, servers_))) {}

Agent::~Agent() = default;

protocol::HelloResponse Agent::settings() const {
  const std::lock_guard lock(mutex_);
  return settings_;
}

void Agent::Stop() {
  const std::lock_guard lock(mutex_);
  stopping_ = true;
  if (in_notify_) loop_api_->Interrupt();
  wake_.notify_all();
}

void Agent::OnRunDone() {
  const std::lock_guard lock(mutex_);
  next_wanted_ = true;
  inventory_wanted_ = true;
  if (in_notify_) loop_api_->Interrupt();
  wake_.notify_all();
}

void Agent::OnJournalHealth(bool writable, const std::string& problem) {
  const bool changed =
      writable ? health_.Clear(kJournalUnwritable) : health_.Set(kJournalUnwritable, problem);
  if (!changed) return;
  const auto log = GetLogger("agent");
  if (writable) {
    log->info("the journal can be written again: taking jobs again");
  } else {
    log->error("taking no jobs until the journal can be written again ({})", problem);
  }
  const std::lock_guard lock(mutex_);
  health_changed_ = true;
  if (in_notify_) loop_api_->Interrupt();
  wake_.notify_all();
}

void Agent::ReportStatusIfDue(StatusSchedule& schedule, const CallHooks& hooks) {
  const auto now = clock_.Now();
  const auto version = health_.version();
  const bool healthy = health_.healthy();
  if (!schedule.Due(now, version, healthy)) return;
  ++status_calls_;
  auto sent = loop_api_->SendStatus(health_.Report(clock_.WallNow()), hooks);
  if (sent) {
    schedule.Attempted(now, version, true);
    return;
  }
  const Error& error = sent.error();
  if (error.code == Errc::kNotFound || error.code == Errc::kMethodNotAllowed) {
    // An older fleet-cmdr: say it once and never call it again (docs/protocol.md).
    schedule.Unsupported();
    GetLogger("agent")->info("fleet-cmdr has no status call ({}); not reporting health to it",
                             error.Describe());
    return;
  }
  if (error.code == Errc::kCancelled) return;  // stopping, or woken: due again at once
  schedule.Attempted(now, version, false);
  GetLogger("agent")->warn("cannot report status: {}", error.Describe());
}

void Agent::CheckInventory() {
  const auto now = clock_.Now();
  {
    const std::lock_guard lock(inventory_mutex_);
    if (inventory_wanted_.exchange(false)) inventory_schedule_.Wanted();
    if (inventory_schedule_.unsupported() || !inventory_schedule_.CheckDue(now)) return;
  }
  static os::RealFs real_fs;  // stateless, as the handlers' (jobs/registry.cpp)
  protocol::HostInventory inventory =
      CollectInventory(real_fs, options_.config.root, clock_.WallNow());
  {
    const std::lock_guard lock(inventory_mutex_);
    inventory_schedule_.Checked(now);
    if (!inventory_schedule_.ShouldSend(inventory)) return;
  }
  // The loop sends it, over its own connection, between two long-polls.
  const std::lock_guard lock(mutex_);
  inventory_to_send_ = std::move(inventory);
  if (in_notify_) loop_api_->Interrupt();
  wake_.notify_all();
}

void Agent::SendInventoryIfPending(const CallHooks& hooks) {
  std::optional<protocol::HostInventory> inventory;
  {
    const std::lock_guard lock(mutex_);
    inventory.swap(inventory_to_send_);
  }
  if (!inventory) return;
  ++inventory_calls_;
  auto sent = loop_api_->SendInventory(*inventory, hooks);
  if (sent) {
    GetLogger("agent")->debug("inventory reported: {} servers, {} instances, {} backups",
                              inventory->servers.size(), inventory->instances.size(),
                              inventory->backups.size());
    const std::lock_guard lock(inventory_mutex_);
    inventory_schedule_.Delivered(std::move(*inventory));
    return;
  }
  const Error& error = sent.error();
  if (error.code == Errc::kNotFound || error.code == Errc::kMethodNotAllowed) {
    // An older fleet-cmdr (or an agent it does not know, which hello would have refused).
    const std::lock_guard lock(inventory_mutex_);
    inventory_schedule_.Unsupported();
    GetLogger("agent")->info("fleet-cmdr has no inventory call ({}); not reporting it",
                             error.Describe());
    return;
  }
  // Otherwise the next check finds it still undelivered and hands it over again.
  if (error.code == Errc::kCancelled) {
    inventory_wanted_ = true;  // stopping, or woken: look again at once
    return;
  }
  GetLogger("agent")->warn("cannot report the inventory: {}", error.Describe());
}

void Agent::Pause(milliseconds timeout) {
  // In slices, so the watchdog keeps being fed while the loop is deliberately idle.
  milliseconds slice = timeout;
  if (notifier_ != nullptr && notifier_->watchdog_timeout()) {
    slice = std::min(slice, std::max(milliseconds(100), *notifier_->watchdog_timeout() / 2));
  }
  const auto end = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  while (!stopping_ && !next_wanted_ && !health_changed_) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    wake_.wait_until(lock, std::min(end, now + slice));
    if (notifier_ != nullptr) notifier_->Watchdog();
  }
}

Status Agent::Run() {
  const auto log = GetLogger("agent");
  const AgentConfig& config = options_.config;
  for (const auto& dir :
       {config.state_dir, config.state_dir / "logs", config.root, config.root / ".staging"}) {
    if (auto made = os::MakePrivateDirs(dir); !made) return Fail(std::move(made.error()));
  }
  auto opened =
      Journal::Open(config.state_dir / "journal.sqlite", JournalOptions{options_.journal_vfs});
  if (!opened) return Fail(std::move(opened.error()));
  // Released (not destroyed) below when a run does not stop in time; see the end of Run().
  std::unique_ptr<Journal> journal = std::move(*opened);

  // Start-up recovery: runs in the journal without a final result were interrupted. No run is
  // active yet, so every staging directory is garbage (job-types.md §1); nothing else under root
  // (and no running instance) is touched.
  std::vector<protocol::InterruptedRun> interrupted;
  auto journaled = journal->Runs();
  if (!journaled) return Fail(std::move(journaled.error()));
  for (const auto& run : *journaled) {
    if (run.has_final) continue;
    JobLog(log, run.execution.job_id, run.execution.run_id)
        .Warn("was interrupted by the agent's stop; reporting it in hello");
    interrupted.push_back({run.execution.run_id, run.last_update_seq});
  }
  {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(config.root / ".staging", ec)) {
      std::error_code remove_ec;
      std::filesystem::remove_all(entry.path(), remove_ec);
      if (remove_ec)
        log->warn("cannot remove stale staging {}: {}", entry.path().string(), remove_ec.message());
    }
  }

  // The executor's and the reporter's threads reach the Agent only through this.
  const auto callbacks = std::make_shared<Callbacks>(this);
  Executor* executor_ptr = nullptr;  // set before the reporter's thread starts
  ReporterOptions reporter_options;
  reporter_options.log_dir = config.state_dir / "logs";
  reporter_options.journal_retry = options_.journal_retry;
  auto reporter = std::make_unique<Reporter>(
      std::move(reporter_options), *journal, MakeHttpControlPlane(ApiOptions(options_, servers_)),
      clock_,
      ReporterCallbacks{
          [&executor_ptr](const std::string& run_id) {
            executor_ptr->Cancel(run_id, jobs::CancelCause::kRequested,
                                 "cancel requested by fleet-cmdr");
          },
          [&executor_ptr](const std::string& run_id) { executor_ptr->Abandon(run_id); },
          [callbacks](bool writable, const std::string& problem) {
            callbacks->JournalHealth(writable, problem);
          }});
  auto executor = std::make_unique<Executor>(
      ExecutorOptions{config.max_parallel, config.root, options_.lock_timeout,
                      options_.timeout_grace},
      std::move(handlers_), *reporter, clock_, [callbacks] { callbacks->RunDone(); });
  executor_ptr = executor.get();
  reporter->Start();  // delivers what an earlier life left in the outbox

  const CallHooks hooks{[this] { return Stopping(); },
                        [this] {
                          if (notifier_ != nullptr) notifier_->Watchdog();
                        }};
  protocol::HelloRequest hello{options_.version, executor->JobTypes(), config.max_parallel,
                               config.labels, interrupted};
  while (!Stopping()) {
    auto response = loop_api_->Hello(hello, hooks);
    if (response) {
      const std::lock_guard lock(mutex_);
      settings_ = *response;
      break;
    }
    if (response.error().code == Errc::kCancelled) continue;
    log->error("hello refused: {}; trying again in {} s", response.error().Describe(),
               kHelloPause.count() / 1000);
    Pause(kHelloPause);
  }
  const auto settings = this->settings();
  if (!Stopping()) {
    for (const auto& run : interrupted)
      reporter->DropRun(run.run_id);  // fleet-cmdr has them now
    reporter->SetIntervals(milliseconds(settings.progress_min_interval_ms),
                           seconds(settings.heartbeat_seconds));
    log->info("hello: {} job types, maxParallel {}, {} interrupted runs reported; {}",
              hello.job_types.size(), config.max_parallel, interrupted.size(),
              config.long_poll ? "long-polling" : "polling");
    ready_ = true;
    if (notifier_ != nullptr) notifier_->Ready();
  }

  // Health reports: the first right after hello, then as StatusSchedule says.
  StatusSchedule status_schedule(seconds(std::max(1, settings.heartbeat_seconds)));
  if (!Stopping()) ReportStatusIfDue(status_schedule, hooks);
  // The inventory is looked at by the reporter's thread (it wakes at least once a second, also
  // when idle): right after hello, then after runs and every heartbeatSeconds; a change is sent
  // by this loop. Stop() below joins that thread before Run() returns, so the duty never
  // outlives the Agent.
  if (!Stopping()) {
    {
      const std::lock_guard lock(inventory_mutex_);
      inventory_schedule_ = InventorySchedule(seconds(std::max(1, settings.heartbeat_seconds)));
    }
    reporter->SetDuty([this](ControlPlane&, const CallHooks&) { CheckInventory(); });
    reporter->Wake();
  }

  int long_poll_wait = std::clamp(settings.long_poll_seconds, 0, 60);
  if (notifier_ != nullptr && notifier_->watchdog_timeout()) {
    const auto half = static_cast<int>(notifier_->watchdog_timeout()->count() / 2000);
    long_poll_wait = std::clamp(half - 1, 1, std::max(1, long_poll_wait));
  }
  const auto poll_pause = [&] {
    const int low = std::max(0, settings.poll_interval_min_seconds);
    const int high = std::max(low, settings.poll_interval_max_seconds);
    return milliseconds(static_cast<std::int64_t>((low + RandomUnit() * (high - low)) * 1000));
  };

  // Housekeeping between jobs, on this thread: at start-up, then every intervalMinutes.
  RetentionOptions retention_options;
  retention_options.run_logs = config.state_dir / "logs";
  retention_options.root = config.root;
  retention_options.config = config.retention;
  Retention retention(
      std::move(retention_options), executor->locks(),
      [&executor] {
        const auto live = executor->LiveRuns();
        return std::set<std::string>(live.begin(), live.end());
      },
      clock_);

  bool want_next = true;  // at start-up
  while (!Stopping()) {
    if (notifier_ != nullptr) notifier_->Watchdog();
    {
      const std::lock_guard lock(mutex_);
      if (health_changed_) want_next = true;  // healthy again: ask at once
      // The journal just failed (a full disk, often): free what may be freed now.
      if (health_changed_ && !health_.healthy()) retention.MakeDue();
      health_changed_ = false;
    }
    ReportStatusIfDue(status_schedule, hooks);
    SendInventoryIfPending(hooks);
    const bool healthy = health_.healthy();
    if (want_next && healthy) {
      bool failed = false;
      while (!Stopping() && executor->free_slots() > 0) {
        {
          const std::lock_guard lock(mutex_);
          next_wanted_ = false;
        }
        ++next_calls_;
        auto next = loop_api_->Next(protocol::NextRequest{executor->Running()}, hooks);
        if (!next) {
          if (next.error().code != Errc::kCancelled) {
            log->warn("jobs/next failed: {}", next.error().Describe());
            failed = true;
          }
          break;
        }
        if (!next->has_value()) {
          want_next = false;
          break;
        }
        const JobLog run_log(log, (*next)->job_id, (*next)->run_id);
        if (auto started = executor->Start(std::move(**next)); !started) {
          run_log.Error("cannot start the dispatched run: {}", started.error().Describe());
        }
      }
      if (failed) {
        Pause(kErrorPause);
        continue;
      }
      if (executor->free_slots() == 0) want_next = false;  // a finished run asks again
    }
    if (Stopping()) break;
    (void)retention.RunIfDue();  // bounded; a no-op until it is due
    if (notifier_ != nullptr) notifier_->Watchdog();

    {
      const std::lock_guard lock(mutex_);
      if (next_wanted_ || health_changed_) {
        want_next = true;
        continue;
      }
      if (inventory_to_send_) continue;  // sent at the top of the loop
      in_notify_ = true;
    }
    // While a status report is due again later (unhealthy: every heartbeatSeconds), the
    // long-poll ends in time for it.
    int wait = config.long_poll ? long_poll_wait : 0;
    if (const auto due = status_schedule.NextDue(health_.version(), health_.healthy());
        due && wait > 0) {
      const auto left = std::chrono::ceil<seconds>(*due - clock_.Now()).count();
      wait = static_cast<int>(std::clamp<std::int64_t>(left, 1, wait));
    }

    ++notify_calls_;
    auto notify = loop_api_->Notify(wait, hooks);
    {
      const std::lock_guard lock(mutex_);
      in_notify_ = false;
      if (next_wanted_) want_next = true;
      loop_api_->Resume();  // undoes an Interrupt() that woke us
    }
    if (notify) {
      for (const auto& run_id : notify->cancel) {
        executor->Cancel(run_id, jobs::CancelCause::kRequested, "cancel requested by fleet-cmdr");
      }
      if (notify->pending > 0) {
        if (!health_.healthy()) {
          // Jobs wait for a writable journal; notify answers at once while they do.
          want_next = true;
          Pause(poll_pause());
          continue;
        }
        if (executor->free_slots() > 0) {
          want_next = true;
        } else {
          // notify answers at once while jobs are pending: wait for a slot instead of spinning.
          Pause(poll_pause());
          continue;
        }
      }
    } else if (notify.error().code != Errc::kCancelled) {
      log->warn("notify failed: {}", notify.error().Describe());
      Pause(kErrorPause);
      continue;
    }
    if (!config.long_poll && !want_next) Pause(poll_pause());
  }

  // SIGTERM: stop asking, cancel what can be cancelled, wait (bounded), flush the journal.
  if (notifier_ != nullptr) notifier_->Stopping();
  log->info("stopping: cancelling cancellable runs, waiting up to {} ms for the rest",
            options_.shutdown_drain.count());
  executor->CancelAll(jobs::CancelCause::kShutdown, "the agent is stopping");
  drained_ = executor->WaitIdle(options_.shutdown_drain);
  // The reporter's sender is joined now: the cancel and abandon callbacks (which use
  // executor_ptr) cannot run any more. The run threads reach the Agent no more either.
  reporter->SetDuty({});  // no inventory report while stopping
  reporter->Stop(std::chrono::steady_clock::now() + options_.flush_timeout);
  callbacks->CutOff();
  if (!drained_) {
    // A run past its point of no return is still going. Its thread cannot be stopped or joined in
    // bounded time, and the executor, the reporter (its observer) and the journal must outlive
    // it: they go to a thread of their own that frees them, in that order, once every run ended.
    // The late final goes to the journal and is delivered at the next start (or, if the process
    // exits first, the run is reported interrupted). Nothing there refers to this Agent.
    log->warn("runs still going at exit: {}", executor->LiveRuns().size());
    std::thread([executor = std::move(executor), reporter = std::move(reporter),
                 journal = std::move(journal)]() mutable {
      while (!executor->WaitIdle(std::chrono::hours(1))) {
      }
      executor.reset();  // joins the run threads
      reporter.reset();
      journal.reset();
    }).detach();
    return Ok();
  }
  executor.reset();
  reporter.reset();
  log->info("stopped");
  return Ok();
}

}  // namespace orb::agent
