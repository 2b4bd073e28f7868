// OrchestrationLoad (orchestration_load.hpp): the rollout and schedules run beside W2.

#include "orchestration_load.hpp"

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "protocol/rollout_codec.hpp"
#include "protocol/schedules.hpp"

namespace orb::bench {
namespace {

protocol::JobTemplate BenchJob() {
  protocol::JobTemplate job;
  job.type = std::string(kJobType);
  job.instance_id = "mc-1";
  job.payload_json = std::string(kJobPayload);
  return job;
}

template <class T>
T Parse(std::string_view what, const Reply& reply, Expected<T> (*parse)(std::string_view)) {
  auto value = parse(reply.body);
  if (!value) throw std::runtime_error(fmt::format("{}: {}", what, value.error().Describe()));
  return std::move(*value);
}

}  // namespace

protocol::Labels OrchestrationLoad::AgentLabels(int i) const {
  return {{"orch", "all"}, {"group", fmt::format("g{}", i / options_.hosts_per_schedule)}};
}

asio::awaitable<void> OrchestrationLoad::Start(Connection& connection,
                                               const std::string& operator_token) {
  started_ = Steady::now();
  // The schedules first: their fire time is fixed now, and the rollout's first batch of jobs is
  // created as soon as it exists.
  const auto fire = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) +
                    std::chrono::seconds(options_.fire_after_seconds);
  const auto day = std::chrono::floor<std::chrono::days>(fire);
  const std::chrono::hh_mm_ss time(fire - day);
  const std::string cron = fmt::format("{} {} {} * * *", time.seconds().count(),
                                       time.minutes().count(), time.hours().count());
  for (int i = 0; i < options_.schedules; ++i) {
    protocol::ScheduleRequest request;
    request.name = fmt::format("orch-{}", i);
    request.cron = cron;
    request.time_zone = "UTC";
    request.target = protocol::HostTarget{protocol::Labels{{"group", fmt::format("g{}", i)}}, {}};
    request.steps =
        std::vector<protocol::JobTemplate>(static_cast<std::size_t>(options_.steps), BenchJob());
    auto body = protocol::ToJson(request);
    auto reply = co_await connection.SendPatiently(http::verb::post, "/v1/schedules",
                                                   operator_token, std::move(body));
    if (reply.status != 201) throw Unexpected("POST /v1/schedules", reply);
    schedule_ids_.push_back(
        Parse<protocol::Schedule>("POST /v1/schedules", reply, &protocol::ParseSchedule).id);
  }
  protocol::CreateRolloutRequest rollout;
  rollout.name = "orchestration load";
  rollout.target.selector = protocol::Labels{{"orch", "all"}};
  rollout.job = BenchJob();
  rollout.policy.max_in_flight = options_.max_in_flight_percent;
  rollout.policy.max_in_flight_percent = true;
  rollout.policy.phases = {protocol::RolloutPhaseSpec{}};
  if (options_.max_per_minute > 0) rollout.policy.max_per_minute = options_.max_per_minute;
  auto body = protocol::ToJson(rollout);
  auto reply = co_await connection.SendPatiently(http::verb::post, "/v1/rollouts", operator_token,
                                                 std::move(body));
  if (reply.status != 201) throw Unexpected("POST /v1/rollouts", reply);
  const auto created =
      Parse<protocol::Rollout>("POST /v1/rollouts", reply, &protocol::ParseRollout);
  rollout_id_ = created.id;
  std::cerr << fmt::format(
      "orchestration: {} schedules of {} steps firing at {} UTC ({} s after the start), rollout "
      "{} over {} hosts, maxInFlight {}%, maxPerMinute {}, created in {:.2f} s\n",
      schedule_ids_.size(), options_.steps, cron, options_.fire_after_seconds, rollout_id_,
      created.counts.total, options_.max_in_flight_percent,
      options_.max_per_minute > 0 ? std::to_string(options_.max_per_minute) : "none",
      Seconds(Steady::now() - started_));
}

asio::awaitable<void> OrchestrationLoad::Report(Connection& connection,
                                                const std::string& operator_token) {
  const double seconds = Seconds(Steady::now() - started_);
  auto reply = co_await connection.SendPatiently(http::verb::get, "/v1/rollouts/" + rollout_id_,
                                                 operator_token);
  if (reply.status != 200) throw Unexpected("GET rollout", reply);
  const auto rollout = Parse<protocol::Rollout>("GET rollout", reply, &protocol::ParseRollout);
  long fired_jobs = 0;
  int fired = 0;
  for (const auto& id : schedule_ids_) {
    auto got =
        co_await connection.SendPatiently(http::verb::get, "/v1/schedules/" + id, operator_token);
    if (got.status != 200) throw Unexpected("GET schedule", got);
    const auto schedule = Parse<protocol::Schedule>("GET schedule", got, &protocol::ParseSchedule);
    for (const auto& f : schedule.last_fires) {
      ++fired;
      fired_jobs += f.job_count;
    }
  }
  std::cerr << fmt::format(
      "orchestration after {:.1f} s: rollout {} ({} of {} hosts completed, {} running or "
      "queued); {} of {} schedules fired, {} jobs\n",
      seconds, rollout.status, rollout.counts.completed, rollout.counts.total,
      rollout.counts.running + rollout.counts.queued, fired, schedule_ids_.size(), fired_jobs);
}

}  // namespace orb::bench
