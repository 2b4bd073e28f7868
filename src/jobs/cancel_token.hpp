#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "common/expected.hpp"

namespace orb::jobs {

// Why a run was asked to stop. The executor turns the cause into the run's outcome.
enum class CancelCause {
  kNone,
  kRequested,  // an operator's cancel (JobCancel from notify or an updates response): CANCELLED
  kTimeout,    // the run's timeoutSeconds passed: FAILED with code "timeout"
  kShutdown,   // the agent is stopping (SIGTERM): FAILED "agent_restarted", retryable
  kAbandoned,  // fleet-cmdr answered 409 run_not_active: stop, report nothing more
};

std::string_view ToString(CancelCause cause);

// A run's cancellation flag with its cause and reason (job-types.md §3: handlers check it at their
// safe points). Once the handler has passed its point of no return (MarkPastPointOfNoReturn), a
// cancel is recorded as ignored instead of setting the flag; kAbandoned is the exception: it
// always sets it (there is nobody left to report to).
// Thread-safety: every member is safe to call from any thread.
class CancelToken {
 public:
  // Asks the run to stop. The first cause wins; later calls change nothing. Returns true when
  // this call set the flag.
  bool Cancel(CancelCause cause, std::string reason);

  [[nodiscard]] bool cancelled() const;
  [[nodiscard]] CancelCause cause() const;
  [[nodiscard]] std::string reason() const;

  // Waits up to `timeout` for a cancel; true when cancelled (at once if already). For handlers that
  // would otherwise sleep between safe points.
  bool WaitFor(std::chrono::milliseconds timeout) const;

  // The error a handler returns at a safe point when cancelled(): kCancelled with the reason.
  [[nodiscard]] Error ToError() const;

  // Marks the point of no return. Fails with kCancelled (and marks nothing) when a cancel came
  // first, so the handler stops instead of crossing it.
  Status MarkPastPointOfNoReturn();
  [[nodiscard]] bool past_point_of_no_return() const;
  // True when a cancel arrived after the point of no return and was therefore ignored.
  [[nodiscard]] bool cancel_ignored() const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  CancelCause cause_ = CancelCause::kNone;
  std::string reason_;
  bool past_point_of_no_return_ = false;
  bool cancel_ignored_ = false;
};

}  // namespace orb::jobs
