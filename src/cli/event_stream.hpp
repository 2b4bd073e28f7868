#pragma once

// fleetctl's side of the event stream (protocol.md §6): connect to /v1/stream, authenticate with
// the first message ({"type":"subscribe","token":...,"since":...,"filter":{...}}), wait for
// "ready", then hand out events. A connection that breaks is reopened with `since` = the last seq
// seen, so the server replays what was missed; events already seen are skipped.
//
// Errors: kNetwork / kTimeout when the stream cannot be (re)opened (reopening is tried for
// kReconnectFor, long enough for fleet-cmdr or its replica to restart);
// kUnauthenticated when the server closes with 1008 (bad token or role); kCancelled when the
// interrupt flag is set; kHttp for a message that is not a §6 message.
// Thread-safety: one thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cli/config.hpp"
#include "common/expected.hpp"
#include "protocol/codec.hpp"

namespace orb::net {
class WebSocketClient;
}

namespace orb::cli {

struct StreamFilter {
  std::optional<std::string> agent_id;
  std::optional<std::string> job_id;
};

class EventStream {
 public:
  // How long a broken stream is tried again, every 0.2 s at first and then every 2 s.
  static constexpr std::chrono::seconds kReconnectFor{60};

  EventStream(Connection connection, StreamFilter filter, const std::atomic<bool>* interrupted);
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // Connects and subscribes. Without `since` only live events follow (last_seq() becomes the
  // ready message's seq); with it the server first replays the events after it.
  Status Open(std::optional<std::int64_t> since);

  // The next event or resync message, or nullopt when none came within `timeout`.
  Expected<std::optional<protocol::StreamMessage>> Next(std::chrono::milliseconds timeout);

  [[nodiscard]] std::int64_t last_seq() const { return last_seq_; }
  [[nodiscard]] int reconnects() const { return reconnects_; }

 private:
  Status Connect(std::optional<std::int64_t> since);
  Status Reconnect();
  [[nodiscard]] bool Interrupted() const { return interrupted_ != nullptr && interrupted_->load(); }

  Connection connection_;
  StreamFilter filter_;
  const std::atomic<bool>* interrupted_;
  std::unique_ptr<net::WebSocketClient> socket_;
  std::int64_t last_seq_ = 0;
  int reconnects_ = 0;
};

}  // namespace orb::cli
