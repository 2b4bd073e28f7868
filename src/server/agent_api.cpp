#include "server/agent_api.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "common/job_log.hpp"
#include "common/log.hpp"
#include "protocol/codec.hpp"
#include "protocol/validate_job.hpp"

namespace orb::server {

AgentApi::AgentApi(const FleetCmdrOptions& options, Deps deps, Metrics metrics)
    : options_(options), deps_(deps), metrics_(metrics) {}

void AgentApi::RegisterRoutes(Router& router) {
  constexpr auto kOwn = RouteClass::kAgentOwn;
  router.Add({"POST", "/v1/agents/{agentId}/hello", kOwn, BodyKind::kJson},
             [this](Call&& call) { Hello(std::move(call)); });
  router.Add({"GET", "/v1/agents/{agentId}/notify", kOwn},
             [this](Call&& call) { Notify(std::move(call)); });
  // Its optional body (the runs the agent is executing) is read by the handler, which never
  // asked for a Content-Type.
  router.Add({"POST", "/v1/agents/{agentId}/jobs/next", kOwn},
             [this](Call&& call) { Next(std::move(call)); });
  router.Add({"POST", "/v1/agents/{agentId}/runs/{runId}/updates", kOwn, BodyKind::kJson},
             [this](Call&& call) { Updates(std::move(call)); });
  router.Add({"POST", "/v1/agents/{agentId}/status", kOwn, BodyKind::kJson},
             [this](Call&& call) { ReportStatus(std::move(call)); });
}

protocol::HelloResponse AgentApi::HelloValues() const {
  protocol::HelloResponse hello;
  hello.server_time = deps_.clock.WallNow();
  hello.poll_interval_min_seconds = options_.poll_interval_min_seconds;
  hello.poll_interval_max_seconds = options_.poll_interval_max_seconds;
  hello.long_poll_seconds = options_.long_poll_seconds;
  hello.progress_min_interval_ms = options_.progress_min_interval_ms;
  hello.heartbeat_seconds = options_.heartbeat_seconds;
  hello.lease_seconds = options_.lease_seconds;
  return hello;
}

void AgentApi::Hello(Call&& call) {
  auto hello = protocol::FromJson<protocol::HelloRequest>(call.request.body);
  if (!hello) return ReplyError(call.responder, hello.error());
  // The agent's own labels join its enrolment's: the same rules (its config checks them too).
  if (auto valid = protocol::ValidateLabels("labels", hello->labels); !valid) {
    return ReplyError(call.responder, valid.error());
  }
  std::string agent_id(call.Param(kAgentIdParam));
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder,
                                        agent_id = std::move(agent_id), hello = std::move(*hello)] {
    auto result = deps_.store.RecordHello(agent_id, hello, deps_.clock.WallNow());
    if (!result) return ReplyError(responder, result.error());
    deps_.publisher.Publish(*result);
    for (const auto& run_id : result->value.failed_runs) {
      GetLogger("fleet-cmdr")
          ->warn("agentId={} runId={} run failed: agent restarted", agent_id, run_id);
    }
    deps_.presence.MarkSeen(agent_id);
    GetLogger("fleet-cmdr")
        ->info("agentId={} hello: version {} maxParallel {} jobTypes {}", agent_id,
               hello.agent_version, hello.max_parallel, hello.job_types.size());
    Reply(responder, 200, protocol::ToJson(HelloValues()));
  });
}

// The agent's health, kept in the store so every replica shows it (GET /v1/agents); a change
// is published as agent.health.
void AgentApi::ReportStatus(Call&& call) {
  auto report = protocol::FromJson<protocol::AgentStatusReport>(call.request.body);
  if (!report) return ReplyError(call.responder, report.error());
  std::string agent_id(call.Param(kAgentIdParam));
  deps_.presence.MarkSeen(agent_id);
  deps_.calls.OnWorker(
      call.responder, [this, responder = call.responder, agent_id = std::move(agent_id),
                       report = std::move(*report)] {
        auto result = deps_.store.SetAgentHealth(agent_id, report, deps_.clock.WallNow());
        if (!result) return ReplyError(responder, result.error());
        deps_.publisher.Publish(*result);
        if (result->value) {
          auto log = GetLogger("fleet-cmdr");
          if (report.healthy) {
            log->info("agentId={} healthy again", agent_id);
          } else {
            for (const auto& problem : report.problems)
              log->warn("agentId={} unhealthy: {}: {}", agent_id, problem.code, problem.message);
          }
        }
        ReplyNoContent(responder);
      });
}

void AgentApi::Notify(Call&& call) {
  auto wait = QueryInt(call.request, "wait", 0, 60);
  if (!wait) return ReplyError(call.responder, wait.error());
  const auto wait_seconds = wait->value_or(0);
  std::string agent_id(call.Param(kAgentIdParam));
  deps_.presence.MarkSeen(agent_id);

  // The hot path of every idle agent: answered from the Notifier, never from the store, once the
  // agent's state is known (it is loaded from the store the first time only).
  auto hold = [this, responder = call.responder, agent_id, wait_seconds] {
    struct Pending {
      std::atomic<std::shared_ptr<net::TimerHandle>> timer;
    };
    auto pending = std::make_shared<Pending>();
    auto replied = [responder, pending](const AgentQueueState& state) {
      if (auto timer = pending->timer.load()) timer->Cancel();
      Reply(responder, 200, protocol::ToJson(state.ToResponse()));
    };
    const auto id = deps_.notifier.Wait(agent_id, replied);
    if (wait_seconds == 0) {
      deps_.notifier.Expire(id);
      return;
    }
    pending->timer = deps_.http.RunAfter(std::chrono::seconds(wait_seconds),
                                         [this, id] { deps_.notifier.Expire(id); });
  };
  if (deps_.notifier.IsKnown(agent_id)) return hold();
  deps_.calls.OnWorker(call.responder, [this, agent_id = std::move(agent_id),
                                        hold = std::move(hold), responder = call.responder] {
    RefreshAgent(agent_id);
    if (!deps_.notifier.IsKnown(agent_id)) {
      return ReplyError(responder, MakeError(Errc::kUnavailable, "store unavailable", true));
    }
    hold();
  });
}

void AgentApi::RefreshAgent(const std::string& agent_id) {
  // Version first, then read: a change that lands between the two makes Load refuse the stale
  // state, and we read again (notifier.hpp).
  for (int attempt = 0; attempt < 5; ++attempt) {
    const auto version = deps_.notifier.Version(agent_id);
    auto state = deps_.store.AgentQueueState(agent_id);
    if (!state) {
      GetLogger("fleet-cmdr")
          ->warn("agentId={} cannot read notify state: {}", agent_id, state.error().Describe());
      deps_.notifier.Invalidate(agent_id);
      return;
    }
    if (deps_.notifier.Load(agent_id, AgentQueueState{state->pending, state->cancel}, version)) {
      return;
    }
  }
}

void AgentApi::Next(Call&& call) {
  // The body lists the runs the agent is executing; the store's view decides, so it is only
  // checked for validity here.
  if (!call.request.body.empty()) {
    auto next = protocol::FromJson<protocol::NextRequest>(call.request.body);
    if (!next) return ReplyError(call.responder, next.error());
  }
  std::string agent_id(call.Param(kAgentIdParam));
  deps_.presence.MarkSeen(agent_id);
  const auto started = std::chrono::steady_clock::now();
  using Value = std::optional<store::Dispatched>;
  deps_.calls.OnStore<Value>(
      metrics_.store_dispatch_next, call.responder,
      [this, agent_id](store::Completion<Value> done) {
        deps_.store.DispatchNextAsync(agent_id, deps_.clock.WallNow(), options_.lease_seconds,
                                      std::move(done));
      },
      [this, responder = call.responder, agent_id,
       started](Expected<store::Mutation<Value>> result) {
        if (!result) return ReplyError(responder, result.error());
        deps_.publisher.Publish(*result);
        metrics_.dispatch_latency.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        if (!result->value) return ReplyNoContent(responder);
        const auto& execution = result->value->execution;
        JobLog(GetLogger("fleet-cmdr"), execution.job_id, execution.run_id)
            .Info("dispatched {} attempt {} to agent {}", execution.type, execution.attempt,
                  agent_id);
        Reply(responder, 200, protocol::ToJson(execution));
      });
}

void AgentApi::Updates(Call&& call) {
  auto updates = protocol::FromJson<protocol::UpdatesRequest>(call.request.body);
  if (!updates) return ReplyError(call.responder, updates.error());
  std::string agent_id(call.Param(kAgentIdParam));
  std::string run_id(call.Param("runId"));
  deps_.presence.MarkSeen(agent_id);
  std::optional<protocol::RunStatus> final_status;
  if (updates->final_update) final_status = updates->final_update->status;
  using protocol::UpdatesResponse;
  deps_.calls.OnStore<UpdatesResponse>(
      metrics_.store_apply_updates, call.responder,
      [this, agent_id, run_id,
       updates = std::move(*updates)](store::Completion<UpdatesResponse> done) mutable {
        deps_.store.ApplyUpdatesAsync(agent_id, run_id, std::move(updates), deps_.clock.WallNow(),
                                      options_.lease_seconds, std::move(done));
      },
      [this, responder = call.responder, agent_id, run_id,
       final_status](Expected<store::Mutation<UpdatesResponse>> result) {
        if (!result) {
          if (result.error().code == Errc::kRunNotActive) {
            GetLogger("fleet-cmdr")
                ->warn("agentId={} runId={} update for a run that is not active", agent_id, run_id);
          }
          return ReplyError(responder, result.error());
        }
        deps_.publisher.Publish(*result);
        if (final_status) {
          // The run's job is in the events this update appended (empty for a resent batch).
          std::string job_id;
          for (const auto& event : result->events) {
            if (event.job_id) job_id = *event.job_id;
          }
          JobLog(GetLogger("fleet-cmdr"), job_id.empty() ? "-" : job_id, run_id)
              .Info("final {} from agent {}", protocol::ToString(*final_status), agent_id);
        }
        Reply(responder, 200, protocol::ToJson(result->value));
      });
}

}  // namespace orb::server
