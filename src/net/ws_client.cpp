#include "net/ws_client.hpp"

#include <atomic>
#include <deque>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "net/detail/client_support.hpp"

namespace orb::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::awaitable;
using std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;
using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

SteadyTime After(milliseconds duration) {
  return std::chrono::steady_clock::now() + duration;
}

}  // namespace

class WebSocketClient::Impl {
 public:
  explicit Impl(WebSocketOptions options) : options_(std::move(options)) {
    auto address = detail::ParseServerUrl(options_.base_url);
    if (!address) {
      config_error_ = std::move(address.error());
      return;
    }
    address_ = std::move(*address);
    if (address_.tls) {
      auto context = detail::MakeTlsContext(options_.ca_file);
      if (!context) {
        config_error_ = std::move(context.error());
        return;
      }
      tls_context_ = std::move(*context);
    }
  }

  ~Impl() {
    // Let a read that the close fails finish while everything it touches still exists.
    try {
      Abort();
      Finish([this] { return !read_pending_; });
    } catch (const std::exception&) {
      // Nothing more can be done in a destructor.
    }
  }

  Status Connect(const std::string& target, const HeaderList& headers) {
    if (config_error_) return Fail(*config_error_);
    if (cancelled_) return Cancelled();
    Drop();
    target_ = detail::JoinTarget(address_.path_prefix, target);
    timed_out_ = false;
    std::optional<Status> outcome;
    ioc_.restart();
    asio::co_spawn(ioc_, DoConnect(headers, After(options_.connect_timeout)),
                   [this, &outcome](std::exception_ptr error, Status result) {
                     ++timer_generation_;
                     timer_.cancel();
                     if (error) {
                       try {
                         std::rethrow_exception(error);
                       } catch (const std::exception& e) {
                         result = Fail(Errc::kInternal,
                                       std::string("WebSocket client failed: ") + e.what());
                       }
                     }
                     outcome.emplace(std::move(result));
                   });
    try {
      while (!outcome)
        ioc_.run_one();
    } catch (const std::exception& e) {
      Drop();
      return Fail(Errc::kInternal, std::string("WebSocket client failed: ") + e.what());
    }
    if (!*outcome) {
      Drop();
      return std::move(*outcome);
    }
    open_ = true;
    return Ok();
  }

  Status Send(std::string_view text) {
    if (auto usable = CheckOpen(); !usable) return usable;
    write_buffer_.assign(text);
    bool done = false;
    boost::system::error_code result;
    WithStream([&](auto& ws) {
      ws.text(true);
      ws.async_write(asio::buffer(write_buffer_),
                     [&done, &result](const boost::system::error_code& ec, std::size_t) {
                       done = true;
                       result = ec;
                     });
    });
    if (!RunUntil([&] { return done; }, After(options_.write_timeout))) {
      Abort();
      Finish([&] { return done; });
      open_ = false;
      if (cancelled_) return Cancelled();
      return Fail(Errc::kTimeout,
                  Describe() + ": sending a message timed out (deadline " +
                      std::to_string(options_.write_timeout.count()) + " ms)",
                  true);
    }
    if (result) {
      open_ = false;
      if (cancelled_) return Cancelled();
      return Fail(Errc::kNetwork,
                  Describe() + ": sending a message failed: " + detail::DescribeError(result),
                  true);
    }
    return Ok();
  }

  Expected<std::string> Receive(milliseconds timeout) {
    if (cancelled_) return Cancelled();
    if (!messages_.empty()) return PopMessage();
    if (read_error_) return ReadFailure();
    if (!open_) return NotOpen();
    if (!read_pending_) StartRead();
    RunUntil([&] { return !messages_.empty() || read_error_ || cancelled_; }, After(timeout));
    if (cancelled_) return Cancelled();
    if (!messages_.empty()) return PopMessage();
    if (read_error_) return ReadFailure();
    return Fail(Errc::kTimeout,
                Describe() + ": no message within " + std::to_string(timeout.count()) + " ms",
                true);
  }

  Status Close(int code, std::string_view reason) {
    if (cancelled_) return Cancelled();
    if (!open_) {
      Drop();
      return Ok();
    }
    bool done = false;
    boost::system::error_code result;
    reason = reason.substr(0, websocket::reason_string::static_capacity);
    websocket::close_reason close_reason(static_cast<websocket::close_code>(code),
                                         beast::string_view(reason.data(), reason.size()));
    WithStream([&](auto& ws) {
      ws.async_close(close_reason, [&done, &result](const boost::system::error_code& ec) {
        done = true;
        result = ec;
      });
    });
    const SteadyTime deadline = After(options_.write_timeout);
    const bool closed = RunUntil([&] { return done; }, deadline) &&
                        RunUntil([&] { return !read_pending_; }, deadline);
    // Once the server's close frame is in, the handshake is complete: what fails after it is the
    // teardown (TLS shutdown, TCP FIN) of a connection the other end may already have dropped.
    // Through nginx over TLS that is common ("Transport endpoint is not connected") and says
    // nothing about the close.
    bool answered = close_code_.has_value();
    WithStream([&](auto& ws) { answered = answered || ws.reason().code != 0; });
    Drop();
    Finish([&] { return done; });
    if (!closed) {
      return Fail(Errc::kTimeout,
                  Describe() + ": the server did not answer the close within " +
                      std::to_string(options_.write_timeout.count()) + " ms",
                  true);
    }
    if (result && result != asio::error::operation_aborted && !answered) {
      return Fail(Errc::kNetwork, Describe() + ": closing failed: " + detail::DescribeError(result),
                  true);
    }
    return Ok();
  }

  void Cancel() {
    cancelled_ = true;
    asio::post(ioc_, [this] { Abort(); });
  }

  bool open_ = false;
  std::optional<int> close_code_;

 private:
  awaitable<Status> DoConnect(const HeaderList& headers, SteadyTime deadline) {
    ArmTimer(deadline);
    boost::system::error_code ec;
    phase_ = "resolving " + address_.host;
    const auto endpoints = co_await resolver_.async_resolve(
        address_.host, address_.port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || cancelled_) co_return Failure(ec);

    phase_ = "connecting to " + address_.host + ":" + address_.port;
    if (address_.tls) {
      tls_ws_ = std::make_unique<TlsWs>(ioc_, *tls_context_);
      auto prepared =
          detail::PrepareTlsConnection(tls_ws_->next_layer().native_handle(), address_.host);
      if (!prepared) co_return prepared;
      co_await beast::get_lowest_layer(*tls_ws_).async_connect(
          endpoints, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || cancelled_) co_return Failure(ec);
      phase_ = "TLS handshake";
      co_await tls_ws_->next_layer().async_handshake(asio::ssl::stream_base::client,
                                                     asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (auto reason = detail::CertificateFailure(tls_ws_->next_layer().native_handle())) {
          co_return Fail(Errc::kNetwork, Describe() + ": the certificate of " + address_.origin +
                                             " failed verification: " + *reason);
        }
        co_return Failure(ec);
      }
      co_return co_await Upgrade(*tls_ws_, headers, deadline);
    }
    plain_ws_ = std::make_unique<PlainWs>(ioc_);
    co_await beast::get_lowest_layer(*plain_ws_)
        .async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || cancelled_) co_return Failure(ec);
    co_return co_await Upgrade(*plain_ws_, headers, deadline);
  }

  template <class Ws>
  awaitable<Status> Upgrade(Ws& ws, const HeaderList& headers, SteadyTime deadline) {
    phase_ = "upgrading to WebSocket";
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(
                                      deadline - std::chrono::steady_clock::now())));
    timeouts.idle_timeout = options_.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws.set_option(timeouts);
    ws.set_option(
        websocket::stream_base::decorator([this, headers](websocket::request_type& request) {
          request.set(beast::http::field::user_agent, options_.user_agent);
          if (options_.bearer_token) {
            request.set(beast::http::field::authorization, "Bearer " + *options_.bearer_token);
          }
          for (const auto& [name, value] : headers)
            request.insert(name, value);
        }));
    ws.read_message_max(options_.message_limit);
    websocket::response_type response;
    boost::system::error_code ec;
    co_await ws.async_handshake(response, address_.host_header, target_,
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec == websocket::error::upgrade_declined) {
      const int status = response.result_int();
      co_return Fail(Errc::kHttp,
                     Describe() + ": the server answered " + std::to_string(status) +
                         " instead of upgrading to WebSocket",
                     status == 429 || status / 100 == 5);
    }
    if (ec || cancelled_) co_return Failure(ec);
    beast::get_lowest_layer(ws).expires_never();
    co_return Ok();
  }

  template <class F>
  void WithStream(F&& f) {
    if (tls_ws_) {
      f(*tls_ws_);
    } else if (plain_ws_) {
      f(*plain_ws_);
    }
  }

  void StartRead() {
    read_pending_ = true;
    WithStream([this](auto& ws) {
      ws.async_read(read_buffer_, [this, &ws](const boost::system::error_code& ec, std::size_t) {
        read_pending_ = false;
        if (ec) {
          read_error_ = ec;
          open_ = false;
          if (ec == websocket::error::closed) close_code_ = ws.reason().code;
          return;
        }
        messages_.push_back(beast::buffers_to_string(read_buffer_.data()));
        read_buffer_.consume(read_buffer_.size());
      });
    });
  }

  // Runs handlers until `done()` or `deadline`; false when the deadline came first.
  template <class Done>
  bool RunUntil(Done done, SteadyTime deadline) {
    if (ioc_.stopped()) ioc_.restart();
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      ioc_.run_one_until(deadline);
      if (ioc_.stopped()) {  // out of work: nothing more can happen
        ioc_.restart();
        return done();
      }
    }
    return true;
  }

  // Runs handlers until `done()`; only after Abort(), which makes every operation end promptly.
  template <class Done>
  void Finish(Done done) {
    if (ioc_.stopped()) ioc_.restart();
    while (!done() && ioc_.run_one() > 0) {
    }
  }

  // Closes the socket and forgets the connection, after the operations on it have finished.
  void Drop() {
    Abort();
    Finish([this] { return !read_pending_; });
    messages_.clear();
    read_error_.reset();
    read_buffer_.clear();
    open_ = false;
    plain_ws_.reset();
    tls_ws_.reset();
  }

  Status CheckOpen() const {
    if (cancelled_) return Cancelled();
    if (read_error_) return ReadFailure();
    if (!open_) return NotOpen();
    return Ok();
  }

  std::string PopMessage() {
    std::string message = std::move(messages_.front());
    messages_.pop_front();
    return message;
  }

  Error ReadFailure() const {
    if (cancelled_) return Cancelled();
    const auto& ec = *read_error_;
    if (ec == websocket::error::closed) {
      const int code = close_code_.value_or(0);
      return MakeError(
          Errc::kNetwork,
          Describe() + ": the server closed the connection with code " + std::to_string(code),
          code != static_cast<int>(websocket::close_code::policy_error));
    }
    if (ec == beast::error::timeout) {
      return MakeError(Errc::kTimeout,
                       Describe() + ": the connection went silent (no answer to " +
                           "pings within " + std::to_string(options_.idle_timeout.count()) + " ms)",
                       true);
    }
    if (ec == websocket::error::message_too_big || ec == websocket::error::buffer_overflow) {
      return MakeError(Errc::kNetwork, Describe() + ": a message exceeds the limit of " +
                                           std::to_string(options_.message_limit) + " bytes");
    }
    return MakeError(Errc::kNetwork,
                     Describe() + ": the connection broke: " + detail::DescribeError(ec), true);
  }

  Error NotOpen() const { return MakeError(Errc::kInvalidRequest, Describe() + ": not connected"); }

  Error Cancelled() const { return MakeError(Errc::kCancelled, Describe() + ": cancelled"); }

  Error Failure(const boost::system::error_code& ec) const {
    if (cancelled_) return Cancelled();
    if (timed_out_) {
      return MakeError(Errc::kTimeout,
                       Describe() + ": timed out " + phase_ + " (deadline " +
                           std::to_string(options_.connect_timeout.count()) + " ms)",
                       true);
    }
    return MakeError(Errc::kNetwork,
                     Describe() + ": failed " + phase_ + ": " + detail::DescribeError(ec), true);
  }

  std::string Describe() const {
    return "WebSocket " + address_.origin + (target_.empty() ? "" : target_);
  }

  void ArmTimer(SteadyTime deadline) {
    timer_.expires_at(deadline);
    const auto generation = ++timer_generation_;
    timer_.async_wait([this, generation](const boost::system::error_code& ec) {
      if (ec || generation != timer_generation_) return;
      timed_out_ = true;
      Abort();
    });
  }

  void Abort() {
    resolver_.cancel();
    boost::system::error_code ignored;
    if (plain_ws_) beast::get_lowest_layer(*plain_ws_).socket().close(ignored);
    if (tls_ws_) beast::get_lowest_layer(*tls_ws_).socket().close(ignored);
  }

  WebSocketOptions options_;
  std::optional<Error> config_error_;
  detail::ServerAddress address_;
  std::unique_ptr<asio::ssl::context> tls_context_;
  std::string target_;

  // Declared before the objects that use it, so that it outlives them.
  asio::io_context ioc_{1};
  asio::ip::tcp::resolver resolver_{ioc_};
  asio::steady_timer timer_{ioc_};
  std::uint64_t timer_generation_ = 0;
  std::unique_ptr<PlainWs> plain_ws_;
  std::unique_ptr<TlsWs> tls_ws_;

  beast::flat_buffer read_buffer_;
  bool read_pending_ = false;
  std::optional<boost::system::error_code> read_error_;
  std::deque<std::string> messages_;
  std::string write_buffer_;
  std::string phase_;
  bool timed_out_ = false;
  std::atomic<bool> cancelled_{false};
};

WebSocketClient::WebSocketClient(WebSocketOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
WebSocketClient::~WebSocketClient() = default;

Status WebSocketClient::Connect(const std::string& target, const HeaderList& headers) {
  return impl_->Connect(target, headers);
}
Status WebSocketClient::Send(std::string_view text) {
  return impl_->Send(text);
}
Expected<std::string> WebSocketClient::Receive(std::chrono::milliseconds timeout) {
  return impl_->Receive(timeout);
}
Status WebSocketClient::Close(int code, std::string_view reason) {
  return impl_->Close(code, reason);
}
void WebSocketClient::Cancel() {
  impl_->Cancel();
}
bool WebSocketClient::is_open() const {
  return impl_->open_;
}
std::optional<int> WebSocketClient::close_code() const {
  return impl_->close_code_;
}

}  // namespace orb::net
