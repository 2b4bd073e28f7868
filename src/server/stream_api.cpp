// The event stream of protocol.md §6 over WebSocket: first-message (or header) authentication
// within a deadline, then replay from `since` and live events through the StreamHub.

#include <memory>
#include <mutex>

#include "common/log.hpp"
#include "protocol/codec.hpp"
#include "server/fleet_cmdr_impl.hpp"

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

struct FleetCmdr::Impl::StreamClient {
  std::shared_ptr<net::WebSocketSession> session;
  std::optional<Principal> header_principal;
  std::shared_ptr<net::TimerHandle> auth_timer;
  std::mutex mutex;
  bool subscribing = false;  // a subscribe message was accepted
  bool closed = false;
  std::optional<SubscriptionId> subscription;
};

void FleetCmdr::Impl::StreamOpen(std::shared_ptr<net::WebSocketSession> session,
                                 const HttpRequest& upgrade) {
  auto client = std::make_shared<StreamClient>();
  client->session = session;
  const std::string* authorization = upgrade.FindHeader("Authorization");
  if (authorization)
    client->header_principal = tokens_.Authenticate(std::string_view(*authorization));
  {
    const std::lock_guard lock(streams_mutex_);
    streams_[session.get()] = client;
  }
  std::weak_ptr<StreamClient> weak = client;
  client->auth_timer = http_->RunAfter(options_.stream_auth_timeout, [weak] {
    auto c = weak.lock();
    if (!c) return;
    const std::lock_guard lock(c->mutex);
    if (!c->subscribing && !c->closed) {
      c->session->Close(kClosePolicyViolation, "no subscribe message with a valid token in time");
    }
  });
}

void FleetCmdr::Impl::StreamMessage(net::WebSocketSession& session, std::string message) {
  std::shared_ptr<StreamClient> client;
  {
    const std::lock_guard lock(streams_mutex_);
    if (auto it = streams_.find(&session); it != streams_.end()) client = it->second;
  }
  if (!client) return;
  auto subscribe = protocol::FromJson<protocol::SubscribeMessage>(message);
  if (!subscribe) {
    session.Close(kClosePolicyViolation,
                  "expected a subscribe message: " + subscribe.error().message);
    return;
  }
  std::optional<Principal> principal = client->header_principal;
  if (subscribe->token) principal = tokens_.Lookup(*subscribe->token);
  if (auto allowed = Authorize(principal, RouteClass::kViewerRead); !allowed) {
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
    if (client->auth_timer) client->auth_timer->Cancel();
  }
  StreamFilter filter;
  filter.agent_id = subscribe->agent_id;
  filter.job_id = subscribe->job_id;
  // The replay reads the store: off the event loop.
  workers_->Post([this, client, filter = std::move(filter), since = subscribe->since] {
    auto replay = [this](std::int64_t after, const StreamFilter& f,
                         std::size_t limit) -> Expected<ReplayPage> {
      ReplayPage page;
      auto oldest = store_->OldestEventSeq();
      if (!oldest) return Fail(oldest.error());
      page.oldest_kept_seq = *oldest;
      auto events = store_->ReadEvents(after, static_cast<int>(limit),
                                       store::EventFilter{f.agent_id, f.job_id});
      if (!events) return Fail(events.error());
      page.events = std::move(*events);
      return page;
    };
    auto id =
        hub_->Subscribe(std::make_shared<SessionSink>(client->session), filter, since, replay);
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
    if (closed) hub_->Unsubscribe(*id);
  });
}

void FleetCmdr::Impl::StreamClose(net::WebSocketSession& session) {
  std::shared_ptr<StreamClient> client;
  {
    const std::lock_guard lock(streams_mutex_);
    if (auto it = streams_.find(&session); it != streams_.end()) {
      client = std::move(it->second);
      streams_.erase(it);
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
  if (subscription) hub_->Unsubscribe(*subscription);
}

void FleetCmdr::Impl::DrainStreams() {
  std::vector<SubscriptionId> ids;
  {
    const std::lock_guard lock(streams_mutex_);
    for (auto& [session, client] : streams_) {
      const std::lock_guard client_lock(client->mutex);
      if (client->subscription) ids.push_back(*client->subscription);
    }
  }
  for (const auto id : ids)
    hub_->Drain(id);
}

}  // namespace orb::server
