#pragma once

// Progress throttling of protocol.md §4: at most one progress update per run per
// progressMinIntervalMs, coalesced to the latest; status changes go out at once. Pure decision:
// it only reads the Clock, never waits.
// Thread-safety: not thread-safe; one per run, guarded by its owner.

#include <chrono>
#include <optional>

#include "common/clock.hpp"
#include "protocol/types.hpp"

namespace orb::agent {

class ProgressThrottle {
 public:
  ProgressThrottle(const Clock& clock, std::chrono::milliseconds min_interval)
      : clock_(clock), min_interval_(min_interval) {}

  // Offers an update. Returns it when it may be sent now; otherwise keeps it as the held update
  // (replacing an older held one) and returns nothing. A status change is always returned at once
  // and drops any held update, which it supersedes.
  std::optional<protocol::ProgressUpdate> Offer(protocol::ProgressUpdate update,
                                                bool status_change = false);

  // The held update, once its interval has passed.
  std::optional<protocol::ProgressUpdate> TakeDue();

  // The held update at once, whatever the time (before a final result).
  std::optional<protocol::ProgressUpdate> TakeHeld();

  // When the held update becomes due; nullopt when nothing is held.
  [[nodiscard]] std::optional<Clock::MonoTime> due_at() const;

  void set_min_interval(std::chrono::milliseconds interval) { min_interval_ = interval; }

 private:
  const Clock& clock_;
  std::chrono::milliseconds min_interval_;
  std::optional<Clock::MonoTime> last_sent_;
  std::optional<protocol::ProgressUpdate> held_;
};

}  // namespace orb::agent
