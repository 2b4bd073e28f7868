#pragma once

// When replicas share a PostgreSQL store, one of them runs the fleet's periodic duties (lease
// expiry, promotion of due jobs, agents turning offline, event retention): the holder of the
// store's leader lease (Store::TryLeadership, docs/decisions/0016). This class is the decision,
// pure and given the time: when to ask the store again, and whether this replica may act as the
// leader now.
//
// The store grants the lease until `asked_at + ttl` on the asker's clock. This replica counts
// itself the leader only until `asked_at + ttl - margin`, so that a replica whose renewals fail
// (the database unreachable, a slow round) stops acting before another can take the lease over,
// even with `margin` of clock skew between the replicas. It renews every `renew_every`, well
// before that.
//
// Thread-safety: none; one timer round at a time uses it.

#include <chrono>

#include "common/time.hpp"
#include "store/store.hpp"

namespace orb::server {

struct LeaderLeaseOptions {
  std::chrono::milliseconds ttl{10'000};
  std::chrono::milliseconds renew_every{2'000};
  std::chrono::milliseconds margin{2'000};
};

class LeaderLease {
 public:
  explicit LeaderLease(LeaderLeaseOptions options = {}) : options_(options) {}

  // True when the store should be asked (TryLeadership) at `now`: never asked, or renew_every
  // since the last ask (successful or not).
  bool ShouldAsk(WallTime now) const {
    return !asked_ || now - last_ask_ >= options_.renew_every || now < last_ask_;
  }
  // The store's answer to an ask made at `asked_at`.
  void Record(const store::Leadership& answer, WallTime asked_at) {
    asked_ = true;
    last_ask_ = asked_at;
    leading_until_ = answer.held ? asked_at + options_.ttl - options_.margin : WallTime{};
  }
  // The ask made at `asked_at` failed (the store unreachable): the lease held so far still counts
  // until it runs out.
  void RecordFailure(WallTime asked_at) {
    asked_ = true;
    last_ask_ = asked_at;
  }
  // Whether this replica runs the fleet's duties at `now`.
  bool IsLeader(WallTime now) const { return now < leading_until_; }
  // After ReleaseLeadership (a clean stop).
  void Released() { leading_until_ = WallTime{}; }

  const LeaderLeaseOptions& options() const { return options_; }

 private:
  LeaderLeaseOptions options_;
  // Plain time points, not optionals: g++ 12 under the sanitizers reports a false
  // -Wmaybe-uninitialized on an optional time_point compared inline.
  bool asked_ = false;
  WallTime last_ask_{};
  WallTime leading_until_{};  // the epoch while not leading: every `now` is past it
};

}  // namespace orb::server
