#include "net/http_client.hpp"

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"
#include "unit/net/test_certs.hpp"

namespace orb::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;
using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::orb::testing::TempDir;
using ::orb::testing::WaitFor;
using ::testing::HasSubstr;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Handler = std::function<std::optional<Response>(const Request&)>;

Response MakeResponse(http::status status, std::string body = "",
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
  Response response(status, 11);
  for (const auto& [name, value] : headers)
    response.set(name, value);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

// A Beast HTTP/1.1 server on 127.0.0.1:0, on its own thread, answering with `handler`. A handler
// that returns nullopt never answers (the connection hangs until the server is destroyed).
class TestServer {
 public:
  explicit TestServer(Handler handler, std::optional<test_pki::TestCa::Issued> tls = std::nullopt)
      : handler_(std::move(handler)) {
    if (tls) {
      tls_context_.emplace(asio::ssl::context::tls_server);
      tls_context_->use_certificate_chain_file(tls->cert_file.string());
      tls_context_->use_private_key_file(tls->key_file.string(), asio::ssl::context::pem);
    }
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, Accept(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~TestServer() {
    ioc_.stop();
    thread_.join();
  }

  std::string url() const {
    return (tls_context_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
  }
  unsigned short port() const { return port_; }
  int accepts() const { return accepts_; }
  int requests() const { return requests_; }
  Request last_request() const {
    const std::lock_guard lock(mutex_);
    return last_request_;
  }

  // Close every connection right after its next response, without saying so in the response.
  std::atomic<bool> close_after_response{false};

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++accepts_;
      asio::co_spawn(ioc_, Session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> Session(asio::ip::tcp::socket socket) {
    if (!tls_context_) {
      beast::tcp_stream stream(std::move(socket));
      co_await Serve(stream);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls_context_);
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await Serve(stream);
  }

  template <class Stream>
  asio::awaitable<void> Serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      boost::system::error_code ec;
      Request request;
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      request = parser.release();
      {
        const std::lock_guard lock(mutex_);
        last_request_ = request;
      }
      ++requests_;
      auto response = handler_(request);
      if (!response) {
        asio::steady_timer forever(ioc_, asio::steady_timer::time_point::max());
        co_await forever.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      const bool close = close_after_response;
      if (response->keep_alive()) response->keep_alive(request.keep_alive());
      co_await http::async_write(stream, *response, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || close || !response->keep_alive()) {
        beast::get_lowest_layer(stream).socket().close(ec);
        co_return;
      }
    }
  }

  Handler handler_;
  std::optional<asio::ssl::context> tls_context_;
  asio::io_context ioc_;
  asio::ip::tcp::acceptor acceptor_{ioc_};
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<int> accepts_{0};
  std::atomic<int> requests_{0};
  mutable std::mutex mutex_;
  Request last_request_;
};

Handler Ok200(std::string body = "ok") {
  return [body](const Request&) { return MakeResponse(http::status::ok, body); };
}

// Serves `content` with single-range support ("bytes=N-" gives 206).
Handler RangeFile(std::string content, bool honour_range = true) {
  return [content, honour_range](const Request& request) -> std::optional<Response> {
    const auto range = request[http::field::range];
    if (honour_range && range.starts_with("bytes=") && range.ends_with("-")) {
      const auto start = std::stoull(std::string(range.substr(6, range.size() - 7)));
      return MakeResponse(http::status::partial_content, content.substr(start),
                          {{"Content-Range", "bytes " + std::to_string(start) + "-" +
                                                 std::to_string(content.size() - 1) + "/" +
                                                 std::to_string(content.size())}});
    }
    return MakeResponse(http::status::ok, content);
  };
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const std::filesystem::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string Pattern(std::size_t size) {
  std::string content(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    content[i] = static_cast<char>('a' + (i * 7) % 26);
  return content;
}

unsigned short UnusedPort() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

ClientRequest Get(std::string target) {
  ClientRequest request;
  request.method = "GET";
  request.target = std::move(target);
  return request;
}

// --- HttpClient::Send ---

TEST(HttpClientTest, SendsTheRequestAndReturnsStatusHeadersAndBody) {
  TestServer server([](const Request& request) {
    return MakeResponse(http::status::created,
                        std::string(request.method_string()) + " " + std::string(request.target()) +
                            " " + request.body(),
                        {{"X-Auth", std::string(request[http::field::authorization])},
                         {"X-Type", std::string(request[http::field::content_type])},
                         {"X-Agent", std::string(request[http::field::user_agent])}});
  });
  HttpClient client({.base_url = server.url() + "/api/", .bearer_token = "secret"});
  ClientRequest request{.method = "POST", .target = "/v1/jobs", .body = R"({"a":1})"};
  request.headers.emplace_back("Idempotency-Key", "k1");

  auto response = client.Send(request);

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, R"(POST /api/v1/jobs {"a":1})");
  EXPECT_EQ(response->Header("x-auth"), "Bearer secret");
  EXPECT_EQ(response->Header("X-TYPE"), "application/json");
  EXPECT_EQ(response->Header("x-agent"), "orb-jobs");
  EXPECT_EQ(response->Header("X-Missing"), std::nullopt);
  EXPECT_EQ(server.last_request()["Idempotency-Key"], "k1");
}

TEST(HttpClientTest, ReturnsErrorStatusesAsResponsesNotErrors) {
  TestServer server([](const Request&) {
    return MakeResponse(http::status::not_found, R"({"error":{"code":"not_found"}})");
  });
  HttpClient client({.base_url = server.url()});

  auto response = client.Send(Get("/v1/jobs/x"));

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 404);
  EXPECT_THAT(response->body, HasSubstr("not_found"));
}

TEST(HttpClientTest, ReusesOneKeepAliveConnectionForSequentialRequests) {
  TestServer server(Ok200());
  HttpClient client({.base_url = server.url()});

  for (int i = 0; i < 3; ++i) {
    auto response = client.Send(Get("/healthz"));
    ASSERT_THAT(response, IsOk());
    EXPECT_EQ(response->status, 200);
  }

  EXPECT_EQ(server.accepts(), 1);
  EXPECT_EQ(client.connections_opened(), 1);
}

TEST(HttpClientTest, ReconnectsTransparentlyAfterTheServerClosedTheConnection) {
  TestServer server(Ok200());
  server.close_after_response = true;
  HttpClient client({.base_url = server.url()});

  ASSERT_THAT(client.Send(Get("/one")), IsOk());
  ASSERT_TRUE(WaitFor([&] { return server.accepts() == 1; }, 5s));
  auto second = client.Send(Get("/two"));

  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(server.accepts(), 2);
  EXPECT_EQ(server.requests(), 2);
}

TEST(HttpClientTest, ClosesTheConnectionWhenTheServerSaysConnectionClose) {
  TestServer server([](const Request&) {
    auto response = MakeResponse(http::status::ok, "bye");
    response.set(http::field::connection, "close");
    return response;
  });
  HttpClient client({.base_url = server.url()});

  ASSERT_THAT(client.Send(Get("/a")), IsOk());
  ASSERT_THAT(client.Send(Get("/b")), IsOk());

  EXPECT_EQ(client.connections_opened(), 2);
}

TEST(HttpClientTest, TimesOutWithinTheDeadlineWhenTheServerNeverAnswers) {
  TestServer server([](const Request&) { return std::nullopt; });
  HttpClient client({.base_url = server.url()});
  auto request = Get("/v1/agents/a/jobs/next");
  request.timeout = 300ms;

  const auto start = std::chrono::steady_clock::now();
  auto response = client.Send(request);
  const auto elapsed = std::chrono::steady_clock::now() - start;

  ASSERT_THAT(response, FailsWith(Errc::kTimeout));
  EXPECT_TRUE(response.error().retryable);
  EXPECT_THAT(response.error().message, HasSubstr("127.0.0.1"));
  EXPECT_THAT(response.error().message, HasSubstr("waiting for the response"));
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 3s);
}

TEST(HttpClientTest, WorksAgainAfterATimeout) {
  std::atomic<bool> hang{true};
  TestServer server([&](const Request&) -> std::optional<Response> {
    if (hang) return std::nullopt;
    return MakeResponse(http::status::ok, "fine");
  });
  HttpClient client({.base_url = server.url()});
  auto request = Get("/x");
  request.timeout = 100ms;
  ASSERT_THAT(client.Send(request), FailsWith(Errc::kTimeout));

  hang = false;
  request.timeout = 5s;
  auto response = client.Send(request);

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->body, "fine");
}

TEST(HttpClientTest, ConnectRefusedIsARetryableNetworkErrorNamingTheHost) {
  const auto port = UnusedPort();
  HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(port)});

  auto response = client.Send(Get("/healthz"));

  ASSERT_THAT(response, FailsWith(Errc::kNetwork));
  EXPECT_TRUE(response.error().retryable);
  EXPECT_THAT(response.error().message, HasSubstr("127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(response.error().message, HasSubstr("connecting"));
}

TEST(HttpClientTest, CancelFromAnotherThreadInterruptsAHangingRequestPromptly) {
  TestServer server([](const Request&) { return std::nullopt; });
  HttpClient client({.base_url = server.url()});
  auto request = Get("/slow");
  request.timeout = 60s;

  const auto start = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [&] { return client.Send(request); });
  ASSERT_TRUE(WaitFor([&] { return server.requests() == 1; }, 5s));
  client.Cancel();

  ASSERT_EQ(pending.wait_for(5s), std::future_status::ready);
  const auto response = pending.get();
  EXPECT_THAT(response, FailsWith(Errc::kCancelled));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(HttpClientTest, StaysCancelledUntilReset) {
  TestServer server(Ok200());
  HttpClient client({.base_url = server.url()});
  client.Cancel();

  EXPECT_THAT(client.Send(Get("/")), FailsWith(Errc::kCancelled));
  EXPECT_FALSE(client.SleepUnlessCancelled(10s));
  EXPECT_EQ(server.requests(), 0);

  client.Reset();
  EXPECT_THAT(client.Send(Get("/")), IsOk());
}

TEST(HttpClientTest, RejectsABufferedBodyOverTheLimit) {
  TestServer server(Ok200(std::string(5000, 'x')));
  HttpClient client({.base_url = server.url(), .body_limit = 1000});

  auto response = client.Send(Get("/big"));

  ASSERT_THAT(response, FailsWith(Errc::kHttp));
  EXPECT_FALSE(response.error().retryable);
  EXPECT_THAT(response.error().message, HasSubstr("limit"));
}

TEST(HttpClientTest, SetBaseUrlSendsLaterRequestsToTheOtherServer) {
  TestServer first([](const Request&) { return MakeResponse(http::status::ok, "first"); });
  TestServer second([](const Request& request) {
    return MakeResponse(http::status::ok, "second " + std::string(request.target()) + " " +
                                              std::string(request[http::field::authorization]));
  });
  HttpClient client({.base_url = first.url(), .bearer_token = "t"});
  ASSERT_THAT(client.Send(Get("/a")), IsOk());

  ASSERT_THAT(client.SetBaseUrl(second.url() + "/p"), IsOk());
  auto response = client.Send(Get("/b"));
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->body, "second /p/b Bearer t");  // the new prefix, the same token
  EXPECT_EQ(client.connections_opened(), 2);
  EXPECT_EQ(client.options().base_url, second.url() + "/p");

  EXPECT_THAT(client.SetBaseUrl("ftp://example.org"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(client.Send(Get("/c")), FailsWith(Errc::kInvalidRequest));
  ASSERT_THAT(client.SetBaseUrl(first.url()), IsOk());
  EXPECT_THAT(client.Send(Get("/d")), IsOk());
}

TEST(HttpClientTest, RejectsAnUnusableBaseUrl) {
  HttpClient client({.base_url = "ftp://example.org"});

  EXPECT_THAT(client.Send(Get("/")), FailsWith(Errc::kInvalidRequest));
}

TEST(HttpClientTest, StreamsAnUploadFromAFile) {
  TempDir dir;
  const std::string content = Pattern(300000);
  WriteFile(dir / "upload.bin", content);
  TestServer server([](const Request& request) {
    return MakeResponse(http::status::created, std::to_string(request.body().size()),
                        {{"X-Type", std::string(request[http::field::content_type])}});
  });
  HttpClient client({.base_url = server.url()});
  ClientRequest request{.method = "PUT", .target = "/v1/artifacts"};
  request.body_file = dir / "upload.bin";
  request.content_type = "application/octet-stream";

  auto response = client.Send(request);

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "300000");
  EXPECT_EQ(response->Header("X-Type"), "application/octet-stream");
  EXPECT_EQ(server.last_request().body(), content);
}

TEST(HttpClientTest, AnUploadFromAMissingFileIsAnIoError) {
  TempDir dir;
  TestServer server(Ok200());
  HttpClient client({.base_url = server.url()});
  ClientRequest request{.method = "PUT", .target = "/v1/artifacts"};
  request.body_file = dir / "missing.bin";

  EXPECT_THAT(client.Send(request), FailsWith(Errc::kIo));
}

TEST(HttpClientTest, DownloadsA2xxBodyIntoTheResponseFile) {
  TempDir dir;
  const std::string content = Pattern(200000);
  TestServer server(RangeFile(content));
  HttpClient client({.base_url = server.url(), .body_limit = 1000});  // files are not limited
  auto request = Get("/v1/artifacts/abc");
  request.response_file = dir / "artifact.bin";

  auto response = client.Send(request);

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "");
  EXPECT_EQ(response->file_bytes, content.size());
  EXPECT_EQ(ReadFile(dir / "artifact.bin"), content);
}

TEST(HttpClientTest, ResumesADownloadWithARangeRequest) {
  TempDir dir;
  const std::string content = Pattern(100000);
  WriteFile(dir / "artifact.bin", content.substr(0, 40000) + "garbage after the offset");
  TestServer server(RangeFile(content));
  HttpClient client({.base_url = server.url()});
  auto request = Get("/v1/artifacts/abc");
  request.response_file = dir / "artifact.bin";
  request.response_file_offset = 40000;

  auto response = client.Send(request);

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 206);
  EXPECT_EQ(server.last_request()[http::field::range], "bytes=40000-");
  EXPECT_EQ(response->file_bytes, content.size());
  EXPECT_EQ(ReadFile(dir / "artifact.bin"), content);
}

TEST(HttpClientTest, ReplacesTheFileWhenTheServerIgnoresTheRange) {
  TempDir dir;
  const std::string content = Pattern(50000);
  WriteFile(dir / "artifact.bin", std::string(40000, 'z'));
  TestServer server(RangeFile(content, /*honour_range=*/false));
  HttpClient client({.base_url = server.url()});
  auto request = Get("/v1/artifacts/abc");
  request.response_file = dir / "artifact.bin";
  request.response_file_offset = 40000;

  auto response = client.Send(request);

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(ReadFile(dir / "artifact.bin"), content);
}

TEST(HttpClientTest, RefusesA206ThatDoesNotStartAtTheRequestedOffset) {
  TempDir dir;
  WriteFile(dir / "artifact.bin", std::string(100, 'a'));
  TestServer server([](const Request&) {
    return MakeResponse(http::status::partial_content, "xyz", {{"Content-Range", "bytes 0-2/3"}});
  });
  HttpClient client({.base_url = server.url()});
  auto request = Get("/a");
  request.response_file = dir / "artifact.bin";
  request.response_file_offset = 100;

  EXPECT_THAT(client.Send(request), FailsWith(Errc::kHttp));
  EXPECT_EQ(ReadFile(dir / "artifact.bin"), std::string(100, 'a'));
}

TEST(HttpClientTest, KeepsAnErrorBodyInMemoryAndLeavesTheFileAlone) {
  TempDir dir;
  WriteFile(dir / "artifact.bin", "previous");
  TestServer server([](const Request&) {
    return MakeResponse(http::status::not_found, R"({"error":{"code":"not_found"}})");
  });
  HttpClient client({.base_url = server.url()});
  auto request = Get("/v1/artifacts/abc");
  request.response_file = dir / "artifact.bin";

  auto response = client.Send(request);

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 404);
  EXPECT_THAT(response->body, HasSubstr("not_found"));
  EXPECT_EQ(ReadFile(dir / "artifact.bin"), "previous");
}

// --- SendWithRetry ---

// Records the waits instead of sleeping.
struct RecordingSleep {
  std::vector<std::chrono::milliseconds> waits;
  RetryHooks Hooks() {
    RetryHooks hooks;
    hooks.sleep = [this](std::chrono::milliseconds duration) {
      waits.push_back(duration);
      return true;
    };
    hooks.random = [] { return 0.5; };  // no jitter
    return hooks;
  }
};

constexpr RetryPolicy kFastPolicy{.initial_delay = 10ms, .max_delay = 100ms, .max_attempts = 5};

TEST(SendWithRetryTest, RetriesA503HonouringRetryAfterAndStopsAfterSuccess) {
  std::atomic<int> calls{0};
  TestServer server([&](const Request&) {
    if (++calls == 1) {
      return MakeResponse(http::status::service_unavailable, "", {{"Retry-After", "2"}});
    }
    return MakeResponse(http::status::ok, "done");
  });
  HttpClient client({.base_url = server.url()});
  RecordingSleep sleep;

  auto response = SendWithRetry(client, Get("/x"), kFastPolicy, sleep.Hooks());

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "done");
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(sleep.waits, (std::vector<std::chrono::milliseconds>{2000ms}));
}

TEST(SendWithRetryTest, RetriesA429WithBackoffThatDoubles) {
  std::atomic<int> calls{0};
  TestServer server([&](const Request&) {
    if (++calls <= 3) return MakeResponse(http::status::too_many_requests);
    return MakeResponse(http::status::ok);
  });
  HttpClient client({.base_url = server.url()});
  RecordingSleep sleep;

  auto response = SendWithRetry(client, Get("/x"), kFastPolicy, sleep.Hooks());

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(sleep.waits, (std::vector<std::chrono::milliseconds>{10ms, 20ms, 40ms}));
}

TEST(SendWithRetryTest, DoesNotRetryA400) {
  TestServer server([](const Request&) { return MakeResponse(http::status::bad_request); });
  HttpClient client({.base_url = server.url()});
  RecordingSleep sleep;

  auto response = SendWithRetry(client, Get("/x"), kFastPolicy, sleep.Hooks());

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_TRUE(sleep.waits.empty());
}

TEST(SendWithRetryTest, GivesUpAfterMaxAttemptsWithTheLastResponse) {
  TestServer server([](const Request&) { return MakeResponse(http::status::bad_gateway); });
  HttpClient client({.base_url = server.url()});
  RecordingSleep sleep;
  RetryPolicy policy = kFastPolicy;
  policy.max_attempts = 3;

  auto response = SendWithRetry(client, Get("/x"), policy, sleep.Hooks());

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 502);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(sleep.waits.size(), 2u);
}

TEST(SendWithRetryTest, RetriesNetworkErrorsAndReturnsTheLastError) {
  HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(UnusedPort())});
  RecordingSleep sleep;
  auto hooks = sleep.Hooks();
  std::vector<int> reported;
  hooks.on_retry = [&](int attempt, std::chrono::milliseconds, const std::string&) {
    reported.push_back(attempt);
  };
  RetryPolicy policy = kFastPolicy;
  policy.max_attempts = 3;

  auto response = SendWithRetry(client, Get("/x"), policy, hooks);

  EXPECT_THAT(response, FailsWith(Errc::kNetwork));
  EXPECT_EQ(reported, (std::vector<int>{1, 2}));
}

TEST(SendWithRetryTest, StopsWhenShouldStopSaysSo) {
  TestServer server([](const Request&) { return MakeResponse(http::status::service_unavailable); });
  HttpClient client({.base_url = server.url()});
  RecordingSleep sleep;
  auto hooks = sleep.Hooks();
  hooks.should_stop = [&] { return server.requests() >= 2; };

  auto response = SendWithRetry(client, Get("/x"), kFastPolicy, hooks);

  EXPECT_THAT(response, FailsWith(Errc::kCancelled));
  EXPECT_EQ(server.requests(), 2);
}

TEST(SendWithRetryTest, CancelInterruptsTheWaitBetweenAttempts) {
  TestServer server([](const Request&) {
    return MakeResponse(http::status::service_unavailable, "", {{"Retry-After", "120"}});
  });
  HttpClient client({.base_url = server.url()});

  const auto start = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async,
                            [&] { return SendWithRetry(client, Get("/x"), RetryPolicy{}); });
  ASSERT_TRUE(WaitFor([&] { return server.requests() == 1; }, 5s));
  client.Cancel();

  ASSERT_EQ(pending.wait_for(5s), std::future_status::ready);
  EXPECT_THAT(pending.get(), FailsWith(Errc::kCancelled));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(SendWithRetryTest, ShouldStopInterruptsTheDefaultWait) {
  TestServer server([](const Request&) {
    return MakeResponse(http::status::service_unavailable, "", {{"Retry-After", "120"}});
  });
  HttpClient client({.base_url = server.url()});
  std::atomic<bool> stop{false};
  RetryHooks hooks;
  hooks.should_stop = [&] { return stop.load(); };

  auto pending = std::async(std::launch::async,
                            [&] { return SendWithRetry(client, Get("/x"), RetryPolicy{}, hooks); });
  ASSERT_TRUE(WaitFor([&] { return server.requests() == 1; }, 5s));
  stop = true;

  ASSERT_EQ(pending.wait_for(5s), std::future_status::ready);
  EXPECT_THAT(pending.get(), FailsWith(Errc::kCancelled));
}

TEST(SendWithRetryTest, ResumesADownloadThatBrokeOff) {
  TempDir dir;
  const std::string content = Pattern(100000);
  std::atomic<int> calls{0};
  auto full = RangeFile(content);
  TestServer server([&](const Request& request) -> std::optional<Response> {
    if (++calls == 1) {
      // Promise everything, send 30000 bytes, then hang up.
      Response response(http::status::ok, 11);
      response.body() = content.substr(0, 30000);
      response.content_length(content.size());
      return response;
    }
    return full(request);
  });
  server.close_after_response = true;
  HttpClient client({.base_url = server.url()});
  RecordingSleep sleep;
  auto request = Get("/v1/artifacts/abc");
  request.response_file = dir / "artifact.bin";

  auto response = SendWithRetry(client, request, kFastPolicy, sleep.Hooks());

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 206);
  EXPECT_EQ(server.last_request()[http::field::range], "bytes=30000-");
  EXPECT_EQ(ReadFile(dir / "artifact.bin"), content);
}

// --- TLS ---

class HttpClientTlsTest : public ::testing::Test {
 protected:
  TempDir dir_;
  test_pki::TestCa ca_{dir_.path(), "good"};
  test_pki::TestCa other_ca_{dir_.path(), "other"};
};

TEST_F(HttpClientTlsTest, VerifiesAServerSignedByTheConfiguredCa) {
  TestServer server(Ok200("secure"), ca_.IssueServer("server", "IP:127.0.0.1,DNS:localhost"));
  HttpClient client({.base_url = server.url(), .ca_file = ca_.ca_file()});

  auto first = client.Send(Get("/healthz"));
  auto second = client.Send(Get("/healthz"));

  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->body, "secure");
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(server.accepts(), 1);
}

TEST_F(HttpClientTlsTest, VerifiesTheHostNameOfTheCertificate) {
  TestServer server(Ok200("secure"), ca_.IssueServer("server", "DNS:localhost"));
  HttpClient client(
      {.base_url = "https://localhost:" + std::to_string(server.port()), .ca_file = ca_.ca_file()});

  auto response = client.Send(Get("/healthz"));

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->body, "secure");
}

TEST_F(HttpClientTlsTest, FailsOnACertificateForAnotherHost) {
  TestServer server(Ok200(), ca_.IssueServer("wrong", "DNS:other.example"));
  HttpClient client({.base_url = server.url(), .ca_file = ca_.ca_file()});

  auto response = client.Send(Get("/healthz"));

  ASSERT_THAT(response, FailsWith(Errc::kNetwork));
  EXPECT_FALSE(response.error().retryable);
  EXPECT_THAT(response.error().message, HasSubstr("certificate"));
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpClientTlsTest, FailsOnACertificateFromAnUnknownCa) {
  TestServer server(Ok200(), ca_.IssueServer("server", "IP:127.0.0.1"));
  HttpClient client({.base_url = server.url(), .ca_file = other_ca_.ca_file()});

  auto response = client.Send(Get("/healthz"));

  ASSERT_THAT(response, FailsWith(Errc::kNetwork));
  EXPECT_FALSE(response.error().retryable);
  EXPECT_THAT(response.error().message, HasSubstr("certificate"));
}

TEST_F(HttpClientTlsTest, AMissingCaFileIsAConfigurationError) {
  HttpClient client({.base_url = "https://127.0.0.1:1", .ca_file = dir_ / "missing.pem"});

  auto response = client.Send(Get("/healthz"));

  ASSERT_THAT(response, FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(response.error().message, HasSubstr("missing.pem"));
}

}  // namespace
}  // namespace orb::net
