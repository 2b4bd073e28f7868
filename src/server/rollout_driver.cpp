#include "server/rollout_driver.hpp"

#include <utility>

#include "common/log.hpp"

namespace orb::server {

using protocol::EventType;

std::vector<std::string> RolloutsToAdvance(const std::vector<protocol::Event>& events) {
  std::vector<std::string> ids;
  for (const auto& event : events) {
    if (!event.rollout_id) continue;
    switch (event.type) {
      // A job of it ended (a slot is free, the abort rule may hold) or came back (a retry).
      case EventType::kJobCompleted:
      case EventType::kJobFailed:
      case EventType::kJobCancelled:
      case EventType::kJobRetried:
      // An operator's change: start hosts, or cancel an abort's jobs.
      case EventType::kRolloutCreated:
      case EventType::kRolloutResumed:
      case EventType::kRolloutAborted: ids.push_back(*event.rollout_id); break;
      default: break;
    }
  }
  return ids;
}

RolloutDriver::RolloutDriver(store::Store& store, EventPublisher& publisher,
                             std::chrono::seconds sweep_every)
    : store_(store), publisher_(publisher), sweep_every_(sweep_every) {}

void RolloutDriver::Observe(const std::vector<protocol::Event>& events) {
  auto ids = RolloutsToAdvance(events);
  if (ids.empty()) return;
  const std::lock_guard lock(mutex_);
  observed_.insert(ids.begin(), ids.end());
}

void RolloutDriver::Forget() {
  const std::lock_guard lock(mutex_);
  observed_.clear();
}

Expected<store::RolloutAdvance> RolloutDriver::Advance(const std::string& id, WallTime now) {
  for (int i = 0; i < 50; ++i) {
    auto advanced = store_.AdvanceRollout(id, now);
    if (!advanced) return Fail(advanced.error());
    publisher_.Publish(*advanced);
    if (!advanced->value.more || i == 49) return std::move(advanced->value);
  }
  return Fail(Errc::kInternal, "unreachable");
}

void RolloutDriver::Tick(WallTime now, Clock::MonoTime mono_now, bool sweep) {
  const auto log = GetLogger("fleet-cmdr");
  if (!last_sweep_ || mono_now - *last_sweep_ >= sweep_every_) sweep = true;
  std::set<std::string> ids;
  {
    const std::lock_guard lock(mutex_);
    ids.swap(observed_);
  }
  auto due = store_.RolloutsDue(sweep ? std::nullopt : std::optional<WallTime>(now));
  if (!due) {
    log->warn("rollouts: listing the due ones failed: {}", due.error().Describe());
  } else {
    if (sweep) last_sweep_ = mono_now;
    ids.insert(due->begin(), due->end());
  }
  for (const std::string& id : ids) {
    auto advanced = Advance(id, now);
    if (!advanced) {
      log->warn("rolloutId={} advancing failed: {}", id, advanced.error().Describe());
      if (advanced.error().retryable) {
        const std::lock_guard lock(mutex_);
        observed_.insert(id);  // next round
      }
    }
  }
}

}  // namespace orb::server
