#pragma once

// fleet-cmdr's request pipeline over its RouteTable (server/route_table.hpp): every HTTP request
// goes through Handle, in this order, each step read from the matched route:
//   1. no pattern matches the path: 404, counted under the label "other" (a bounded label set);
//   2. the path's resource has no route for the method (or only a WebSocket route): 405 with
//      `Allow`, counted under "METHOD pattern";
//   3. from here the answer is counted under the route's label ("GET /v1/jobs/{id}");
//   4. except on public routes: the Bearer token is looked up (TokenCache) and Authorize'd for the
//      route's role, with its {agentId} parameter (401/403, protocol.md §2). Failed
//      authentications (401) are limited per client address (RouterOptions::auth_failures_*, the
//      address from TrustedProxies): past the limit that address gets 429 with Retry-After before
//      its token is even looked at, so guessing tokens is slow. With replicas on a shared store
//      (RouterOptions::sync_tokens), a well-formed token the cache does not know waits for one
//      read of the store's token feed before it is refused: it may have been created through
//      another replica a moment ago;
//   5. operator and viewer tokens are rate limited (429 with Retry-After, protocol.md §1);
//   6. a JSON route's non-empty body must be application/json (415);
//   7. the route's handler runs with a Call.
// BodyPolicyFor and IsWebSocketPath answer the HTTP server from the same table: a kFile route's
// body streams to a file in upload_dir under file_limit, for a caller its role allows (a token
// the cache does not know waits for the token feed's read there too, before its body is read).
//
// The API classes Add their routes (with handlers) once, before the server starts; Add keeps the
// first error for status(). Thread-safety: Add from one thread before the server starts; the rest
// from any thread. Ownership: holds the token cache, limiter, clock and counter by reference (they
// must outlive it); the labels its responders carry point into its table, so it must outlive
// every responder it made.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/expected.hpp"
#include "net/http_server.hpp"
#include "server/auth.hpp"
#include "server/call.hpp"
#include "server/client_address.hpp"
#include "server/metrics.hpp"
#include "server/rate_limiter.hpp"
#include "server/route_table.hpp"

namespace orb::server {

struct RouterOptions {
  std::size_t body_limit = 1 << 20;       // every request body but a kFile route's
  std::uint64_t file_limit = 4ULL << 30;  // a kFile route's body
  std::filesystem::path upload_dir;       // where kFile bodies stream to (".upload-<random>")
  TrustedProxies trusted_proxies;         // whose X-Forwarded-For names the client
  // Failed authentications per client address: `burst` at once, then this many per second.
  // Tokens have 256 bits: the limit is against a flood (CPU, logs), and a hundred mistyped
  // tokens from a NAT'd office do not lock anyone out.
  double auth_failures_per_second = 2;
  double auth_failures_burst = 100;
  // On a shared store: reads the token feed now and then calls its argument (ReplicaSync::
  // SyncTokensNow). Empty with SQLite, whose one process knows every token.
  std::function<void(std::function<void()>)> sync_tokens;
  // With sync_tokens: whether the last read of the token feed worked. When it did not (the store
  // is down), a token still unknown may be a new one: 503 to retry, not a 401 that counts as a
  // failed authentication.
  std::function<bool()> tokens_readable;
};

class Router {
 public:
  // `http_requests` has the labels route and code.
  Router(RouterOptions options, const TokenCache& tokens, RateLimiter& limiter, const Clock& clock,
         Family<Counter>& http_requests);
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Adds a route. `handler` may be empty only for a kWebSocket route (the HTTP server hands those
  // to its WebSocket handlers).
  void Add(RouteSpec spec, RouteHandler handler);
  // Ok, or the first Add that failed (a programming error: FleetCmdr refuses to start).
  Status status() const;
  const RouteTable& table() const { return table_; }

  void Handle(HttpRequest&& request, ResponderPtr responder) const;
  net::BodyPolicy BodyPolicyFor(const HttpRequest& head) const;
  bool IsWebSocketPath(std::string_view path) const;

  // Failed authentications by client address, for a caller that authenticates outside Handle
  // (the stream's subscribe message): the same budget as every route's.
  std::string ClientAddress(const HttpRequest& request) const;
  // Seconds until `client` may try again; 0 when it may now.
  int AuthFailureWait(const std::string& client) const;
  void RecordAuthFailure(const std::string& client) const;
  // Step 4's second chance for such a caller: when `token` is well-formed and the store is
  // shared, reads the token feed, calls `then` and returns true; otherwise false.
  bool SyncTokensFor(std::string_view token, std::function<void()> then) const;
  // After a token sync that left a token unknown: true when the feed could not be read (the store
  // is down), so that the caller answers "try again" rather than refusing the token.
  bool TokenFeedUnreadable() const {
    return options_.tokens_readable && !options_.tokens_readable();
  }

 private:
  std::optional<Principal> Authenticate(const HttpRequest& request) const;
  // Whether step 4's second look applies: a shared store and a well-formed Bearer token.
  bool MaySyncTokensFor(const HttpRequest& request) const;
  // Steps 4 (after a token feed read) and 5-7 of Handle.
  void AuthenticateAfterTokenSync(Call&& call, std::string client) const;
  // A kFile route's policy for a caller allowed to upload.
  net::BodyPolicy FilePolicy() const;
  void Admit(Call&& call) const;
  ResponderPtr Metered(ResponderPtr responder, std::string_view label, std::string owned) const;
  void MethodNotAllowed(const HttpRequest& request, const Resource& resource,
                        ResponderPtr responder) const;

  const RouterOptions options_;
  const TokenCache& tokens_;
  RateLimiter& limiter_;
  mutable RateLimiter auth_failures_;  // by client address
  const Clock& clock_;
  Family<Counter>& http_requests_;
  RouteTable table_;
  std::vector<RouteHandler> handlers_;     // by route index
  std::vector<std::string> file_methods_;  // methods with a kFile route: BodyPolicyFor's shortcut
  Status status_;
};

}  // namespace orb::server
