#include "server/server_timers.hpp"

#include "common/log.hpp"

namespace orb::server {

ServerTimers::ServerTimers(ServerTimersOptions options, Deps deps)
    : options_(options), deps_(deps) {}

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

void ServerTimers::Tick(WallTime wall_now, Clock::MonoTime mono_now) {
  const auto log = GetLogger("fleet-cmdr");
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
  deps_.presence.CheckOffline(wall_now);
  deps_.publisher.FillGaps(mono_now);
  deps_.streams.Drain();
  deps_.streams.CloseRevoked();
  if (mono_now - last_flush_ >= options_.flush_every) {
    last_flush_ = mono_now;
    deps_.presence.Flush();
  }
  if (mono_now - last_prune_ >= options_.prune_every) {
    last_prune_ = mono_now;
    if (auto pruned = deps_.store.PruneEvents(options_.events_kept); !pruned) {
      log->warn("pruning events failed: {}", pruned.error().Describe());
    }
  }
}

}  // namespace orb::server
