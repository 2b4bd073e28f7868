#pragma once

// Orchestration beside W2 (fleet_cmdr_load w2 --orchestration; docs/benchmarks.md): a rollout
// over every simulated agent and schedules of chained steps over groups of them, all started just
// before W2's samples, so that the rollout's advances and the schedules' fires run while W2
// measures create -> notify. The agents take and finish the jobs they are given (W2's idle agents
// do, with --orchestration), so the rollout moves on and the chains' later steps are queued.

#include <string>

#include "load_client.hpp"
#include "protocol/types.hpp"

namespace orb::bench {

struct OrchestrationOptions {
  bool enabled = false;
  int schedules = 100;           // each over its own group of hosts
  int hosts_per_schedule = 100;  // agent i is in group i / hosts_per_schedule
  int steps = 3;                 // per schedule: a chain per host
  int max_in_flight_percent = 10;
  int max_per_minute = 0;      // the rollout's maxPerMinute; 0: none (the workload)
  int fire_after_seconds = 5;  // the schedules' one fire: this long after Start
};

class OrchestrationLoad {
 public:
  OrchestrationLoad(Fleet& fleet, OrchestrationOptions options)
      : fleet_(fleet), options_(options) {}

  // Labels of agent i: every agent is in the rollout's target, agent i in one schedule's.
  protocol::Labels AgentLabels(int i) const;

  // Creates the rollout over every labelled agent and the schedules, whose one fire is
  // fire_after_seconds from now (a 6-field cron naming that second, in UTC).
  asio::awaitable<void> Start(Connection& connection, const std::string& operator_token);

  // On stderr: how far the rollout got and what the schedules fired while W2 ran.
  asio::awaitable<void> Report(Connection& connection, const std::string& operator_token);

 private:
  Fleet& fleet_;
  OrchestrationOptions options_;
  std::string rollout_id_;
  std::vector<std::string> schedule_ids_;
  Steady::time_point started_{};
};

}  // namespace orb::bench
