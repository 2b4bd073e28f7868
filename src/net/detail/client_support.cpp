#include "net/detail/client_support.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/url/parse.hpp>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace orb::net::detail {
namespace {

namespace ssl = boost::asio::ssl;

}  // namespace

Expected<ServerAddress> ParseServerUrl(std::string_view url) {
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    return Fail(Errc::kInvalidRequest, "server URL '" + std::string(url) +
                                           "' is not an absolute URL: " + parsed.error().message());
  }
  const auto& view = *parsed;
  ServerAddress address;
  const std::string scheme(view.scheme());
  if (scheme == "https" || scheme == "wss") {
    address.tls = true;
  } else if (scheme != "http" && scheme != "ws") {
    return Fail(Errc::kInvalidRequest,
                "server URL '" + std::string(url) + "' must start with http:// or https://");
  }
  address.host = view.host_address();
  if (address.host.empty()) {
    return Fail(Errc::kInvalidRequest, "server URL '" + std::string(url) + "' has no host");
  }
  if (view.has_query() || view.has_fragment() || view.has_userinfo()) {
    return Fail(Errc::kInvalidRequest, "server URL '" + std::string(url) +
                                           "' must not carry user info, a query or a fragment");
  }
  address.port = view.has_port() ? std::string(view.port()) : (address.tls ? "443" : "80");
  if (address.port.empty()) address.port = address.tls ? "443" : "80";
  address.host_header = std::string(view.encoded_host_and_port());
  address.path_prefix = std::string(view.encoded_path());
  while (!address.path_prefix.empty() && address.path_prefix.back() == '/') {
    address.path_prefix.pop_back();
  }
  address.origin = (address.tls ? "https://" : "http://") + std::string(view.encoded_host()) + ":" +
                   address.port;
  return address;
}

std::string JoinTarget(const std::string& prefix, const std::string& target) {
  if (target.empty()) return prefix.empty() ? "/" : prefix;
  if (target.front() != '/') return prefix + "/" + target;
  return prefix + target;
}

Expected<std::unique_ptr<ssl::context>> MakeTlsContext(
    const std::optional<std::filesystem::path>& ca_file) {
  try {
    auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    context->set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    if (ca_file) {
      context->load_verify_file(ca_file->string(), ec);
      if (ec) {
        return Fail(Errc::kInvalidRequest,
                    "cannot load CA file " + ca_file->string() + ": " + DescribeError(ec));
      }
    } else {
      context->set_default_verify_paths(ec);
      if (ec) {
        return Fail(Errc::kInvalidRequest,
                    "cannot load the system's CA certificates: " + DescribeError(ec));
      }
    }
    return context;
  } catch (const std::exception& e) {
    return Fail(Errc::kInternal, std::string("cannot set up TLS: ") + e.what());
  }
}

Status PrepareTlsConnection(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  const bool is_address = !ec;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_address) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      return Fail(Errc::kInternal, "cannot set the TLS peer address " + host);
    }
    return Ok();
  }
  // SSL_set_tlsext_host_name is a macro with a C cast; this is what it expands to.
  if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(host.c_str())) != 1 ||
      SSL_set1_host(ssl, host.c_str()) != 1) {
    return Fail(Errc::kInternal, "cannot set the TLS peer name " + host);
  }
  return Ok();
}

std::optional<std::string> CertificateFailure(SSL* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return std::nullopt;
  return std::string(X509_verify_cert_error_string(result));
}

std::string DescribeError(const boost::system::error_code& ec) {
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    char text[256] = {};
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), text, sizeof(text));
    return std::string("TLS error: ") + text;
  }
  return ec.message();
}

}  // namespace orb::net::detail
