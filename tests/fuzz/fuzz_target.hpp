#pragma once

// What every fuzz target of tests/fuzz defines: libFuzzer's entry point. The same file is built
// two ways (tests/fuzz/CMakeLists.txt): with clang and -fsanitize=fuzzer as a fuzzer
// (scripts/fuzz.sh), and with the project's g++ builds linked to replay_main.cpp, which feeds it
// every file of its seed corpus (ctest fuzz.*), so an input that ever crashed a target stays a
// regression test in the dev and asan runs.
//
// A target must never crash, leak or hit undefined behaviour on any input, and it checks the
// properties of what it parses (round trips, invariants) with ORB_FUZZ_CHECK, which aborts.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

#define ORB_FUZZ_CHECK(condition)                                                             \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)

namespace orb::fuzz {

inline std::string_view AsText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `stop` when the inputs are done and before any static object is destroyed: for a target
// whose state has threads of its own (a live fleet-cmdr), which must be joined before the function
// statics they use (a prepared statement's SQL, a logger) go away. An std::atexit handler is not
// enough: a static first constructed after it was registered is destroyed before it runs.
// replay_main.cpp runs them at the end of main; under libFuzzer (at_end_libfuzzer.cpp), whose
// main ends with exit(), they run when exit() is called, before its handlers (ld --wrap=exit).
void AtEnd(void (*stop)());

}  // namespace orb::fuzz
