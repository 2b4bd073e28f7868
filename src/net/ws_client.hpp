#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "net/http_client.hpp"

namespace orb::net {

struct WebSocketOptions {
  std::string base_url{};  // "http(s)://host:port" or "ws(s)://host:port"; https/wss use TLS
  std::optional<std::string> bearer_token{};        // "Authorization: Bearer ..." on the upgrade
  std::optional<std::filesystem::path> ca_file{};   // TLS: trusted CAs (default: the system's)
  std::chrono::milliseconds connect_timeout{5000};  // resolve + connect + TLS + upgrade
  std::chrono::milliseconds write_timeout{10000};   // one Send, one Close
  // A silent connection is pinged after half of this and dropped after all of it.
  std::chrono::milliseconds idle_timeout{60000};
  std::string user_agent = "orb-jobs";
  std::uint64_t message_limit = std::uint64_t{16} << 20;  // largest message accepted
};

// A blocking WebSocket client for text messages (protocol.md §6, the event stream), over TCP or
// TLS with the same verification as HttpClient. Messages that arrive between Receive calls are
// kept in order.
//
// Thread-safety: not thread-safe (one per thread); only Cancel() may be called from other threads.
// Deadlines: Connect within connect_timeout, Send and Close within write_timeout, Receive within
// its argument.
// Errors: kNetwork (retryable) for connect failures and a connection that broke or was closed by
// the server (the message names the close code; 1008, policy, is not retryable); kNetwork, not
// retryable, with "certificate" for a refused certificate; kHttp when the server refused the
// upgrade; kTimeout (retryable) when a deadline passed; kCancelled after Cancel();
// kInvalidRequest for a bad base_url or CA file, or a call that needs an open connection.
class WebSocketClient {
 public:
  explicit WebSocketClient(WebSocketOptions options);
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  // Opens the connection and upgrades `target` (e.g. "/v1/stream"). Closes any earlier one.
  Status Connect(const std::string& target = "/v1/stream", const HeaderList& headers = {});

  // Sends one text message.
  Status Send(std::string_view text);

  // The next message. kTimeout (retryable) when none arrived within `timeout`: the connection
  // stays open and a later Receive gets the message that was on its way.
  Expected<std::string> Receive(std::chrono::milliseconds timeout);

  // Sends a close frame with `code` and waits (write_timeout) for the server's; then the
  // connection is gone. Closing a connection that is not open is Ok().
  Status Close(int code = 1000, std::string_view reason = "");

  // Thread-safe. Aborts the call in flight, drops the connection, and makes every later call
  // fail with kCancelled.
  void Cancel();

  [[nodiscard]] bool is_open() const;
  // The server's close code, once it closed the connection.
  [[nodiscard]] std::optional<int> close_code() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orb::net
