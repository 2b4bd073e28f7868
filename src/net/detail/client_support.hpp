#pragma once

// Internal to src/net: what HttpClient and WebSocketClient share (URL parsing, TLS set-up).
// Includes Asio's SSL headers, so only src/net/*.cpp may include it.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <openssl/ssl.h>

#include "common/expected.hpp"

namespace orb::net::detail {

// The server part of a base URL.
struct ServerAddress {
  bool tls = false;  // https or wss
  std::string host;  // for resolving and certificate checks: "example.org", "127.0.0.1", "::1"
  std::string port;  // always set: explicit, or 80 / 443
  std::string host_header;  // the Host header: host[:port] as written in the URL
  std::string path_prefix;  // the URL's path without a trailing '/', often ""
  std::string origin;       // "https://host:port" for error messages
};

// Parses "http://h:p", "https://h:p/prefix", and the ws / wss forms. kInvalidRequest on anything
// else (no host, other scheme, query or fragment).
Expected<ServerAddress> ParseServerUrl(std::string_view url);

// path_prefix + target, so that "/api" + "/v1/jobs" = "/api/v1/jobs".
std::string JoinTarget(const std::string& prefix, const std::string& target);

// A TLS client context that verifies peers against `ca_file` (or the system's CAs) with TLS 1.2
// at least. kInvalidRequest when the CA file cannot be loaded.
Expected<std::unique_ptr<boost::asio::ssl::context>> MakeTlsContext(
    const std::optional<std::filesystem::path>& ca_file);

// Sets SNI and the name (or IP address) that the peer's certificate must carry.
Status PrepareTlsConnection(SSL* ssl, const std::string& host);

// After a failed handshake: why the certificate was refused, or nullopt when verification was not
// the cause.
std::optional<std::string> CertificateFailure(SSL* ssl);

// "Connection refused", with the SSL reason spelled out for TLS errors.
std::string DescribeError(const boost::system::error_code& ec);

}  // namespace orb::net::detail
