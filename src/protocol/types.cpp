#include "protocol/types.hpp"

#include <array>
#include <utility>

namespace orb::protocol {
namespace {

template <class Enum, std::size_t N>
std::string_view NameOf(const std::array<std::pair<Enum, std::string_view>, N>& names, Enum value) {
  for (const auto& [e, name] : names) {
    if (e == value) return name;
  }
  return "?";
}

template <class Enum, std::size_t N>
std::optional<Enum> ValueOf(const std::array<std::pair<Enum, std::string_view>, N>& names,
                            std::string_view text) {
  for (const auto& [e, name] : names) {
    if (name == text) return e;
  }
  return std::nullopt;
}

constexpr std::array<std::pair<JobStatus, std::string_view>, 6> kJobStatuses{{
    {JobStatus::kCreated, "CREATED"},
    {JobStatus::kQueued, "QUEUED"},
    {JobStatus::kRunning, "RUNNING"},
    {JobStatus::kCompleted, "COMPLETED"},
    {JobStatus::kFailed, "FAILED"},
    {JobStatus::kCancelled, "CANCELLED"},
}};

constexpr std::array<std::pair<RunStatus, std::string_view>, 4> kRunStatuses{{
    {RunStatus::kRunning, "RUNNING"},
    {RunStatus::kCompleted, "COMPLETED"},
    {RunStatus::kFailed, "FAILED"},
    {RunStatus::kCancelled, "CANCELLED"},
}};

constexpr std::array<std::pair<Role, std::string_view>, 4> kRoles{{
    {Role::kViewer, "viewer"},
    {Role::kOperator, "operator"},
    {Role::kAdmin, "admin"},
    {Role::kAgent, "agent"},
}};

constexpr std::array<std::pair<EventType, std::string_view>, 24> kEventTypes{{
    {EventType::kJobCreated, "job.created"},
    {EventType::kJobQueued, "job.queued"},
    {EventType::kJobRunning, "job.running"},
    {EventType::kJobProgress, "job.progress"},
    {EventType::kJobCancelRequested, "job.cancel_requested"},
    {EventType::kJobCompleted, "job.completed"},
    {EventType::kJobFailed, "job.failed"},
    {EventType::kJobCancelled, "job.cancelled"},
    {EventType::kJobRetried, "job.retried"},
    {EventType::kAgentOnline, "agent.online"},
    {EventType::kAgentOffline, "agent.offline"},
    {EventType::kAgentEnrolled, "agent.enrolled"},
    {EventType::kAgentHealth, "agent.health"},
    {EventType::kRolloutCreated, "rollout.created"},
    {EventType::kRolloutProgress, "rollout.progress"},
    {EventType::kRolloutPaused, "rollout.paused"},
    {EventType::kRolloutResumed, "rollout.resumed"},
    {EventType::kRolloutCompleted, "rollout.completed"},
    {EventType::kRolloutAborted, "rollout.aborted"},
    {EventType::kScheduleCreated, "schedule.created"},
    {EventType::kScheduleUpdated, "schedule.updated"},
    {EventType::kScheduleDeleted, "schedule.deleted"},
    {EventType::kScheduleFired, "schedule.fired"},
    {EventType::kAgentInventory, "agent.inventory"},
}};

}  // namespace

std::string_view ToString(JobStatus status) {
  return NameOf(kJobStatuses, status);
}
std::optional<JobStatus> JobStatusFromString(std::string_view text) {
  return ValueOf(kJobStatuses, text);
}
std::string_view ToString(RunStatus status) {
  return NameOf(kRunStatuses, status);
}
std::optional<RunStatus> RunStatusFromString(std::string_view text) {
  return ValueOf(kRunStatuses, text);
}
bool IsFinal(JobStatus status) {
  return status == JobStatus::kCompleted || status == JobStatus::kFailed ||
         status == JobStatus::kCancelled;
}
std::string_view ToString(Role role) {
  return NameOf(kRoles, role);
}
std::optional<Role> RoleFromString(std::string_view text) {
  return ValueOf(kRoles, text);
}
std::string_view ToString(EventType type) {
  return NameOf(kEventTypes, type);
}
std::optional<EventType> EventTypeFromString(std::string_view text) {
  return ValueOf(kEventTypes, text);
}
bool IsStateChange(EventType type) {
  return type != EventType::kJobProgress;
}

CreateJobRequest ToCreateJobRequest(const JobTemplate& job, const std::string& agent_id) {
  CreateJobRequest request;
  request.agent_id = agent_id;
  request.type = job.type;
  request.instance_id = job.instance_id;
  request.server_id = job.server_id;
  request.payload_json = job.payload_json;
  request.priority = job.priority;
  request.exclusive = job.exclusive;
  request.max_attempts = job.max_attempts;
  request.retry_backoff_seconds = job.retry_backoff_seconds;
  request.timeout_seconds = job.timeout_seconds;
  return request;
}

}  // namespace orb::protocol
