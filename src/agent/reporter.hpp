#pragma once

// The agent's reporter: receives the executor's events (RunObserver), throttles progress
// (ProgressThrottle), writes everything to the journal BEFORE sending, and has one sender thread
// that drains the journal's outbox through the ControlPlane in order, with retries and backoff,
// sends a heartbeat (empty batch) for running runs every heartbeatSeconds, and hands
// cancelRequested and 409 run_not_active back to the executor (protocol.md §4). Also writes each
// run's log lines to stateDir/logs/<jobId>/<runId>.log. Everything it ships or writes (progress
// messages, log lines, run.error's message and stack) is sanitized first (common/sanitize.hpp).
//
// A journal that cannot be written (docs/reliability.md "The agent"): what the reporter could not
// journal it keeps in memory (HeldOutbox, bounded) and delivers from there all the same, so no
// final result is ever dropped; it tries the journal again every `journal_retry`, writes what it
// holds once a write succeeds, and says so through `journal_health` both ways (the agent stops
// taking jobs meanwhile). A final result fleet-cmdr acknowledged needs no journal any more. Run
// items get their seq here, so that the journal and the memory number them alike.
//
// Thread-safety: the RunObserver members and SetIntervals may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/control_plane.hpp"
#include "agent/executor.hpp"
#include "agent/held_outbox.hpp"
#include "agent/journal.hpp"
#include "agent/progress_throttle.hpp"
#include "common/clock.hpp"
#include "common/job_log.hpp"

namespace orb::agent {

struct ReporterOptions {
  std::filesystem::path log_dir;  // stateDir/logs
  std::chrono::milliseconds progress_min_interval{1000};
  std::chrono::milliseconds heartbeat{std::chrono::seconds(15)};
  std::chrono::milliseconds error_backoff{std::chrono::seconds(5)};  // after a refused batch
  std::size_t max_batch_items = 100;
  // While the journal fails: how often it is tried again, and how much memory what it could not
  // take may use (log lines and progress beyond it are counted and dropped; finals never are).
  std::chrono::milliseconds journal_retry{std::chrono::seconds(5)};
  std::size_t max_held_bytes = std::size_t{8} << 20;
};

struct ReporterCallbacks {
  std::function<void(const std::string& run_id)> cancel_requested{};
  std::function<void(const std::string& run_id)> run_not_active{};
  // The journal stopped taking writes (false, with the error's description) or takes them again
  // (true). Called once per change, from the thread that saw it, with no reporter lock held.
  std::function<void(bool writable, const std::string& problem)> journal_health{};
};

class Reporter final : public RunObserver {
 public:
  Reporter(ReporterOptions options, Journal& journal, std::unique_ptr<ControlPlane> api,
           const Clock& clock, ReporterCallbacks callbacks);
  ~Reporter() override;  // Stop(now) if still running
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  void Start();
  // Stops the sender once the outbox is empty or `deadline` passed (unsent items stay in the
  // journal for the next start), and joins it.
  void Stop(std::chrono::steady_clock::time_point deadline);

  // The values hello handed out.
  void SetIntervals(std::chrono::milliseconds progress_min_interval,
                    std::chrono::milliseconds heartbeat);

  // Wakes the sender to drain the outbox now (e.g. after start-up recovery).
  void Wake();

  // A periodic duty of the sender's thread, called after each round (at least once a second)
  // with the sender's ControlPlane; it decides itself whether it has anything to do (the host
  // inventory, agent/inventory.hpp). Runs only while the sender does: never after Stop().
  using Duty = std::function<void(ControlPlane& api, const CallHooks& hooks)>;
  void SetDuty(Duty duty);

  void OnRunStarted(const protocol::JobExecution& execution) override;
  void OnProgress(const std::string& run_id, protocol::ProgressUpdate update,
                  bool status_change) override;
  void OnLog(const std::string& run_id, protocol::LogLine line) override;
  void OnFinished(const std::string& run_id, protocol::FinalUpdate final_update) override;

  // Forgets a run (abandoned): drops its outbox and stops its heartbeats.
  void DropRun(const std::string& run_id);

  // False from a failed journal write until a retry wrote everything held.
  [[nodiscard]] bool journal_writable() const;
  // Items (updates, log lines, finals) held in memory because the journal could not take them.
  [[nodiscard]] std::size_t held_items() const;

 private:
  struct RunState {
    std::string job_id;
    std::unique_ptr<ProgressThrottle> throttle;
    std::ofstream log_file;
    bool finished = false;
    Clock::MonoTime last_contact{};
    std::int64_t last_update_seq = 0;  // updates and the final share one sequence
    std::int64_t last_log_seq = 0;
    std::int64_t dropped_logs = 0;          // refused by a full HeldOutbox, not said yet
    std::optional<std::int64_t> final_seq;  // once the final is recorded
  };
  struct HealthChange {
    bool writable = true;
    std::string problem;
  };
  void SenderLoop();
  // Sends the outbox of `run_id` batch by batch. False when a call failed (back off).
  bool Drain(const std::string& run_id);
  bool Heartbeat(const std::string& run_id);
  bool Handle(const std::string& run_id, Expected<protocol::UpdatesResponse> response);
  bool ShouldGiveUp() const;
  // The agent's log with the run's jobId and runId (from the runs in memory, else the journal).
  JobLog RunLog(const std::string& run_id) const;

  // With mutex_ held: numbers the item and journals it, or holds it when the journal fails.
  void RecordUpdate(const std::string& run_id, RunState& run, protocol::ProgressUpdate update);
  void RecordLog(const std::string& run_id, RunState& run, protocol::LogLine line);
  // One line; false when it was dropped (memory full unless `force`, or an error no retry mends).
  bool RecordLogLine(const std::string& run_id, RunState& run, protocol::LogLine line,
                     bool force = false);
  // The "N log lines were dropped" line (beyond the memory bound: it is small and said once).
  void RecordDroppedLines(const std::string& run_id, RunState& run, WallTime timestamp);
  void RecordFinal(const std::string& run_id, RunState& run, protocol::FinalUpdate final_update);
  // With mutex_ held: true when the run's items go to memory (the journal fails, or holds back
  // earlier items of the run).
  bool Holding(const std::string& run_id) const;
  // With mutex_ held: a journal write failed with `error`. True when it is a failing disk (kIo):
  // the item is then to be held; false for an error no retry can mend (logged, item dropped).
  bool JournalFailed(const std::string& run_id, const Error& error);
  // With mutex_ held: writes what is held; on success the journal is writable again.
  void RetryJournal();
  // With mutex_ held: the run's journal entry and outbox go (or that is owed to the journal).
  void ForgetInJournal(const std::string& run_id);
  // With mutex_ held: the change of health not announced yet, if any.
  std::optional<HealthChange> TakeHealthChange();
  void Announce(const std::optional<HealthChange>& change);

  ReporterOptions options_;
  Journal& journal_;
  std::unique_ptr<ControlPlane> api_;
  Duty duty_;  // guarded by mutex_
  const Clock& clock_;
  ReporterCallbacks callbacks_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, RunState> runs_;
  HeldOutbox held_;
  bool journal_failing_ = false;
  bool announced_failing_ = false;
  std::string journal_problem_;
  std::chrono::steady_clock::time_point next_journal_retry_{};
  bool work_ = true;
  bool sender_done_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_{};
  std::thread sender_;
};

}  // namespace orb::agent
