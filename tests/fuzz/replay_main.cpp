// Replays fuzz inputs through a target's LLVMFuzzerTestOneInput without libFuzzer: the g++ builds'
// form of every fuzz target (ctest fuzz.<name>). Arguments are files or directories (every
// regular file in them, sorted, so a failure names the same input on every run).
// Exit status 0 when every input ran; a target that crashes ends the process, and the last line
// printed names the input.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.hpp"

namespace orb::fuzz {
namespace {
std::vector<void (*)()>& AtEndHandlers() {
  static std::vector<void (*)()> handlers;
  return handlers;
}
}  // namespace

void AtEnd(void (*stop)()) {
  AtEndHandlers().push_back(stop);
}
}  // namespace orb::fuzz

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg)) {
        if (entry.is_regular_file()) inputs.push_back(entry.path());
      }
    } else if (std::filesystem::is_regular_file(arg, ec)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      return 2;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs\n");
    return 2;
  }
  for (const auto& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()};
    std::fprintf(stderr, "replay: %s\n", path.c_str());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replayed %zu inputs\n", inputs.size());
  auto& handlers = orb::fuzz::AtEndHandlers();
  for (auto it = handlers.rbegin(); it != handlers.rend(); ++it)
    (*it)();
  return 0;
}
