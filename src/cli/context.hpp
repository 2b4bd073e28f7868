#pragma once

// What every fleetctl command gets: its streams, the environment, the global flags, the clock and
// the interrupt flag, plus the helpers that turn an Error into a message and an exit code.
// Thread-safety: one command on one thread; `interrupted` may be set from a signal handler.

#include <atomic>
#include <functional>
#include <ostream>
#include <string>

#include "cli/api.hpp"
#include "cli/config.hpp"
#include "cli/output.hpp"
#include "common/expected.hpp"
#include "common/time.hpp"

namespace orb::cli {

// The process's edges, injected by main (and by tests).
struct Io {
  std::ostream& out;
  std::ostream& err;
  bool out_is_tty = false;  // progress bars only when true
  EnvLookup env;
  const std::atomic<bool>* interrupted = nullptr;  // set by SIGINT/SIGTERM
  std::function<WallTime()> now;                   // for ages in tables
};

class Context {
 public:
  explicit Context(Io io) : io_(std::move(io)) {}

  Io& io() { return io_; }
  std::ostream& out() { return io_.out; }
  std::ostream& err() { return io_.err; }
  GlobalFlags& flags() { return flags_; }
  [[nodiscard]] bool json() const { return flags_.output == "json"; }
  [[nodiscard]] bool interrupted() const {
    return io_.interrupted != nullptr && io_.interrupted->load();
  }
  [[nodiscard]] WallTime Now() const;

  // The connection of the global flags and environment (cli/config.hpp).
  Expected<Connection> ResolveConnection() const;
  // An Api over that connection.
  Expected<Api> Connect() const;

  // Prints FormatError(error) on stderr and returns ExitCodeFor(error).
  int Fail(const Error& error);
  // Prints FormatError(error) on stderr and returns kExitUsage.
  int Usage(const Error& error);
  int Usage(const std::string& message);

  // The command chosen on the command line, set while parsing and run after it.
  std::function<int()> run;

 private:
  Io io_;
  GlobalFlags flags_;
};

}  // namespace orb::cli
