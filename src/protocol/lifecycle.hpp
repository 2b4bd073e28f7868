#pragma once

// The job lifecycle of protocol.md §3 as one table (style.md "Decisions are pure
// functions": state machines are tables).
//
//   CREATED --promote (notBefore reached / backoff over)--> QUEUED --dispatch (new run)--> RUNNING
//   RUNNING --complete--> COMPLETED          RUNNING --fail | lease_expired | agent_restarted-->
//   FAILED RUNNING --cancel_running (agent reported CANCELLED)--> CANCELLED RUNNING
//   --request_cancel--> RUNNING      (sets cancelRequested; delivered as JobCancel) CREATED |
//   QUEUED --cancel_queued (POST /cancel)--> CANCELLED   (never ran) FAILED --auto_retry (attempts
//   < maxAttempts and error.retryable)--> CREATED (with backoff) FAILED | CANCELLED --manual_retry
//   (POST /retry)--> QUEUED CREATED --dependency_failed (a job it depends on ended FAILED or
//   CANCELLED; docs/protocol.md "Job dependencies")--> CANCELLED RUNNING --lost_after_cancel
//   (lease expired or agent restarted while cancelRequested)--> CANCELLED
//
// Everything not in the table is rejected with Errc::kInvalidState; COMPLETED has no way out.
// The guards (attempts < maxAttempts, retryable, cancellable) are the caller's decisions: the
// table only says which status changes exist and which event each one publishes (§6).
//
// Thread-safety: pure functions over constant data, safe from any thread.

#include <span>
#include <string_view>

#include "common/expected.hpp"
#include "protocol/types.hpp"

namespace orb::protocol {

enum class JobEvent {
  kPromote,         // CREATED -> QUEUED: notBefore reached, retry backoff over, or no delay at all
  kDispatch,        // QUEUED -> RUNNING: handed out by jobs/next, a new run starts
  kComplete,        // RUNNING -> COMPLETED: the agent reported COMPLETED
  kFail,            // RUNNING -> FAILED: the agent reported FAILED (or timeout)
  kLeaseExpired,    // RUNNING -> FAILED: no update for leaseSeconds (error agent_lost)
  kAgentRestarted,  // RUNNING -> FAILED: listed in hello's interruptedRuns (error agent_restarted)
  kCancelRunning,   // RUNNING -> CANCELLED: the agent reported CANCELLED
  kRequestCancel,   // RUNNING -> RUNNING: POST /cancel on a cancellable running job
  kCancelQueued,    // CREATED | QUEUED -> CANCELLED: POST /cancel before it ran
  kAutoRetry,       // FAILED -> CREATED: automatic retry, waits for its backoff
  kManualRetry,     // FAILED | CANCELLED -> QUEUED: POST /retry
  kDependencyFailed,  // CREATED -> CANCELLED: a dependency ended FAILED or CANCELLED
  // RUNNING -> CANCELLED: its run was lost (lease expired, agent restarted) after a cancel was
  // requested; the cancel is done, and the retry the loss would get is not made.
  kLostAfterCancel,
};

inline constexpr JobEvent kAllJobEvents[] = {
    JobEvent::kPromote,         JobEvent::kDispatch,
    JobEvent::kComplete,        JobEvent::kFail,
    JobEvent::kLeaseExpired,    JobEvent::kAgentRestarted,
    JobEvent::kCancelRunning,   JobEvent::kRequestCancel,
    JobEvent::kCancelQueued,    JobEvent::kAutoRetry,
    JobEvent::kManualRetry,     JobEvent::kDependencyFailed,
    JobEvent::kLostAfterCancel,
};

// "promote", "dispatch", "complete", "fail", "lease_expired", "agent_restarted",
// "cancel_running", "request_cancel", "cancel_queued", "auto_retry", "manual_retry",
// "dependency_failed", "lost_after_cancel".
std::string_view ToString(JobEvent event);

// One row of the table.
struct JobTransition {
  JobStatus from;
  JobEvent event;
  JobStatus to;
  EventType published;  // the §6 event that announces it
};

// The whole table, in the order of the diagram above.
std::span<const JobTransition> JobTransitions();

// The row for (from, event), or nullptr.
const JobTransition* FindTransition(JobStatus from, JobEvent event);

// The status after `event` in status `from`. kInvalidState ("cannot <event> a job that is
// <STATUS>") when the table has no such row.
Expected<JobStatus> Transition(JobStatus from, JobEvent event);

// Runs (protocol.md §3 "Run"): RUNNING -> COMPLETED | FAILED | CANCELLED, nothing else.
// kInvalidState for every other pair (a final run never changes again: run_not_active is the
// server's wire answer for that case, §4).
Expected<RunStatus> TransitionRun(RunStatus from, RunStatus to);

// The job event a run's final status causes: COMPLETED -> kComplete, FAILED -> kFail,
// CANCELLED -> kCancelRunning. kInvalidState for RUNNING.
Expected<JobEvent> JobEventForRunEnd(RunStatus final_status);

}  // namespace orb::protocol
