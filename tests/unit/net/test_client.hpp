#pragma once

// A tiny blocking HTTP client for the server tests: raw requests out, Beast-parsed responses in,
// every wait bounded. Independent of net's own client on purpose.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace orb::net::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Response = http::response<http::string_body>;
using namespace std::chrono_literals;

template <class Stream>
class BasicTestClient {
 public:
  explicit BasicTestClient(std::uint16_t port) requires(
      !std::is_same_v<Stream, asio::ip::tcp::socket>)
      : tls_(asio::ssl::context::tls_client), stream_(io_, tls_) {
    Connect(port);
    error_code_ = Run([&](auto handler) {
      stream_.async_handshake(asio::ssl::stream_base::client,
                              [handler](beast::error_code ec) mutable { handler(ec); });
    });
  }
  explicit BasicTestClient(std::uint16_t port) requires(
      std::is_same_v<Stream, asio::ip::tcp::socket>)
      : tls_(asio::ssl::context::tls_client), stream_(io_) {
    Connect(port);
  }

  bool ok() const { return !error_code_; }
  const beast::error_code& error() const { return error_code_; }

  bool Write(std::string_view raw) {
    error_code_ = Run([&](auto handler) {
      asio::async_write(stream_, asio::buffer(raw.data(), raw.size()),
                        [handler](beast::error_code ec, std::size_t) mutable { handler(ec); });
    });
    return ok();
  }

  // One response, or nullopt on error / timeout (see error()).
  std::optional<Response> Read(std::chrono::milliseconds timeout = 5s) {
    parser_.emplace();
    parser_->body_limit(64 << 20);
    error_code_ = Run(
        [&](auto handler) {
          http::async_read(stream_, buffer_, *parser_,
                           [handler](beast::error_code ec, std::size_t) mutable { handler(ec); });
        },
        timeout);
    if (error_code_) return std::nullopt;
    return parser_->release();
  }

  std::optional<Response> Get(std::string_view target, std::string_view extra_headers = "") {
    std::string raw = "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" +
                      std::string(extra_headers) + "\r\n";
    if (!Write(raw)) return std::nullopt;
    return Read();
  }

  // True when the server closes the connection within `timeout` (buffered bytes are skipped).
  bool WaitClosed(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      std::size_t got = 0;
      const beast::error_code ec = Run(
          [&](auto handler) {
            stream_.async_read_some(buffer_.prepare(4096),
                                    [handler, &got](beast::error_code e, std::size_t n) mutable {
                                      got = n;
                                      handler(e);
                                    });
          },
          left);
      if (ec == asio::error::timed_out) return false;
      if (ec) return true;
      buffer_.commit(got);
      buffer_.consume(buffer_.size());
    }
  }

  // Reads until at least `size` bytes of the connection are buffered and returns them all (the
  // next Read parses them); nullopt on an error or when `timeout` passes first.
  std::optional<std::string> ReadAtLeast(std::size_t size, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.size() < size) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      std::size_t got = 0;
      error_code_ = Run(
          [&](auto handler) {
            stream_.async_read_some(buffer_.prepare(64 * 1024),
                                    [handler, &got](beast::error_code e, std::size_t n) mutable {
                                      got = n;
                                      handler(e);
                                    });
          },
          left);
      if (error_code_) return std::nullopt;
      buffer_.commit(got);
    }
    return beast::buffers_to_string(buffer_.data());
  }

  void Close() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).close(ignored);
  }

 private:
  void Connect(std::uint16_t port) {
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    error_code_ = Run([&](auto handler) {
      beast::get_lowest_layer(stream_).async_connect(
          endpoint, [handler](beast::error_code ec) mutable { handler(ec); });
    });
  }

  // Starts one async operation and runs the context until it completes or `timeout` passes
  // (then the socket is closed and the result is timed_out).
  template <class Start>
  beast::error_code Run(Start start, std::chrono::milliseconds timeout = 5s) {
    bool done = false;
    beast::error_code result;
    start([&](beast::error_code ec) {
      done = true;
      result = ec;
    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      beast::error_code ignored;
      beast::get_lowest_layer(stream_).close(ignored);
      io_.restart();
      io_.run();
      return asio::error::timed_out;
    }
    return result;
  }

  asio::io_context io_;
  asio::ssl::context tls_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  beast::error_code error_code_;
};

// A WebSocket client over plain TCP; every wait bounded like BasicTestClient.
class WsTestClient {
 public:
  WsTestClient(std::uint16_t port, const std::string& target) : ws_(io_) {
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    error_ = Run([&](auto handler) {
      ws_.next_layer().async_connect(endpoint,
                                     [handler](beast::error_code ec) mutable { handler(ec); });
    });
    if (error_) return;
    error_ = Run([&](auto handler) {
      ws_.async_handshake("127.0.0.1", target,
                          [handler](beast::error_code ec) mutable { handler(ec); });
    });
  }

  bool ok() const { return !error_; }
  const beast::error_code& error() const { return error_; }
  beast::websocket::close_reason reason() const { return ws_.reason(); }

  bool Send(const std::string& text) {
    error_ = Run([&](auto handler) {
      ws_.async_write(asio::buffer(text),
                      [handler](beast::error_code ec, std::size_t) mutable { handler(ec); });
    });
    return ok();
  }

  // The next message, or nullopt when the session closed (see reason()) or nothing came in time.
  std::optional<std::string> Receive(std::chrono::milliseconds timeout = 5s) {
    beast::flat_buffer buffer;
    error_ = Run(
        [&](auto handler) {
          ws_.async_read(buffer,
                         [handler](beast::error_code ec, std::size_t) mutable { handler(ec); });
        },
        timeout);
    if (error_) return std::nullopt;
    return beast::buffers_to_string(buffer.data());
  }

  bool CloseNormally() {
    error_ = Run([&](auto handler) {
      ws_.async_close(beast::websocket::close_code::normal,
                      [handler](beast::error_code ec) mutable { handler(ec); });
    });
    return ok();
  }

 private:
  template <class Start>
  beast::error_code Run(Start start, std::chrono::milliseconds timeout = 5s) {
    bool done = false;
    beast::error_code result;
    start([&](beast::error_code ec) {
      done = true;
      result = ec;
    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      beast::error_code ignored;
      ws_.next_layer().close(ignored);
      io_.restart();
      io_.run();
      return asio::error::timed_out;
    }
    return result;
  }

  asio::io_context io_;
  beast::websocket::stream<asio::ip::tcp::socket> ws_;
  beast::error_code error_;
};

using TestClient = BasicTestClient<asio::ip::tcp::socket>;
using TlsTestClient = BasicTestClient<asio::ssl::stream<asio::ip::tcp::socket>>;

}  // namespace orb::net::testing
