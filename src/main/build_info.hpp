#pragma once

// What build this program is: one version for the three programs, their packages and
// fleet-cmdr's fleet_cmdr_build_info metric. The version is the top-level CMakeLists.txt's
// `project(orb_jobs VERSION ...)`, the only place it is written; a release is the git tag
// v<version> (scripts/package.sh checks it). Defined in the build directory's generated
// build_info.cpp (cmake/BuildInfo.cmake), linked only into the programs, so a new commit
// recompiles one file and relinks three programs.

#include <string>
#include <string_view>

namespace orb::build {

// "0.1.0".
std::string_view Version();
// The git commit built (12 hex digits, "-dirty" when tracked files had changes), or "unknown"
// (a tarball, no git).
std::string_view Revision();

// What `--version` prints: "fleetctl 0.1.0 (git 0123456789ab)", or without the parenthesis when
// the revision is unknown.
inline std::string VersionText(std::string_view program) {
  std::string text(program);
  text.append(" ").append(Version());
  if (Revision() != "unknown") text.append(" (git ").append(Revision()).append(")");
  return text;
}

}  // namespace orb::build
