// HttpServer on Beast/Asio with callbacks (see http_server.hpp for the model). The one Beast TU of
// the server: HTTP connections, WebSocket sessions, the acceptor and the loops all live here.
//
// Lifetimes: a connection or session is owned by the handlers pending on its loop (and, while a
// handler has not answered, by itself), so it is destroyed on its loop thread or when the loop's
// io_context is destroyed. Objects handed to users (Responder, WebSocketSession, TimerHandle) hold
// only weak references to loops and connections, so they may outlive the server.

#include "net/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.hpp"
#include "net/byte_range.hpp"
#include "net/detail/body_buffer.hpp"

namespace orb::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using beast::error_code;
using SteadyClock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Plain helpers

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = GetLogger("net");
  return *logger;
}

// Drops CR and LF so that a header value can never split the response head.
std::string_view SafeHeaderValue(std::string_view value, std::string& scratch) {
  if (value.find_first_of("\r\n") == std::string_view::npos) return value;
  scratch.clear();
  for (const char c : value) {
    if (c != '\r' && c != '\n') scratch.push_back(c);
  }
  return scratch;
}

}  // namespace

const std::string* HttpRequest::FindHeader(std::string_view name) const {
  for (const Header& header : headers) {
    if (EqualsIgnoreCase(header.name, name)) return &header.value;
  }
  return nullptr;
}

std::optional<std::string_view> HttpRequest::Query(std::string_view key) const {
  for (const auto& [name, value] : query) {
    if (name == key) return std::string_view(value);
  }
  return std::nullopt;
}

std::string ErrorBody(std::string_view code, std::string_view message) {
  std::string body;
  body.reserve(40 + code.size() + message.size());
  body += R"({"error":{"code":")";
  body += JsonEscape(code);
  body += R"(","message":")";
  body += JsonEscape(message);
  body += R"("}})";
  return body;
}

namespace {

// File bodies move through the socket in chunks of this size (uploads: read from the socket, then
// written on the file pool; downloads: read on the file pool, then written to the socket).
constexpr std::size_t kFileChunk = 256 * 1024;

// How long a refused connection (connection limit) is given to read its 503 before it is closed,
// and how many may be in that state at once (beyond, a refused connection is closed at once).
constexpr std::chrono::milliseconds kRefusalLinger{1000};
constexpr std::size_t kMaxRefusing = 1024;
// Retry-After of a refused connection: the agents fail over to another replica at once anyway.
constexpr std::string_view kRefusal =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Retry-After: 5\r\n"
    "Connection: close\r\n"
    "Content-Length: 82\r\n"
    "\r\n"
    R"({"error":{"code":"unavailable","message":"fleet-cmdr is at its connection limit"}})";

// ---------------------------------------------------------------------------------------------
// Loops, configuration, registry

// What every connection of a server shares. Immutable after Start except the atomics.
struct Config {
  HttpServerOptions options;
  HttpHandler handler;
  BodyPolicyFn body_policy;
  WebSocketHandlers ws;
  std::function<bool(std::string_view)> is_websocket_path;
  std::optional<ssl::context> tls;
  std::shared_ptr<WorkerPool> file_pool;  // set by Start
  std::shared_ptr<FileIo> file_io;        // set by Start
  std::atomic<bool> stopping{false};
  // Connections and sessions not yet closed, counted from their accept (before their loop starts
  // them), so that the connection limit holds whichever loop they land on.
  std::atomic<std::size_t> live{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::size_t> refusing{0};  // refused connections still lingering
};

class Endpoint {  // a connection or a WebSocket session, as the loop's registry sees it
 public:
  virtual ~Endpoint() = default;
  // Graceful: finish what is in flight, then close. Forced: close now.
  virtual void Shutdown(bool force) = 0;
};

// One io_context run by one thread. `endpoints` is touched only on that thread (no lock).
struct Loop {
  std::unordered_set<Endpoint*> endpoints;  // declared before ctx: outlives it on destruction
  asio::io_context ctx{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;

  bool InThisThread() { return ctx.get_executor().running_in_this_thread(); }
};

template <class Fn>
void Guarded(const char* what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    Log().error("{} threw: {}", what, e.what());
  } catch (...) {
    Log().error("{} threw a non-standard exception", what);
  }
}

using SslStream = ssl::stream<tcp::socket>;

// ---------------------------------------------------------------------------------------------
// Responder

class HttpConnectionBase : public Endpoint {
 public:
  virtual void Deliver(std::uint64_t seq, HttpResponse&& response) = 0;
};

class ResponderImpl final : public Responder {
 public:
  ResponderImpl(std::weak_ptr<Loop> loop, std::weak_ptr<HttpConnectionBase> connection)
      : loop_(std::move(loop)), connection_(std::move(connection)) {}

  void Reset(std::uint64_t seq) {
    seq_.store(seq, std::memory_order_relaxed);
    sent_.store(false, std::memory_order_relaxed);
    open_.store(true, std::memory_order_release);
  }
  void MarkClosed() { open_.store(false, std::memory_order_release); }
  bool sent() const { return sent_.load(std::memory_order_acquire); }

  void Send(HttpResponse response) override {
    if (sent_.exchange(true, std::memory_order_acq_rel)) return;
    open_.store(false, std::memory_order_release);
    const std::uint64_t seq = seq_.load(std::memory_order_relaxed);
    const std::shared_ptr<Loop> loop = loop_.lock();
    if (!loop) return;
    if (loop->InThisThread()) {
      if (auto connection = connection_.lock()) connection->Deliver(seq, std::move(response));
      return;
    }
    asio::post(loop->ctx, [connection = connection_, seq, r = std::move(response)]() mutable {
      if (auto alive = connection.lock()) alive->Deliver(seq, std::move(r));
    });
  }

  bool IsOpen() const override { return open_.load(std::memory_order_acquire); }

 private:
  std::weak_ptr<Loop> loop_;
  std::weak_ptr<HttpConnectionBase> connection_;
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<bool> sent_{false};
  std::atomic<bool> open_{true};
};

// ---------------------------------------------------------------------------------------------
// WebSocket sessions

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

// ---------------------------------------------------------------------------------------------
// HTTP connections

constexpr std::size_t kWatchBytes = 1024;
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

template <class Stream>
class HttpConnection final : public HttpConnectionBase,
                             public std::enable_shared_from_this<HttpConnection<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, SslStream>;

 public:
  HttpConnection(Stream&& stream, Loop& loop, std::weak_ptr<Loop> weak_loop,
                 std::shared_ptr<Config> config)
      : stream_(std::move(stream)),
        loop_(loop),
        weak_loop_(std::move(weak_loop)),
        config_(std::move(config)),
        timer_(loop.ctx) {}

  ~HttpConnection() override {
    if (state_ != State::kClosed) Unregister();
  }

  // The connection was counted in Config::live when it was accepted.
  void Start() {
    loop_.endpoints.insert(this);
    error_code ec;
    const tcp::endpoint remote = Socket().remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string();
    Socket().set_option(tcp::no_delay(true), ec);
    if constexpr (kTls) {
      state_ = State::kReading;
      SetDeadline(config_->options.request_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code error) {
                                if (self->state_ == State::kClosed) return;
                                if (error) return self->Close();
                                self->ReadNext();
                              });
    } else {
      ReadNext();
    }
  }

  void Deliver(std::uint64_t seq, HttpResponse&& response) override {
    if (state_ == State::kClosed || seq != seq_) return;
    if (state_ == State::kHandling) {
      pending_response_ = std::move(response);
    } else if (state_ == State::kWaiting) {
      WriteResponse(std::move(response));
    }
  }

  void Shutdown(bool force) override {
    if (state_ == State::kClosed) return;
    stopping_ = true;
    if (force || state_ == State::kIdle) Close();
  }

 private:
  enum class State {
    kIdle,       // between requests: waiting for the first byte of the next one
    kReading,    // reading a request head or body (request_timeout)
    kHandling,   // inside the handler call
    kWaiting,    // the handler has not answered yet (long-poll): no deadline
    kWriting,    // writing the response
    kLingering,  // error answered: discarding input until the peer closes
    kClosed,
  };

  tcp::socket& Socket() { return beast::get_lowest_layer(stream_); }

  // -- deadlines: one timer, re-armed only when the deadline moves earlier.

  void SetDeadline(std::chrono::milliseconds timeout) {
    deadline_ = SteadyClock::now() + timeout;
    if (!timer_armed_ || deadline_ < timer_.expiry()) ArmTimer();
  }
  void ClearDeadline() { deadline_ = SteadyClock::time_point::max(); }

  void ArmTimer() {
    timer_armed_ = true;
    timer_.expires_at(deadline_);
    timer_.async_wait([self = this->shared_from_this()](error_code ec) { self->OnTimer(ec); });
  }

  void OnTimer(error_code ec) {
    if (ec == asio::error::operation_aborted || state_ == State::kClosed) return;
    timer_armed_ = false;
    if (deadline_ == SteadyClock::time_point::max()) return;
    if (SteadyClock::now() < deadline_) return ArmTimer();
    OnTimeout();
  }

  void OnTimeout() {
    switch (state_) {
      case State::kReading:
        if (!timed_out_ && config_->options.request_timeout.count() > 0) {
          // Abort the read; its handler answers 400 invalid_request.
          timed_out_ = true;
          error_code ignored;
          Socket().cancel(ignored);
          SetDeadline(kLingerTime);
          return;
        }
        return Close();
      case State::kHandling:
      case State::kWaiting: return;  // a pending handler is not idle
      default: return Close();
    }
  }

  // -- reading

  void ReadNext() {
    if (stopping_ || config_->stopping.load(std::memory_order_acquire)) return Close();
    state_ = State::kIdle;
    if (buffer_.size() > 0) return ReadHead();
    SetDeadline(config_->options.idle_timeout);
    next_on_bytes_ = true;
    if (!watch_pending_) StartWatch();
  }

  // One small read: the first bytes of the next request, or (while a handler has not answered)
  // the only way to notice that the client went away.
  void StartWatch() {
    watch_pending_ = true;
    stream_.async_read_some(
        buffer_.prepare(kWatchBytes),
        [self = this->shared_from_this()](error_code ec, std::size_t n) { self->OnWatch(ec, n); });
  }

  void OnWatch(error_code ec, std::size_t n) {
    watch_pending_ = false;
    if (state_ == State::kClosed) return;
    if (ec) return Close();  // the client went away (or the idle deadline closed it)
    buffer_.commit(n);
    if (next_on_bytes_) {
      next_on_bytes_ = false;
      ReadHead();
    }
  }

  void ReadHead() {
    state_ = State::kReading;
    timed_out_ = false;
    SetDeadline(config_->options.request_timeout);
    head_parser_.emplace();
    head_parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(config_->options.header_limit, UINT32_MAX)));
    head_parser_->body_limit(boost::none);  // checked against the route's BodyPolicy below
    http::async_read_header(
        stream_, buffer_, *head_parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->OnHead(ec); });
  }

  void OnHead(error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec) return OnReadError(ec);
    auto& message = head_parser_->get();
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    if (!BuildRequest(message)) {
      return SendError(400, "invalid_request", "the request target is not a valid URL path");
    }
    const std::string_view range = message[http::field::range];
    range_.assign(range.data(), range.size());
    head_request_ = message.method() == http::verb::head;

    if (websocket::is_upgrade(message) && config_->is_websocket_path &&
        config_->is_websocket_path(request_.path)) {
      return Upgrade();
    }

    BodyPolicy policy{config_->options.body_limit, std::nullopt};
    if (config_->body_policy) {
      bool threw = true;
      Guarded("BodyPolicyFn", [&] {
        policy = config_->body_policy(request_);
        threw = false;
      });
      if (threw) return SendError(500, "internal", "internal error");
    }
    const auto length = head_parser_->content_length();
    if (length && *length > policy.limit) {
      return SendError(413, "payload_too_large",
                       "request body is larger than " + std::to_string(policy.limit) + " bytes");
    }
    if (head_parser_->is_done()) {  // no body: the common case
      head_parser_.reset();
      return Dispatch();
    }
    if (policy.stream_to_file) {
      upload_parser_.emplace(std::move(*head_parser_));
      head_parser_.reset();
      upload_parser_->body_limit(policy.limit);
      auto upload = std::make_shared<Upload>(*policy.stream_to_file, config_->file_pool);
      upload_ = upload;
      // The file is created on the file pool; the body is read once it is there.
      return OnFilePool(
          [upload, io = config_->file_io] {
            auto created = io->Create(upload->path);
            if (!created) {
              upload->status = Fail(std::move(created.error()));
              return;
            }
            upload->file = std::move(*created);
          },
          [this] {
            if (!upload_->status) return FailUpload();
            StartBody();
          });
    }
    string_parser_.emplace(std::move(*head_parser_));
    head_parser_.reset();
    string_parser_->body_limit(policy.limit);
    StartBody();
  }

  // Answers `Expect: 100-continue`, then reads the body.
  void StartBody() {
    const std::string* expect = request_.FindHeader("expect");
    if (expect != nullptr && EqualsIgnoreCase(*expect, "100-continue") && version_ >= 11) {
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = this->shared_from_this()](error_code error, std::size_t) {
                          if (self->state_ == State::kClosed) return;
                          if (error) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (upload_parser_) {
      detail::MakeRoomForBody(buffer_, upload_parser_->content_length());
      return ReadUploadChunk();
    }
    detail::MakeRoomForBody(buffer_, string_parser_->content_length());
    http::async_read(stream_, buffer_, *string_parser_,
                     [self = this->shared_from_this()](error_code ec, std::size_t) {
                       if (self->state_ == State::kClosed) return;
                       if (ec) return self->OnReadError(ec);
                       detail::ReleaseBodyRoom(self->buffer_);
                       self->Dispatch();
                     });
  }

  // -- streamed uploads: socket reads on the loop fill a chunk, the file pool writes it

  // The upload's file and chunk, shared with the file pool's tasks. The file is removed when the
  // last owner lets go, unless the request reached its handler (`keep`): then it is the handler's.
  struct Upload {
    Upload(std::filesystem::path upload_path, std::shared_ptr<WorkerPool> file_pool)
        : path(std::move(upload_path)), pool(std::move(file_pool)) {}
    ~Upload() {
      if (keep) return;
      // Closed and unlinked on the pool, after the last write (which held this object): unlinking
      // a large file may take a while.
      pool->Post([file = std::shared_ptr<WritableFile>(std::move(file)), path = path] {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
      });
    }
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;

    const std::filesystem::path path;
    const std::shared_ptr<WorkerPool> pool;
    std::unique_ptr<WritableFile> file;
    std::unique_ptr<char[]> chunk = std::make_unique<char[]>(kFileChunk);
    std::size_t filled = 0;
    Status status;  // of the last file operation
    bool keep = false;
  };

  void ReadUploadChunk() {
    // Streamed uploads may be large: request_timeout bounds each read and the write that follows.
    SetDeadline(config_->options.request_timeout);
    auto& body = upload_parser_->get().body();
    body.data = upload_->chunk.get() + upload_->filled;
    body.size = kFileChunk - upload_->filled;
    http::async_read_some(
        stream_, buffer_, *upload_parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->OnUploadRead(ec); });
  }

  void OnUploadRead(error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec == http::error::need_buffer) ec = {};  // the chunk is full
    if (ec) return OnReadError(ec);
    upload_->filled = kFileChunk - upload_parser_->get().body().size;
    if (upload_->filled < kFileChunk && !upload_parser_->is_done()) return ReadUploadChunk();
    OnFilePool(
        [upload = upload_] {
          if (upload->filled > 0)
            upload->status = upload->file->Append(upload->chunk.get(), upload->filled);
        },
        [this] { OnUploadWritten(); });
  }

  void OnUploadWritten() {
    if (!upload_->status) return FailUpload();
    upload_->filled = 0;
    if (!upload_parser_->is_done()) return ReadUploadChunk();
    OnFilePool([upload = upload_] { upload->status = upload->file->Close(); },
               [this] {
                 if (!upload_->status) return FailUpload();
                 detail::ReleaseBodyRoom(buffer_);
                 Dispatch();
               });
  }

  // The disk failed the upload: 500, then close (the client may still be sending).
  void FailUpload() {
    Log().error("cannot store a request body: {}", upload_->status.error().message);
    upload_parser_.reset();
    RemoveUpload();
    SendError(500, "internal", "cannot store the request body");
  }

  // Runs `work` on the file pool, then `done` on this connection's loop unless the connection
  // closed meanwhile. The task owns the connection until it is back on the loop, so that the
  // connection is always destroyed on its loop (or with it).
  template <class Work, class Done>
  void OnFilePool(Work&& work, Done&& done) {
    config_->file_pool->Post([self = this->shared_from_this(), loop = weak_loop_.lock(),
                              work = std::forward<Work>(work),
                              done = std::forward<Done>(done)]() mutable {
      if (!self->closed_.load(std::memory_order_acquire)) work();
      asio::post(loop->ctx, [self = std::move(self), done = std::move(done)]() mutable {
        if (self->state_ != State::kClosed) done();
      });
    });
  }

  void OnReadError(error_code ec) {
    head_parser_.reset();
    string_parser_.reset();
    upload_parser_.reset();
    RemoveUpload();
    // The API's error table (docs/protocol.md §1) has invalid_request as a 400: a request head
    // too large or a request not complete in time is one, not a 431 or a 408.
    if (timed_out_) {
      return SendError(400, "invalid_request", "the request did not arrive in time");
    }
    if (ec == http::error::body_limit) {
      return SendError(413, "payload_too_large", "request body is too large");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return SendError(400, "invalid_request", "request headers are too large");
    }
    const bool protocol_error = ec.category() == error_code(http::error::bad_method).category();
    if (!protocol_error || ec == http::error::end_of_stream || ec == http::error::partial_message) {
      // Network errors, or a peer that closed before a complete request: nobody to answer.
      return Close();
    }
    return SendError(400, "invalid_request", "malformed HTTP request: " + ec.message());
  }

  bool BuildRequest(const http::request<http::empty_body>& message) {
    request_ = HttpRequest{};
    request_.method.assign(message.method_string().data(), message.method_string().size());
    request_.target.assign(message.target().data(), message.target().size());
    request_.version = static_cast<int>(message.version());
    request_.remote_address = remote_;
    request_.headers.reserve(16);
    for (const auto& field : message) {
      request_.headers.push_back(
          Header{std::string(field.name_string()), std::string(field.value())});
    }
    const auto url = boost::urls::parse_origin_form(
        boost::core::string_view(request_.target.data(), request_.target.size()));
    if (!url) return false;
    request_.path = url->path();
    if (url->has_query()) {
      for (const auto& param : url->params(boost::urls::encoding_opts(true))) {
        request_.query.emplace_back(param.key, param.value);
      }
    }
    return true;
  }

  // -- handling

  void Dispatch() {
    ClearDeadline();
    if (string_parser_) {
      request_.body = std::move(string_parser_->get().body());
      string_parser_.reset();
    }
    if (upload_) {
      upload_parser_.reset();
      upload_->keep = true;
      request_.body_file = upload_->path;
      upload_.reset();
    }
    state_ = State::kHandling;
    ++seq_;
    if (!responder_ || responder_.use_count() != 1) {
      responder_ = std::make_shared<ResponderImpl>(
          weak_loop_, std::weak_ptr<HttpConnectionBase>(this->shared_from_this()));
    }
    responder_->Reset(seq_);
    const std::shared_ptr<ResponderImpl> responder = responder_;
    try {
      config_->handler(std::move(request_), responder);
    } catch (const std::exception& e) {
      Log().error("handler for {} threw: {}", request_.target, e.what());
      responder->Send(ErrorResponse(500, "internal", "internal error"));
    } catch (...) {
      Log().error("handler for {} threw a non-standard exception", request_.target);
      responder->Send(ErrorResponse(500, "internal", "internal error"));
    }
    if (state_ != State::kHandling) return;  // closed meanwhile
    if (pending_response_) {
      HttpResponse response = std::move(*pending_response_);
      pending_response_.reset();
      return WriteResponse(std::move(response));
    }
    state_ = State::kWaiting;
    next_on_bytes_ = false;
    if (buffer_.size() == 0 && !watch_pending_) StartWatch();
  }

  static HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
    HttpResponse response;
    response.status = status;
    response.body = ErrorBody(code, message);
    return response;
  }

  // -- writing

  template <class Message>
  void SetCommonHeaders(Message& message, const HttpResponse& response, bool close) {
    message.version(version_);
    message.result(response.status >= 100 && response.status <= 999
                       ? static_cast<unsigned>(response.status)
                       : 500U);
    message.set(http::field::server, config_->options.server_name);
    std::string scratch;
    for (const Header& header : response.headers) {
      message.insert(header.name, SafeHeaderValue(header.value, scratch));
    }
    message.keep_alive(!close);
  }

  bool CloseAfterResponse() const {
    return !keep_alive_ || stopping_ || config_->stopping.load(std::memory_order_acquire);
  }

  void WriteResponse(HttpResponse&& response) {
    state_ = State::kWriting;
    const bool close = CloseAfterResponse();
    SetDeadline(config_->options.request_timeout);
    if (response.file) return WriteFile(std::move(response), close);
    auto& message = string_response_.emplace();
    SetCommonHeaders(message, response, close);
    if (!response.body.empty()) {
      std::string scratch;
      message.set(http::field::content_type, SafeHeaderValue(response.content_type, scratch));
    }
    message.body() = std::move(response.body);
    message.prepare_payload();
    if (head_request_) {
      // HEAD: the head announces the length of the body it does not send.
      auto& head = head_response_.emplace(static_cast<http::response_header<>&&>(message));
      string_response_.reset();
      http::async_write_header(stream_, head_serializer_.emplace(head),
                               [self = this->shared_from_this(), close](
                                   error_code ec, std::size_t) { self->OnWritten(ec, close); });
      return;
    }
    http::async_write(stream_, message,
                      [self = this->shared_from_this(), close](error_code ec, std::size_t) {
                        self->OnWritten(ec, close);
                      });
  }

  // -- file responses: opened and read on the file pool, written to the socket on the loop

  // Shared with the file pool's tasks, which touch only `file`, `status`, `chunk` and `got`.
  struct FileReply {
    std::unique_ptr<ReadableFile> file;
    Status status;  // of the last file operation
    std::unique_ptr<char[]> chunk;
    std::size_t got = 0;  // bytes the last read put into `chunk`
    std::uint64_t offset = 0;
    std::uint64_t remain = 0;
    http::response<http::empty_body> head;
    std::optional<http::serializer<false, http::empty_body>> serializer;
  };

  void WriteFile(HttpResponse&& response, bool close) {
    auto reply = std::make_shared<FileReply>();
    file_reply_ = reply;
    std::filesystem::path path = *response.file;  // before `response` moves into `done`
    OnFilePool(
        [reply, io = config_->file_io, path = std::move(path)] {
          auto opened = io->OpenForReading(path);
          if (!opened) {
            reply->status = Fail(std::move(opened.error()));
            return;
          }
          reply->file = std::move(*opened);
        },
        [this, response = std::move(response), close]() mutable {
          OnFileOpened(std::move(response), close);
        });
  }

  void OnFileOpened(HttpResponse&& response, bool close) {
    FileReply& reply = *file_reply_;
    if (!reply.status) {
      const Error error = reply.status.error();
      file_reply_.reset();
      if (error.code == Errc::kNotFound) {
        return WriteResponse(ErrorResponse(404, "not_found", "file not found"));
      }
      Log().error("cannot serve a file: {}", error.message);
      return WriteResponse(ErrorResponse(500, "internal", "cannot read the file"));
    }
    const std::uint64_t size = reply.file->size();
    if (response.file_size && *response.file_size != size) {
      // Damaged or changed since the handler looked: never serve bytes it did not mean to.
      Log().error("{} has {} bytes, not the {} expected: not served", response.file->string(), size,
                  *response.file_size);
      file_reply_.reset();
      return WriteResponse(
          ErrorResponse(500, "internal", "the file does not have its recorded size"));
    }
    ByteRange range;
    if (!range_.empty() && response.status == 200) range = ParseByteRange(range_, size);
    if (range.kind == ByteRange::Kind::kUnsatisfiable) {
      file_reply_.reset();
      HttpResponse unsatisfiable = ErrorResponse(416, "invalid_request", "range not satisfiable");
      unsatisfiable.headers.push_back({"Content-Range", "bytes */" + std::to_string(size)});
      return WriteResponse(std::move(unsatisfiable));
    }
    reply.offset = 0;
    reply.remain = size;
    if (range.kind == ByteRange::Kind::kPartial) {
      response.status = 206;
      reply.offset = range.first;
      reply.remain = range.length;
    }
    auto& head = reply.head;
    SetCommonHeaders(head, response, close);
    std::string scratch;
    head.set(http::field::content_type, SafeHeaderValue(response.content_type, scratch));
    head.set(http::field::accept_ranges, "bytes");
    if (range.kind == ByteRange::Kind::kPartial) {
      head.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                               std::to_string(range.first + range.length - 1) +
                                               "/" + std::to_string(size));
    }
    head.content_length(reply.remain);  // the body follows the head as raw bytes
    http::async_write_header(stream_, reply.serializer.emplace(head),
                             [self = this->shared_from_this(), close](error_code ec, std::size_t) {
                               if (self->state_ == State::kClosed) return;
                               if (ec || self->head_request_ || self->file_reply_->remain == 0) {
                                 return self->OnWritten(ec, close);
                               }
                               self->SendFileChunk(close);
                             });
  }

  // Large downloads: request_timeout bounds each chunk (its read and its write), not the whole
  // transfer.
  void SendFileChunk(bool close) {
    SetDeadline(config_->options.request_timeout);
    auto& reply = *file_reply_;
    if (!reply.chunk) reply.chunk = std::make_unique<char[]>(kFileChunk);
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(reply.remain, kFileChunk));
    OnFilePool(
        [reply = file_reply_, want] {
          auto read = reply->file->ReadAt(reply->offset, reply->chunk.get(), want);
          if (!read) {
            reply->status = Fail(std::move(read.error()));
            return;
          }
          reply->got = *read;
        },
        [this, close] { OnFileChunkRead(close); });
  }

  void OnFileChunkRead(bool close) {
    auto& reply = *file_reply_;
    if (!reply.status || reply.got == 0) {
      // The head is out: all that is left is to cut the response short.
      Log().error("a file response stopped short: {}", reply.status
                                                           ? "the file shrank while it was sent"
                                                           : reply.status.error().message);
      return Close();
    }
    asio::async_write(stream_, asio::buffer(reply.chunk.get(), reply.got),
                      [self = this->shared_from_this(), close](error_code ec, std::size_t n) {
                        if (self->state_ == State::kClosed) return;
                        auto& sent = *self->file_reply_;
                        sent.offset += n;
                        sent.remain -= n;
                        if (ec || sent.remain == 0) return self->OnWritten(ec, close);
                        self->SendFileChunk(close);
                      });
  }

  void OnWritten(error_code ec, bool close) {
    file_reply_.reset();
    head_serializer_.reset();
    head_response_.reset();
    string_response_.reset();
    if (state_ == State::kClosed) return;
    if (ec || close) return Close();
    ReadNext();
  }

  // Answers a transport-level error and closes the connection.
  void SendError(int status, std::string_view code, std::string message) {
    keep_alive_ = false;
    state_ = State::kWriting;
    SetDeadline(kLingerTime + config_->options.request_timeout);
    auto& response = string_response_.emplace();
    HttpResponse plain = ErrorResponse(status, code, message);
    SetCommonHeaders(response, plain, true);
    response.set(http::field::content_type, "application/json");
    response.body() = std::move(plain.body);
    response.prepare_payload();
    http::async_write(stream_, response,
                      [self = this->shared_from_this()](error_code ec, std::size_t) {
                        self->string_response_.reset();
                        if (self->state_ == State::kClosed) return;
                        if (ec) return self->Close();
                        self->Linger();
                      });
  }

  // After an error answer the client may still be sending (a rejected upload): read and drop
  // its bytes for a moment so that closing does not reset the connection before it reads the
  // answer.
  void Linger() {
    if (state_ != State::kLingering) {
      state_ = State::kLingering;
      error_code ignored;
      Socket().shutdown(tcp::socket::shutdown_send, ignored);
      SetDeadline(kLingerTime);
    }
    if (watch_pending_) return;  // its completion closes
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(16 * 1024),
                            [self = this->shared_from_this()](error_code ec, std::size_t) {
                              if (self->state_ == State::kClosed) return;
                              if (ec) return self->Close();
                              self->Linger();
                            });
  }

  // -- upgrade to WebSocket

  void Upgrade() {
    http::request<http::empty_body> message = head_parser_->release();
    head_parser_.reset();
    ClearDeadline();
    Unregister();
    state_ = State::kClosed;
    timer_.cancel();
    auto session = std::make_shared<WsSession<Stream>>(std::move(stream_), loop_, weak_loop_,
                                                       config_, std::move(request_));
    session->Accept(std::move(message));
  }

  // -- closing

  void Unregister() {
    loop_.endpoints.erase(this);
    config_->live.fetch_sub(1, std::memory_order_acq_rel);
  }

  // Drops the connection's hold on the upload; its last owner removes the file (Upload).
  void RemoveUpload() { upload_.reset(); }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    closed_.store(true, std::memory_order_release);
    if (responder_) responder_->MarkClosed();
    upload_parser_.reset();
    RemoveUpload();
    Unregister();
    error_code ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
    timer_.cancel();
  }

  Stream stream_;
  Loop& loop_;
  std::weak_ptr<Loop> weak_loop_;
  std::shared_ptr<Config> config_;
  asio::steady_timer timer_;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  bool timer_armed_ = false;

  State state_ = State::kIdle;
  beast::flat_buffer buffer_;
  bool watch_pending_ = false;
  bool next_on_bytes_ = false;
  bool timed_out_ = false;
  bool stopping_ = false;
  bool keep_alive_ = true;
  bool head_request_ = false;
  unsigned version_ = 11;
  std::string remote_;
  std::string range_;

  std::optional<http::request_parser<http::empty_body>> head_parser_;
  std::optional<http::request_parser<http::string_body>> string_parser_;
  std::optional<http::request_parser<http::buffer_body>> upload_parser_;
  std::shared_ptr<Upload> upload_;
  // Set with state_ = kClosed; read by file pool tasks, which skip their disk work then.
  std::atomic<bool> closed_{false};
  HttpRequest request_;

  std::uint64_t seq_ = 0;
  std::shared_ptr<ResponderImpl> responder_;
  std::optional<HttpResponse> pending_response_;
  std::optional<http::response<http::string_body>> string_response_;
  std::optional<http::response<http::empty_body>> head_response_;
  std::optional<http::serializer<false, http::empty_body>> head_serializer_;
  // A file answer carries a 256 KiB chunk: on the heap, only while it is being written, so that
  // an idle connection stays small.
  std::shared_ptr<FileReply> file_reply_;
};

// ---------------------------------------------------------------------------------------------
// Refused connections

// A connection over the limit: writes the canned 503, stops sending, and reads (dropping) what the
// client still sends for up to kRefusalLinger, so that closing does not reset the connection
// before the client read its answer. Lives on its socket's loop; not counted in Config::live.
class Refusal final : public std::enable_shared_from_this<Refusal> {
 public:
  Refusal(tcp::socket socket, std::shared_ptr<Config> config)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), config_(std::move(config)) {
    config_->refusing.fetch_add(1, std::memory_order_acq_rel);
  }
  ~Refusal() { config_->refusing.fetch_sub(1, std::memory_order_acq_rel); }
  Refusal(const Refusal&) = delete;
  Refusal& operator=(const Refusal&) = delete;

  // Called on the acceptor's loop: the work starts on the socket's.
  void Start() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->Begin(); });
  }

 private:
  void Begin() {
    timer_.expires_after(kRefusalLinger);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->Finish();
    });
    asio::async_write(socket_, asio::buffer(kRefusal.data(), kRefusal.size()),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (ec) return self->Finish();
                        error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        self->Drain();
                      });
  }

  void Drain() {
    socket_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (ec) return self->Finish();
                              self->Drain();
                            });
  }

  void Finish() {
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::shared_ptr<Config> config_;
  char discard_[1024];
};

// ---------------------------------------------------------------------------------------------
// Timers

class TimerHandleImpl final : public TimerHandle {
 public:
  explicit TimerHandleImpl(std::weak_ptr<Loop> loop) : loop_(std::move(loop)) {}

  void Cancel() override {
    cancelled_.store(true, std::memory_order_release);
    const std::shared_ptr<Loop> loop = loop_.lock();
    if (!loop) return;
    asio::post(loop->ctx, [timer = timer_] {
      if (auto alive = timer.lock()) alive->cancel();
    });
  }

  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  void SetTimer(std::weak_ptr<asio::steady_timer> timer) { timer_ = std::move(timer); }

 private:
  std::weak_ptr<Loop> loop_;
  std::weak_ptr<asio::steady_timer> timer_;  // set before the handle is returned, then read-only
  std::atomic<bool> cancelled_{false};
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// HttpServer::Impl

class HttpServer::Impl {
 public:
  explicit Impl(std::shared_ptr<Config> config) : config_(std::move(config)) {}

  ~Impl() { Stop(); }

  Status Start() {
    if (started_) return Fail(Errc::kInvalidState, "the server was already started");
    const HttpServerOptions& options = config_->options;
    if (options.tls) {
      try {
        auto& context = config_->tls.emplace(ssl::context::tls_server);
        context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                            ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                            ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
        context.use_certificate_chain_file(options.tls->cert_chain.string());
        context.use_private_key_file(options.tls->private_key.string(), ssl::context::pem);
      } catch (const std::exception& e) {
        config_->tls.reset();
        return Fail(Errc::kInvalidRequest, "cannot load TLS certificate " +
                                               options.tls->cert_chain.string() + " / key " +
                                               options.tls->private_key.string() + ": " + e.what());
      }
    }
    config_->file_io = options.file_io ? options.file_io : RealFileIo();
    config_->file_pool = options.file_pool;
    if (!config_->file_pool) {
      own_file_pool_ = std::make_shared<WorkerPool>(std::max(1, options.file_threads));
      config_->file_pool = own_file_pool_;
    }
    // Kept in reserve for the moment the process runs out of descriptors (OnAcceptError).
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int threads = std::max(1, options.threads);
    {
      const std::lock_guard lock(loops_mutex_);
      for (int i = 0; i < threads; ++i) {
        auto loop = std::make_shared<Loop>();
        loop->work.emplace(loop->ctx.get_executor());
        loops_.push_back(std::move(loop));
      }
    }
    const std::string where = options.address + ":" + std::to_string(options.port);
    error_code ec;
    const auto address = asio::ip::make_address(options.address, ec);
    if (ec) return Fail(Errc::kInvalidRequest, "invalid listen address " + where);
    acceptor_.emplace(loops_[0]->ctx);
    const tcp::endpoint endpoint(address, options.port);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      acceptor_.reset();
      const std::lock_guard lock(loops_mutex_);
      loops_.clear();
      return Fail(Errc::kIo, "cannot listen on " + where + ": " + ec.message());
    }
    port_ = acceptor_->local_endpoint(ec).port();
    retry_timer_.emplace(loops_[0]->ctx);
    started_ = true;
    Accept();
    for (auto& loop : loops_) {
      loop->thread = std::thread([raw = loop.get()] {
        ::pthread_setname_np(::pthread_self(), "http-loop");
        for (;;) {
          try {
            raw->ctx.run();
            return;
          } catch (const std::exception& e) {
            Log().error("an event loop handler threw: {}", e.what());
          } catch (...) {
            Log().error("an event loop handler threw a non-standard exception");
          }
        }
      });
    }
    return Ok();
  }

  std::uint16_t port() const { return port_; }

  HttpServerStats stats() const {
    return {config_->live.load(std::memory_order_relaxed),
            config_->refused.load(std::memory_order_relaxed)};
  }

  void Stop() {
    if (!started_ || stopped_) return;
    stopped_ = true;
    config_->stopping.store(true, std::memory_order_release);
    asio::post(loops_[0]->ctx, [this] {
      error_code ignored;
      acceptor_->close(ignored);
      retry_timer_->cancel();
    });
    ShutdownAll(false);
    const auto deadline = SteadyClock::now() + config_->options.stop_timeout;
    while (config_->live.load(std::memory_order_acquire) > 0 && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ShutdownAll(true);
    for (auto& loop : loops_) {
      loop->work.reset();
      asio::post(loop->ctx, [raw = loop.get()] { raw->ctx.stop(); });
    }
    for (auto& loop : loops_) {
      if (loop->thread.joinable()) loop->thread.join();
    }
    // Every connection is closed: the file tasks still queued skip their disk work. A pool that
    // is not the server's own is its owner's to stop; its tasks hold the loops they post to.
    if (own_file_pool_) own_file_pool_->Stop();
    if (spare_fd_ >= 0) ::close(spare_fd_);
    spare_fd_ = -1;
    // Destroys every connection still referenced by a pending handler (on this thread: the
    // loops no longer run). Users' Responders and sessions only hold weak references.
    retry_timer_.reset();
    acceptor_.reset();
    std::vector<std::shared_ptr<Loop>> loops;
    {
      const std::lock_guard lock(loops_mutex_);
      loops.swap(loops_);
    }
    loops.clear();
  }

  void Post(std::function<void()> fn) {
    const std::lock_guard lock(loops_mutex_);
    if (loops_.empty() || config_->stopping.load(std::memory_order_acquire)) return;
    asio::post(NextLoop().ctx, [fn = std::move(fn)] { Guarded("Post callback", fn); });
  }

  std::shared_ptr<TimerHandle> RunAfter(std::chrono::milliseconds delay, std::function<void()> fn) {
    const std::lock_guard lock(loops_mutex_);
    if (loops_.empty() || config_->stopping.load(std::memory_order_acquire)) {
      auto dead = std::make_shared<TimerHandleImpl>(std::weak_ptr<Loop>());
      dead->Cancel();
      return dead;
    }
    const std::shared_ptr<Loop>& loop = loops_[next_loop_.fetch_add(1) % loops_.size()];
    auto handle = std::make_shared<TimerHandleImpl>(loop);
    auto timer = std::make_shared<asio::steady_timer>(loop->ctx, delay);
    handle->SetTimer(timer);
    // The timer object must be touched on its loop only: start the wait there.
    asio::post(loop->ctx, [timer, handle, fn = std::move(fn)]() mutable {
      timer->async_wait([timer, handle, fn = std::move(fn)](error_code ec) {
        if (ec || handle->cancelled()) return;
        Guarded("RunAfter callback", fn);
      });
    });
    return handle;
  }

 private:
  Loop& NextLoop() { return *loops_[next_loop_.fetch_add(1) % loops_.size()]; }

  void ShutdownAll(bool force) {
    for (auto& loop : loops_) {
      asio::post(loop->ctx, [raw = loop.get(), force] {
        const std::vector<Endpoint*> endpoints(raw->endpoints.begin(), raw->endpoints.end());
        for (Endpoint* endpoint : endpoints) {
          if (raw->endpoints.count(endpoint) != 0) endpoint->Shutdown(force);
        }
      });
    }
  }

  void Accept() {
    // Handlers hold loops weakly: a loop's io_context must never own a handler that owns it.
    const std::weak_ptr<Loop> target = loops_[accept_next_++ % loops_.size()];
    acceptor_->async_accept(target.lock()->ctx, [this, target](error_code ec, tcp::socket socket) {
      if (config_->stopping.load(std::memory_order_acquire) || !acceptor_->is_open()) return;
      if (ec) return OnAcceptError(ec);
      if (config_->live.load(std::memory_order_acquire) >= config_->options.max_connections) {
        Refuse(std::move(socket));
        return Accept();
      }
      config_->live.fetch_add(1, std::memory_order_acq_rel);
      if (const std::shared_ptr<Loop> loop = target.lock()) {
        asio::post(loop->ctx, [config = config_, target, s = std::move(socket)]() mutable {
          const std::shared_ptr<Loop> alive = target.lock();
          if (!alive || !StartConnection(config, alive, std::move(s))) {
            config->live.fetch_sub(1, std::memory_order_acq_rel);
          }
        });
      } else {
        config_->live.fetch_sub(1, std::memory_order_acq_rel);
      }
      Accept();
    });
  }

  // Over the connection limit: a 503 the client can read, then close (see Refusal).
  void Refuse(tcp::socket socket) {
    config_->refused.fetch_add(1, std::memory_order_relaxed);
    if (config_->tls || config_->refusing.load(std::memory_order_acquire) >= kMaxRefusing) {
      error_code ignored;
      socket.close(ignored);
      return;
    }
    auto refusal = std::make_shared<Refusal>(std::move(socket), config_);
    refusal->Start();
  }

  void OnAcceptError(error_code ec) {
    const bool out_of_descriptors =
        ec == asio::error::no_descriptors ||
        (ec.category() == asio::error::get_system_category() && ec.value() == ENFILE);
    const bool refused = out_of_descriptors && RefuseWithSpareDescriptor();
    const auto now = SteadyClock::now();
    if (now >= next_accept_warning_) {  // at most one line every 10 s under a flood
      next_accept_warning_ = now + std::chrono::seconds(10);
      Log().warn("accept failed: {}{}", ec.message(),
                 out_of_descriptors ? " (refusing connections until descriptors are free)" : "");
    }
    // A refused connection is progress; otherwise back off instead of spinning.
    if (refused) return Accept();
    retry_timer_->expires_after(std::chrono::milliseconds(100));
    retry_timer_->async_wait([this](error_code error) {
      if (!error) Accept();
    });
  }

  // Out of descriptors: frees the reserve, takes the oldest waiting connection, tells it 503 in
  // one non-blocking send, closes it and takes the reserve back. The client is told instead of
  // waiting in the backlog. True when a connection was refused.
  bool RefuseWithSpareDescriptor() {
    if (spare_fd_ < 0) return false;
    ::close(spare_fd_);
    const int fd =
        ::accept4(acceptor_->native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      (void)::send(fd, kRefusal.data(), kRefusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
      config_->refused.fetch_add(1, std::memory_order_relaxed);
    }
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
  }

  // False when the server is stopping (the socket is closed).
  static bool StartConnection(const std::shared_ptr<Config>& config,
                              const std::shared_ptr<Loop>& loop, tcp::socket socket) {
    if (config->stopping.load(std::memory_order_acquire)) return false;
    if (config->tls) {
      auto connection = std::make_shared<HttpConnection<SslStream>>(
          SslStream(std::move(socket), *config->tls), *loop, loop, config);
      connection->Start();
    } else {
      auto connection =
          std::make_shared<HttpConnection<tcp::socket>>(std::move(socket), *loop, loop, config);
      connection->Start();
    }
    return true;
  }

  std::shared_ptr<Config> config_;
  std::mutex loops_mutex_;  // guards loops_ for Post and RunAfter from any thread
  std::vector<std::shared_ptr<Loop>> loops_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> retry_timer_;
  std::shared_ptr<WorkerPool> own_file_pool_;  // when the options gave none
  int spare_fd_ = -1;                          // acceptor loop only, once started
  SteadyClock::time_point next_accept_warning_{};
  std::size_t accept_next_ = 0;  // acceptor loop only
  std::atomic<std::size_t> next_loop_{0};
  std::uint16_t port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

// ---------------------------------------------------------------------------------------------
// HttpServer

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler, BodyPolicyFn body_policy,
                       WebSocketHandlers ws_handlers,
                       std::function<bool(std::string_view path)> is_websocket_path) {
  auto config = std::make_shared<Config>();
  config->options = std::move(options);
  config->handler = std::move(handler);
  config->body_policy = std::move(body_policy);
  config->ws = std::move(ws_handlers);
  config->is_websocket_path = std::move(is_websocket_path);
  impl_ = std::make_shared<Impl>(std::move(config));
}

HttpServer::~HttpServer() {
  Stop();
}

Status HttpServer::Start() {
  return impl_->Start();
}
std::uint16_t HttpServer::port() const {
  return impl_->port();
}
HttpServerStats HttpServer::stats() const {
  return impl_->stats();
}
void HttpServer::Stop() {
  impl_->Stop();
}
void HttpServer::Post(std::function<void()> fn) {
  impl_->Post(std::move(fn));
}
std::shared_ptr<TimerHandle> HttpServer::RunAfter(std::chrono::milliseconds delay,
                                                  std::function<void()> fn) {
  return impl_->RunAfter(delay, std::move(fn));
}

}  // namespace orb::net
