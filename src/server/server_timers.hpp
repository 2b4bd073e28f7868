#pragma once

// fleet-cmdr's periodic duties. Each round (every FleetCmdrOptions::tick), in this order:
//   1. expire the leases of runs whose agent went silent (protocol.md §4);
//   2. promote jobs whose notBefore or retry backoff has passed to QUEUED (§3), then advance the
//      rollouts that have something to do (RolloutDriver; every one on a new leader's first round);
//   3. turn agents not seen for 3 × longPollSeconds offline (Presence);
//   4. fill event gaps (EventPublisher) and move slow stream clients' backlogs on (StreamApi);
//   5. every flush_every, write last-seen times to the store;
//   5b. on the leader, when a schedule's fire may be due (the earliest next fire the last pass
//      saw, or schedules_recheck after it, so new and changed schedules are seen), fire the
//      schedules (Store::FireDueSchedules: DecideDueFire in the transaction that claims the fire;
//      docs/decisions/0022);
//   6. when a retention pass is due (RetentionPassDue), prune the store (events over the count
//      cap, then by age; finished jobs; idempotency keys; artifacts: RetentionCutoffs), each
//      kind in batches of batch_rows rows per transaction, at most max_batches per pass, so the
//      store's writers are never held long (docs/decisions/0018); and remove this replica's
//      cached artifact copies that the store no longer has.
// 1, 2 and pruning act on the whole store; 3, 4, the flush and the cache on this server's own.
// On a store shared by replicas (shared_store), the fleet's duties (1, 2, the store's side of 3,
// pruning the store) run only on the replica holding the leader lease (LeaderLease, renewed in the round
// every renew_every; docs/decisions/0016); 4 and the flush run on every replica.
// Tick is the one entry point and takes the time, so a test (or an elected leader, once replicas
// share a store) runs a round at a time of its choosing. Start/Stop schedule it on the HTTP
// server's timers, running each round on a worker; a round is bounded (at most 16 store calls
// per duty), and the next is scheduled when it ends, so rounds never overlap.
//
// Thread-safety: Start and Stop from the controlling thread; Tick from one thread at a time (its
// own schedule does that). Ownership: holds every dependency by reference; they must outlive it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "common/time.hpp"
#include "net/http_server.hpp"
#include "server/async_calls.hpp"
#include "server/event_publisher.hpp"
#include "server/leader_lease.hpp"
#include "server/presence.hpp"
#include "server/retention_policy.hpp"
#include "server/rollout_driver.hpp"
#include "server/stream_api.hpp"
#include "store/store.hpp"

namespace orb::server {

struct ServerTimersOptions {
  std::chrono::milliseconds tick{250};
  std::chrono::seconds flush_every{5};
  std::int64_t events_kept = 200'000;  // PruneEvents keeps this many
  RetentionOptions retention{};
  // Replicas sharing a store: this replica's artifact dir, which only caches the store's
  // artifacts; each pass removes the copies of artifacts the store no longer has. Unset on
  // SQLite, whose store is that dir.
  std::optional<std::filesystem::path> artifact_cache_dir;
  // Called after each scheduled round, on the round's worker (fleet-cmdr's watchdog ping): proof
  // that the timers, the event loop and a worker still make progress.
  std::function<void()> after_round;
  // Replicas share the store: fleet duties only under the leader lease `lease_name`, held as
  // `holder` (unique per replica).
  bool shared_store = false;
  std::string lease_name = "fleet-timers";
  std::string holder;
  LeaderLeaseOptions lease{};
  // How long the schedules' timer waits at most between two passes (a schedule created or
  // changed since the last one is seen within it).
  std::chrono::milliseconds schedules_recheck{1000};
};

class ServerTimers {
 public:
  struct Deps {
    store::Store& store;
    EventPublisher& publisher;
    Presence& presence;
    StreamApi& streams;
    AsyncCalls& calls;      // rounds run on its workers
    net::HttpServer& http;  // its timers schedule the rounds
    const Clock& clock;
    RolloutDriver* rollouts = nullptr;  // leader duty after promotion (docs/decisions/0021)
  };
  ServerTimers(ServerTimersOptions options, Deps deps);
  ServerTimers(const ServerTimers&) = delete;
  ServerTimers& operator=(const ServerTimers&) = delete;

  // Schedules a round every tick until Stop.
  void Start();
  // Cancels the next round; a round already running finishes (AsyncCalls::Stop waits for it).
  void Stop();

  // One round of every duty at `wall_now` (timestamps, lease and notBefore times) and `mono_now`
  // (intervals).
  void Tick(WallTime wall_now, Clock::MonoTime mono_now);
  // Gives the leader lease up (after Stop, on a clean shutdown) so another replica takes the
  // duties over at once.
  void ReleaseLeadership();
  // Whether the last round ran the fleet's duties (always true on a store of its own).
  bool leading() const { return leading_.load(); }

 private:
  void Schedule();
  // Renews or takes the lease when due; whether this replica leads at `now`.
  bool Lead(WallTime now);
  // Runs a retention pass when due: the store's on the leader, the artifact cache everywhere.
  void RunRetention(WallTime wall_now, Clock::MonoTime mono_now, bool leading);
  // One retention pass over the store; true when a kind stopped at its bound (more is left).
  bool Prune(WallTime now);
  // Removes cached copies of artifacts the store no longer has (artifact_cache_dir).
  void SweepArtifactCache();
  // Fires the schedules that are due when a fire may be (next_schedules_).
  void FireSchedules(WallTime now);

  const ServerTimersOptions options_;
  Deps deps_;
  std::atomic<bool> stopped_{false};
  std::mutex timer_mutex_;
  std::shared_ptr<net::TimerHandle> timer_;
  Clock::MonoTime last_flush_{};
  std::optional<Clock::MonoTime> last_prune_;
  bool prune_more_ = false;                 // the last pass stopped at its bound
  std::optional<WallTime> next_schedules_;  // when to look at the schedules next (unset: now)
  LeaderLease lease_;
  std::string holder_;  // the lease's holder at the last answer (rounds only)
  std::atomic<bool> leading_{false};
};

}  // namespace orb::server
