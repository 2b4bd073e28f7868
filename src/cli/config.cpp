#include "cli/config.hpp"

#include <fstream>
#include <string_view>

namespace orb::cli {
namespace {

std::string Trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

}  // namespace

Expected<std::string> ReadTokenFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(Errc::kIo, "cannot read token file " + path.string());
  std::string line;
  std::getline(in, line);
  std::string token = Trim(line);
  if (token.empty()) return Fail(Errc::kIo, "token file " + path.string() + " is empty");
  return token;
}

Expected<Connection> ResolveConnection(const GlobalFlags& flags, const EnvLookup& env) {
  Connection connection;
  std::string server = flags.server;
  if (server.empty()) server = env("FLEET_SERVER").value_or("");
  if (server.empty()) server = kDefaultServer;
  server = Trim(server);
  if (server.rfind("http://", 0) != 0 && server.rfind("https://", 0) != 0) {
    Error error = MakeError(Errc::kInvalidRequest,
                            "--server must be an http:// or https:// URL, got \"" + server + "\"");
    error.details.push_back({"server", "must start with http:// or https://"});
    return Fail(std::move(error));
  }
  while (!server.empty() && server.back() == '/')
    server.pop_back();
  connection.base_url = server;

  if (!flags.token_file.empty()) {
    auto token = ReadTokenFile(flags.token_file);
    if (!token) return Fail(std::move(token.error()));
    connection.token = std::move(*token);
  } else if (auto value = env("FLEET_TOKEN"); value && !Trim(*value).empty()) {
    connection.token = Trim(*value);
  } else if (auto file = env("FLEET_TOKEN_FILE"); file && !file->empty()) {
    auto token = ReadTokenFile(*file);
    if (!token) return Fail(std::move(token.error()));
    connection.token = std::move(*token);
  } else {
    return Fail(Errc::kInvalidRequest,
                "no token: pass --token-file FILE or set FLEET_TOKEN (or FLEET_TOKEN_FILE)");
  }
  return connection;
}

}  // namespace orb::cli
