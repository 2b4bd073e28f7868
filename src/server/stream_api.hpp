#pragma once

// The event stream of protocol.md §6: GET /v1/stream, upgraded to WebSocket. The client's first
// message subscribes and authenticates (a Bearer header on the upgrade is accepted too) within
// stream_auth_timeout, else the session is closed with 1008; then the StreamHub replays from
// `since` (read from the store on a worker) and delivers live events.
//
// Thread-safety: Open, Message and Close are the HTTP server's WebSocket handlers (a session's
// loop thread); Drain and CloseRevoked from any thread (a timer). Ownership: holds every dependency by reference;
// they must outlive it. Keeps one StreamClient per open session until its Close.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "net/http_server.hpp"
#include "protocol/types.hpp"
#include "server/async_calls.hpp"
#include "server/auth.hpp"
#include "server/router.hpp"
#include "server/stream_hub.hpp"
#include "store/store.hpp"

namespace orb::server {

class StreamApi {
 public:
  // The role a subscriber needs (the route's role in the table, checked at subscribe).
  static constexpr RouteClass kRole = RouteClass::kViewerRead;

  struct Deps {
    const TokenCache& tokens;
    StreamHub& hub;
    store::Store& store;  // replays
    AsyncCalls& calls;
    net::HttpServer& http;  // its timers bound the wait for the subscribe message
  };
  StreamApi(std::chrono::milliseconds auth_timeout, Deps deps);
  StreamApi(const StreamApi&) = delete;
  StreamApi& operator=(const StreamApi&) = delete;

  // Adds GET /v1/stream as a WebSocket route (the HTTP server calls the handlers below for it).
  void RegisterRoutes(Router& router);

  void Open(std::shared_ptr<net::WebSocketSession> session, const net::HttpRequest& upgrade);
  void Message(net::WebSocketSession& session, std::string message);
  void Close(net::WebSocketSession& session);
  // Moves every subscriber's backlog on (the hub coalesces while a client is slow).
  void Drain();
  // Closes (1008) the subscribers whose token was revoked since they subscribed: a revoked token
  // must not keep reading events. One hash lookup per subscriber; called every timer tick.
  void CloseRevoked();

 private:
  struct Client;
  // Subscribes `client` when `principal` may read the stream; otherwise closes it (1008).
  void Subscribe(const std::shared_ptr<Client>& client, const std::optional<Principal>& principal,
                 const protocol::SubscribeMessage& subscribe);

  const std::chrono::milliseconds auth_timeout_;
  Deps deps_;
  const Router* router_ = nullptr;  // failed authentications count against the client's address
  std::mutex mutex_;
  std::unordered_map<net::WebSocketSession*, std::shared_ptr<Client>> clients_;
};

}  // namespace orb::server
