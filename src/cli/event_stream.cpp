#include "cli/event_stream.hpp"

#include <thread>

#include "net/ws_client.hpp"

namespace orb::cli {
namespace {

constexpr int kClosePolicy = 1008;
constexpr std::chrono::milliseconds kReadyTimeout{10000};
constexpr std::chrono::milliseconds kSlice{200};

}  // namespace

EventStream::EventStream(Connection connection, StreamFilter filter,
                         const std::atomic<bool>* interrupted)
    : connection_(std::move(connection)), filter_(std::move(filter)), interrupted_(interrupted) {}

EventStream::~EventStream() {
  if (socket_ && socket_->is_open()) (void)socket_->Close();
}

Status EventStream::Open(std::optional<std::int64_t> since) {
  if (since) last_seq_ = *since;
  return Connect(since);
}

Status EventStream::Connect(std::optional<std::int64_t> since) {
  net::WebSocketOptions options;
  options.base_url = connection_.base_url;
  options.user_agent = "fleetctl";
  socket_ = std::make_unique<net::WebSocketClient>(std::move(options));
  if (auto connected = socket_->Connect("/v1/stream"); !connected) {
    Error error = std::move(connected.error());
    error.message =
        "cannot open the event stream at " + connection_.base_url + ": " + error.message;
    return Fail(std::move(error));
  }
  protocol::SubscribeMessage subscribe;
  subscribe.token = connection_.token;
  subscribe.since = since;
  subscribe.agent_id = filter_.agent_id;
  subscribe.job_id = filter_.job_id;
  if (auto sent = socket_->Send(protocol::ToJson(subscribe)); !sent) {
    return Fail(std::move(sent.error()));
  }

  const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (true) {
    if (Interrupted()) return Fail(Errc::kCancelled, "interrupted");
    auto message = socket_->Receive(kSlice);
    if (!message) {
      if (message.error().code == Errc::kTimeout && std::chrono::steady_clock::now() < deadline) {
        continue;
      }
      if (socket_->close_code() == kClosePolicy) {
        return Fail(Errc::kUnauthenticated,
                    "the event stream refused the token (close 1008): " + message.error().message);
      }
      return Fail(std::move(message.error()));
    }
    auto parsed = protocol::ParseStreamMessage(*message);
    if (!parsed) return Fail(Errc::kHttp, "unexpected stream message: " + parsed.error().message);
    if (parsed->kind != protocol::StreamMessage::Kind::kReady) {
      return Fail(Errc::kHttp, "the event stream did not start with a ready message");
    }
    if (!since) last_seq_ = parsed->seq;
    return Ok();
  }
}

Status EventStream::Reconnect() {
  std::chrono::milliseconds delay{200};
  Error last = MakeError(Errc::kNetwork, "event stream closed");
  const auto give_up = std::chrono::steady_clock::now() + kReconnectFor;
  while (std::chrono::steady_clock::now() < give_up) {
    if (Interrupted()) return Fail(Errc::kCancelled, "interrupted");
    ++reconnects_;
    auto connected = Connect(last_seq_);
    if (connected) return Ok();
    last = std::move(connected.error());
    if (last.code == Errc::kUnauthenticated || last.code == Errc::kCancelled) return Fail(last);
    for (auto waited = std::chrono::milliseconds(0); waited < delay; waited += kSlice) {
      if (Interrupted()) return Fail(Errc::kCancelled, "interrupted");
      std::this_thread::sleep_for(kSlice);
    }
    delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(2));
  }
  return Fail(std::move(last));
}

Expected<std::optional<protocol::StreamMessage>> EventStream::Next(
    std::chrono::milliseconds timeout) {
  if (!socket_) return Fail(Errc::kInvalidRequest, "the event stream is not open");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (Interrupted()) return Fail(Errc::kCancelled, "interrupted");
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::optional<protocol::StreamMessage>();
    auto message = socket_->Receive(std::min(left, kSlice));
    if (!message) {
      if (message.error().code == Errc::kTimeout) continue;
      if (message.error().code == Errc::kCancelled) return Fail(std::move(message.error()));
      if (socket_->close_code() == kClosePolicy) {
        return Fail(Errc::kUnauthenticated,
                    "the event stream was closed by fleet-cmdr (1008): " + message.error().message);
      }
      if (auto reopened = Reconnect(); !reopened) return Fail(std::move(reopened.error()));
      continue;
    }
    auto parsed = protocol::ParseStreamMessage(*message);
    if (!parsed) return Fail(Errc::kHttp, "unexpected stream message: " + parsed.error().message);
    if (parsed->kind == protocol::StreamMessage::Kind::kReady) continue;
    if (parsed->kind == protocol::StreamMessage::Kind::kEvent) {
      if (!parsed->event || parsed->event->seq <= last_seq_) continue;  // seen before a reconnect
      last_seq_ = parsed->event->seq;
    }
    return std::optional<protocol::StreamMessage>(std::move(*parsed));
  }
}

}  // namespace orb::cli
