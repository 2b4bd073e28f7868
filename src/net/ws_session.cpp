// A WebSocket session of the HTTP server (see detail/server_core.hpp): the handshake, a bounded
// queue of outgoing text messages, and the close.

#include <deque>
#include <string>
#include <utility>

#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "net/detail/server_core.hpp"

namespace orb::net::server_detail {
namespace {

class WsSessionBase : public Endpoint {
 public:
  virtual void Enqueue(std::string text) = 0;
  virtual void StartClose(int code, std::string reason) = 0;
};

// The object users hold; the session itself lives on its loop.
class WsHandle final : public WebSocketSession {
 public:
  WsHandle(std::weak_ptr<Loop> loop, std::size_t queue_limit, std::string remote)
      : loop_(std::move(loop)), queue_limit_(queue_limit), remote_(std::move(remote)) {}

  void Attach(std::weak_ptr<WsSessionBase> session) { session_ = std::move(session); }

  void Send(std::string text) override {
    if (!open_.load(std::memory_order_acquire)) return;
    if (queued_.fetch_add(1, std::memory_order_acq_rel) + 1 > queue_limit_) {
      queued_.fetch_sub(1, std::memory_order_acq_rel);
      Close(1008, "client cannot keep up");
      return;
    }
    Run([text = std::move(text)](WsSessionBase& session) mutable {
      session.Enqueue(std::move(text));
    });
  }

  void Close(int code, std::string reason) override {
    Run([code, reason = std::move(reason)](WsSessionBase& session) mutable {
      session.StartClose(code, std::move(reason));
    });
  }

  std::size_t QueuedMessages() const override { return queued_.load(std::memory_order_acquire); }
  bool IsOpen() const override { return open_.load(std::memory_order_acquire); }
  const std::string& remote_address() const override { return remote_; }

  void SetOpen(bool open) { open_.store(open, std::memory_order_release); }
  void Written() { queued_.fetch_sub(1, std::memory_order_acq_rel); }
  void Dropped(std::size_t n) { queued_.fetch_sub(n, std::memory_order_acq_rel); }

 private:
  // Runs `fn` on the session's loop, inline when already there. A message for a session that is
  // gone is dropped (its count no longer matters: the session is closed).
  template <class Fn>
  void Run(Fn&& fn) {
    const std::shared_ptr<Loop> loop = loop_.lock();
    if (!loop) return;
    if (loop->InThisThread()) {
      if (auto session = session_.lock()) fn(*session);
      return;
    }
    asio::post(loop->ctx, [session = session_, fn = std::forward<Fn>(fn)]() mutable {
      if (auto alive = session.lock()) fn(*alive);
    });
  }

  std::weak_ptr<Loop> loop_;
  std::weak_ptr<WsSessionBase> session_;
  std::size_t queue_limit_;
  std::string remote_;
  std::atomic<std::size_t> queued_{0};
  std::atomic<bool> open_{false};
};

template <class Stream>
class WsSession final : public WsSessionBase,
                        public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(Stream&& stream, Loop& loop, std::weak_ptr<Loop> weak_loop,
            std::shared_ptr<Config> config, HttpRequest upgrade)
      : ws_(std::move(stream)),
        loop_(loop),
        config_(std::move(config)),
        upgrade_(std::move(upgrade)),
        handle_(std::make_shared<WsHandle>(std::move(weak_loop), config_->options.ws_queue_limit,
                                           upgrade_.remote_address)) {}

  ~WsSession() override {
    if (registered_) {
      loop_.endpoints.erase(this);
      config_->live.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  void Accept(http::request<http::empty_body>&& request) {
    request_ = std::move(request);
    handle_->Attach(this->weak_from_this());
    loop_.endpoints.insert(this);
    registered_ = true;
    config_->live.fetch_add(1, std::memory_order_acq_rel);
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    if (config_->options.ws_ping_interval.count() > 0) {
      // Beast pings when half the idle timeout passed without a frame from the client, and gives
      // up when the whole of it passed: a ping every interval to a quiet client (proxies such as
      // nginx cut a connection that stays silent), closed when a ping goes unanswered as long.
      timeouts.idle_timeout =
          std::chrono::duration_cast<SteadyClock::duration>(2 * config_->options.ws_ping_interval);
      timeouts.keep_alive_pings = true;
    }
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [name = config_->options.server_name](websocket::response_type& response) {
          response.set(http::field::server, name);
        }));
    ws_.read_message_max(config_->options.ws_message_limit);
    ws_.text(true);
    ws_.async_accept(request_,
                     [self = this->shared_from_this()](error_code ec) { self->OnAccept(ec); });
  }

  void Enqueue(std::string text) override {
    if (finished_ || closing_) {
      handle_->Written();
      return;
    }
    queue_.push_back(std::move(text));
    if (!writing_) DoWrite();
  }

  void StartClose(int code, std::string reason) override {
    if (finished_ || closing_) return;
    closing_ = true;
    handle_->SetOpen(false);
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    DropQueued();
    if (!writing_) DoClose();
  }

  // Drops every queued message except the one being written.
  void DropQueued() {
    const std::size_t keep = writing_ ? 1 : 0;
    handle_->Dropped(queue_.size() - keep);
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(keep), queue_.end());
  }

  void Shutdown(bool force) override {
    if (finished_) return;
    if (force) {
      error_code ec;
      beast::get_lowest_layer(ws_).close(ec);
      return;
    }
    if (!opened_) return;  // the handshake is bounded by its own timeout
    StartClose(1001, "server stopping");
  }

 private:
  void OnAccept(error_code ec) {
    if (ec) return Finish();
    opened_ = true;
    handle_->SetOpen(true);
    if (config_->ws.on_open) {
      Guarded("WebSocket on_open", [&] { config_->ws.on_open(handle_, upgrade_); });
    }
    if (config_->stopping.load(std::memory_order_acquire)) StartClose(1001, "server stopping");
    DoRead();
  }

  void DoRead() {
    ws_.async_read(buffer_, [self = this->shared_from_this()](error_code ec, std::size_t) {
      self->OnRead(ec);
    });
  }

  void OnRead(error_code ec) {
    if (ec) return Finish();
    std::string message = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    if (config_->ws.on_message && !closing_) {
      Guarded("WebSocket on_message",
              [&] { config_->ws.on_message(*handle_, std::move(message)); });
    }
    DoRead();
  }

  void DoWrite() {
    writing_ = true;
    ws_.async_write(
        asio::buffer(queue_.front()),
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->OnWrite(ec); });
  }

  void OnWrite(error_code ec) {
    writing_ = false;
    queue_.pop_front();
    handle_->Written();
    if (finished_) return;
    if (ec) {
      DropQueued();
      error_code ignored;
      beast::get_lowest_layer(ws_).close(ignored);
      return;
    }
    if (closing_) return DoClose();
    if (!queue_.empty()) DoWrite();
  }

  void DoClose() {
    ws_.async_close(close_reason_, [self = this->shared_from_this()](error_code) {
      // The pending read completes with `closed` (or an error) and finishes the session.
      error_code ignored;
      if (!self->opened_) beast::get_lowest_layer(self->ws_).close(ignored);
    });
  }

  void Finish() {
    if (finished_) return;
    finished_ = true;
    handle_->SetOpen(false);
    DropQueued();
    if (registered_) {
      loop_.endpoints.erase(this);
      config_->live.fetch_sub(1, std::memory_order_acq_rel);
      registered_ = false;
    }
    error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    if (opened_ && config_->ws.on_close) {
      Guarded("WebSocket on_close", [&] { config_->ws.on_close(*handle_); });
    }
  }

  websocket::stream<Stream> ws_;
  Loop& loop_;
  std::shared_ptr<Config> config_;
  HttpRequest upgrade_;
  http::request<http::empty_body> request_;
  std::shared_ptr<WsHandle> handle_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  websocket::close_reason close_reason_;
  bool registered_ = false;
  bool opened_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace

template <class Stream>
void StartWebSocket(Stream&& stream, Loop& loop, std::weak_ptr<Loop> weak_loop,
                    std::shared_ptr<Config> config, HttpRequest upgrade,
                    http::request<http::empty_body> message) {
  auto session = std::make_shared<WsSession<Stream>>(std::move(stream), loop, std::move(weak_loop),
                                                     std::move(config), std::move(upgrade));
  session->Accept(std::move(message));
}

template void StartWebSocket<tcp::socket>(tcp::socket&&, Loop&, std::weak_ptr<Loop>,
                                          std::shared_ptr<Config>, HttpRequest,
                                          http::request<http::empty_body>);
template void StartWebSocket<SslStream>(SslStream&&, Loop&, std::weak_ptr<Loop>,
                                        std::shared_ptr<Config>, HttpRequest,
                                        http::request<http::empty_body>);

}  // namespace orb::net::server_detail
