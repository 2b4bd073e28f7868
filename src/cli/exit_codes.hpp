#pragma once

// The exit codes of fleetctl (protocol.md §7). Scripts may branch on them; `fleetctl --help` lists
// them.

namespace orb::cli {

inline constexpr int kExitOk = 0;         // the command did what was asked
inline constexpr int kExitJobFailed = 1;  // --wait / watch JOB: a job ended FAILED or CANCELLED
inline constexpr int kExitUsage = 2;      // bad flags or arguments, unreadable file or token
inline constexpr int kExitApi = 3;        // fleet-cmdr answered with an error (protocol.md §1)
inline constexpr int kExitConnect = 4;    // cannot reach fleet-cmdr (refused, DNS, TLS, timeout)
inline constexpr int kExitInterrupted = 130;  // SIGINT/SIGTERM before the command finished

}  // namespace orb::cli
