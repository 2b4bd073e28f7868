#pragma once

#include <filesystem>
#include <fstream>

#include "os/process.hpp"

namespace orb::testing {

// A test's instance: `script` written to dir/server.sh (executable), run in dir/data with the
// console log and stdin FIFO in `dir`, as os::Process and os::SystemdUnit take it.
inline os::ConsolePaths ServerConsole(const std::filesystem::path& dir) {
  return {dir / "console.log", dir / "stdin.fifo"};
}

inline os::SpawnSpec ServerSpec(const std::filesystem::path& dir, const char* script) {
  const std::filesystem::path path = dir / "server.sh";
  std::ofstream(path) << script;
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  os::SpawnSpec spec;
  spec.argv = {path.string(), "--nogui"};
  spec.cwd = dir / "data";
  spec.env = {{"ORB_JOB_ID", "job-7"}, {"ORB_RUN_ID", "run-1"}};
  spec.console = ServerConsole(dir);
  return spec;
}

}  // namespace orb::testing
