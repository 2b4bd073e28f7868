#include "support/build_paths.hpp"

#include <system_error>

namespace orb::testing {

const std::filesystem::path& BuildRoot() {
  static const std::filesystem::path root = [] {
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
    for (; !ec && !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      if (std::filesystem::exists(dir / "CMakeCache.txt", ec)) return dir;
    }
    return std::filesystem::path();
  }();
  return root;
}

std::string BuildPath(std::string_view relative) {
  return (BuildRoot() / relative).lexically_normal().string();
}

std::string SourcePath(std::string_view relative) {
  return (std::filesystem::path(ORB_SOURCE_DIR) / relative).lexically_normal().string();
}

}  // namespace orb::testing
