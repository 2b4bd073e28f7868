#include "server/stream_api.hpp"

#include <optional>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "protocol/codec.hpp"

namespace orb::server {
namespace {

// The hub's view of one WebSocket.
class SessionSink final : public StreamSink {
 public:
  explicit SessionSink(std::shared_ptr<net::WebSocketSession> session)
      : session_(std::move(session)) {}
  void Send(std::string text) override { session_->Send(std::move(text)); }
  std::size_t Queued() const override { return session_->QueuedMessages(); }
  void Close(int code, std::string reason) override { session_->Close(code, std::move(reason)); }

 private:
  std::shared_ptr<net::WebSocketSession> session_;
};

}  // namespace

StreamApi::StreamApi(std::chrono::milliseconds auth_timeout, Deps deps)
    : auth_timeout_(auth_timeout), deps_(deps) {}

void StreamApi::RegisterRoutes(Router& router) {
  router_ = &router;
  router.Add({"GET", "/v1/stream", kRole, BodyKind::kWebSocket}, nullptr);
}

struct StreamApi::Client {
  std::shared_ptr<net::WebSocketSession> session;
  std::optional<Principal> header_principal;
  std::optional<std::string> header_token_hash;
  std::optional<std::string> header_token;  // for a second look after the token feed's read
  std::string token_hash;                   // of the token the subscription was allowed with
  std::string address;                      // the client's, for the failed-authentication budget
  std::shared_ptr<net::TimerHandle> auth_timer;
  std::mutex mutex;
  bool subscribing = false;  // a subscribe message was accepted
  bool closed = false;
  std::optional<SubscriptionId> subscription;
};

void StreamApi::Open(std::shared_ptr<net::WebSocketSession> session,
                     const net::HttpRequest& upgrade) {
  auto client = std::make_shared<Client>();
  client->session = session;
  if (router_) {
    client->address = router_->ClientAddress(upgrade);
    if (const int wait = router_->AuthFailureWait(client->address); wait > 0) {
      session->Close(kClosePolicyViolation,
                     "too many failed authentications: retry in " + std::to_string(wait) + " s");
      return;
    }
  }
  const std::string* authorization = upgrade.FindHeader("Authorization");
  if (authorization) {
    client->header_principal = deps_.tokens.Authenticate(std::string_view(*authorization));
    if (auto token = ParseBearer(*authorization)) {
      client->header_token_hash = HashToken(*token);
      client->header_token = std::move(*token);
    }
  }
  {
    const std::lock_guard lock(mutex_);
    clients_[session.get()] = client;
  }
  std::weak_ptr<Client> weak = client;
  client->auth_timer = deps_.http.RunAfter(auth_timeout_, [weak] {
    auto c = weak.lock();
    if (!c) return;
    const std::lock_guard lock(c->mutex);
    if (!c->subscribing && !c->closed) {
      c->session->Close(kClosePolicyViolation, "no subscribe message with a valid token in time");
    }
  });
}

void StreamApi::Message(net::WebSocketSession& session, std::string message) {
  std::shared_ptr<Client> client;
  {
    const std::lock_guard lock(mutex_);
    if (auto it = clients_.find(&session); it != clients_.end()) client = it->second;
  }
  if (!client) return;
  auto subscribe = protocol::FromJson<protocol::SubscribeMessage>(message);
  if (!subscribe) {
    session.Close(kClosePolicyViolation,
                  "expected a subscribe message: " + subscribe.error().message);
    return;
  }
  std::optional<Principal> principal = client->header_principal;
  if (subscribe->token) principal = deps_.tokens.Lookup(*subscribe->token);
  if (auto allowed = Authorize(principal, kRole);
      !allowed && allowed.error().code == Errc::kUnauthenticated && router_) {
    // Unknown here, perhaps created through another replica a moment ago: looked up again after
    // the token feed's read (Router step 4).
    const std::optional<std::string> token =
        subscribe->token ? subscribe->token : client->header_token;
    if (token &&
        router_->SyncTokensFor(*token, [this, client, token = *token, subscribe = *subscribe] {
          Subscribe(client, deps_.tokens.Lookup(token), subscribe);
        })) {
      return;
    }
  }
  Subscribe(client, principal, *subscribe);
}

void StreamApi::Subscribe(const std::shared_ptr<Client>& client,
                          const std::optional<Principal>& principal,
                          const protocol::SubscribeMessage& subscribe) {
  net::WebSocketSession& session = *client->session;
  if (auto allowed = Authorize(principal, kRole); !allowed) {
    if (allowed.error().code == Errc::kUnauthenticated && router_ &&
        router_->TokenFeedUnreadable()) {
      // Perhaps a new token this replica could not read yet: "try again", not "bad token" (a
      // 1008 makes the web UI sign out).
      session.Close(kCloseTryAgainLater, "the store is unavailable; try again");
      return;
    }
    if (allowed.error().code == Errc::kUnauthenticated && router_) {
      router_->RecordAuthFailure(client->address);
    }
    session.Close(kClosePolicyViolation, allowed.error().message);
    return;
  }
  {
    const std::lock_guard lock(client->mutex);
    if (client->subscribing) {
      session.Close(kClosePolicyViolation, "already subscribed");
      return;
    }
    client->subscribing = true;
    client->token_hash = subscribe.token ? HashToken(*subscribe.token)
                                         : client->header_token_hash.value_or(std::string());
    if (client->auth_timer) client->auth_timer->Cancel();
  }
  StreamFilter filter;
  filter.agent_id = subscribe.agent_id;
  filter.job_id = subscribe.job_id;
  // The replay reads the store: off the event loop.
  deps_.calls.Post([this, client, filter = std::move(filter), since = subscribe.since] {
    auto replay = [this](std::int64_t after, const StreamFilter& f,
                         std::size_t limit) -> Expected<ReplayPage> {
      ReplayPage page;
      auto oldest = deps_.store.OldestEventSeq();
      if (!oldest) return Fail(oldest.error());
      page.oldest_kept_seq = *oldest;
      auto last = deps_.store.LastEventSeq();
      if (!last) return Fail(last.error());
      page.stored_last_seq = *last;
      auto events = deps_.store.ReadEvents(after, static_cast<int>(limit),
                                           store::EventFilter{f.agent_id, f.job_id});
      if (!events) return Fail(events.error());
      page.events = std::move(*events);
      return page;
    };
    auto id =
        deps_.hub.Subscribe(std::make_shared<SessionSink>(client->session), filter, since, replay);
    if (!id) {
      GetLogger("fleet-cmdr")->warn("stream subscribe failed: {}", id.error().Describe());
      client->session->Close(kCloseInternalError, "cannot replay events");
      return;
    }
    bool closed = false;
    {
      const std::lock_guard lock(client->mutex);
      client->subscription = *id;
      closed = client->closed;
    }
    if (closed) deps_.hub.Unsubscribe(*id);
  });
}

void StreamApi::Close(net::WebSocketSession& session) {
  std::shared_ptr<Client> client;
  {
    const std::lock_guard lock(mutex_);
    if (auto it = clients_.find(&session); it != clients_.end()) {
      client = std::move(it->second);
      clients_.erase(it);
    }
  }
  if (!client) return;
  std::optional<SubscriptionId> subscription;
  {
    const std::lock_guard lock(client->mutex);
    client->closed = true;
    subscription = client->subscription;
    if (client->auth_timer) client->auth_timer->Cancel();
  }
  if (subscription) deps_.hub.Unsubscribe(*subscription);
}

void StreamApi::Drain() {
  std::vector<SubscriptionId> ids;
  {
    const std::lock_guard lock(mutex_);
    for (auto& [session, client] : clients_) {
      const std::lock_guard client_lock(client->mutex);
      if (client->subscription) ids.push_back(*client->subscription);
    }
  }
  for (const auto id : ids)
    deps_.hub.Drain(id);
}

void StreamApi::CloseRevoked() {
  std::vector<std::shared_ptr<net::WebSocketSession>> revoked;
  {
    const std::lock_guard lock(mutex_);
    for (auto& [session, client] : clients_) {
      const std::lock_guard client_lock(client->mutex);
      if (client->subscribing && !client->closed && !deps_.tokens.Contains(client->token_hash)) {
        revoked.push_back(client->session);
      }
    }
  }
  for (const auto& session : revoked) {
    session->Close(kClosePolicyViolation, "the token was revoked");
  }
}

}  // namespace orb::server
