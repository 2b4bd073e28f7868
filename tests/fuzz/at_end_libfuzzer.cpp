// orb::fuzz::AtEnd under libFuzzer (the `fuzz` preset), whose main is libFuzzer's and ends with
// exit(): the handlers become atexit handlers (fuzz_target.hpp says what that leaves open).

#include <cstdlib>

#include "fuzz/fuzz_target.hpp"

namespace orb::fuzz {

void AtEnd(void (*stop)()) {
  std::atexit(stop);
}

}  // namespace orb::fuzz
