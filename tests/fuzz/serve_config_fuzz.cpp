// `fleet-cmdr serve --config FILE` (server/serve_config.hpp): the file read by CLI11's config
// parser as the program does it, then the flags checked. No input may crash either.

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "fuzz/fuzz_target.hpp"
#include "server/serve_config.hpp"

namespace {

// One file per process, rewritten for each input.
const std::string& ConfigPath() {
  static const std::string path = "/tmp/orb-serve-config-fuzz-" + std::to_string(::getpid());
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = ConfigPath();
  if (std::FILE* file = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, file);
    std::fclose(file);
  } else {
    return 0;
  }
  CLI::App app{"fleet-cmdr"};
  auto* serve = app.add_subcommand("serve", "serve");
  serve->set_config("--config", "", "config");
  orb::server::ServeFlags flags;
  orb::server::AddServeFlags(*serve, flags);
  const char* argv[] = {"fleet-cmdr", "serve", "--config", path.c_str()};
  try {
    app.parse(4, argv);
  } catch (const CLI::Error&) {
    std::remove(path.c_str());
    return 0;
  }
  std::remove(path.c_str());
  (void)orb::server::ToOptions(flags);
  return 0;
}
