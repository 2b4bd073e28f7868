#include "protocol/lifecycle.hpp"

#include <array>
#include <string>

namespace orb::protocol {
namespace {

using S = JobStatus;
using E = JobEvent;
using P = EventType;

// protocol.md §3 "Lifecycle". Keep in step with the diagram in lifecycle.hpp.
constexpr std::array kTable{
    JobTransition{S::kCreated, E::kPromote, S::kQueued, P::kJobQueued},
    JobTransition{S::kQueued, E::kDispatch, S::kRunning, P::kJobRunning},
    JobTransition{S::kRunning, E::kComplete, S::kCompleted, P::kJobCompleted},
    JobTransition{S::kRunning, E::kFail, S::kFailed, P::kJobFailed},
    JobTransition{S::kRunning, E::kLeaseExpired, S::kFailed, P::kJobFailed},
    JobTransition{S::kRunning, E::kAgentRestarted, S::kFailed, P::kJobFailed},
    JobTransition{S::kRunning, E::kCancelRunning, S::kCancelled, P::kJobCancelled},
    JobTransition{S::kRunning, E::kRequestCancel, S::kRunning, P::kJobCancelRequested},
    JobTransition{S::kCreated, E::kCancelQueued, S::kCancelled, P::kJobCancelled},
    JobTransition{S::kQueued, E::kCancelQueued, S::kCancelled, P::kJobCancelled},
    JobTransition{S::kFailed, E::kAutoRetry, S::kCreated, P::kJobRetried},
    JobTransition{S::kFailed, E::kManualRetry, S::kQueued, P::kJobRetried},
    JobTransition{S::kCancelled, E::kManualRetry, S::kQueued, P::kJobRetried},
    JobTransition{S::kCreated, E::kDependencyFailed, S::kCancelled, P::kJobCancelled},
    JobTransition{S::kRunning, E::kLostAfterCancel, S::kCancelled, P::kJobCancelled},
};

}  // namespace

std::string_view ToString(JobEvent event) {
  switch (event) {
    case E::kPromote: return "promote";
    case E::kDispatch: return "dispatch";
    case E::kComplete: return "complete";
    case E::kFail: return "fail";
    case E::kLeaseExpired: return "lease_expired";
    case E::kAgentRestarted: return "agent_restarted";
    case E::kCancelRunning: return "cancel_running";
    case E::kRequestCancel: return "request_cancel";
    case E::kCancelQueued: return "cancel_queued";
    case E::kAutoRetry: return "auto_retry";
    case E::kManualRetry: return "manual_retry";
    case E::kDependencyFailed: return "dependency_failed";
    case E::kLostAfterCancel: return "lost_after_cancel";
  }
  return "?";
}

std::span<const JobTransition> JobTransitions() {
  return kTable;
}

const JobTransition* FindTransition(JobStatus from, JobEvent event) {
  for (const auto& row : kTable) {
    if (row.from == from && row.event == event) return &row;
  }
  return nullptr;
}

Expected<JobStatus> Transition(JobStatus from, JobEvent event) {
  if (const JobTransition* row = FindTransition(from, event)) return row->to;
  return Fail(Errc::kInvalidState, "cannot " + std::string(ToString(event)) + " a job that is " +
                                       std::string(ToString(from)));
}

Expected<RunStatus> TransitionRun(RunStatus from, RunStatus to) {
  if (from == RunStatus::kRunning && to != RunStatus::kRunning) return to;
  return Fail(Errc::kInvalidState, "a run cannot go from " + std::string(ToString(from)) + " to " +
                                       std::string(ToString(to)));
}

Expected<JobEvent> JobEventForRunEnd(RunStatus final_status) {
  switch (final_status) {
    case RunStatus::kCompleted: return E::kComplete;
    case RunStatus::kFailed: return E::kFail;
    case RunStatus::kCancelled: return E::kCancelRunning;
    case RunStatus::kRunning: break;
  }
  return Fail(Errc::kInvalidState, "RUNNING is not a final run status");
}

}  // namespace orb::protocol
