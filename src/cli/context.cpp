#include "cli/context.hpp"

#include <chrono>

#include "cli/exit_codes.hpp"

namespace orb::cli {

WallTime Context::Now() const {
  return io_.now ? io_.now() : std::chrono::system_clock::now();
}

Expected<Connection> Context::ResolveConnection() const {
  if (io_.env) return cli::ResolveConnection(flags_, io_.env);
  return cli::ResolveConnection(flags_,
                                [](const std::string&) { return std::optional<std::string>(); });
}

Expected<Api> Context::Connect() const {
  auto connection = ResolveConnection();
  if (!connection) return orb::Fail(std::move(connection.error()));
  return Api(std::move(*connection));
}

int Context::Fail(const Error& error) {
  io_.out.flush();
  io_.err << FormatError(error);
  io_.err.flush();
  return ExitCodeFor(error);
}

int Context::Usage(const Error& error) {
  io_.out.flush();
  io_.err << FormatError(error, /*usage=*/true);
  io_.err.flush();
  return kExitUsage;
}

int Context::Usage(const std::string& message) {
  return Usage(MakeError(Errc::kInvalidRequest, message));
}

}  // namespace orb::cli
