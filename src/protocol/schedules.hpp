#pragma once

// Schedules on the wire (docs/protocol.md "Schedules"): recurring work, each fire a chain of
// steps per host. The types and their JSON, apart from codec.hpp so that the rest of the protocol
// does not grow with them. Decoding follows codec.hpp's rules (strict for requests: unknown
// fields are invalid_request naming them). What the cron, time zone and steps mean is checked
// after decoding (store/ops/schedules.hpp: ValidateScheduleRequest). Pure; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/time.hpp"
#include "protocol/host_target.hpp"
#include "protocol/types.hpp"

namespace orb::protocol {

inline constexpr std::size_t kMaxScheduleName = 200;
inline constexpr std::size_t kScheduleFireJobIds = 100;  // jobIds of a lastFires entry, at most
inline constexpr std::size_t kScheduleNextFires = 5;
inline constexpr std::size_t kScheduleLastFires = 10;

struct ScheduleFire {
  WallTime fire_time{};
  int job_count = 0;
  std::vector<std::string> job_ids;  // cut at kScheduleFireJobIds
  bool operator==(const ScheduleFire&) const = default;
};

struct Schedule {
  std::string id;
  std::string name;
  std::string cron;
  std::string time_zone = "UTC";
  HostTarget target;  // resolved at each fire
  std::vector<JobTemplate> steps;
  std::string overlap = "skip";
  std::string catch_up = "none";
  bool enabled = true;
  WallTime created_at{};
  WallTime updated_at{};
  std::vector<WallTime> next_fires;      // GET /v1/schedules/{id} (and the list): the next 5
  std::vector<ScheduleFire> last_fires;  // GET /v1/schedules/{id}: the latest 10, newest first
  bool operator==(const Schedule&) const = default;
};

struct ScheduleList {
  std::vector<Schedule> schedules;
  std::optional<std::string> next_cursor;
  bool operator==(const ScheduleList&) const = default;
};

// POST /v1/schedules (name, cron, target and steps required) and PATCH /v1/schedules/{id} (any
// field): what the client sent.
struct ScheduleRequest {
  std::optional<std::string> name;
  std::optional<std::string> cron;
  std::optional<std::string> time_zone;
  std::optional<HostTarget> target;
  std::optional<std::vector<JobTemplate>> steps;
  std::optional<std::string> overlap;
  std::optional<std::string> catch_up;
  std::optional<bool> enabled;
  bool operator==(const ScheduleRequest&) const = default;
};

// POST /v1/schedules/{id}/fire: the fire and the jobs it created.
struct ScheduleFired {
  std::string schedule_id;
  WallTime fire_time{};
  std::vector<Job> jobs;
  bool operator==(const ScheduleFired&) const = default;
};

// Requests: `create` requires name, cron, target and steps.
Expected<ScheduleRequest> ParseScheduleRequest(std::string_view text, bool create);
std::string ToJson(const ScheduleRequest& request);

std::string ToJson(const Schedule& schedule);
std::string ToJson(const ScheduleList& list);
std::string ToJson(const ScheduleFired& fired);
Expected<Schedule> ParseSchedule(std::string_view text);
Expected<ScheduleList> ParseScheduleList(std::string_view text);
Expected<ScheduleFired> ParseScheduleFired(std::string_view text);

// How the store keeps a schedule's steps: the same JSON as on the wire (its target: ToJson and
// ParseHostTarget of protocol/host_target.hpp).
std::string StepsJson(const std::vector<JobTemplate>& steps);
Expected<std::vector<JobTemplate>> ParseStepsJson(std::string_view text);

// How the store keeps the fields of an event that are about no job (scheduleId, fireTime,
// jobIds): a JSON object, nullopt when the event has none. ApplyEventExtra sets them back
// (an unreadable text sets nothing).
std::optional<std::string> EventExtraJson(const Event& event);
void ApplyEventExtra(std::string_view text, Event& event);

}  // namespace orb::protocol
