#include "protocol/dispatch.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace orb::protocol {
namespace {

// The locks of a set of jobs, folded per key to the strongest mode. A lock conflicts with the
// folded set exactly when it conflicts with one of the jobs' locks, so checking J against
// everything ahead of it stays linear in the queue instead of quadratic.
class LockTable {
 public:
  void Add(const LockSet& locks) {
    for (const Lock& lock : locks) {
      auto [it, inserted] = modes_.try_emplace(lock.key, lock.mode);
      if (!inserted && lock.mode == LockMode::kExclusive) it->second = LockMode::kExclusive;
    }
  }

  bool ConflictsWith(const LockSet& locks) const {
    return std::any_of(locks.begin(), locks.end(), [&](const Lock& lock) {
      auto it = modes_.find(lock.key);
      if (it == modes_.end()) return false;
      return lock.mode == LockMode::kExclusive || it->second == LockMode::kExclusive;
    });
  }

 private:
  std::unordered_map<std::string, LockMode> modes_;
};

bool Declares(const AgentCapacity& agent, std::string_view type) {
  return std::find(agent.job_types.begin(), agent.job_types.end(), type) != agent.job_types.end();
}

}  // namespace

void SortForDispatch(std::vector<DispatchCandidate>& queued) {
  std::sort(queued.begin(), queued.end(),
            [](const DispatchCandidate& a, const DispatchCandidate& b) {
              if (a.priority != b.priority) return a.priority > b.priority;
              if (a.queued_at_ms != b.queued_at_ms) return a.queued_at_ms < b.queued_at_ms;
              return a.job_id < b.job_id;
            });
}

std::optional<std::size_t> PickNext(std::span<const DispatchCandidate> queued,
                                    std::span<const RunningJob> running,
                                    const AgentCapacity& agent) {
  // Rule 1, the agent's half: no free slot, nothing to hand out.
  if (agent.max_parallel <= 0 || running.size() >= static_cast<std::size_t>(agent.max_parallel)) {
    return std::nullopt;
  }
  // Rule 3: nothing starts next to a running exclusive job.
  LockTable running_locks;
  for (const RunningJob& job : running) {
    if (job.exclusive) return std::nullopt;
    running_locks.Add(job.locks);
  }

  LockTable ahead_locks;  // locks of every queued job before the current one
  for (std::size_t i = 0; i < queued.size(); ++i) {
    const DispatchCandidate& job = queued[i];
    // An exclusive job conflicts with everything ahead of it and with every running job.
    const bool exclusive_ok = !job.exclusive || (i == 0 && running.empty());
    if (exclusive_ok && Declares(agent, job.type) && !running_locks.ConflictsWith(job.locks) &&
        !ahead_locks.ConflictsWith(job.locks)) {
      return i;
    }
    // A queued exclusive job conflicts with every job behind it: none may overtake it.
    if (job.exclusive) return std::nullopt;
    // Declared or not, dispatchable or not, this job now stands ahead of the rest (see header).
    ahead_locks.Add(job.locks);
  }
  return std::nullopt;
}

}  // namespace orb::protocol
