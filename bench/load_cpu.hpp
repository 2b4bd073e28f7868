#pragma once

// CPU accounting for the load generators (fleet_cmdr_load, pg_queue_load; docs/benchmarks.md):
// who used the cores while a phase ran. The server side is one or more fleet-cmdr processes, the
// database a PostgreSQL postmaster with its backends (its children); the client is the calling
// process; "other" is whatever else kept the machine's cores busy (other builds, other users).
// Linux only (/proc). Benchmarks, not tests: nothing here is checked automatically.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

namespace orb::bench {

using CpuClock = std::chrono::steady_clock;

// The processes whose CPU is accounted.
struct Measured {
  std::vector<pid_t> servers;     // fleet-cmdr replicas
  std::optional<pid_t> database;  // PostgreSQL's postmaster: it and its children
};

struct CpuSample {
  CpuClock::time_point at;
  double server = 0;    // the servers' utime+stime (+ reaped children), seconds
  double database = 0;  // the postmaster's and its backends'
  double client = 0;    // this process's rusage, seconds
  double machine = 0;   // all cores busy (/proc/stat minus idle and iowait), seconds
};

inline double ClockTicks() {
  return static_cast<double>(sysconf(_SC_CLK_TCK));
}

// utime, stime, cutime, cstime of `pid` in seconds, and its parent (0 when it is gone).
struct ProcessTimes {
  double seconds = 0;
  pid_t parent = 0;
};

inline ProcessTimes ReadProcessTimes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 > text.size()) return {};
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  ProcessTimes times;
  double ticks = 0;
  // After "pid (comm) ": state is field 3, ppid field 4; utime, stime, cutime, cstime 14-17.
  for (int index = 3; index <= 17 && fields >> field; ++index) {
    if (index == 4) times.parent = static_cast<pid_t>(std::stol(field));
    if (index >= 14) ticks += std::stod(field);
  }
  times.seconds = ticks / ClockTicks();
  return times;
}

// `root` and its children (PostgreSQL's backends and workers are the postmaster's children; a
// backend that exited is in the postmaster's cutime once reaped).
inline double ProcessTreeCpuSeconds(pid_t root) {
  double seconds = ReadProcessTimes(root).seconds;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const auto name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    const auto times = ReadProcessTimes(static_cast<pid_t>(std::stol(name)));
    if (times.parent == root) seconds += times.seconds;
  }
  return seconds;
}

inline double MachineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  double total = 0;
  double idle = 0;
  for (int index = 0; index < 8; ++index) {
    double value = 0;
    in >> value;
    total += value;
    if (index == 3 || index == 4) idle += value;  // idle, iowait
  }
  return (total - idle) / ClockTicks();
}

inline double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

inline CpuSample SampleCpu(const Measured& measured) {
  CpuSample sample;
  sample.at = CpuClock::now();
  for (const pid_t pid : measured.servers)
    sample.server += ReadProcessTimes(pid).seconds;
  if (measured.database) sample.database = ProcessTreeCpuSeconds(*measured.database);
  sample.client = SelfCpuSeconds();
  sample.machine = MachineBusySeconds();
  return sample;
}

// Cores used between two samples, and the server's (and database's) CPU per unit of work.
struct CpuUse {
  double client = 0;
  double server = 0;
  double database = 0;
  double other = 0;
  double server_seconds = 0;
  double database_seconds = 0;
  bool has_database = false;

  static CpuUse Between(const CpuSample& from, const CpuSample& to, bool has_database = false) {
    const double elapsed = std::max(1e-9, std::chrono::duration<double>(to.at - from.at).count());
    CpuUse use;
    use.has_database = has_database;
    use.server_seconds = to.server - from.server;
    use.database_seconds = to.database - from.database;
    use.client = (to.client - from.client) / elapsed;
    use.server = use.server_seconds / elapsed;
    use.database = use.database_seconds / elapsed;
    use.other = std::max(
        0.0, (to.machine - from.machine) / elapsed - use.client - use.server - use.database);
    return use;
  }
  // "client / server / other", or "client / server / database / other" with a database.
  std::string Cores() const {
    if (has_database) {
      return fmt::format("{:.2f} / {:.2f} / {:.2f} / {:.2f}", client, server, database, other);
    }
    return fmt::format("{:.2f} / {:.2f} / {:.2f}", client, server, other);
  }
  // Server (fleet-cmdr, plus the database when there is one) CPU per unit, microseconds.
  double MicrosPer(std::int64_t units) const {
    return units > 0 ? (server_seconds + database_seconds) * 1e6 / static_cast<double>(units) : 0;
  }
};

// Waits (up to `max_wait`) until the machine has at most `max_cores` busy over 2 s, as the
// peers' harness does; returns the busy cores last seen.
inline double WaitForQuietMachine(double max_cores, std::chrono::seconds max_wait) {
  const auto deadline = CpuClock::now() + max_wait;
  double busy = 0;
  do {
    const auto from = SampleCpu({});
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const auto to = SampleCpu({});
    busy = (to.machine - from.machine) / std::chrono::duration<double>(to.at - from.at).count();
  } while (busy > max_cores && CpuClock::now() < deadline);
  return busy;
}

inline std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  std::string five;
  in >> one >> five;
  return one + " " + five;
}

}  // namespace orb::bench
