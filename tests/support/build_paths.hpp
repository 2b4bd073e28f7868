#pragma once

// Where the tests find the build's programs and the source tree: relative to the build tree the
// running test binary belongs to (the nearest ancestor directory of the binary holding a
// CMakeCache.txt). The CMake files pass paths relative to the build tree (ORB_FLEET_CMDR_BIN and
// the like expand to BuildPath("src/main/fleet-cmdr")), never absolute ones: an absolute path in
// a compile definition differs from clone to clone, so a fresh clone in another folder could never
// reuse ccache's objects of these files (docs/build.md).

#include <filesystem>
#include <string>
#include <string_view>

namespace orb::testing {

// The build tree's root (build/<preset>); empty when the binary is not in a build tree.
const std::filesystem::path& BuildRoot();

// `relative` (to the build tree's root) as a normalized path.
std::string BuildPath(std::string_view relative);

// `relative` (to the source tree's root, e.g. "packaging/agent.toml") as a normalized path. Tests
// never use __FILE__ for this: under ccache it is relative to the build tree, not the test's
// working directory.
std::string SourcePath(std::string_view relative);

}  // namespace orb::testing
