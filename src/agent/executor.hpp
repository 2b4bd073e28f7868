#pragma once

// The agent's executor: maxParallel slots, each run on its own thread under the local locks of
// job-types.md §3 (lock_table.hpp), with a CancelToken per run, the run's timeoutSeconds (a timed
// out run is cancelled and FAILS with code "timeout"), cancel from notify and updates responses,
// and abandoning a run when fleet-cmdr answers 409 run_not_active.
//
// Thread-safety: every public member is safe to call from any thread. The observer is called from
// run threads (several at once) and from the caller of Start.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/lock_table.hpp"
#include "common/clock.hpp"
#include "common/expected.hpp"
#include "jobs/job_handler.hpp"
#include "protocol/types.hpp"

namespace orb::agent {

// What the executor tells the outside world about its runs (the reporter implements it).
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // Before the run's handler starts: record it durably as in flight.
  virtual void OnRunStarted(const protocol::JobExecution& execution) = 0;
  // A progress update; status_change: send at once, no throttling.
  virtual void OnProgress(const std::string& run_id, protocol::ProgressUpdate update,
                          bool status_change) = 0;
  virtual void OnLog(const std::string& run_id, protocol::LogLine line) = 0;
  // The run's outcome, exactly once per run that was not abandoned.
  virtual void OnFinished(const std::string& run_id, protocol::FinalUpdate final_update) = 0;
};

struct ExecutorOptions {
  int max_parallel = 4;
  std::filesystem::path root;  // staging dirs go to root/.staging/<runId>
  std::chrono::milliseconds lock_timeout{std::chrono::minutes(5)};
  // After a timeout cancel, how long the handler gets to stop before the run is reported FAILED
  // "timeout" anyway (its slot and locks stay taken until the handler really returns).
  std::chrono::milliseconds timeout_grace{std::chrono::seconds(30)};
};

class Executor {
 public:
  // `on_run_done` is called (from the run's thread, no lock held) whenever a run's thread ends and
  // its slot is free again: the loop then asks for the next job.
  Executor(ExecutorOptions options, std::vector<std::unique_ptr<jobs::JobHandler>> handlers,
           RunObserver& observer, const Clock& clock, std::function<void()> on_run_done = {});
  // Cancels every run (kShutdown; non-cancellable ones run to their end) and joins them.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // The types there is a handler for, sorted: what hello declares.
  [[nodiscard]] std::vector<std::string> JobTypes() const;

  // Starts a run. Errors: kUnavailable when every slot is taken. A type without a handler is
  // reported FAILED (unknown_job_type) at once and is not an error here; a run id that is already
  // running is ignored.
  Status Start(protocol::JobExecution execution);

  // Asks a run to stop (ignored past its point of no return, and for unknown runs).
  bool Cancel(const std::string& run_id, jobs::CancelCause cause, const std::string& reason);
  // Stops a run that fleet-cmdr no longer considers active: nothing more is reported for it.
  void Abandon(const std::string& run_id);
  // Cancels every run whose execution is cancellable.
  void CancelAll(jobs::CancelCause cause, const std::string& reason);

  // Runs whose outcome is not known yet (for jobs/next "running" and heartbeats).
  [[nodiscard]] std::vector<std::string> Running() const;
  // Runs whose handler thread has not ended (a run reported failed by its timeout included):
  // their staging and cache files are in use. Handlers see it as HandlerContext::IsRunLive.
  [[nodiscard]] bool IsLive(const std::string& run_id) const;
  [[nodiscard]] std::vector<std::string> LiveRuns() const;
  [[nodiscard]] int free_slots() const;
  // Waits until no handler runs any more; false when `timeout` passed first.
  bool WaitIdle(std::chrono::milliseconds timeout);

  // The local lock table, for the agent's own housekeeping (retention.hpp), which takes the locks
  // a run would without waiting.
  LockTable& locks() { return locks_; }

 private:
  struct ActiveRun;
  class Sink;
  void RunThread(ActiveRun& run);
  void Supervise();
  protocol::FinalUpdate MakeFinal(const ActiveRun& run, Expected<std::string> result) const;
  void Finish(ActiveRun& run, protocol::FinalUpdate final_update);

  ExecutorOptions options_;
  std::map<std::string, std::unique_ptr<jobs::JobHandler>, std::less<>> handlers_;
  RunObserver& observer_;
  const Clock& clock_;
  std::function<void()> on_run_done_;
  LockTable locks_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::unique_ptr<ActiveRun>> runs_;
  bool stopping_ = false;
  std::thread supervisor_;
};

}  // namespace orb::agent
