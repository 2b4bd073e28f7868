#include "agent/lock_table.hpp"

#include <algorithm>

namespace orb::agent {
namespace {

int ScopeRank(const std::string& key) {
  if (key.rfind("server:", 0) == 0) return 0;
  if (key.rfind("instance:", 0) == 0) return 1;
  if (key.rfind("backups:", 0) == 0) return 2;
  return 3;
}

}  // namespace

protocol::LockSet InLockOrder(protocol::LockSet locks) {
  std::sort(locks.begin(), locks.end(), [](const protocol::Lock& a, const protocol::Lock& b) {
    const int rank_a = ScopeRank(a.key);
    const int rank_b = ScopeRank(b.key);
    return rank_a != rank_b ? rank_a < rank_b : a.key < b.key;
  });
  protocol::LockSet merged;
  for (auto& lock : locks) {
    if (!merged.empty() && merged.back().key == lock.key) {
      if (lock.mode == protocol::LockMode::kExclusive) merged.back().mode = lock.mode;
    } else {
      merged.push_back(std::move(lock));
    }
  }
  return merged;
}

bool LockTable::Free(const protocol::Lock& lock, const std::string& owner) const {
  const auto found = entries_.find(lock.key);
  if (found == entries_.end()) return true;
  const Entry& entry = found->second;
  if (!entry.exclusive.empty() && entry.exclusive != owner) return false;
  if (lock.mode == protocol::LockMode::kExclusive) {
    return std::all_of(entry.shared.begin(), entry.shared.end(),
                       [&](const std::string& holder) { return holder == owner; });
  }
  return true;
}

void LockTable::Take(const protocol::Lock& lock, const std::string& owner) {
  Entry& entry = entries_[lock.key];
  if (lock.mode == protocol::LockMode::kExclusive) {
    entry.exclusive = owner;
  } else {
    entry.shared.insert(owner);
  }
}

void LockTable::ReleaseLocked(const std::string& owner) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it->second.shared.erase(owner);
    if (it->second.exclusive == owner) it->second.exclusive.clear();
    if (it->second.shared.empty() && it->second.exclusive.empty()) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

Status LockTable::Acquire(const std::string& owner, const protocol::LockSet& locks,
                          std::chrono::steady_clock::time_point deadline,
                          const std::function<bool()>& should_stop) {
  const auto ordered = InLockOrder(locks);
  std::unique_lock lock(mutex_);
  for (const auto& wanted : ordered) {
    while (!Free(wanted, owner)) {
      if (should_stop && should_stop()) {
        ReleaseLocked(owner);
        lock.unlock();
        released_.notify_all();
        return Fail(Errc::kCancelled, "cancelled while waiting for lock " + wanted.key);
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        ReleaseLocked(owner);
        lock.unlock();
        released_.notify_all();
        return Fail(Errc::kTimeout, "lock timeout: " + wanted.key + " is held by another run",
                    true);
      }
      released_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)));
    }
    Take(wanted, owner);
  }
  return Ok();
}

bool LockTable::TryAcquire(const std::string& owner, const protocol::LockSet& locks) {
  const auto ordered = InLockOrder(locks);
  const std::lock_guard lock(mutex_);
  for (const auto& wanted : ordered) {
    if (!Free(wanted, owner)) return false;
  }
  for (const auto& wanted : ordered)
    Take(wanted, owner);
  return true;
}

void LockTable::Release(const std::string& owner) {
  {
    const std::lock_guard lock(mutex_);
    ReleaseLocked(owner);
  }
  released_.notify_all();
}

int LockTable::Holders(const std::string& key) const {
  const std::lock_guard lock(mutex_);
  const auto found = entries_.find(key);
  if (found == entries_.end()) return 0;
  return static_cast<int>(found->second.shared.size()) + (found->second.exclusive.empty() ? 0 : 1);
}

}  // namespace orb::agent
