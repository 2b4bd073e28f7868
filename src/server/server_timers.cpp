#include "server/server_timers.hpp"

#include <set>
#include <string>
#include <system_error>

#include "common/log.hpp"
#include "common/time.hpp"

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
  const bool was_leading = leading_.exchange(leading);
  deps_.presence.CheckOffline(wall_now, leading);
  deps_.publisher.FillGaps(mono_now);
  deps_.streams.Drain();
  deps_.streams.CloseRevoked();
  if (mono_now - last_flush_ >= options_.flush_every) {
    last_flush_ = mono_now;
    deps_.presence.Flush();
  }
  if (!leading) {
    // The leader advances rollouts; what this replica saw is looked at again should it lead.
    if (deps_.rollouts != nullptr) deps_.rollouts->Forget();
    return RunRetention(wall_now, mono_now, false);
  }
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
  // A new leader (or a restarted one) looks at every rollout still going on.
  if (deps_.rollouts != nullptr) deps_.rollouts->Tick(wall_now, mono_now, !was_leading);
  FireSchedules(wall_now);
  RunRetention(wall_now, mono_now, true);
}

void ServerTimers::FireSchedules(WallTime now) {
  if (next_schedules_ && now < *next_schedules_) return;
  const auto log = GetLogger("fleet-cmdr");
  // Each fire's events are published as it commits: a pass over 100 due schedules runs a few
  // hundred transactions, and the stream should not wait for the last (nor the publisher's gap
  // filling read what the pass committed so far again and again).
  auto tick = deps_.store.FireDueSchedules(
      now, [this](std::vector<protocol::Event> events) { deps_.publisher.Publish(events); });
  if (!tick) {
    log->warn("firing schedules failed: {}", tick.error().Describe());
    next_schedules_ = now + options_.schedules_recheck;
    return;
  }
  deps_.publisher.Publish(*tick);
  for (const auto& fire : tick->value.fires) {
    log->info("scheduleId={} fired at {}: {} jobs", fire.schedule_id,
              FormatTimestamp(fire.fire_time), fire.jobs.size());
  }
  if (tick->value.skipped > 0) {
    log->info("schedules: missed fires of {} schedules skipped (catchUp)", tick->value.skipped);
  }
  WallTime next = now + options_.schedules_recheck;
  if (tick->value.next_wake && *tick->value.next_wake < next) next = *tick->value.next_wake;
  next_schedules_ = next;
}

void ServerTimers::RunRetention(WallTime wall_now, Clock::MonoTime mono_now, bool leading) {
  if (!RetentionPassDue(mono_now, last_prune_, prune_more_, options_.retention)) return;
  last_prune_ = mono_now;
  prune_more_ = leading && Prune(wall_now);
  if (options_.artifact_cache_dir) SweepArtifactCache();
}

bool ServerTimers::Prune(WallTime now) {
  const auto log = GetLogger("fleet-cmdr");
  const RetentionOptions& retention = options_.retention;
  const RetentionCutoffs cutoffs = DecideRetention(now, retention);
  bool more = false;
  // One kind in batches: a batch is one transaction of at most batch_rows rows; a batch that
  // comes back short means that kind is done.
  const auto in_batches = [&](std::string_view what, const auto& batch) {
    std::int64_t total = 0;
    for (int i = 0; i < retention.max_batches; ++i) {
      auto pruned = batch();
      if (!pruned) {
        log->warn("retention: pruning {} failed: {}", what, pruned.error().Describe());
        return total;
      }
      total += *pruned;
      if (*pruned < retention.batch_rows) return total;
    }
    more = true;
    return total;
  };
  std::int64_t events = 0;
  if (auto pruned = deps_.store.PruneEvents(options_.events_kept); pruned) {
    events += *pruned;
  } else {
    log->warn("retention: pruning events failed: {}", pruned.error().Describe());
  }
  if (cutoffs.events_before) {
    events += in_batches("events", [&] {
      return deps_.store.PruneEventsBefore(*cutoffs.events_before, retention.batch_rows);
    });
  }
  std::int64_t jobs = 0;
  if (cutoffs.jobs_finished_before) {
    jobs = in_batches("jobs", [&] {
      return deps_.store.PruneJobs(*cutoffs.jobs_finished_before, retention.batch_rows);
    });
  }
  std::int64_t keys = 0;
  if (cutoffs.idempotency_keys_before) {
    keys = in_batches("idempotency keys", [&] {
      return deps_.store.PruneIdempotencyKeys(*cutoffs.idempotency_keys_before,
                                              retention.batch_rows);
    });
  }
  int artifacts = 0;
  if (cutoffs.artifacts_created_before) {
    auto pruned =
        deps_.store.PruneArtifacts(*cutoffs.artifacts_created_before, retention.artifacts_per_pass);
    if (pruned) {
      artifacts = *pruned;
      if (artifacts >= retention.artifacts_per_pass) more = true;
    } else {
      log->warn("retention: pruning artifacts failed: {}", pruned.error().Describe());
    }
  }
  if (events + jobs + keys + artifacts > 0) {
    log->info("retention: pruned {} jobs, {} events, {} idempotency keys, {} artifacts{}", jobs,
              events, keys, artifacts, more ? " (more left: next pass soon)" : "");
  }
  return more;
}

void ServerTimers::SweepArtifactCache() {
  auto stored = deps_.store.ListArtifacts();
  if (!stored) {
    GetLogger("fleet-cmdr")
        ->warn("retention: listing artifacts failed: {}", stored.error().Describe());
    return;
  }
  std::set<std::string> kept;
  for (const auto& entry : *stored)
    kept.insert(entry.stat.sha256);
  // A copy cached after the listing is removed too at worst: the next download caches it again.
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(*options_.artifact_cache_dir, ec)) {
    const std::string name = file.path().filename().string();
    if (name.size() != 64 || name.starts_with(".") || kept.contains(name)) continue;
    std::error_code removed;
    if (std::filesystem::remove(file.path(), removed)) {
      GetLogger("fleet-cmdr")->info("artifact {}: cached copy removed (no longer stored)", name);
    }
  }
}

}  // namespace orb::server
