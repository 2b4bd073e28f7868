#pragma once

// Validation of a rollout's policy and of a schedule's own fields (docs/decisions/0017), after
// JSON decoding: every problem at once, each naming its field as on the wire
// ("policy.phases[1].percent", "cron", "timeZone"). Pure (the time zone is looked up in the
// system's zoneinfo); thread-safe. The job template and the steps are ValidateCreateJob's
// (protocol/validate_job.hpp), called by the caller.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/expected.hpp"
#include "orchestration/cron.hpp"
#include "orchestration/due_fire.hpp"
#include "orchestration/rollout.hpp"
#include "orchestration/time_zone.hpp"

namespace orb::orchestration {

inline constexpr std::size_t kMaxPhases = 20;
inline constexpr std::int64_t kMaxInFlightHosts = 100'000;
inline constexpr std::int64_t kMaxHostTimeoutSeconds = 7 * 86400;
inline constexpr std::int64_t kMaxPerMinute = 100'000;
inline constexpr std::size_t kMaxScheduleSteps = 16;

// maxInFlight an integer 1..100000 or a percentage 1..100; phases at most 20, percents 1..100
// strictly increasing, the last 100; abort.failedPercent in (0, 100], abort.minFinished >= 1;
// hostTimeoutSeconds 1..604800; maxPerMinute 1..100000. invalid_request; details list every
// problem, message the first.
Status ValidateRolloutPolicy(const RolloutPolicy& policy);

enum class Overlap {
  kSkip,   // "skip" (the default): a host whose last fire's chain is not final gets none
  kQueue,  // "queue": the new chain waits for the previous one to end
};
std::string_view ToString(Overlap overlap);
std::optional<Overlap> OverlapFromString(std::string_view text);

// A schedule's fields as they come from JSON (steps only counted: each is a job template).
struct ScheduleFields {
  std::string_view cron;
  std::string_view time_zone = kDefaultTimeZone;
  std::string_view overlap = "skip";
  std::string_view catch_up = "none";
  std::size_t step_count = 1;
};

struct ValidSchedule {
  CronExpr cron;
  TimeZone zone;
  Overlap overlap = Overlap::kSkip;
  CatchUp catch_up = CatchUp::kNone;
};

// cron parses (ParseCron) and can fire (not "30 February"); timeZone is known; overlap is "skip"
// or "queue"; catchUp "none" or "latest"; 1..16 steps. invalid_request naming each field (an
// unreadable zoneinfo is internal).
Expected<ValidSchedule> ValidateSchedule(const ScheduleFields& fields);

}  // namespace orb::orchestration
