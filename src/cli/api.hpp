#pragma once

// fleetctl's client of the operator API (protocol.md §5): one blocking HTTP connection with the
// bearer token, §1 error bodies turned back into Errors, JSON bodies decoded by protocol codecs.
//
// Errors of every call:
//   the server's §1 error (code, message, details) for a non-2xx answer with an error body;
//   kHttp for a non-2xx answer without one, or a 2xx body that does not decode;
//   kNetwork / kTimeout when fleet-cmdr cannot be reached or does not answer (message names the URL);
//   kIo when an upload file cannot be read.
// ExitCodeFor maps them to fleetctl's exit codes (cli/exit_codes.hpp).
// Thread-safety: one Api per thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/config.hpp"
#include "common/expected.hpp"
#include "protocol/codec.hpp"

namespace orb::net {
class HttpClient;
}

namespace orb::cli {

struct ApiReply {
  int status = 0;
  std::string body;
};

class Api {
 public:
  explicit Api(Connection connection,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));
  ~Api();
  Api(Api&&) noexcept;
  Api& operator=(Api&&) noexcept;
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // One request; a 2xx reply is returned, anything else is an Error (see above).
  Expected<ApiReply> Send(const std::string& method, const std::string& target,
                          const std::string& body = "",
                          const std::optional<std::filesystem::path>& body_file = std::nullopt);

  // Send, then decodes the 2xx body as T.
  template <class T>
  Expected<T> Call(const std::string& method, const std::string& target,
                   const std::string& body = "") {
    auto reply = Send(method, target, body);
    if (!reply) return Fail(std::move(reply.error()));
    return Decode<T>(*reply);
  }

  template <class T>
  static Expected<T> Decode(const ApiReply& reply) {
    auto value = protocol::FromJson<T>(reply.body);
    if (!value) return Fail(UnexpectedBody(value.error()));
    return value;
  }

  [[nodiscard]] const Connection& connection() const { return connection_; }

 private:
  static Error UnexpectedBody(const Error& error);

  Connection connection_;
  std::unique_ptr<net::HttpClient> client_;
};

// Percent-encodes everything but unreserved characters (RFC 3986), for ids in paths and queries.
std::string EscapeUrlComponent(std::string_view text);

// "?a=1&b=x" from the pairs whose value is set (values escaped); "" when none is.
std::string QueryString(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& query);

// kNetwork, kTimeout -> kExitConnect; kCancelled -> kExitInterrupted; anything else -> kExitApi.
int ExitCodeFor(const Error& error);

}  // namespace orb::cli
