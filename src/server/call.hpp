#pragma once

// A request as fleet-cmdr's handlers get it (routed, authenticated, authorized: server/router.hpp),
// and the helpers they answer it with: the protocol.md §1 error body, 204, query parameters.
//
// Thread-safety: a Call belongs to one handler at a time (moved along); the reply helpers may be
// called from any thread (Responder::Send is thread-safe and the first answer wins).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/expected.hpp"
#include "net/http_server.hpp"
#include "server/auth.hpp"
#include "server/route_table.hpp"

namespace orb::server {

using net::HttpRequest;
using net::HttpResponse;
using net::Responder;
using ResponderPtr = std::shared_ptr<Responder>;

struct Call {
  HttpRequest request;
  ResponderPtr responder;              // counted in /metrics under the route's label
  std::optional<Principal> principal;  // nullopt on public routes
  RouteMatch match;                    // its route and its path parameters

  // The value of the route's path parameter `name` ("id" of "/v1/jobs/{id}").
  std::string_view Param(std::string_view name) const { return match.Param(name, request.path); }
};

// Runs one route. Handlers are stored once in the router: calling one allocates nothing.
using RouteHandler = std::function<void(Call&& call)>;

// `body` with `status` and Content-Type application/json.
void Reply(const ResponderPtr& responder, int status, std::string body);
// The §1 error body with the status of error.code; a retryable store error is 503 `unavailable`.
// 503 and 429 carry Retry-After: 1. 5xx errors are logged.
void ReplyError(const ResponderPtr& responder, const Error& error);
// ReplyError without the log line: for refusals that come in floods (a full worker queue), which
// /metrics counts instead.
void ReplyErrorQuietly(const ResponderPtr& responder, const Error& error);
void ReplyNoContent(const ResponderPtr& responder);

// Parses an integer query parameter; nullopt when absent; error when malformed or out of range.
Expected<std::optional<std::int64_t>> QueryInt(const HttpRequest& request, std::string_view key,
                                               std::int64_t min, std::int64_t max);
// A query parameter as text; nullopt when absent.
std::optional<std::string> QueryText(const HttpRequest& request, std::string_view key);

}  // namespace orb::server
