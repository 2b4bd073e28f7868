#pragma once

// Schedules (docs/protocol.md "Schedules", docs/decisions/0022): their rows, their validation, and
// a fire, in the bodies both stores run. Internal to src/store.
//
// A fire is two kinds of transaction. BeginFire claims (schedule, fireTime) in schedule_fires
// (its primary key: a second replica, or this one after a restart, finds it taken and creates
// nothing), resolves the target's hosts at that moment and keeps them as the fire's pending
// hosts. ContinueFire then creates the chains of at most kFireBatchHosts of them per transaction,
// under those agents' locks, and takes them off the pending list in the same transaction; the last
// one appends schedule.fired. A fire left unfinished by an instance that died is continued by the
// next timer pass (FireDueSchedules), whoever runs it.
//
// Overlap: schedule_hosts keeps the last job of each host's latest chain. "skip": a host whose
// last job is not final gets no chain; "queue": the new chain's first step waits for any end of
// that job (job_dependencies.any_end), so the previous chain's failure does not cancel it.

#include <optional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "protocol/schedules.hpp"
#include "store/ops/agents.hpp"
#include "store/ops/context.hpp"
#include "store/store.hpp"

namespace orb::store::ops {

// Checks a whole schedule (after a create's defaults or a patch's merge): the orchestration
// rules of cron, timeZone, overlap, catchUp and the step count, and each step as a job of
// POST /v1/jobs, its fields named "steps[i].<field>". Every problem at once.
Status ValidateScheduleDefinition(const protocol::Schedule& schedule);

// ---- writes ----
Expected<protocol::Schedule> CreateSchedule(WriteContext& ctx,
                                            const protocol::ScheduleRequest& request, WallTime now);
Expected<protocol::Schedule> UpdateSchedule(WriteContext& ctx, const std::string& schedule_id,
                                            const protocol::ScheduleRequest& patch, WallTime now);
Expected<Unit> DeleteSchedule(WriteContext& ctx, const std::string& schedule_id, WallTime now);

// A fire claimed: the hosts whose chains are still to create (empty: the fire is complete).
struct FireBegun {
  ScheduleFireResult result;  // jobs empty; existing when it had been claimed before
  std::vector<std::string> hosts;
};
// Claims (schedule, fire_time) and resolves the hosts among `live` (LiveAgents, read by the caller
// on a reader before: not every agent inside the writer's transaction). With `due_only` (the
// timer), decides first
// with DecideDueFire and the schedule's last considered instant read in this transaction: the
// fire claimed is the one due (fire_time is ignored), a skipped_through is recorded; nullopt when
// nothing is due (or the schedule is gone or disabled). Without it: not_found for an unknown
// schedule.
Expected<std::optional<FireBegun>> BeginFire(WriteContext& ctx, const std::string& schedule_id,
                                             WallTime fire_time, WallTime now, bool due_only,
                                             int* skipped, const std::vector<LiveAgent>& live);
// Creates the chains of those of `hosts` (all locked by the batch) that the fire still has
// pending; the jobs created, in order.
Expected<std::vector<protocol::Job>> ContinueFire(WriteContext& ctx, const std::string& schedule_id,
                                                  WallTime fire_time,
                                                  const std::vector<std::string>& hosts,
                                                  WallTime now);

// ---- reads ----
// Fills schedule_id and fire_time of the jobs a fire created (table job_schedules; one query).
void FillSchedules(sql::Connection& db, std::vector<protocol::Job>& jobs);
void FillSchedules(sql::Connection& db, protocol::Job& job);

Expected<protocol::Schedule> GetSchedule(sql::Connection& db, std::string_view schedule_id,
                                         WallTime now);
protocol::ScheduleList ListSchedules(sql::Connection& db, int limit,
                                     const std::optional<std::string>& after_id, WallTime now);

// An enabled schedule as the timer sees it.
struct ScheduleClock {
  std::string id;
  std::string cron;
  std::string time_zone;
  std::string catch_up;
  WallTime considered{};
};
std::vector<ScheduleClock> EnabledSchedules(sql::Connection& db);

// A fire with hosts still pending.
struct PendingFire {
  std::string schedule_id;
  WallTime fire_time{};
  std::vector<std::string> hosts;
};
std::vector<PendingFire> PendingFires(sql::Connection& db);

}  // namespace orb::store::ops
