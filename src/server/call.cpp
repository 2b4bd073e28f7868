#include "server/call.hpp"

#include <charconv>
#include <system_error>

#include <fmt/format.h>

#include "common/log.hpp"
#include "protocol/api_error.hpp"

namespace orb::server {

void Reply(const ResponderPtr& responder, int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  responder->Send(std::move(response));
}

void ReplyNoContent(const ResponderPtr& responder) {
  HttpResponse response;
  response.status = 204;
  response.content_type.clear();
  responder->Send(std::move(response));
}

namespace {

HttpResponse ErrorResponse(const Error& original) {
  // A store that fails in a way a retry can fix is "unavailable" to clients (protocol.md §1).
  // What the database or the process said (a host, a port, a statement) stays in the log: the
  // client, perhaps not even signed in, is told only what happened.
  Error error = original;
  if (error.code == Errc::kStore) {
    error.message = error.retryable ? "the store is unavailable; try again"
                                    : "the store failed; fleet-cmdr's log says why";
    if (error.retryable) error.code = Errc::kUnavailable;
  } else if (protocol::HttpStatusFor(error.code) == 500) {
    // Internal, I/O and other faults of fleet-cmdr itself: their text may name files.
    error.message = "internal error; fleet-cmdr's log says why";
  }
  HttpResponse response;
  response.status = protocol::HttpStatusFor(error.code);
  response.body = protocol::ErrorBodyJson(error);
  if (response.status == 503 || response.status == 429) {
    response.headers.push_back({"Retry-After", "1"});
  }
  return response;
}

}  // namespace

void ReplyError(const ResponderPtr& responder, const Error& error) {
  HttpResponse response = ErrorResponse(error);
  if (response.status >= 500)
    GetLogger("fleet-cmdr")->error("request failed: {}", error.Describe());
  responder->Send(std::move(response));
}

void ReplyErrorQuietly(const ResponderPtr& responder, const Error& error) {
  responder->Send(ErrorResponse(error));
}

Expected<std::optional<std::int64_t>> QueryInt(const HttpRequest& request, std::string_view key,
                                               std::int64_t min, std::int64_t max) {
  const auto text = request.Query(key);
  if (!text) return std::optional<std::int64_t>{};
  std::int64_t value = 0;
  const auto* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max || text->empty()) {
    return InvalidField(std::string(key),
                        fmt::format("must be an integer from {} to {}", min, max));
  }
  return std::optional<std::int64_t>{value};
}

std::optional<std::string> QueryText(const HttpRequest& request, std::string_view key) {
  if (auto value = request.Query(key)) return std::string(*value);
  return std::nullopt;
}

}  // namespace orb::server
