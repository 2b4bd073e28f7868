#pragma once

#include <string>
#include <vector>

namespace orb::protocol {

// A lock a job takes while it runs (job-types.md §3): exclusive locks conflict with every lock on
// the same key; shared locks only with exclusive ones. Keys look like "server:paper",
// "instance:mc-1", "backups:mc-1". The dispatch rule (protocol/dispatch.hpp) and the agent's
// local lock table use the same keys, always taken in the order server → instance → backups.
enum class LockMode { kShared, kExclusive };

struct Lock {
  std::string key;
  LockMode mode = LockMode::kExclusive;
  bool operator==(const Lock&) const = default;
};

using LockSet = std::vector<Lock>;

// True when some lock of `a` conflicts with some lock of `b`.
bool Conflicts(const LockSet& a, const LockSet& b);

}  // namespace orb::protocol
