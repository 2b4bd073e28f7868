#include "server/router.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "common/random.hpp"
#include "protocol/api_error.hpp"

namespace orb::server {
namespace {

// The label of every request whose path matches no route: unknown paths must not grow the label
// set of /metrics without bound.
constexpr std::string_view kOtherLabel = "other";

bool IsJsonContentType(const std::string* value) {
  if (value == nullptr) return false;
  std::string_view type(*value);
  if (const auto semicolon = type.find(';'); semicolon != std::string_view::npos) {
    type = type.substr(0, semicolon);
  }
  while (!type.empty() && type.back() == ' ')
    type.remove_suffix(1);
  if (type.size() != 16) return false;
  for (std::size_t i = 0; i < type.size(); ++i) {
    char c = type[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != "application/json"[i]) return false;
  }
  return true;
}

// Counts the answer under its route's label and status code in /metrics.
class MeteredResponder final : public Responder {
 public:
  // `label` is either a view of the route table's label or, when empty, `owned`.
  MeteredResponder(ResponderPtr inner, Family<Counter>& counter, std::string_view label,
                   std::string owned)
      : inner_(std::move(inner)), counter_(counter), owned_(std::move(owned)), label_(label) {
    if (label_.empty()) label_ = owned_;
  }
  void Send(HttpResponse response) override {
    if (!sent_.exchange(true)) {
      counter_.With({std::string(label_), std::to_string(response.status)}).Inc();
    }
    inner_->Send(std::move(response));
  }
  bool IsOpen() const override { return inner_->IsOpen(); }

 private:
  ResponderPtr inner_;
  Family<Counter>& counter_;
  const std::string owned_;
  std::string_view label_;
  std::atomic<bool> sent_{false};
};

}  // namespace

Router::Router(RouterOptions options, const TokenCache& tokens, RateLimiter& limiter,
               const Clock& clock, Family<Counter>& http_requests)
    : options_(std::move(options)),
      tokens_(tokens),
      limiter_(limiter),
      auth_failures_(options_.auth_failures_per_second, options_.auth_failures_burst),
      clock_(clock),
      http_requests_(http_requests) {}

void Router::Add(RouteSpec spec, RouteHandler handler) {
  if (!status_) return;
  if (!handler && spec.body != BodyKind::kWebSocket) {
    status_ =
        Fail(Errc::kInvalidRequest, "route " + spec.method + " " + spec.pattern + ": no handler");
    return;
  }
  const bool file = spec.body == BodyKind::kFile;
  const std::string method = spec.method;
  auto added = table_.Add(std::move(spec));
  if (!added) {
    status_ = Fail(std::move(added.error()));
    return;
  }
  handlers_.resize(table_.routes().size());
  handlers_[*added] = std::move(handler);
  if (file &&
      std::find(file_methods_.begin(), file_methods_.end(), method) == file_methods_.end()) {
    file_methods_.push_back(method);
  }
}

Status Router::status() const {
  return status_;
}

std::optional<Principal> Router::Authenticate(const HttpRequest& request) const {
  const std::string* authorization = request.FindHeader("Authorization");
  return tokens_.Authenticate(authorization ? std::optional<std::string_view>(*authorization)
                                            : std::nullopt);
}

ResponderPtr Router::Metered(ResponderPtr responder, std::string_view label,
                             std::string owned) const {
  return std::make_shared<MeteredResponder>(std::move(responder), http_requests_, label,
                                            std::move(owned));
}

void Router::MethodNotAllowed(const HttpRequest& request, const Resource& resource,
                              ResponderPtr responder) const {
  auto metered = Metered(std::move(responder), {}, request.method + " " + resource.pattern);
  HttpResponse response;
  response.status = 405;
  // RFC 9110 §15.5.6: a 405 lists the methods the resource has (none that plain HTTP may use,
  // for a WebSocket-only path).
  response.headers.push_back({"Allow", resource.allow});
  response.body = protocol::ErrorBodyJson(
      MakeError(Errc::kMethodNotAllowed, request.method + " is not allowed on " + request.path));
  metered->Send(std::move(response));
}

std::string Router::ClientAddress(const HttpRequest& request) const {
  return options_.trusted_proxies.ClientAddress(request.remote_address,
                                                request.FindHeader("X-Forwarded-For"));
}

int Router::AuthFailureWait(const std::string& client) const {
  return auth_failures_.Wait(client, clock_.Now());
}

void Router::RecordAuthFailure(const std::string& client) const {
  (void)auth_failures_.Acquire(client, clock_.Now());
}

void Router::Handle(HttpRequest&& request, ResponderPtr responder) const {
  Call call;
  call.match = table_.Match(request.method, request.path);
  if (call.match.result == RouteMatch::Result::kNotFound) {
    return ReplyError(Metered(std::move(responder), kOtherLabel, {}),
                      MakeError(Errc::kNotFound, "no such path: " + request.path));
  }
  if (call.match.result == RouteMatch::Result::kMethodNotAllowed ||
      call.match.route->spec.body == BodyKind::kWebSocket) {
    return MethodNotAllowed(request, *call.match.resource, std::move(responder));
  }
  const Route& route = *call.match.route;
  call.responder = Metered(std::move(responder), route.label, {});
  call.request = std::move(request);

  const RouteClass role = route.spec.role;
  if (role != RouteClass::kPublic) {
    std::string client = ClientAddress(call.request);
    if (const int wait = AuthFailureWait(client); wait > 0) {
      HttpResponse limited;
      limited.status = 429;
      limited.headers.push_back({"Retry-After", std::to_string(wait)});
      limited.body = protocol::ErrorBodyJson(
          MakeError(Errc::kRateLimited,
                    "too many failed authentications: retry in " + std::to_string(wait) + " s"));
      return call.responder->Send(std::move(limited));
    }
    call.principal = Authenticate(call.request);
    if (auto allowed = Authorize(call.principal, role, call.Param(kAgentIdParam)); !allowed) {
      if (allowed.error().code != Errc::kUnauthenticated) {
        return ReplyError(call.responder, allowed.error());
      }
      // Unknown here, perhaps created through another replica since the last token read.
      if (MaySyncTokensFor(call.request)) {
        return AuthenticateAfterTokenSync(std::move(call), std::move(client));
      }
      RecordAuthFailure(client);
      return ReplyError(call.responder, allowed.error());
    }
  }
  Admit(std::move(call));
}

bool Router::MaySyncTokensFor(const HttpRequest& request) const {
  const std::string* authorization = request.FindHeader("Authorization");
  const auto bearer = authorization ? ParseBearer(*authorization) : std::nullopt;
  return options_.sync_tokens && bearer && IsValidBearerToken(*bearer);
}

bool Router::SyncTokensFor(std::string_view token, std::function<void()> then) const {
  if (!options_.sync_tokens || !IsValidBearerToken(token)) return false;
  options_.sync_tokens(std::move(then));
  return true;
}

void Router::AuthenticateAfterTokenSync(Call&& call, std::string client) const {
  struct Waiting {
    Call call;
    std::string client;
  };
  auto waiting = std::make_shared<Waiting>(Waiting{std::move(call), std::move(client)});
  options_.sync_tokens([this, waiting] {
    Call& retried = waiting->call;
    retried.principal = Authenticate(retried.request);
    if (auto allowed = Authorize(retried.principal, retried.match.route->spec.role,
                                 retried.Param(kAgentIdParam));
        !allowed) {
      if (allowed.error().code == Errc::kUnauthenticated && TokenFeedUnreadable()) {
        return ReplyError(
            retried.responder,
            MakeError(Errc::kStore, "token unknown and the token feed unreadable", true));
      }
      if (allowed.error().code == Errc::kUnauthenticated) RecordAuthFailure(waiting->client);
      return ReplyError(retried.responder, allowed.error());
    }
    Admit(std::move(retried));
  });
}

void Router::Admit(Call&& call) const {
  const Route& route = *call.match.route;
  if (call.principal && route.spec.role != RouteClass::kAgentOwn &&
      call.principal->role != protocol::Role::kAgent) {
    if (const int wait = limiter_.Acquire(call.principal->token_id, clock_.Now()); wait > 0) {
      HttpResponse limited;
      limited.status = 429;
      limited.headers.push_back({"Retry-After", std::to_string(wait)});
      limited.body = protocol::ErrorBodyJson(MakeError(
          Errc::kRateLimited, "too many requests: retry in " + std::to_string(wait) + " s"));
      return call.responder->Send(std::move(limited));
    }
  }
  if (route.spec.body == BodyKind::kJson && !call.request.body.empty() &&
      !IsJsonContentType(call.request.FindHeader("Content-Type"))) {
    return ReplyError(call.responder, MakeError(Errc::kUnsupportedMediaType,
                                                "Content-Type must be application/json"));
  }
  handlers_[route.index](std::move(call));
}

net::BodyPolicy Router::BodyPolicyFor(const HttpRequest& head) const {
  net::BodyPolicy policy;
  policy.limit = options_.body_limit;
  if (std::find(file_methods_.begin(), file_methods_.end(), head.method) == file_methods_.end()) {
    return policy;  // the common case: no file route has this method
  }
  const auto match = table_.Match(head.method, head.path);
  if (match.result != RouteMatch::Result::kFound || match.route->spec.body != BodyKind::kFile) {
    return policy;
  }
  // Stream to disk only for a caller allowed to upload; others get their 401/403 (or 413).
  const RouteClass role = match.route->spec.role;
  const std::string agent_id(match.Param(kAgentIdParam, head.path));
  auto allowed = Authorize(Authenticate(head), role, agent_id);
  if (allowed) return FilePolicy();
  if (allowed.error().code != Errc::kUnauthenticated || !MaySyncTokensFor(head)) return policy;
  const std::string* authorization = head.FindHeader("Authorization");
  // Unknown here, perhaps created through another replica since the last token read: decided
  // after the next one, as Handle does (the body waits meanwhile).
  policy.decide_later = [this, fallback = policy, authorization = *authorization, role,
                         agent_id](std::function<void(net::BodyPolicy)> decide) {
    options_.sync_tokens([this, fallback, authorization, role, agent_id,
                          decide = std::move(decide)] {
      const bool known = Authorize(tokens_.Authenticate(authorization), role, agent_id).has_value();
      decide(known ? FilePolicy() : fallback);
    });
  };
  return policy;
}

net::BodyPolicy Router::FilePolicy() const {
  net::BodyPolicy policy;
  policy.limit = static_cast<std::size_t>(options_.file_limit);
  policy.stream_to_file = options_.upload_dir / (".upload-" + RandomHex(12));
  return policy;
}

bool Router::IsWebSocketPath(std::string_view path) const {
  const auto match = table_.Match("GET", path);
  return match.result == RouteMatch::Result::kFound &&
         match.route->spec.body == BodyKind::kWebSocket;
}

}  // namespace orb::server
