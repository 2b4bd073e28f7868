#pragma once

// What the HTTP server's translation units share: http_server.cpp (the acceptor, the loops, timers,
// HttpServer), http_connection.cpp (an HTTP/1.1 connection) and ws_session.cpp (a WebSocket
// session). The three are compiled as one unity group (src/net/CMakeLists.txt), so Beast's
// templates are instantiated once, as when they were one file.
//
// Lifetimes: a connection or session is owned by the handlers pending on its loop (and, while a
// handler has not answered, by itself), so it is destroyed on its loop thread or when the loop's
// io_context is destroyed. Objects handed to users (Responder, WebSocketSession, TimerHandle) hold
// only weak references to loops and connections, so they may outlive the server.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "net/file_io.hpp"
#include "net/http_server.hpp"
#include "net/worker_pool.hpp"

namespace orb::net::server_detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using beast::error_code;
using SteadyClock = std::chrono::steady_clock;

bool EqualsIgnoreCase(std::string_view a, std::string_view b);
spdlog::logger& Log();
// Drops CR and LF so that a header value can never split the response head.
std::string_view SafeHeaderValue(std::string_view value, std::string& scratch);

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

// Starts serving an accepted connection on `loop` (TLS when the configuration has a context).
void StartHttpConnection(tcp::socket socket, const std::shared_ptr<Loop>& loop,
                         const std::shared_ptr<Config>& config);

// Completes a WebSocket upgrade of a connection whose request head was `message`. Instantiated
// for tcp::socket and SslStream (ws_session.cpp).
template <class Stream>
void StartWebSocket(Stream&& stream, Loop& loop, std::weak_ptr<Loop> weak_loop,
                    std::shared_ptr<Config> config, HttpRequest upgrade,
                    http::request<http::empty_body> message);

}  // namespace orb::net::server_detail
