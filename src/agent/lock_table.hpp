#pragma once

// The agent's local lock table (job-types.md §3): the same keys as the dispatch rule
// ("server:<id>", "instance:<id>", "backups:<id>"), exclusive or shared, taken one by one in the
// fixed order server -> instance -> backups (then by key), so two runs never touch the same thing
// at once and two waiting runs can never deadlock.
// Thread-safety: every member is safe to call from any thread.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "common/expected.hpp"
#include "protocol/locks.hpp"

namespace orb::agent {

// `locks` sorted into the fixed order, duplicates merged (exclusive wins).
protocol::LockSet InLockOrder(protocol::LockSet locks);

class LockTable {
 public:
  // Takes every lock of `locks` for `owner`, in the fixed order, waiting for each one that is
  // held in a conflicting mode. Gives up (releasing what it took) when `deadline` passes
  // (kTimeout, retryable: "lock timeout") or `should_stop` returns true (kCancelled); should_stop
  // is checked at least every 50 ms.
  Status Acquire(const std::string& owner, const protocol::LockSet& locks,
                 std::chrono::steady_clock::time_point deadline,
                 const std::function<bool()>& should_stop = {});

  // Takes all of `locks` at once, or none when any conflicts. True when taken.
  bool TryAcquire(const std::string& owner, const protocol::LockSet& locks);

  // Releases everything `owner` holds.
  void Release(const std::string& owner);

  // How many owners hold `key` (for tests and logs).
  [[nodiscard]] int Holders(const std::string& key) const;

 private:
  struct Entry {
    std::set<std::string> shared;
    std::string exclusive;  // owner, empty when none
  };
  bool Free(const protocol::Lock& lock, const std::string& owner) const;
  void Take(const protocol::Lock& lock, const std::string& owner);
  void ReleaseLocked(const std::string& owner);

  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::map<std::string, Entry> entries_;
};

}  // namespace orb::agent
