#include "server/schedule_api.hpp"

#include <string>
#include <utility>

#include "common/job_log.hpp"
#include "common/log.hpp"
#include "protocol/codec.hpp"
#include "protocol/schedules.hpp"

namespace orb::server {

void ScheduleApi::RegisterRoutes(Router& router) {
  constexpr auto kViewer = RouteClass::kViewerRead;
  constexpr auto kOperator = RouteClass::kOperatorWrite;
  constexpr auto kJson = BodyKind::kJson;
  router.Add({"POST", "/v1/schedules", kOperator, kJson},
             [this](Call&& call) { Create(std::move(call)); });
  router.Add({"GET", "/v1/schedules", kViewer}, [this](Call&& call) { List(std::move(call)); });
  router.Add({"GET", "/v1/schedules/{id}", kViewer}, [this](Call&& call) { Get(std::move(call)); });
  router.Add({"PATCH", "/v1/schedules/{id}", kOperator, kJson},
             [this](Call&& call) { Update(std::move(call)); });
  router.Add({"DELETE", "/v1/schedules/{id}", kOperator},
             [this](Call&& call) { Delete(std::move(call)); });
  router.Add({"POST", "/v1/schedules/{id}/fire", kOperator},
             [this](Call&& call) { Fire(std::move(call)); });
}

void ScheduleApi::Create(Call&& call) {
  auto request = protocol::ParseScheduleRequest(call.request.body, true);
  if (!request) return ReplyError(call.responder, request.error());
  deps_.calls.OnWorker(
      call.responder, [this, responder = call.responder, request = std::move(*request)] {
        auto created = deps_.store.CreateSchedule(request, deps_.clock.WallNow());
        if (!created) return ReplyError(responder, created.error());
        deps_.publisher.Publish(*created);
        GetLogger("fleet-cmdr")
            ->info("scheduleId={} created: \"{}\" at \"{}\" {}", created->value.id,
                   created->value.name, created->value.cron, created->value.time_zone);
        Reply(responder, 201, protocol::ToJson(created->value));
      });
}

void ScheduleApi::List(Call&& call) {
  auto limit = QueryInt(call.request, "limit", 1, store::kMaxListLimit);
  if (!limit) return ReplyError(call.responder, limit.error());
  auto cursor = QueryText(call.request, "cursor");
  deps_.calls.OnWorker(
      call.responder, [this, responder = call.responder,
                       limit = static_cast<int>(limit->value_or(50)), cursor = std::move(cursor)] {
        auto list = deps_.store.ListSchedules(limit, cursor, deps_.clock.WallNow());
        if (!list) return ReplyError(responder, list.error());
        Reply(responder, 200, protocol::ToJson(*list));
      });
}

void ScheduleApi::Get(Call&& call) {
  std::string id(call.Param("id"));
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder, id = std::move(id)] {
    auto schedule = deps_.store.GetSchedule(id, deps_.clock.WallNow());
    if (!schedule) return ReplyError(responder, schedule.error());
    Reply(responder, 200, protocol::ToJson(*schedule));
  });
}

void ScheduleApi::Update(Call&& call) {
  auto patch = protocol::ParseScheduleRequest(call.request.body, false);
  if (!patch) return ReplyError(call.responder, patch.error());
  std::string id(call.Param("id"));
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder, id = std::move(id),
                                        patch = std::move(*patch)] {
    auto updated = deps_.store.UpdateSchedule(id, patch, deps_.clock.WallNow());
    if (!updated) return ReplyError(responder, updated.error());
    deps_.publisher.Publish(*updated);
    GetLogger("fleet-cmdr")->info("scheduleId={} updated", id);
    Reply(responder, 200, protocol::ToJson(updated->value));
  });
}

void ScheduleApi::Delete(Call&& call) {
  std::string id(call.Param("id"));
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder, id = std::move(id)] {
    auto deleted = deps_.store.DeleteSchedule(id, deps_.clock.WallNow());
    if (!deleted) return ReplyError(responder, deleted.error());
    deps_.publisher.Publish(*deleted);
    GetLogger("fleet-cmdr")->info("scheduleId={} deleted", id);
    ReplyNoContent(responder);
  });
}

void ScheduleApi::Fire(Call&& call) {
  std::string id(call.Param("id"));
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder, id = std::move(id)] {
    const WallTime now = deps_.clock.WallNow();
    auto fired = deps_.store.FireSchedule(id, now, now);
    if (!fired) return ReplyError(responder, fired.error());
    deps_.publisher.Publish(*fired);
    if (fired->value.existing) {
      return ReplyError(responder, MakeError(Errc::kAlreadyExists,
                                             "schedule " + id + " fired at this instant already"));
    }
    const auto log = GetLogger("fleet-cmdr");
    for (const auto& job : fired->value.jobs) {
      JobLog(log, job.id, "")
          .Info("created {} for agent {} by schedule {}", job.type, job.agent_id, id);
    }
    protocol::ScheduleFired body;
    body.schedule_id = fired->value.schedule_id;
    body.fire_time = fired->value.fire_time;
    body.jobs = std::move(fired->value.jobs);
    Reply(responder, 201, protocol::ToJson(body));
  });
}

}  // namespace orb::server
