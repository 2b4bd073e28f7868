// The agent's safe archive extractor (jobs/archive.hpp SafeExtract: tar, pax, gnu tar, zip;
// gzip, bzip2, xz, zstd), which unpacks every downloaded build and mod. Whatever the archive,
// nothing is written outside the staging directory, and a failed extraction leaves it empty.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "fuzz/fuzz_target.hpp"
#include "jobs/archive.hpp"

namespace fs = std::filesystem;

namespace {

// One directory per process, removed at exit (never destroyed before its atexit handler runs).
const fs::path& WorkDir() {
  static const fs::path* dir = [] {
    auto* path = new fs::path(fs::temp_directory_path() /
                              ("orb-archive-fuzz-" + std::to_string(::getpid())));
    fs::create_directories(*path);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(WorkDir(), ec);
    });
    return path;
  }();
  return *dir;
}

// True when every symlink under `staging` resolves inside it.
bool SymlinksStayInside(const fs::path& staging) {
  std::error_code ec;
  const fs::path root = fs::canonical(staging, ec);
  if (ec) return true;  // nothing extracted
  for (auto it = fs::recursive_directory_iterator(staging, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_symlink()) continue;
    std::error_code resolve_ec;
    const fs::path resolved = fs::weakly_canonical(it->path(), resolve_ec);
    // A loop of links inside the staging directory leads nowhere, so not outside either.
    if (resolve_ec == std::errc::too_many_symbolic_link_levels) continue;
    if (resolve_ec) return false;
    const auto relative = resolved.lexically_relative(root);
    if (relative.empty() || *relative.begin() == "..") return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path& work = WorkDir();
  const fs::path archive = work / "input";
  const fs::path staging = work / "staging";
  {
    std::ofstream out(archive, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  orb::jobs::ExtractOptions options;
  options.max_total_bytes = 64 << 20;
  options.max_entries = 10'000;
  auto extracted = orb::jobs::SafeExtract(archive, staging, options);
  // Only the archive and the staging directory may exist in the work directory.
  for (const auto& entry : fs::directory_iterator(work)) {
    ORB_FUZZ_CHECK(entry.path() == archive || entry.path() == staging);
  }
  if (extracted) ORB_FUZZ_CHECK(SymlinksStayInside(staging));
  if (!extracted) {
    std::error_code ec;
    ORB_FUZZ_CHECK(!fs::exists(staging, ec) || fs::is_empty(staging, ec));
  }
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::remove(archive, ec);
  return 0;
}
