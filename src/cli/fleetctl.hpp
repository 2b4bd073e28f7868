#pragma once

// fleetctl, the operator command line of protocol.md §7, as a function: parses `argv`, runs the
// chosen command against fleet-cmdr and returns the exit code (cli/exit_codes.hpp). main() only
// wires the process's streams, environment and signals into `io`. Usage errors are reported on
// io.err; --help and --version print on io.out and return 0. Never throws (but bad_alloc).
// Thread-safety: one call at a time per Io.

#include <string_view>

#include "cli/context.hpp"

namespace orb::cli {

int Main(int argc, const char* const* argv, Io io, std::string_view version);

}  // namespace orb::cli
