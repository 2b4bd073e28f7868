// orb::fuzz::AtEnd under libFuzzer (the `fuzz` preset), whose main is libFuzzer's and ends with
// exit(). An atexit handler runs too late: exit runs the handlers in the reverse order of their
// registration, so a function static first constructed after AtEnd (a prepared statement's SQL
// built on the store's writer thread) was destroyed while the live fleet-cmdr's threads still
// used it (an ASan heap-use-after-free at the end of a 600 s http_request run). The fuzz binaries
// are linked with -Wl,--wrap=exit (tests/fuzz/CMakeLists.txt): libFuzzer's calls to exit() come
// here first, and the handlers run before any exit handler does.

#include <cstdlib>
#include <vector>

#include "fuzz/fuzz_target.hpp"

namespace orb::fuzz {
namespace {

// Never destroyed: read while exit runs.
std::vector<void (*)()>& Handlers() {
  static auto* handlers = new std::vector<void (*)()>();
  return *handlers;
}

void RunHandlers() {
  std::vector<void (*)()> handlers;
  handlers.swap(Handlers());  // once, even when exit is reached again from a handler
  for (auto it = handlers.rbegin(); it != handlers.rend(); ++it)
    (*it)();
}

}  // namespace

void AtEnd(void (*stop)()) {
  Handlers().push_back(stop);
}

}  // namespace orb::fuzz

// The linker's names for the wrapped exit (ld --wrap).
extern "C" [[noreturn]] void __real_exit(int status);

extern "C" [[noreturn]] void __wrap_exit(int status) {
  orb::fuzz::RunHandlers();
  __real_exit(status);
}
