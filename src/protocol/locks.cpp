#include "protocol/locks.hpp"

namespace orb::protocol {

bool Conflicts(const LockSet& a, const LockSet& b) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x.key == y.key && (x.mode == LockMode::kExclusive || y.mode == LockMode::kExclusive)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace orb::protocol
