// The agent API of protocol.md §4: hello, notify (JobNotify), jobs/next (JobRequestNext ->
// JobExecution) and runs/{runId}/updates (JobExecutionUpdate, carrying JobCancel back).

#include <chrono>
#include <memory>

#include "common/job_log.hpp"
#include "common/log.hpp"
#include "protocol/codec.hpp"
#include "server/fleet_cmdr_impl.hpp"

namespace orb::server {

protocol::HelloResponse FleetCmdr::Impl::HelloValues() const {
  protocol::HelloResponse hello;
  hello.server_time = clock_.WallNow();
  hello.poll_interval_min_seconds = options_.poll_interval_min_seconds;
  hello.poll_interval_max_seconds = options_.poll_interval_max_seconds;
  hello.long_poll_seconds = options_.long_poll_seconds;
  hello.progress_min_interval_ms = options_.progress_min_interval_ms;
  hello.heartbeat_seconds = options_.heartbeat_seconds;
  hello.lease_seconds = options_.lease_seconds;
  return hello;
}

void FleetCmdr::Impl::AgentHello(Call call, const std::string& agent_id) {
  auto hello = protocol::FromJson<protocol::HelloRequest>(call.request.body);
  if (!hello) return ReplyError(call.responder, hello.error());
  OnWorker(call.responder, [this, call = std::move(call), agent_id, hello = std::move(*hello)] {
    auto result = store_->RecordHello(agent_id, hello, clock_.WallNow());
    if (!result) return ReplyError(call.responder, result.error());
    Publish(*result);
    for (const auto& run_id : result->value.failed_runs) {
      GetLogger("fleet-cmdr")
          ->warn("agentId={} runId={} run failed: agent restarted", agent_id, run_id);
    }
    MarkSeen(agent_id);
    GetLogger("fleet-cmdr")
        ->info("agentId={} hello: version {} maxParallel {} jobTypes {}", agent_id,
               hello.agent_version, hello.max_parallel, hello.job_types.size());
    Reply(call.responder, 200, protocol::ToJson(HelloValues()));
  });
}

void FleetCmdr::Impl::AgentNotify(Call call, const std::string& agent_id) {
  auto wait = QueryInt(call.request, "wait", 0, 60);
  if (!wait) return ReplyError(call.responder, wait.error());
  const auto wait_seconds = wait->value_or(0);
  MarkSeen(agent_id);

  // The hot path of every idle agent: answered from the Notifier, never from the store, once the
  // agent's state is known (it is loaded from the store the first time only).
  auto hold = [this, responder = call.responder, agent_id, wait_seconds] {
    struct Pending {
      std::atomic<std::shared_ptr<net::TimerHandle>> timer;
    };
    auto pending = std::make_shared<Pending>();
    auto replied = [this, responder, pending](const AgentQueueState& state) {
      if (auto timer = pending->timer.load()) timer->Cancel();
      Reply(responder, 200, protocol::ToJson(state.ToResponse()));
    };
    const auto id = notifier_.Wait(agent_id, replied);
    if (wait_seconds == 0) {
      notifier_.Expire(id);
      return;
    }
    pending->timer =
        http_->RunAfter(std::chrono::seconds(wait_seconds), [this, id] { notifier_.Expire(id); });
  };
  if (notifier_.IsKnown(agent_id)) return hold();
  OnWorker(call.responder, [this, agent_id, hold = std::move(hold), responder = call.responder] {
    RefreshAgent(agent_id);
    if (!notifier_.IsKnown(agent_id)) {
      return ReplyError(responder, MakeError(Errc::kUnavailable, "store unavailable", true));
    }
    hold();
  });
}

void FleetCmdr::Impl::AgentNext(Call call, const std::string& agent_id) {
  // The body lists the runs the agent is executing; the store's view decides, so it is only
  // checked for validity here.
  if (!call.request.body.empty()) {
    auto next = protocol::FromJson<protocol::NextRequest>(call.request.body);
    if (!next) return ReplyError(call.responder, next.error());
  }
  MarkSeen(agent_id);
  const auto started = std::chrono::steady_clock::now();
  using Value = std::optional<store::Dispatched>;
  OnStore<Value>(
      *store_dispatch_next_, call.responder,
      [this, agent_id](store::Completion<Value> done) {
        store_->DispatchNextAsync(agent_id, clock_.WallNow(), options_.lease_seconds,
                                  std::move(done));
      },
      [this, responder = call.responder, agent_id,
       started](Expected<store::Mutation<Value>> result) {
        if (!result) return ReplyError(responder, result.error());
        Publish(*result);
        dispatch_latency_->Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        if (!result->value) return ReplyNoContent(responder);
        const auto& execution = result->value->execution;
        JobLog(GetLogger("fleet-cmdr"), execution.job_id, execution.run_id)
            .Info("dispatched {} attempt {} to agent {}", execution.type, execution.attempt,
                  agent_id);
        Reply(responder, 200, protocol::ToJson(execution));
      });
}

void FleetCmdr::Impl::AgentUpdates(Call call, const std::string& agent_id,
                                   const std::string& run_id) {
  auto updates = protocol::FromJson<protocol::UpdatesRequest>(call.request.body);
  if (!updates) return ReplyError(call.responder, updates.error());
  MarkSeen(agent_id);
  std::optional<protocol::RunStatus> final_status;
  if (updates->final_update) final_status = updates->final_update->status;
  using protocol::UpdatesResponse;
  OnStore<UpdatesResponse>(
      *store_apply_updates_, call.responder,
      [this, agent_id, run_id,
       updates = std::move(*updates)](store::Completion<UpdatesResponse> done) mutable {
        store_->ApplyUpdatesAsync(agent_id, run_id, std::move(updates), clock_.WallNow(),
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
        Publish(*result);
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
