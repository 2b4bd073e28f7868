#include "orchestration/validate.hpp"

#include <cctype>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace orb::orchestration {
namespace {

Status Problems(std::vector<FieldProblem> problems) {
  if (problems.empty()) return Ok();
  Error error =
      MakeError(Errc::kInvalidRequest, problems.front().field + ": " + problems.front().problem);
  error.details = std::move(problems);
  return Fail(std::move(error));
}

}  // namespace

Expected<MaxInFlight> ParseMaxInFlight(std::string_view text) {
  MaxInFlight value;
  std::string_view digits = text;
  if (!digits.empty() && digits.back() == '%') {
    value.percent = true;
    digits.remove_suffix(1);
  }
  bool ok = !digits.empty() && digits.size() <= 9;
  std::int64_t number = 0;
  for (const char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) ok = false;
    if (ok) number = number * 10 + (c - '0');
  }
  const std::int64_t max = value.percent ? 100 : kMaxInFlightHosts;
  if (!ok || number < 1 || number > max) {
    std::string problem = "must be an integer from 1 to " + std::to_string(kMaxInFlightHosts) +
                          " or a percentage from \"1%\" to \"100%\"";
    return Fail(InvalidField("policy.maxInFlight", std::move(problem)));
  }
  value.value = number;
  return value;
}

Status ValidateRolloutPolicy(const RolloutPolicy& policy) {
  std::vector<FieldProblem> problems;
  const std::int64_t max = policy.max_in_flight.percent ? 100 : kMaxInFlightHosts;
  if (policy.max_in_flight.value < 1 || policy.max_in_flight.value > max) {
    problems.push_back({"policy.maxInFlight", "must be an integer from 1 to " +
                                                  std::to_string(kMaxInFlightHosts) +
                                                  " or a percentage from \"1%\" to \"100%\""});
  }
  if (policy.phases.size() > kMaxPhases) {
    problems.push_back(
        {"policy.phases", "must have at most " + std::to_string(kMaxPhases) + " phases"});
  } else {
    int previous = 0;
    for (std::size_t k = 0; k < policy.phases.size(); ++k) {
      const int percent = policy.phases[k].percent;
      const std::string field = "policy.phases[" + std::to_string(k) + "].percent";
      if (percent < 1 || percent > 100) {
        problems.push_back({field, "must be an integer from 1 to 100"});
      } else if (percent <= previous) {
        problems.push_back(
            {field, "must be greater than the previous phase's " + std::to_string(previous)});
      }
      previous = std::max(previous, percent);
    }
    if (!policy.phases.empty() && policy.phases.back().percent != 100) {
      problems.push_back({"policy.phases[" + std::to_string(policy.phases.size() - 1) + "].percent",
                          "the last phase must be 100"});
    }
  }
  if (policy.abort) {
    const double percent = policy.abort->failed_percent;
    if (!std::isfinite(percent) || percent <= 0 || percent > 100) {
      problems.push_back(
          {"policy.abort.failedPercent", "must be a number above 0 and at most 100"});
    }
    if (policy.abort->min_finished < 1) {
      problems.push_back({"policy.abort.minFinished", "must be an integer >= 1"});
    }
  }
  if (policy.host_timeout_seconds &&
      (*policy.host_timeout_seconds < 1 || *policy.host_timeout_seconds > kMaxHostTimeoutSeconds)) {
    problems.push_back({"policy.hostTimeoutSeconds",
                        "must be an integer from 1 to " + std::to_string(kMaxHostTimeoutSeconds)});
  }
  if (policy.max_per_minute &&
      (*policy.max_per_minute < 1 || *policy.max_per_minute > kMaxPerMinute)) {
    problems.push_back(
        {"policy.maxPerMinute", "must be an integer from 1 to " + std::to_string(kMaxPerMinute)});
  }
  return Problems(std::move(problems));
}

std::string_view ToString(Overlap overlap) {
  return overlap == Overlap::kQueue ? "queue" : "skip";
}

std::optional<Overlap> OverlapFromString(std::string_view text) {
  if (text == "skip") return Overlap::kSkip;
  if (text == "queue") return Overlap::kQueue;
  return std::nullopt;
}

Expected<ValidSchedule> ValidateSchedule(const ScheduleFields& fields) {
  std::vector<FieldProblem> problems;
  auto cron = ParseCron(fields.cron);
  if (!cron) {
    for (auto& problem : cron.error().details)
      problems.push_back(std::move(problem));
  } else if (!cron->CanEverFire()) {
    problems.push_back({"cron", "matches no date of any year (e.g. 30 February): it never fires"});
  }
  auto zone = TimeZone::Load(fields.time_zone);
  if (!zone) {
    if (zone.error().code != Errc::kInvalidRequest) return Fail(std::move(zone.error()));
    for (auto& problem : zone.error().details)
      problems.push_back(std::move(problem));
  }
  const auto overlap = OverlapFromString(fields.overlap);
  if (!overlap) problems.push_back({"overlap", "must be \"skip\" or \"queue\""});
  const auto catch_up = CatchUpFromString(fields.catch_up);
  if (!catch_up) problems.push_back({"catchUp", "must be \"none\" or \"latest\""});
  if (fields.step_count < 1 || fields.step_count > kMaxScheduleSteps) {
    problems.push_back({"steps", "must have 1 to " + std::to_string(kMaxScheduleSteps) + " steps"});
  }
  if (auto status = Problems(std::move(problems)); !status) return Fail(std::move(status.error()));
  return ValidSchedule{*std::move(cron), *std::move(zone), *overlap, *catch_up};
}

}  // namespace orb::orchestration
