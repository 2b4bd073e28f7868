#include "server/rollout_api.hpp"

#include <optional>
#include <string>
#include <utility>

#include "common/log.hpp"
#include "common/sha256.hpp"
#include "protocol/rollout_codec.hpp"
#include "protocol/validate_job.hpp"

namespace orb::server {
namespace {

// A rollout's job template checked as the create request of one of its hosts; the fields of
// the problems named as in the rollout request ("job.payload.keepLast").
Status ValidateTemplate(const protocol::JobTemplate& job) {
  auto valid = protocol::ValidateCreateJob(protocol::ToCreateJobRequest(job, "rollout-host"));
  if (valid) return Ok();
  Error error = valid.error();
  error.message = "job." + error.message;
  for (auto& detail : error.details)
    detail.field = "job." + detail.field;
  return Fail(std::move(error));
}

void LogRollout(const protocol::Rollout& rollout, std::string_view what) {
  GetLogger("fleet-cmdr")
      ->info("rolloutId={} {} ({}): {} hosts, {} completed, {} failed, {} skipped", rollout.id,
             what, rollout.status, rollout.counts.total, rollout.counts.completed,
             rollout.counts.failed, rollout.counts.skipped);
}

}  // namespace

void RolloutApi::RegisterRoutes(Router& router) {
  constexpr auto kViewer = RouteClass::kViewerRead;
  constexpr auto kOperator = RouteClass::kOperatorWrite;
  router.Add({"POST", "/v1/rollouts", kOperator, BodyKind::kJson},
             [this](Call&& call) { Create(std::move(call)); });
  router.Add({"GET", "/v1/rollouts", kViewer}, [this](Call&& call) { List(std::move(call)); });
  router.Add({"GET", "/v1/rollouts/{id}", kViewer}, [this](Call&& call) { Get(std::move(call)); });
  router.Add({"GET", "/v1/rollouts/{id}/hosts", kViewer},
             [this](Call&& call) { Hosts(std::move(call)); });
  router.Add({"POST", "/v1/rollouts/{id}/pause", kOperator},
             [this](Call&& call) { Change(std::move(call), "pause"); });
  router.Add({"POST", "/v1/rollouts/{id}/resume", kOperator},
             [this](Call&& call) { Change(std::move(call), "resume"); });
  router.Add({"POST", "/v1/rollouts/{id}/abort", kOperator, BodyKind::kJson},
             [this](Call&& call) { Change(std::move(call), "abort"); });
}

void RolloutApi::Create(Call&& call) {
  auto request = protocol::ParseCreateRolloutRequest(call.request.body);
  if (!request) return ReplyError(call.responder, request.error());
  if (auto valid = ValidateTemplate(request->job); !valid) {
    return ReplyError(call.responder, valid.error());
  }
  store::CreateRolloutCommand command;
  command.request_fingerprint = Sha256Hex(protocol::ToJson(*request));
  command.request = *std::move(request);
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder,
                                        command = std::move(command)] {
    const WallTime now = deps_.clock.WallNow();
    auto created = deps_.store.CreateRollout(command, now);
    if (!created) return ReplyError(responder, created.error());
    deps_.publisher.Publish(*created);
    protocol::Rollout rollout = std::move(created->value.rollout);
    if (created->value.existing) return Reply(responder, 200, protocol::ToJson(rollout));
    // Start the first hosts now; should that fail, the leader's next round does it.
    if (auto advanced = deps_.driver.Advance(rollout.id, now); advanced) {
      rollout = std::move(advanced->rollout);
    } else {
      GetLogger("fleet-cmdr")
          ->warn("rolloutId={} first advance failed: {}", rollout.id, advanced.error().Describe());
    }
    LogRollout(rollout, "created");
    Reply(responder, 201, protocol::ToJson(rollout));
  });
}

void RolloutApi::List(Call&& call) {
  store::RolloutFilter filter;
  filter.status = QueryText(call.request, "status");
  auto limit = QueryInt(call.request, "limit", 1, store::kMaxListLimit);
  if (!limit) return ReplyError(call.responder, limit.error());
  auto cursor = QueryText(call.request, "cursor");
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, filter,
                        limit = static_cast<int>(limit->value_or(50)), cursor = std::move(cursor)] {
                         auto list = deps_.store.ListRollouts(filter, limit, cursor);
                         if (!list) return ReplyError(responder, list.error());
                         Reply(responder, 200, protocol::ToJson(*list));
                       });
}

void RolloutApi::Get(Call&& call) {
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, id = std::string(call.Param("id"))] {
                         auto rollout = deps_.store.GetRollout(id);
                         if (!rollout) return ReplyError(responder, rollout.error());
                         Reply(responder, 200, protocol::ToJson(*rollout));
                       });
}

void RolloutApi::Hosts(Call&& call) {
  auto limit = QueryInt(call.request, "limit", 1, store::kMaxListLimit);
  if (!limit) return ReplyError(call.responder, limit.error());
  deps_.calls.OnWorker(
      call.responder,
      [this, responder = call.responder, id = std::string(call.Param("id")),
       status = QueryText(call.request, "status"), limit = static_cast<int>(limit->value_or(100)),
       cursor = QueryText(call.request, "cursor")] {
        auto hosts = deps_.store.ListRolloutHosts(id, status, limit, cursor);
        if (!hosts) return ReplyError(responder, hosts.error());
        Reply(responder, 200, protocol::ToJson(*hosts));
      });
}

void RolloutApi::Change(Call&& call, std::string_view action) {
  bool cancel_running = false;
  if (action == "abort") {
    auto body = protocol::ParseAbortRolloutRequest(call.request.body);
    if (!body) return ReplyError(call.responder, body.error());
    cancel_running = body->cancel_running;
  }
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder,
                                        id = std::string(call.Param("id")),
                                        action = std::string(action), cancel_running] {
    const WallTime now = deps_.clock.WallNow();
    Expected<store::Mutation<protocol::Rollout>> changed =
        action == "pause"    ? deps_.store.PauseRollout(id, now)
        : action == "resume" ? deps_.store.ResumeRollout(id, now)
                             : deps_.store.AbortRollout(id, cancel_running, now);
    if (!changed) return ReplyError(responder, changed.error());
    deps_.publisher.Publish(*changed);
    protocol::Rollout rollout = std::move(changed->value);
    if (action != "pause") {
      // Resume starts hosts, abort cancels jobs: at once, the leader's rounds finish the rest.
      if (auto advanced = deps_.driver.Advance(id, now); advanced) {
        rollout = std::move(advanced->rollout);
      } else {
        GetLogger("fleet-cmdr")
            ->warn("rolloutId={} advance after {} failed: {}", id, action,
                   advanced.error().Describe());
      }
    }
    LogRollout(rollout, action == "pause" ? "paused" : action == "resume" ? "resumed" : "aborted");
    Reply(responder, 200, protocol::ToJson(rollout));
  });
}

}  // namespace orb::server
