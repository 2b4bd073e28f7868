#pragma once

// Where fleetctl connects and with which token (protocol.md §7):
//   server: --server URL, else $FLEET_SERVER, else http://127.0.0.1:8080
//   token:  --token-file F (its first line), else $FLEET_TOKEN (the token itself), else
//           $FLEET_TOKEN_FILE (a file, like --token-file)
// Thread-safety: pure functions (the environment is read through the given lookup).

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "common/expected.hpp"

namespace orb::cli {

inline constexpr const char* kDefaultServer = "http://127.0.0.1:8080";

// Reads one environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The flags every command takes (set on the top-level app; they may follow the command name).
struct GlobalFlags {
  std::string server;            // --server
  std::string token_file;        // --token-file
  std::string output = "table";  // -o, --output table|json
};

struct Connection {
  std::string base_url;  // "http://host:port" or "https://host:port[/prefix]", no trailing '/'
  std::string token;
};

// Applies the precedence above. Errors (all usage errors, exit 2): kInvalidRequest for a server
// that is not an http(s) URL or when no token is given anywhere; kIo for a token file that cannot
// be read or is empty.
Expected<Connection> ResolveConnection(const GlobalFlags& flags, const EnvLookup& env);

// The token in `path`: its first line without surrounding whitespace. kIo when unreadable/empty.
Expected<std::string> ReadTokenFile(const std::filesystem::path& path);

}  // namespace orb::cli
