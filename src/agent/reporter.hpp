#pragma once

// The reporter of issue 4: receives the executor's events (RunObserver), throttles progress
// (ProgressThrottle), writes everything to the journal BEFORE sending, and has one sender thread
// that drains the journal's outbox through the ControlPlane in order, with retries and backoff,
// sends a heartbeat (empty batch) for running runs every heartbeatSeconds, and hands
// cancelRequested and 409 run_not_active back to the executor (protocol.md §4). Also writes each
// run's log lines to stateDir/logs/<jobId>/<runId>.log. Everything it ships or writes (progress
// messages, log lines, run.error's message and stack) is sanitized first (common/sanitize.hpp).
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
};

struct ReporterCallbacks {
  std::function<void(const std::string& run_id)> cancel_requested{};
  std::function<void(const std::string& run_id)> run_not_active{};
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

  void OnRunStarted(const protocol::JobExecution& execution) override;
  void OnProgress(const std::string& run_id, protocol::ProgressUpdate update,
                  bool status_change) override;
  void OnLog(const std::string& run_id, protocol::LogLine line) override;
  void OnFinished(const std::string& run_id, protocol::FinalUpdate final_update) override;

  // Forgets a run (abandoned): drops its outbox and stops its heartbeats.
  void DropRun(const std::string& run_id);

 private:
  struct RunState {
    std::string job_id;
    std::unique_ptr<ProgressThrottle> throttle;
    std::ofstream log_file;
    bool finished = false;
    Clock::MonoTime last_contact{};
  };
  void SenderLoop();
  // Sends the outbox of `run_id` batch by batch. False when a call failed (back off).
  bool Drain(const std::string& run_id);
  bool Heartbeat(const std::string& run_id);
  bool Handle(const std::string& run_id, Expected<protocol::UpdatesResponse> response);
  bool ShouldGiveUp() const;
  // The agent's log with the run's jobId and runId (from the runs in memory, else the journal).
  JobLog RunLog(const std::string& run_id) const;

  ReporterOptions options_;
  Journal& journal_;
  std::unique_ptr<ControlPlane> api_;
  const Clock& clock_;
  ReporterCallbacks callbacks_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, RunState> runs_;
  bool work_ = true;
  bool sender_done_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_{};
  std::thread sender_;
};

}  // namespace orb::agent
