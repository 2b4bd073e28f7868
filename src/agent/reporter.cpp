#include "agent/reporter.hpp"

#include <algorithm>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "common/log.hpp"
#include "common/sanitize.hpp"
#include "common/time.hpp"
#include "os/fs.hpp"

namespace orb::agent {
namespace {

std::shared_ptr<spdlog::logger> Log() {
  return GetLogger("agent");
}

}  // namespace

Reporter::Reporter(ReporterOptions options, Journal& journal, std::unique_ptr<ControlPlane> api,
                   const Clock& clock, ReporterCallbacks callbacks)
    : options_(std::move(options)),
      journal_(journal),
      api_(std::move(api)),
      clock_(clock),
      callbacks_(std::move(callbacks)) {}

Reporter::~Reporter() {
  Stop(std::chrono::steady_clock::now());
}

void Reporter::Start() {
  const std::lock_guard lock(mutex_);
  if (sender_.joinable() || stopping_) return;
  sender_ = std::thread([this] { SenderLoop(); });
}

void Reporter::Stop(std::chrono::steady_clock::time_point deadline) {
  {
    const std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ = deadline;
    }
    work_ = true;
  }
  wake_.notify_all();
  if (!sender_.joinable()) return;
  // The sender gives up by the deadline; a request in flight is interrupted at it.
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, deadline, [this] { return sender_done_; });
  lock.unlock();
  api_->Interrupt();
  sender_.join();
}

void Reporter::SetIntervals(std::chrono::milliseconds progress_min_interval,
                            std::chrono::milliseconds heartbeat) {
  const std::lock_guard lock(mutex_);
  options_.progress_min_interval = progress_min_interval;
  options_.heartbeat = heartbeat;
  for (auto& [id, run] : runs_)
    run.throttle->set_min_interval(progress_min_interval);
}

void Reporter::Wake() {
  {
    const std::lock_guard lock(mutex_);
    work_ = true;
  }
  wake_.notify_all();
}

void Reporter::OnRunStarted(const protocol::JobExecution& execution) {
  const JobLog log(Log(), execution.job_id, execution.run_id);
  if (auto added = journal_.AddRun(execution); !added) {
    log.Error("cannot journal the run: {}", added.error().Describe());
  }
  const std::lock_guard lock(mutex_);
  RunState& run = runs_[execution.run_id];
  run.job_id = execution.job_id;
  run.throttle = std::make_unique<ProgressThrottle>(clock_, options_.progress_min_interval);
  run.last_contact = clock_.Now();
  const auto dir = options_.log_dir / execution.job_id;
  const auto path = dir / (execution.run_id + ".log");
  (void)os::MakePrivateDirs(dir);
  // Created owner-only (os::kPrivateFileMode) before the stream appends to it.
  if (const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, os::kPrivateFileMode);
      fd >= 0) {
    ::close(fd);
  }
  run.log_file.open(path, std::ios::app);
  if (!run.log_file) log.Warn("cannot open the run's log file in {}", dir.string());
}

void Reporter::OnProgress(const std::string& run_id, protocol::ProgressUpdate update,
                          bool status_change) {
  if (update.message) update.message = Sanitize(*update.message);
  const std::lock_guard lock(mutex_);
  const auto found = runs_.find(run_id);
  if (found == runs_.end() || found->second.finished) return;
  auto now = found->second.throttle->Offer(std::move(update), status_change);
  if (!now) {
    wake_.notify_all();  // the sender waits for the held update's due time
    return;
  }
  // Appended under the lock so that updates of one run keep their order.
  if (auto appended = journal_.AppendUpdate(run_id, std::move(*now)); !appended) {
    JobLog(Log(), found->second.job_id, run_id)
        .Error("cannot journal an update: {}", appended.error().Describe());
  }
  work_ = true;
  wake_.notify_all();
}

void Reporter::OnLog(const std::string& run_id, protocol::LogLine line) {
  line.message = Sanitize(line.message);
  const std::lock_guard lock(mutex_);
  const auto found = runs_.find(run_id);
  if (found == runs_.end() || found->second.finished) return;
  RunState& run = found->second;
  if (run.log_file) {
    run.log_file << FormatTimestamp(line.timestamp) << ' ' << line.level << ' ' << line.message
                 << '\n';
    run.log_file.flush();
  }
  if (auto appended = journal_.AppendLog(run_id, std::move(line)); !appended) {
    JobLog(Log(), run.job_id, run_id)
        .Error("cannot journal a log line: {}", appended.error().Describe());
  }
  work_ = true;
  wake_.notify_all();
}

void Reporter::OnFinished(const std::string& run_id, protocol::FinalUpdate final_update) {
  if (final_update.error) {
    // run.error is shown to operators and stored by fleet-cmdr (protocol.md §3: sanitized).
    final_update.error->message = Sanitize(final_update.error->message);
    for (auto& context : final_update.error->stack)
      context = Sanitize(context);
  }
  const std::lock_guard lock(mutex_);
  const auto found = runs_.find(run_id);
  if (found == runs_.end() || found->second.finished) return;
  RunState& run = found->second;
  const JobLog log(Log(), run.job_id, run_id);
  if (auto held = run.throttle->TakeHeld()) {
    if (auto appended = journal_.AppendUpdate(run_id, std::move(*held)); !appended) {
      log.Error("cannot journal an update: {}", appended.error().Describe());
    }
  }
  if (run.log_file) {
    run.log_file << FormatTimestamp(final_update.timestamp) << " info finished "
                 << protocol::ToString(final_update.status)
                 << (final_update.error
                         ? " " + final_update.error->code + ": " + final_update.error->message
                         : std::string())
                 << '\n';
    run.log_file.close();
  }
  if (auto appended = journal_.AppendFinal(run_id, std::move(final_update)); !appended) {
    log.Error("cannot journal the final update: {}", appended.error().Describe());
  }
  run.finished = true;
  work_ = true;
  wake_.notify_all();
}

JobLog Reporter::RunLog(const std::string& run_id) const {
  {
    const std::lock_guard lock(mutex_);
    if (const auto found = runs_.find(run_id); found != runs_.end()) {
      return JobLog(Log(), found->second.job_id, run_id);
    }
  }
  // A run of an earlier life of the agent, still in the journal's outbox.
  if (auto runs = journal_.Runs()) {
    for (const auto& run : *runs) {
      if (run.execution.run_id == run_id) return JobLog(Log(), run.execution.job_id, run_id);
    }
  }
  return JobLog(Log(), "-", run_id);
}

void Reporter::DropRun(const std::string& run_id) {
  if (auto removed = journal_.RemoveRun(run_id); !removed) {
    RunLog(run_id).Error("cannot remove the run from the journal: {}", removed.error().Describe());
  }
  const std::lock_guard lock(mutex_);
  runs_.erase(run_id);
}

bool Reporter::ShouldGiveUp() const {
  const std::lock_guard lock(mutex_);
  return stopping_ && std::chrono::steady_clock::now() >= stop_deadline_;
}

bool Reporter::Handle(const std::string& run_id, Expected<protocol::UpdatesResponse> response) {
  if (response) {
    auto finished =
        journal_.Acknowledge(run_id, response->acked_update_seq, response->acked_log_seq);
    if (!finished) {
      RunLog(run_id).Error("cannot record an acknowledgement: {}", finished.error().Describe());
    }
    {
      const std::lock_guard lock(mutex_);
      const auto found = runs_.find(run_id);
      if (found != runs_.end()) {
        found->second.last_contact = clock_.Now();
        if (finished && *finished) runs_.erase(found);
      }
    }
    if (response->cancel_requested && callbacks_.cancel_requested) {
      callbacks_.cancel_requested(run_id);
    }
    return true;
  }
  const Error& error = response.error();
  switch (error.code) {
    case Errc::kRunNotActive:
      RunLog(run_id).Warn("fleet-cmdr: run_not_active; stopping it");
      DropRun(run_id);
      if (callbacks_.run_not_active) callbacks_.run_not_active(run_id);
      return true;
    case Errc::kForbidden:
    case Errc::kNotFound:
    case Errc::kInvalidRequest:
    case Errc::kInvalidJson:
    case Errc::kPayloadTooLarge:
      // These can never succeed on a resend: drop the run's reports rather than block the rest.
      RunLog(run_id).Error("fleet-cmdr refused the run's updates, dropping them: {}",
                           error.Describe());
      DropRun(run_id);
      return true;
    default:
      if (error.code != Errc::kCancelled) {
        RunLog(run_id).Warn("cannot send updates: {}", error.Describe());
      }
      return false;
  }
}

bool Reporter::Drain(const std::string& run_id) {
  const CallHooks hooks{[this] { return ShouldGiveUp(); }, {}};
  for (int round = 0; round < 1000; ++round) {
    auto batch = journal_.NextBatch(run_id, options_.max_batch_items);
    if (!batch) {
      RunLog(run_id).Error("cannot read the outbox: {}", batch.error().Describe());
      return false;
    }
    if (batch->updates.empty() && batch->logs.empty() && !batch->final_update) return true;
    if (!Handle(run_id, api_->SendUpdates(run_id, *batch, hooks))) return false;
  }
  return true;
}

bool Reporter::Heartbeat(const std::string& run_id) {
  const CallHooks hooks{[this] { return ShouldGiveUp(); }, {}};
  return Handle(run_id, api_->SendUpdates(run_id, protocol::UpdatesRequest{}, hooks));
}

void Reporter::SenderLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    // Throttled progress whose time has come goes to the journal first.
    const auto now = clock_.Now();
    std::optional<Clock::MonoTime> next_due;
    std::vector<std::string> heartbeats;
    for (auto& [id, run] : runs_) {
      if (run.finished) continue;
      if (auto due = run.throttle->TakeDue()) {
        if (auto appended = journal_.AppendUpdate(id, std::move(*due)); !appended) {
          JobLog(Log(), run.job_id, id)
              .Error("cannot journal an update: {}", appended.error().Describe());
        }
        work_ = true;
      }
      if (auto at = run.throttle->due_at()) next_due = next_due ? std::min(*next_due, *at) : *at;
      const auto heartbeat_at = run.last_contact + options_.heartbeat;
      if (now >= heartbeat_at) {
        heartbeats.push_back(id);
      } else {
        next_due = next_due ? std::min(*next_due, heartbeat_at) : heartbeat_at;
      }
    }
    const bool had_work = work_;
    work_ = false;
    lock.unlock();

    bool ok = true;
    bool empty = true;
    if (had_work) {
      auto pending = journal_.RunsWithPending();
      if (pending) {
        for (const auto& id : *pending) {
          if (!Drain(id)) {
            ok = false;
            break;
          }
        }
        auto left = journal_.RunsWithPending();
        empty = left && left->empty();
      } else {
        ok = false;
      }
    }
    for (const auto& id : heartbeats) {
      if (!ok) break;
      ok = Heartbeat(id);
    }

    lock.lock();
    if (stopping_ && (std::chrono::steady_clock::now() >= stop_deadline_ || (ok && empty))) break;
    if (!ok) {
      work_ = true;  // retry the outbox after the backoff
      // Stop() cuts the backoff short once; while stopping it still backs off (up to the
      // deadline) instead of spinning against a server that is down.
      auto until = std::chrono::steady_clock::now() + options_.error_backoff;
      if (stopping_) until = std::min(until, stop_deadline_);
      wake_.wait_until(lock, until,
                       [this, was_stopping = stopping_] { return stopping_ && !was_stopping; });
      continue;
    }
    // The Clock may be a test's: never sleep longer than a second without looking at it again.
    auto wait = std::chrono::milliseconds(1000);
    if (next_due) {
      const auto until =
          std::chrono::duration_cast<std::chrono::milliseconds>(*next_due - clock_.Now());
      wait = std::clamp(until, std::chrono::milliseconds(1), wait);
    }
    wake_.wait_for(lock, wait, [this] { return work_ || stopping_; });
  }
  sender_done_ = true;
  lock.unlock();
  wake_.notify_all();
}

}  // namespace orb::agent
