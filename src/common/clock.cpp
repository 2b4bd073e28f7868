#include "common/clock.hpp"

namespace orb {

const Clock& RealClock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace orb
