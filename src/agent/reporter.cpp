#include "agent/reporter.hpp"

#include <algorithm>
#include <set>
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

std::string DroppedLinesMessage(std::int64_t count) {
  return std::to_string(count) +
         " log lines were dropped: the journal could not be written and the memory for what it "
         "could not take was full";
}

}  // namespace

Reporter::Reporter(ReporterOptions options, Journal& journal, std::unique_ptr<ControlPlane> api,
                   const Clock& clock, ReporterCallbacks callbacks)
    : options_(std::move(options)),
      journal_(journal),
      api_(std::move(api)),
      clock_(clock),
      callbacks_(std::move(callbacks)),
      held_(options_.max_held_bytes) {}

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
  // Last chance for what only memory holds: the journal may take it now.
  lock.lock();
  if (journal_failing_) RetryJournal();
  if (const auto items = held_.items(); items > 0) {
    Log()->error(
        "{} run items (updates, log lines, final results) could neither be journaled nor "
        "delivered before the stop and are lost; fleet-cmdr fails their runs by lease expiry",
        items);
  }
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

bool Reporter::journal_writable() const {
  const std::lock_guard lock(mutex_);
  return !journal_failing_;
}

std::size_t Reporter::held_items() const {
  const std::lock_guard lock(mutex_);
  return held_.items();
}

// ---- recording: the journal first, memory when it fails ----

bool Reporter::Holding(const std::string& run_id) const {
  return journal_failing_ || held_.Holds(run_id);
}

bool Reporter::JournalFailed(const std::string& run_id, const Error& error) {
  const auto found = runs_.find(run_id);
  const JobLog log(Log(), found != runs_.end() ? found->second.job_id : "-", run_id);
  if (error.code != Errc::kIo) {
    log.Error("the journal refused an item, dropping it: {}", error.Describe());
    return false;
  }
  if (!journal_failing_) {
    log.Error(
        "cannot write the journal: {}; keeping what it cannot take in memory, taking no "
        "more jobs, and trying it again every {} ms",
        error.Describe(), options_.journal_retry.count());
    next_journal_retry_ = std::chrono::steady_clock::now() + options_.journal_retry;
  }
  journal_failing_ = true;
  journal_problem_ = "the journal cannot be written: " + error.Describe();
  return true;
}

void Reporter::RecordUpdate(const std::string& run_id, RunState& run,
                            protocol::ProgressUpdate update) {
  update.seq = ++run.last_update_seq;
  if (!Holding(run_id)) {
    auto appended = journal_.AppendUpdate(run_id, update);
    if (appended) return;
    if (!JournalFailed(run_id, appended.error())) {
      --run.last_update_seq;
      return;
    }
  }
  // Progress is worth little once a later one came: beyond the memory cap it is dropped (and its
  // seq given back, so that the sequence has no gap).
  if (!held_.HoldUpdate(run_id, std::move(update))) --run.last_update_seq;
}

bool Reporter::RecordLogLine(const std::string& run_id, RunState& run, protocol::LogLine line,
                             bool force) {
  line.seq = ++run.last_log_seq;
  if (!Holding(run_id)) {
    auto appended = journal_.AppendLog(run_id, line);
    if (appended) return true;
    if (!JournalFailed(run_id, appended.error())) {
      --run.last_log_seq;
      return false;
    }
  }
  if (held_.HoldLog(run_id, std::move(line), force)) return true;
  --run.last_log_seq;  // no gap in the sequence
  return false;
}

void Reporter::RecordDroppedLines(const std::string& run_id, RunState& run, WallTime timestamp) {
  if (run.dropped_logs == 0) return;
  protocol::LogLine marker;
  marker.level = "warn";
  marker.message = DroppedLinesMessage(run.dropped_logs);
  marker.timestamp = timestamp;
  if (RecordLogLine(run_id, run, std::move(marker), /*force=*/true)) run.dropped_logs = 0;
}

void Reporter::RecordLog(const std::string& run_id, RunState& run, protocol::LogLine line) {
  // Lines were dropped: say so where they would have been, once there is room again.
  if (run.dropped_logs > 0 && (!Holding(run_id) || held_.HasRoomFor(HeldBytes(line)))) {
    RecordDroppedLines(run_id, run, line.timestamp);
  }
  if (!RecordLogLine(run_id, run, std::move(line))) ++run.dropped_logs;
}

void Reporter::RecordFinal(const std::string& run_id, RunState& run,
                           protocol::FinalUpdate final_update) {
  final_update.seq = ++run.last_update_seq;
  run.final_seq = final_update.seq;
  if (!Holding(run_id)) {
    auto appended = journal_.AppendFinal(run_id, final_update);
    if (appended) return;
    if (!JournalFailed(run_id, appended.error())) return;
  }
  // Never dropped: a lost final result would make fleet-cmdr run the job again.
  held_.HoldFinal(run_id, std::move(final_update));
}

void Reporter::RetryJournal() {
  next_journal_retry_ = std::chrono::steady_clock::now() + options_.journal_retry;
  auto flushed = held_.FlushTo(journal_);
  if (flushed) flushed = journal_.Probe();
  if (!flushed) {
    journal_problem_ = "the journal cannot be written: " + flushed.error().Describe();
    Log()->debug("the journal still fails: {}", flushed.error().Describe());
    return;
  }
  journal_failing_ = false;
  work_ = true;
  Log()->info("the journal can be written again; what memory held is in it now");
}

void Reporter::ForgetInJournal(const std::string& run_id) {
  held_.Forget(run_id);
  if (journal_failing_) {
    held_.OweRemoval(run_id);
    return;
  }
  if (auto removed = journal_.RemoveRun(run_id); !removed) {
    if (JournalFailed(run_id, removed.error())) held_.OweRemoval(run_id);
  }
}

std::optional<Reporter::HealthChange> Reporter::TakeHealthChange() {
  if (journal_failing_ == announced_failing_) return std::nullopt;
  announced_failing_ = journal_failing_;
  return HealthChange{!journal_failing_, journal_failing_ ? journal_problem_ : std::string()};
}

void Reporter::Announce(const std::optional<HealthChange>& change) {
  if (change && callbacks_.journal_health)
    callbacks_.journal_health(change->writable, change->problem);
}

// ---- the executor's events ----

void Reporter::OnRunStarted(const protocol::JobExecution& execution) {
  const JobLog log(Log(), execution.job_id, execution.run_id);
  std::optional<HealthChange> change;
  {
    const std::lock_guard lock(mutex_);
    RunState& run = runs_[execution.run_id];
    run.job_id = execution.job_id;
    run.throttle = std::make_unique<ProgressThrottle>(clock_, options_.progress_min_interval);
    run.last_contact = clock_.Now();
    bool journaled = false;
    if (!journal_failing_) {
      auto added = journal_.AddRun(execution);
      journaled = added.has_value() || !JournalFailed(execution.run_id, added.error());
    }
    if (!journaled) held_.HoldRun(execution);
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
    change = TakeHealthChange();
  }
  Announce(change);
}

void Reporter::OnProgress(const std::string& run_id, protocol::ProgressUpdate update,
                          bool status_change) {
  if (update.message) update.message = Sanitize(*update.message);
  std::optional<HealthChange> change;
  {
    const std::lock_guard lock(mutex_);
    const auto found = runs_.find(run_id);
    if (found == runs_.end() || found->second.finished) return;
    auto now = found->second.throttle->Offer(std::move(update), status_change);
    if (!now) {
      wake_.notify_all();  // the sender waits for the held update's due time
      return;
    }
    // Recorded under the lock so that updates of one run keep their order.
    RecordUpdate(run_id, found->second, std::move(*now));
    work_ = true;
    change = TakeHealthChange();
  }
  wake_.notify_all();
  Announce(change);
}

void Reporter::OnLog(const std::string& run_id, protocol::LogLine line) {
  line.message = Sanitize(line.message);
  std::optional<HealthChange> change;
  {
    const std::lock_guard lock(mutex_);
    const auto found = runs_.find(run_id);
    if (found == runs_.end() || found->second.finished) return;
    RunState& run = found->second;
    if (run.log_file) {
      run.log_file << FormatTimestamp(line.timestamp) << ' ' << line.level << ' ' << line.message
                   << '\n';
      run.log_file.flush();
    }
    RecordLog(run_id, run, std::move(line));
    work_ = true;
    change = TakeHealthChange();
  }
  wake_.notify_all();
  Announce(change);
}

void Reporter::OnFinished(const std::string& run_id, protocol::FinalUpdate final_update) {
  if (final_update.error) {
    // run.error is shown to operators and stored by fleet-cmdr (protocol.md §3: sanitized).
    final_update.error->message = Sanitize(final_update.error->message);
    for (auto& context : final_update.error->stack)
      context = Sanitize(context);
  }
  std::optional<HealthChange> change;
  {
    const std::lock_guard lock(mutex_);
    const auto found = runs_.find(run_id);
    if (found == runs_.end() || found->second.finished) return;
    RunState& run = found->second;
    if (auto held = run.throttle->TakeHeld()) RecordUpdate(run_id, run, std::move(*held));
    RecordDroppedLines(run_id, run, final_update.timestamp);
    if (run.log_file) {
      run.log_file << FormatTimestamp(final_update.timestamp) << " info finished "
                   << protocol::ToString(final_update.status)
                   << (final_update.error
                           ? " " + final_update.error->code + ": " + final_update.error->message
                           : std::string())
                   << '\n';
      run.log_file.close();
    }
    RecordFinal(run_id, run, std::move(final_update));
    run.finished = true;
    work_ = true;
    change = TakeHealthChange();
  }
  wake_.notify_all();
  Announce(change);
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
  std::optional<HealthChange> change;
  {
    const std::lock_guard lock(mutex_);
    ForgetInJournal(run_id);
    runs_.erase(run_id);
    change = TakeHealthChange();
  }
  Announce(change);
}

// ---- delivery ----

bool Reporter::ShouldGiveUp() const {
  const std::lock_guard lock(mutex_);
  return stopping_ && std::chrono::steady_clock::now() >= stop_deadline_;
}

bool Reporter::Handle(const std::string& run_id, Expected<protocol::UpdatesResponse> response) {
  if (response) {
    std::optional<HealthChange> change;
    {
      const std::lock_guard lock(mutex_);
      bool finished = false;
      switch (held_.Acknowledge(run_id, response->acked_update_seq, response->acked_log_seq)) {
        case HeldOutbox::Acked::kMore: break;
        case HeldOutbox::Acked::kDoneOutsideTheJournal: finished = true; break;
        case HeldOutbox::Acked::kDoneInTheJournal:
          // Its final reached fleet-cmdr from memory: the journal's part of it is not needed.
          finished = true;
          ForgetInJournal(run_id);
          break;
      }
      if (!finished && journal_failing_) {
        held_.OweAcknowledgement(run_id, response->acked_update_seq, response->acked_log_seq);
      } else if (!finished) {
        auto done =
            journal_.Acknowledge(run_id, response->acked_update_seq, response->acked_log_seq);
        if (!done) {
          if (JournalFailed(run_id, done.error())) {
            held_.OweAcknowledgement(run_id, response->acked_update_seq, response->acked_log_seq);
          }
        } else {
          finished = *done;
        }
      }
      const auto found = runs_.find(run_id);
      if (found != runs_.end()) {
        found->second.last_contact = clock_.Now();
        // Its final is acknowledged although the journal could not record that yet (it is owed).
        const auto& final_seq = found->second.final_seq;
        if (final_seq && *final_seq <= response->acked_update_seq) finished = true;
        if (finished) runs_.erase(found);
      }
      change = TakeHealthChange();
    }
    Announce(change);
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
    protocol::UpdatesRequest batch;
    {
      // The journal's part and memory's part under one lock: a retry moving items from memory
      // into the journal can never leave a gap between the two.
      const std::lock_guard lock(mutex_);
      bool complete = true;
      auto journaled = journal_.NextBatch(run_id, options_.max_batch_items, &complete);
      if (!journaled) {
        RunLog(run_id).Error("cannot read the outbox: {}", journaled.error().Describe());
        return false;
      }
      batch = std::move(*journaled);
      held_.DropAcknowledged(run_id, batch);
      if (complete) held_.AppendTo(run_id, batch, options_.max_batch_items);
    }
    if (batch.updates.empty() && batch.logs.empty() && !batch.final_update) return true;
    if (!Handle(run_id, api_->SendUpdates(run_id, batch, hooks))) return false;
  }
  return true;
}

void Reporter::SetDuty(Duty duty) {
  const std::lock_guard lock(mutex_);
  duty_ = std::move(duty);
}

bool Reporter::Heartbeat(const std::string& run_id) {
  const CallHooks hooks{[this] { return ShouldGiveUp(); }, {}};
  return Handle(run_id, api_->SendUpdates(run_id, protocol::UpdatesRequest{}, hooks));
}

void Reporter::SenderLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    std::optional<HealthChange> change;
    if (journal_failing_ && std::chrono::steady_clock::now() >= next_journal_retry_) {
      RetryJournal();
    }
    // Throttled progress whose time has come is recorded first.
    const auto now = clock_.Now();
    std::optional<Clock::MonoTime> next_due;
    std::vector<std::string> heartbeats;
    for (auto& [id, run] : runs_) {
      if (run.finished) continue;
      if (auto due = run.throttle->TakeDue()) {
        RecordUpdate(id, run, std::move(*due));
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
    change = TakeHealthChange();
    const bool had_work = work_;
    work_ = false;
    // Not while stopping: what is left to send comes first, and Stop() waits for it.
    const Duty duty = stopping_ ? Duty{} : duty_;
    lock.unlock();
    Announce(change);

    bool ok = true;
    bool empty = true;
    const auto pending = [&]() -> std::optional<std::vector<std::string>> {
      const std::lock_guard guard(mutex_);
      auto ids = journal_.RunsWithPending();
      if (!ids) return std::nullopt;
      const std::set<std::string> seen(ids->begin(), ids->end());
      for (auto& id : held_.RunsWithItems()) {
        if (seen.count(id) == 0) ids->push_back(std::move(id));
      }
      return std::move(*ids);
    };
    if (had_work) {
      if (auto ids = pending()) {
        for (const auto& id : *ids) {
          if (!Drain(id)) {
            ok = false;
            break;
          }
        }
        auto left = pending();
        empty = left && left->empty();
      } else {
        ok = false;
      }
    }
    for (const auto& id : heartbeats) {
      if (!ok) break;
      ok = Heartbeat(id);
    }
    if (duty) duty(*api_, CallHooks{[this] { return ShouldGiveUp(); }, {}});

    lock.lock();
    if (stopping_ && (std::chrono::steady_clock::now() >= stop_deadline_ || (ok && empty))) break;
    // While the journal fails, wake for its next retry.
    const bool retrying = journal_failing_;
    const auto retry_at = next_journal_retry_;
    if (!ok) {
      work_ = true;  // retry the outbox after the backoff
      // Stop() cuts the backoff short once; while stopping it still backs off (up to the
      // deadline) instead of spinning against a server that is down.
      auto until = std::chrono::steady_clock::now() + options_.error_backoff;
      if (stopping_) until = std::min(until, stop_deadline_);
      if (retrying) until = std::min(until, retry_at);
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
    if (retrying) {
      const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
          retry_at - std::chrono::steady_clock::now());
      wait = std::clamp(until, std::chrono::milliseconds(1), wait);
    }
    wake_.wait_for(lock, wait, [this] { return work_ || stopping_; });
  }
  sender_done_ = true;
  lock.unlock();
  wake_.notify_all();
}

}  // namespace orb::agent
