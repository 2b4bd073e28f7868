#include "agent/executor.hpp"

#include <algorithm>
#include <exception>
#include <system_error>
#include <utility>

#include <malloc.h>

#include "common/log.hpp"
#include "protocol/codec.hpp"
#include "protocol/job_types.hpp"

namespace orb::agent {
namespace {

constexpr std::string_view kCancelIgnored = "past the point of no return";

// Adds "cancelIgnored" to a canonical JSON object text (job-types.md §3). The text is a compact
// object ("{}" or "{...}"), so the member can be put first without parsing it again.
std::string WithCancelIgnored(const std::string& object) {
  if (object.find("\"cancelIgnored\":") != std::string::npos) return object;
  std::string member = "\"cancelIgnored\":\"" + std::string(kCancelIgnored) + "\"";
  if (object == "{}") return "{" + member + "}";
  return "{" + member + "," + object.substr(1);
}

protocol::RunError ToRunError(const Error& error) {
  return {std::string(ToString(error.code)), error.message, error.stack, error.retryable};
}

}  // namespace

struct Executor::ActiveRun {
  protocol::JobExecution execution;
  jobs::JobHandler* handler = nullptr;
  jobs::CancelToken token;
  Clock::MonoTime deadline{};
  bool timeout_fired = false;
  bool reported = false;   // the outcome went to the observer (possibly forced by the timeout)
  bool abandoned = false;  // fleet-cmdr said run_not_active: report nothing more
  bool done = false;       // the thread has finished with this run
  std::thread thread;
};

// Forwards a handler's progress and log lines to the observer while the run may still report.
class Executor::Sink final : public jobs::RunSink {
 public:
  Sink(Executor& executor, ActiveRun& run) : executor_(executor), run_(run) {}

  void Progress(std::optional<int> percent, std::string message, std::string step) override {
    if (Silenced()) return;
    protocol::ProgressUpdate update;
    update.percent = percent;
    update.message = std::move(message);
    if (!step.empty()) update.step = std::move(step);
    update.timestamp = executor_.clock_.WallNow();
    executor_.observer_.OnProgress(run_.execution.run_id, std::move(update), false);
  }

  void LogLine(std::string_view level, std::string message) override {
    if (Silenced()) return;
    protocol::LogLine line;
    line.level = std::string(level);
    line.message = std::move(message);
    line.timestamp = executor_.clock_.WallNow();
    executor_.observer_.OnLog(run_.execution.run_id, std::move(line));
  }

 private:
  bool Silenced() const {
    const std::lock_guard lock(executor_.mutex_);
    return run_.reported || run_.abandoned;
  }
  Executor& executor_;
  ActiveRun& run_;
};

Executor::Executor(ExecutorOptions options, std::vector<std::unique_ptr<jobs::JobHandler>> handlers,
                   RunObserver& observer, const Clock& clock, std::function<void()> on_run_done)
    : options_(std::move(options)),
      observer_(observer),
      clock_(clock),
      on_run_done_(std::move(on_run_done)) {
  for (auto& handler : handlers) {
    const std::string type(handler->type());
    handlers_[type] = std::move(handler);
  }
  supervisor_ = std::thread([this] { Supervise(); });
}

Executor::~Executor() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  supervisor_.join();
  CancelAll(jobs::CancelCause::kShutdown, "the agent is stopping");
  std::vector<std::thread> threads;
  {
    const std::lock_guard lock(mutex_);
    for (auto& [id, run] : runs_) {
      if (run->thread.joinable()) threads.push_back(std::move(run->thread));
    }
  }
  for (auto& thread : threads)
    thread.join();
}

std::vector<std::string> Executor::JobTypes() const {
  std::vector<std::string> types;
  for (const auto& [type, handler] : handlers_)
    types.push_back(type);
  return types;
}

Status Executor::Start(protocol::JobExecution execution) {
  std::unique_lock lock(mutex_);
  if (runs_.count(execution.run_id) > 0) return Ok();
  const auto busy = std::count_if(runs_.begin(), runs_.end(),
                                  [](const auto& entry) { return !entry.second->done; });
  if (busy >= options_.max_parallel) {
    return Fail(Errc::kUnavailable, "no free slot for run " + execution.run_id, true);
  }
  const auto handler = handlers_.find(execution.type);
  if (handler == handlers_.end()) {
    lock.unlock();
    JobLog(GetLogger("agent"), execution.job_id, execution.run_id)
        .Error("no handler for job type {}", execution.type);
    observer_.OnRunStarted(execution);
    protocol::FinalUpdate final_update;
    final_update.status = protocol::RunStatus::kFailed;
    final_update.error = protocol::RunError{
        "unknown_job_type", "this agent has no handler for " + execution.type, {}, false};
    final_update.timestamp = clock_.WallNow();
    observer_.OnFinished(execution.run_id, std::move(final_update));
    return Ok();
  }
  auto run = std::make_unique<ActiveRun>();
  run->handler = handler->second.get();
  run->deadline = clock_.Now() + std::chrono::seconds(execution.timeout_seconds);
  // A type that is not cancellable has no safe point to stop at: it is past its point of no
  // return from the start, so a cancel (or timeout) is recorded as ignored.
  if (!execution.cancellable) (void)run->token.MarkPastPointOfNoReturn();
  run->execution = std::move(execution);
  ActiveRun& ref = *run;
  runs_.emplace(ref.execution.run_id, std::move(run));
  lock.unlock();
  // Journaled before the handler starts (and before the loop asks for more work).
  observer_.OnRunStarted(ref.execution);
  lock.lock();
  ref.thread = std::thread([this, &ref] { RunThread(ref); });
  return Ok();
}

void Executor::RunThread(ActiveRun& run) {
  const auto& execution = run.execution;
  const JobLog log(GetLogger("agent"), execution.job_id, execution.run_id);
  Sink sink(*this, run);
  std::vector<std::string> extra_owners;  // owners of the locks taken through LockMore
  auto result = [&]() -> Expected<std::string> {
    const auto locks =
        protocol::LocksFor(execution.type, execution.server_id, execution.instance_id);
    auto taken = locks_.Acquire(execution.run_id, locks,
                                std::chrono::steady_clock::now() + options_.lock_timeout,
                                [&] { return run.token.cancelled(); });
    if (!taken) {
      if (taken.error().code == Errc::kCancelled) return Fail(run.token.ToError());
      return Fail(std::move(taken.error()));
    }
    const auto staging = options_.root / ".staging" / execution.run_id;
    std::error_code ec;
    std::filesystem::remove_all(staging, ec);
    std::filesystem::create_directories(staging, ec);
    if (ec) return Fail(Errc::kIo, "cannot create " + staging.string() + ": " + ec.message(), true);
    log.Info("starting {} (attempt {})", execution.type, execution.attempt);
    sink.LogLine("info",
                 "started " + execution.type + " attempt " + std::to_string(execution.attempt));
    protocol::ProgressUpdate started;
    started.message = "started";
    started.timestamp = clock_.WallNow();
    {
      std::unique_lock lock(mutex_);
      const bool silenced = run.reported || run.abandoned;
      lock.unlock();
      if (!silenced) observer_.OnProgress(execution.run_id, std::move(started), true);
    }
    jobs::HandlerContext context(execution, options_.root, staging, run.token, log, sink, clock_);
    context.SetRunLiveness([this](const std::string& run_id) { return IsLive(run_id); });
    // Locks a handler takes on top of the job's own (UPDATE_SERVER's instances): each call under
    // its own owner name, so a call that gives up releases only what it took itself.
    context.SetLockProvider([&](const protocol::LockSet& more) -> Status {
      protocol::LockSet wanted;
      for (const auto& lock : more) {
        const bool own = std::any_of(locks.begin(), locks.end(),
                                     [&](const protocol::Lock& l) { return l.key == lock.key; });
        if (!own) wanted.push_back(lock);
      }
      if (wanted.empty()) return Ok();
      std::string owner = execution.run_id + "+" + std::to_string(extra_owners.size());
      auto more_taken =
          locks_.Acquire(owner, wanted, std::chrono::steady_clock::now() + options_.lock_timeout,
                         [&] { return run.token.cancelled(); });
      if (!more_taken) {
        if (more_taken.error().code == Errc::kCancelled) return Fail(run.token.ToError());
        return Fail(std::move(more_taken.error()));
      }
      extra_owners.push_back(std::move(owner));
      return Ok();
    });
    Expected<std::string> outcome = Fail(Errc::kInternal, "handler did not run");
    try {
      outcome = run.handler->Run(context);
    } catch (const std::exception& e) {
      outcome = Fail(Errc::kInternal, std::string("handler threw: ") + e.what());
    } catch (...) {
      outcome = Fail(Errc::kInternal, "handler threw an unknown exception");
    }
    std::filesystem::remove_all(staging, ec);
    if (ec) log.Warn("cannot remove {}: {}", staging.string(), ec.message());
    return outcome;
  }();
  for (const auto& owner : extra_owners)
    locks_.Release(owner);
  locks_.Release(execution.run_id);
  auto final_update = MakeFinal(run, std::move(result));
  log.Info("finished {}{}", protocol::ToString(final_update.status),
           final_update.error ? ": " + final_update.error->code + ": " + final_update.error->message
                              : std::string());
  Finish(run, std::move(final_update));
  // Handlers work in bursts of tens of MiB (a backup's pieces in flight, an extraction's
  // buffers) from threads of their own, and glibc keeps what they freed in its arenas: a backup
  // of 1 GiB left 34 MiB resident that an idle agent then carried until the next job. Hand it
  // back now; it takes a few ms, once per run. Not under AddressSanitizer: its allocator is not
  // glibc's, and glibc's, never used there, initialises itself in malloc_trim without a lock, so
  // two runs ending at once crashed in it.
#ifndef __SANITIZE_ADDRESS__
  ::malloc_trim(0);
#endif
  {
    const std::lock_guard lock(mutex_);
    run.done = true;  // `run` may be reaped from here on: do not touch it again
  }
  changed_.notify_all();
  if (on_run_done_) on_run_done_();
}

protocol::FinalUpdate Executor::MakeFinal(const ActiveRun& run,
                                          Expected<std::string> result) const {
  protocol::FinalUpdate final_update;
  final_update.timestamp = clock_.WallNow();
  const auto cause = run.token.cause();
  if (result) {
    auto canonical = protocol::CanonicalJsonObject(*result);
    if (!canonical) {
      final_update.status = protocol::RunStatus::kFailed;
      final_update.error = ToRunError(
          std::move(canonical.error()).WithContext("handler returned an invalid result"));
      return final_update;
    }
    final_update.status = protocol::RunStatus::kCompleted;
    final_update.result_json =
        run.token.cancel_ignored() ? WithCancelIgnored(*canonical) : std::move(*canonical);
    return final_update;
  }
  const Error& error = result.error();
  if (cause == jobs::CancelCause::kTimeout) {
    final_update.status = protocol::RunStatus::kFailed;
    final_update.error = protocol::RunError{
        std::string(ToString(Errc::kTimeout)),
        "the run exceeded its timeout of " + std::to_string(run.execution.timeout_seconds) + " s",
        error.stack, true};
  } else if (cause == jobs::CancelCause::kShutdown) {
    final_update.status = protocol::RunStatus::kFailed;
    final_update.error =
        protocol::RunError{std::string(ToString(Errc::kAgentRestarted)),
                           "the agent stopped before the run finished", error.stack, true};
  } else if (error.code == Errc::kCancelled) {
    final_update.status = protocol::RunStatus::kCancelled;
    final_update.error = ToRunError(error);
  } else {
    final_update.status = protocol::RunStatus::kFailed;
    final_update.error = ToRunError(error);
  }
  return final_update;
}

void Executor::Finish(ActiveRun& run, protocol::FinalUpdate final_update) {
  {
    const std::lock_guard lock(mutex_);
    if (run.reported || run.abandoned) return;
    run.reported = true;
  }
  observer_.OnFinished(run.execution.run_id, std::move(final_update));
}

void Executor::Supervise() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Reap runs whose thread has ended.
    std::vector<std::thread> ended;
    for (auto it = runs_.begin(); it != runs_.end();) {
      if (it->second->done) {
        if (it->second->thread.joinable()) ended.push_back(std::move(it->second->thread));
        it = runs_.erase(it);
      } else {
        ++it;
      }
    }
    // Timeouts: cancel at the deadline; report FAILED if the handler ignores it for too long.
    const auto now = clock_.Now();
    std::vector<ActiveRun*> to_cancel;
    std::vector<ActiveRun*> to_force;
    for (auto& [id, run] : runs_) {
      if (!run->timeout_fired && now >= run->deadline) {
        run->timeout_fired = true;
        to_cancel.push_back(run.get());
      }
      if (run->timeout_fired && !run->reported && !run->abandoned &&
          now >= run->deadline + options_.timeout_grace) {
        to_force.push_back(run.get());
      }
    }
    lock.unlock();
    for (auto& thread : ended)
      thread.join();
    for (auto* run : to_cancel) {
      run->token.Cancel(jobs::CancelCause::kTimeout,
                        "timeout after " + std::to_string(run->execution.timeout_seconds) + " s");
    }
    for (auto* run : to_force) {
      // Only a run that was really cancelled for its timeout (not one past its point of no
      // return) is reported without its handler.
      if (run->token.cause() != jobs::CancelCause::kTimeout) continue;
      JobLog(GetLogger("agent"), run->execution.job_id, run->execution.run_id)
          .Error("handler did not stop within {} ms of its timeout; reporting it failed",
                 options_.timeout_grace.count());
      Finish(*run, MakeFinal(*run, Fail(Errc::kTimeout, "handler did not stop")));
    }
    lock.lock();
    if (stopping_) break;
    // Deadlines are on the injected Clock: wake often enough to see it move.
    changed_.wait_for(lock, std::chrono::milliseconds(runs_.empty() ? 1000 : 100));
  }
}

bool Executor::Cancel(const std::string& run_id, jobs::CancelCause cause,
                      const std::string& reason) {
  // Under the lock: the supervisor reaps finished runs, so `run` is only valid while it is held.
  const std::lock_guard lock(mutex_);
  const auto found = runs_.find(run_id);
  if (found == runs_.end() || found->second->done) return false;
  ActiveRun& run = *found->second;
  if (cause == jobs::CancelCause::kAbandoned) run.abandoned = true;
  const bool cancelled = run.token.Cancel(cause, reason);
  JobLog(GetLogger("agent"), run.execution.job_id, run_id)
      .Info("cancel ({}): {}{}", jobs::ToString(cause), reason,
            cancelled ? "" : " (ignored: already stopping or past the point of no return)");
  return cancelled;
}

void Executor::Abandon(const std::string& run_id) {
  (void)Cancel(run_id, jobs::CancelCause::kAbandoned,
               "fleet-cmdr says the run is no longer active (run_not_active)");
}

void Executor::CancelAll(jobs::CancelCause cause, const std::string& reason) {
  std::vector<std::string> ids;
  {
    const std::lock_guard lock(mutex_);
    for (const auto& [id, run] : runs_) {
      if (!run->done && run->execution.cancellable) ids.push_back(id);
    }
  }
  for (const auto& id : ids)
    Cancel(id, cause, reason);
}

bool Executor::IsLive(const std::string& run_id) const {
  const std::lock_guard lock(mutex_);
  const auto found = runs_.find(run_id);
  return found != runs_.end() && !found->second->done;
}

std::vector<std::string> Executor::LiveRuns() const {
  const std::lock_guard lock(mutex_);
  std::vector<std::string> ids;
  for (const auto& [id, run] : runs_) {
    if (!run->done) ids.push_back(id);
  }
  return ids;
}

std::vector<std::string> Executor::Running() const {
  const std::lock_guard lock(mutex_);
  std::vector<std::string> ids;
  for (const auto& [id, run] : runs_) {
    if (!run->done && !run->reported && !run->abandoned) ids.push_back(id);
  }
  return ids;
}

int Executor::free_slots() const {
  const std::lock_guard lock(mutex_);
  const auto busy = std::count_if(runs_.begin(), runs_.end(),
                                  [](const auto& entry) { return !entry.second->done; });
  return std::max(0, options_.max_parallel - static_cast<int>(busy));
}

bool Executor::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] {
    return std::all_of(runs_.begin(), runs_.end(),
                       [](const auto& entry) { return entry.second->done; });
  });
}

}  // namespace orb::agent
