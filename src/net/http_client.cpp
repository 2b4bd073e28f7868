#include "net/http_client.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <strings.h>

#include "common/random.hpp"
#include "net/detail/body_buffer.hpp"
#include "net/detail/client_support.hpp"

namespace orb::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::uint32_t kHeaderLimit = 64 * 1024;

std::string Millis(milliseconds duration) {
  return std::to_string(duration.count()) + " ms";
}

// "bytes 100-199/1000" -> 100. nullopt when malformed.
std::optional<std::uint64_t> ContentRangeStart(std::string_view value) {
  constexpr std::string_view kUnit = "bytes ";
  if (value.substr(0, kUnit.size()) != kUnit) return std::nullopt;
  value.remove_prefix(kUnit.size());
  std::uint64_t start = 0;
  std::size_t digits = 0;
  while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') {
    if (digits >= 19) return std::nullopt;
    start = start * 10 + static_cast<std::uint64_t>(value[digits] - '0');
    ++digits;
  }
  if (digits == 0 || digits >= value.size() || value[digits] != '-') return std::nullopt;
  return start;
}

std::uint64_t FileSizeOrZero(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

}  // namespace

std::optional<std::string> ClientResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && strncasecmp(key.data(), name.data(), name.size()) == 0) {
      return value;
    }
  }
  return std::nullopt;
}

class HttpClient::Impl {
 public:
  explicit Impl(ClientOptions options) : options_(std::move(options)) { (void)Configure(); }

  // Parses options_.base_url; a TLS context is made once, when the first https URL needs it.
  Status Configure() {
    config_error_.reset();
    auto address = detail::ParseServerUrl(options_.base_url);
    if (!address) {
      config_error_ = address.error();
      return Fail(std::move(address.error()));
    }
    address_ = std::move(*address);
    if (address_.tls && !tls_context_) {
      auto context = detail::MakeTlsContext(options_.ca_file);
      if (!context) {
        config_error_ = context.error();
        return Fail(std::move(context.error()));
      }
      tls_context_ = std::move(*context);
    }
    return Ok();
  }

  Status SetBaseUrl(std::string base_url) {
    CloseConnection();
    options_.base_url = std::move(base_url);
    return Configure();
  }

  ~Impl() { CloseConnection(); }

  Expected<ClientResponse> Send(const ClientRequest& request) {
    if (config_error_) return Fail(*config_error_);
    if (cancelled_) return Cancelled(request);
    const milliseconds timeout = request.timeout.value_or(options_.request_timeout);
    const SteadyTime deadline = std::chrono::steady_clock::now() + timeout;
    timeout_ = timeout;
    budget_ = timeout;
    timed_out_ = false;
    resume_offset_.reset();

    std::optional<Expected<ClientResponse>> outcome;
    ioc_.restart();
    asio::co_spawn(ioc_, Run(request, deadline),
                   [this, &outcome](std::exception_ptr error, Expected<ClientResponse> result) {
                     ++timer_generation_;
                     timer_.cancel();
                     if (error) {
                       try {
                         std::rethrow_exception(error);
                       } catch (const std::exception& e) {
                         result =
                             Fail(Errc::kInternal, std::string("HTTP client failed: ") + e.what());
                       }
                     }
                     outcome.emplace(std::move(result));
                   });
    try {
      ioc_.run();
    } catch (const std::exception& e) {
      CloseConnection();
      return Fail(Errc::kInternal, std::string("HTTP client failed: ") + e.what());
    }
    if (!outcome) {
      CloseConnection();
      return Fail(Errc::kInternal, "HTTP client stopped before the request completed");
    }
    if (!*outcome) CloseConnection();
    return std::move(*outcome);
  }

  void Cancel() {
    {
      const std::lock_guard lock(mutex_);
      cancelled_ = true;
    }
    cv_.notify_all();
    // Runs on the thread inside Send (or at the start of the next one, where it finds nothing).
    asio::post(ioc_, [this] {
      if (cancelled_) Abort();
    });
  }

  void Reset() {
    const std::lock_guard lock(mutex_);
    cancelled_ = false;
  }

  bool SleepUnlessCancelled(milliseconds duration) {
    std::unique_lock lock(mutex_);
    return !cv_.wait_for(lock, duration, [this] { return cancelled_.load(); });
  }

  ClientOptions options_;
  std::atomic<bool> cancelled_{false};
  std::optional<std::uint64_t> resume_offset_;
  int connections_opened_ = 0;

 private:
  // One logical request: connect when needed, exchange, and once more on a fresh connection when
  // a reused one turned out to be closed by the server before it answered.
  awaitable<Expected<ClientResponse>> Run(const ClientRequest& request, SteadyTime deadline) {
    for (int round = 0;; ++round) {
      const bool reused = connected_;
      if (!connected_) {
        auto connected = co_await Connect(request, deadline);
        if (!connected) co_return Fail(std::move(connected.error()));
      }
      bool stale = false;
      // Not a conditional expression: g++ 12 miscompiles co_await inside `?:`.
      Expected<ClientResponse> result = Fail(Errc::kInternal, "no connection");
      if (tls_stream_) {
        result = co_await Exchange(*tls_stream_, request, stale);
      } else {
        result = co_await Exchange(*plain_stream_, request, stale);
      }
      if (!result && stale && reused && round == 0) {
        CloseConnection();
        continue;
      }
      co_return result;
    }
  }

  awaitable<Status> Connect(const ClientRequest& request, SteadyTime deadline) {
    CloseConnection();
    const SteadyTime connect_deadline =
        std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout);
    budget_ = std::min(options_.connect_timeout, timeout_);
    ArmTimer(connect_deadline);
    boost::system::error_code ec;

    phase_ = "resolving";
    const auto endpoints = co_await resolver_.async_resolve(
        address_.host, address_.port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || cancelled_) co_return Failure(request, ec);

    phase_ = "connecting";
    if (address_.tls) {
      tls_stream_ = std::make_unique<TlsStream>(ioc_, *tls_context_);
      auto prepared = detail::PrepareTlsConnection(tls_stream_->native_handle(), address_.host);
      if (!prepared) co_return prepared;
      co_await beast::get_lowest_layer(*tls_stream_)
          .async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || cancelled_) co_return Failure(request, ec);
      phase_ = "TLS handshake";
      co_await tls_stream_->async_handshake(asio::ssl::stream_base::client,
                                            asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (auto reason = detail::CertificateFailure(tls_stream_->native_handle())) {
          co_return Fail(Errc::kNetwork, Describe(request) + ": the certificate of " +
                                             address_.origin + " failed verification: " + *reason);
        }
        co_return Failure(request, ec);
      }
    } else {
      plain_stream_ = std::make_unique<beast::tcp_stream>(ioc_);
      co_await plain_stream_->async_connect(endpoints,
                                            asio::redirect_error(asio::use_awaitable, ec));
      if (ec || cancelled_) co_return Failure(request, ec);
    }
    ++connections_opened_;
    connected_ = true;
    buffer_.clear();
    budget_ = timeout_;
    ArmTimer(deadline);
    co_return Ok();
  }

  template <class Body>
  void SetHeaders(http::request<Body>& message, const ClientRequest& request) const {
    message.target(detail::JoinTarget(address_.path_prefix, request.target));
    message.set(http::field::host, address_.host_header);
    message.set(http::field::user_agent, options_.user_agent);
    if (const auto& token = request.bearer_token ? request.bearer_token : options_.bearer_token) {
      message.set(http::field::authorization, "Bearer " + *token);
    }
    if (request.response_file && request.response_file_offset > 0) {
      message.set(http::field::range,
                  "bytes=" + std::to_string(request.response_file_offset) + "-");
    }
    for (const auto& [name, value] : request.headers)
      message.insert(name, value);
    message.keep_alive(true);
  }

  template <class Stream>
  awaitable<Expected<ClientResponse>> Exchange(Stream& stream, const ClientRequest& request,
                                               bool& stale) {
    boost::system::error_code ec;
    if (cancelled_) co_return Cancelled(request);
    phase_ = "sending the request";
    if (request.body_file) {
      http::request<http::file_body> message;
      message.method_string(request.method);
      message.body().open(request.body_file->c_str(), beast::file_mode::scan, ec);
      if (ec) {
        co_return Fail(Errc::kIo, Describe(request) + ": cannot read " +
                                      request.body_file->string() + ": " + ec.message());
      }
      SetHeaders(message, request);
      message.set(http::field::content_type, request.content_type);
      message.prepare_payload();
      co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      http::request<http::string_body> message;
      message.method_string(request.method);
      SetHeaders(message, request);
      if (!request.body.empty()) {
        message.set(http::field::content_type, request.content_type);
        message.body() = request.body;
      }
      message.prepare_payload();
      co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      stale = !timed_out_ && !cancelled_;
      co_return Failure(request, ec);
    }

    phase_ = "waiting for the response";
    http::response_parser<http::empty_body> head;
    head.header_limit(kHeaderLimit);
    head.body_limit(boost::none);  // a file download is not limited; see below for the rest
    if (request.method == "HEAD") head.skip(true);
    co_await http::async_read_header(stream, buffer_, head,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      stale = !head.got_some() && buffer_.size() == 0 && !timed_out_ && !cancelled_ &&
              (ec == http::error::end_of_stream || ec == asio::error::eof ||
               ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
               ec == asio::ssl::error::stream_truncated);
      co_return Failure(request, ec);
    }

    phase_ = "reading the response body";
    ClientResponse response;
    response.status = head.get().result_int();
    for (const auto& field : head.get()) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    bool keep_alive = false;
    if (request.response_file && response.status / 100 == 2) {
      auto written = co_await ReadToFile(stream, request, response, head, keep_alive);
      if (!written) co_return Fail(std::move(written.error()));
    } else {
      // Beast checks a Content-Length against the limit only while it reads the header.
      const auto length = head.content_length();
      if (length && *length > options_.body_limit) {
        co_return Failure(request, http::error::body_limit);
      }
      http::response_parser<http::string_body> parser(std::move(head));
      parser.body_limit(options_.body_limit);
      detail::MakeRoomForBody(buffer_, length);
      co_await http::async_read(stream, buffer_, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      detail::ReleaseBodyRoom(buffer_);
      if (ec) co_return Failure(request, ec);
      response.body = std::move(parser.get().body());
      keep_alive = parser.keep_alive();
    }
    if (!keep_alive) CloseConnection();
    co_return response;
  }

  template <class Stream>
  awaitable<Status> ReadToFile(Stream& stream, const ClientRequest& request,
                               ClientResponse& response,
                               http::response_parser<http::empty_body>& head, bool& keep_alive) {
    const auto& path = *request.response_file;
    boost::system::error_code ec;
    http::response_parser<http::file_body> parser(std::move(head));
    parser.body_limit(boost::none);
    if (response.status == 206) {
      const auto start = ContentRangeStart(response.Header("Content-Range").value_or(""));
      if (!start || *start != request.response_file_offset) {
        co_return Fail(Errc::kHttp, Describe(request) + ": 206 response with Content-Range '" +
                                        response.Header("Content-Range").value_or("") +
                                        "' does not resume at byte " +
                                        std::to_string(request.response_file_offset));
      }
      std::error_code fs_ec;
      if (!std::filesystem::exists(path, fs_ec) || FileSizeOrZero(path) < *start) {
        co_return Fail(Errc::kIo, Describe(request) + ": cannot resume " + path.string() +
                                      ": it has fewer than " + std::to_string(*start) + " bytes");
      }
      std::filesystem::resize_file(path, *start, fs_ec);
      if (!fs_ec) parser.get().body().open(path.c_str(), beast::file_mode::append_existing, ec);
      if (fs_ec) ec.assign(fs_ec.value(), boost::system::generic_category());
    } else {
      parser.get().body().open(path.c_str(), beast::file_mode::write, ec);
    }
    if (ec) {
      co_return Fail(Errc::kIo,
                     Describe(request) + ": cannot write " + path.string() + ": " + ec.message());
    }
    detail::MakeRoomForBody(buffer_, boost::none);  // a file: large
    co_await http::async_read(stream, buffer_, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    detail::ReleaseBodyRoom(buffer_);
    parser.get().body().close();
    if (ec) {
      resume_offset_ = FileSizeOrZero(path);
      co_return Fail(Failure(request, ec));
    }
    response.file_bytes = FileSizeOrZero(path);
    keep_alive = parser.keep_alive();
    co_return Ok();
  }

  std::string Describe(const ClientRequest& request) const {
    return request.method + " " + address_.origin +
           detail::JoinTarget(address_.path_prefix, request.target);
  }

  Error Cancelled(const ClientRequest& request) const {
    return MakeError(Errc::kCancelled, Describe(request) + ": cancelled");
  }

  // The Error for a failed I/O step, named after the phase it happened in.
  Error Failure(const ClientRequest& request, const boost::system::error_code& ec) const {
    if (cancelled_) return Cancelled(request);
    if (timed_out_) {
      return MakeError(
          Errc::kTimeout,
          Describe(request) + ": timed out " + phase_ + " (deadline " + Millis(budget_) + ")",
          true);
    }
    if (ec == http::error::body_limit) {
      return MakeError(Errc::kHttp, Describe(request) +
                                        ": the response body exceeds the limit of " +
                                        std::to_string(options_.body_limit) + " bytes");
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return MakeError(Errc::kHttp, Describe(request) + ": malformed response: " + ec.message());
    }
    std::string what = phase_;
    if (what == "resolving") what = "resolving " + address_.host;
    if (what == "connecting") what = "connecting to " + address_.host + ":" + address_.port;
    return MakeError(Errc::kNetwork,
                     Describe(request) + ": failed " + what + ": " + detail::DescribeError(ec),
                     true);
  }

  // Every wait of a Send ends at `deadline`: the timer closes the socket, which fails the
  // operation in flight.
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
    CloseSocket();
  }

  void CloseSocket() {
    boost::system::error_code ignored;
    if (plain_stream_) plain_stream_->socket().close(ignored);
    if (tls_stream_) beast::get_lowest_layer(*tls_stream_).socket().close(ignored);
  }

  void CloseConnection() {
    CloseSocket();
    connected_ = false;
  }

  std::optional<Error> config_error_;
  detail::ServerAddress address_;
  std::unique_ptr<asio::ssl::context> tls_context_;

  // Declared before the objects that use it, so that it outlives them.
  asio::io_context ioc_{1};
  asio::ip::tcp::resolver resolver_{ioc_};
  asio::steady_timer timer_{ioc_};
  std::uint64_t timer_generation_ = 0;
  std::unique_ptr<beast::tcp_stream> plain_stream_;
  std::unique_ptr<TlsStream> tls_stream_;
  bool connected_ = false;
  beast::flat_buffer buffer_;

  // State of the Send in flight (touched only by the thread in Send).
  const char* phase_ = "";
  bool timed_out_ = false;
  milliseconds timeout_{0};
  milliseconds budget_{0};  // the deadline of the phase in flight, for messages

  std::mutex mutex_;
  std::condition_variable cv_;
};

HttpClient::HttpClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

Expected<ClientResponse> HttpClient::Send(const ClientRequest& request) {
  return impl_->Send(request);
}
void HttpClient::Cancel() {
  impl_->Cancel();
}
void HttpClient::Reset() {
  impl_->Reset();
}
bool HttpClient::cancelled() const {
  return impl_->cancelled_;
}
bool HttpClient::SleepUnlessCancelled(std::chrono::milliseconds duration) {
  return impl_->SleepUnlessCancelled(duration);
}
std::optional<std::uint64_t> HttpClient::ResumeOffset() const {
  return impl_->resume_offset_;
}
int HttpClient::connections_opened() const {
  return impl_->connections_opened_;
}
const ClientOptions& HttpClient::options() const {
  return impl_->options_;
}
Status HttpClient::SetBaseUrl(std::string base_url) {
  return impl_->SetBaseUrl(std::move(base_url));
}

Expected<ClientResponse> SendWithRetry(HttpClient& client, const ClientRequest& request,
                                       const RetryPolicy& policy, const RetryHooks& hooks) {
  const auto stopped = [&] {
    return client.cancelled() || (hooks.should_stop && hooks.should_stop());
  };
  const auto sleep = [&](milliseconds duration) {
    if (hooks.sleep) return hooks.sleep(duration) && !stopped();
    const auto end = std::chrono::steady_clock::now() + duration;
    while (!stopped()) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now());
      if (left <= milliseconds(0)) return true;
      if (!client.SleepUnlessCancelled(std::min(left, milliseconds(50)))) return false;
    }
    return false;
  };
  const auto stop_error = [&] {
    return MakeError(Errc::kCancelled, request.method + " " + request.target + ": stopped");
  };

  ClientRequest attempt_request = request;
  for (int attempt = 1;; ++attempt) {
    if (stopped()) return Fail(stop_error());
    auto result = client.Send(attempt_request);

    std::optional<milliseconds> retry_after;
    std::string what;
    if (result) {
      if (!IsRetryableStatus(result->status)) return result;
      if (auto header = result->Header("Retry-After")) {
        retry_after = ParseRetryAfter(
            *header, hooks.wall_now ? hooks.wall_now() : std::chrono::system_clock::now());
      }
      what = std::to_string(result->status);
    } else {
      if (!result.error().retryable || result.error().code == Errc::kCancelled) return result;
      what = result.error().Describe();
      if (request.response_file) {
        if (auto offset = client.ResumeOffset(); offset && *offset > 0) {
          attempt_request.response_file_offset = *offset;
        }
      }
    }
    const double unit = hooks.random ? hooks.random() : RandomUnit();
    const auto delay = NextDelay(policy, attempt, unit, retry_after);
    if (!delay) return result;
    if (hooks.on_retry) hooks.on_retry(attempt, *delay, what);
    if (!sleep(*delay)) return Fail(stop_error());
  }
}

}  // namespace orb::net
