// HttpServer on Beast/Asio with callbacks (see http_server.hpp for the model): the acceptor with
// its connection limit, the loops, timers and the HttpServer itself. A connection is
// http_connection.cpp, a WebSocket session ws_session.cpp; what they share is
// detail/server_core.hpp (lifetimes are described there).

#include "net/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.hpp"
#include "net/detail/server_core.hpp"

namespace orb::net {
namespace server_detail {

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

std::string_view SafeHeaderValue(std::string_view value, std::string& scratch) {
  if (value.find_first_of("\r\n") == std::string_view::npos) return value;
  scratch.clear();
  for (const char c : value) {
    if (c != '\r' && c != '\n') scratch.push_back(c);
  }
  return scratch;
}

}  // namespace server_detail

using namespace server_detail;

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
  body += R"(","details":[]}})";
  return body;
}

namespace {

void KeepFromChildren(int fd) {
  if (fd >= 0) (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

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
    "Content-Length: 95\r\n"
    "\r\n"
    R"({"error":{"code":"unavailable","message":"fleet-cmdr is at its connection limit","details":[]}})";

// ---------------------------------------------------------------------------------------------
// Loops, configuration, registry// ---------------------------------------------------------------------------------------------
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
    // Asio opens and accepts without close-on-exec: a program this process starts (a test's
    // fleetctl, a hook) would keep the listening socket, and with it the port, after we close it.
    if (!ec) KeepFromChildren(acceptor_->native_handle());
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
      KeepFromChildren(socket.native_handle());
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
    StartHttpConnection(std::move(socket), loop, config);
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
