#include "agent/progress_throttle.hpp"

#include <utility>

namespace orb::agent {

std::optional<protocol::ProgressUpdate> ProgressThrottle::Offer(protocol::ProgressUpdate update,
                                                                bool status_change) {
  const auto now = clock_.Now();
  if (status_change || !last_sent_ || now - *last_sent_ >= min_interval_) {
    held_.reset();
    last_sent_ = now;
    return update;
  }
  held_ = std::move(update);
  return std::nullopt;
}

std::optional<protocol::ProgressUpdate> ProgressThrottle::TakeDue() {
  if (!held_ || (last_sent_ && clock_.Now() - *last_sent_ < min_interval_)) return std::nullopt;
  return TakeHeld();
}

std::optional<protocol::ProgressUpdate> ProgressThrottle::TakeHeld() {
  if (!held_) return std::nullopt;
  last_sent_ = clock_.Now();
  auto update = std::move(held_);
  held_.reset();
  return update;
}

std::optional<Clock::MonoTime> ProgressThrottle::due_at() const {
  if (!held_) return std::nullopt;
  if (!last_sent_) return clock_.Now();
  return *last_sent_ + min_interval_;
}

}  // namespace orb::agent
