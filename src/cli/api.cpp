#include "cli/api.hpp"

#include "cli/exit_codes.hpp"
#include "net/http_client.hpp"
#include "protocol/api_error.hpp"

namespace orb::cli {
namespace {

constexpr std::size_t kBodyExcerpt = 200;

}  // namespace

Api::Api(Connection connection, std::chrono::milliseconds timeout)
    : connection_(std::move(connection)) {
  net::ClientOptions options;
  options.base_url = connection_.base_url;
  options.bearer_token = connection_.token;
  options.request_timeout = timeout;
  options.user_agent = "fleetctl";
  client_ = std::make_unique<net::HttpClient>(std::move(options));
}

Api::~Api() = default;
Api::Api(Api&&) noexcept = default;
Api& Api::operator=(Api&&) noexcept = default;

Expected<ApiReply> Api::Send(const std::string& method, const std::string& target,
                             const std::string& body,
                             const std::optional<std::filesystem::path>& body_file) {
  net::ClientRequest request;
  request.method = method;
  request.target = target;
  request.body = body;
  if (body_file) {
    request.body_file = body_file;
    request.content_type = "application/octet-stream";
  }
  auto response = client_->Send(request);
  if (!response) {
    Error error = std::move(response.error());
    if (error.code == Errc::kNetwork || error.code == Errc::kTimeout) {
      error.message = "cannot reach fleet-cmdr at " + connection_.base_url + ": " + error.message;
    }
    return Fail(std::move(error));
  }
  if (response->status >= 200 && response->status < 300) {
    return ApiReply{response->status, std::move(response->body)};
  }
  if (auto server_error = protocol::ErrorFromBodyJson(response->body)) {
    return Fail(std::move(*server_error));
  }
  std::string excerpt = response->body.substr(0, kBodyExcerpt);
  return Fail(Errc::kHttp, method + " " + target + ": HTTP " + std::to_string(response->status) +
                               " without an error body" +
                               (excerpt.empty() ? std::string() : ": " + excerpt));
}

Error Api::UnexpectedBody(const Error& error) {
  return MakeError(Errc::kHttp, "unexpected response from fleet-cmdr: " + error.message);
}

std::string EscapeUrlComponent(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4U];
      out += kHex[byte & 0x0FU];
    }
  }
  return out;
}

std::string QueryString(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& query) {
  std::string out;
  for (const auto& [key, value] : query) {
    if (!value) continue;
    out += out.empty() ? "?" : "&";
    out += EscapeUrlComponent(key) + "=" + EscapeUrlComponent(*value);
  }
  return out;
}

int ExitCodeFor(const Error& error) {
  switch (error.code) {
    case Errc::kNetwork:
    case Errc::kTimeout: return kExitConnect;
    case Errc::kCancelled: return kExitInterrupted;
    default: return kExitApi;
  }
}

}  // namespace orb::cli
