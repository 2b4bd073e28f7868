#include "server/server_timers.hpp"

#include "common/log.hpp"

namespace orb::server {

ServerTimers::ServerTimers(ServerTimersOptions options, Deps deps)
    : options_(std::move(options)), deps_(deps), lease_(options_.lease) {}

void ServerTimers::Start() {
  Schedule();
}

void ServerTimers::Stop() {
  stopped_.store(true);
  const std::lock_guard lock(timer_mutex_);
  if (timer_) timer_->Cancel();
}

void ServerTimers::Schedule() {
  if (stopped_.load()) return;
  const std::lock_guard lock(timer_mutex_);
  timer_ = deps_.http.RunAfter(options_.tick, [this] {
    if (stopped_.load()) return;
    deps_.calls.Post([this] {
      Tick(deps_.clock.WallNow(), deps_.clock.Now());
      if (options_.after_round) options_.after_round();
      Schedule();
    });
  });
}

bool ServerTimers::Lead(WallTime now) {
  if (!options_.shared_store) return true;
  if (lease_.ShouldAsk(now)) {
    auto answer =
        deps_.store.TryLeadership(options_.lease_name, options_.holder, now, options_.lease.ttl);
    if (answer) {
      lease_.Record(*answer, now);
      holder_ = answer->holder;
    } else {
      lease_.RecordFailure(now);
      holder_ = "unknown";
      GetLogger("fleet-cmdr")->warn("leader lease: {}", answer.error().Describe());
    }
  }
  // Logged on every change of the role since the last round, measured against what that round
  // did: a lease that ran out without a refusal (this replica was paused, or its renewals failed
  // for 8 s) ends the role too, and must not leave "running" as the last word in the log.
  const bool leading = lease_.IsLeader(now);
  if (leading != leading_.load()) {
    GetLogger("fleet-cmdr")
        ->info("{} the fleet's timers (leader: {})", leading ? "running" : "not running",
               holder_.empty() ? "unknown" : holder_);
  }
  return leading;
}

void ServerTimers::ReleaseLeadership() {
  if (!options_.shared_store || !leading_.load()) return;
  leading_.store(false);
  lease_.Released();
  if (auto released = deps_.store.ReleaseLeadership(options_.lease_name, options_.holder);
      !released) {
    GetLogger("fleet-cmdr")->warn("releasing the leader lease: {}", released.error().Describe());
  }
}

void ServerTimers::Tick(WallTime wall_now, Clock::MonoTime mono_now) {
  const auto log = GetLogger("fleet-cmdr");
  const bool leading = Lead(wall_now);
  leading_.store(leading);
  deps_.presence.CheckOffline(wall_now, leading);
  deps_.publisher.FillGaps(mono_now);
  deps_.streams.Drain();
  deps_.streams.CloseRevoked();
  if (mono_now - last_flush_ >= options_.flush_every) {
    last_flush_ = mono_now;
    deps_.presence.Flush();
  }
  if (!leading) return;
  // Bounded loops: each call handles a bounded number of rows.
  for (int i = 0; i < 16; ++i) {
    auto expired = deps_.store.ExpireLeases(wall_now);
    if (!expired) {
      log->warn("lease expiry failed: {}", expired.error().Describe());
      break;
    }
    deps_.publisher.Publish(*expired);
    for (const auto& event : expired->events) {
      if (event.type == protocol::EventType::kJobFailed && event.job_id && event.run_id) {
        log->warn("jobId={} runId={} lease expired: agent lost", *event.job_id, *event.run_id);
      }
    }
    if (expired->value == 0) break;
  }
  for (int i = 0; i < 16; ++i) {
    auto promoted = deps_.store.PromoteDue(wall_now);
    if (!promoted) {
      log->warn("promoting due jobs failed: {}", promoted.error().Describe());
      break;
    }
    deps_.publisher.Publish(*promoted);
    if (promoted->value == 0) break;
  }
  if (mono_now - last_prune_ >= options_.prune_every) {
    last_prune_ = mono_now;
    if (auto pruned = deps_.store.PruneEvents(options_.events_kept); !pruned) {
      log->warn("pruning events failed: {}", pruned.error().Describe());
    }
  }
}

}  // namespace orb::server
