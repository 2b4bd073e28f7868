#include "net/ws_client.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
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
namespace websocket = beast::websocket;
using namespace std::chrono_literals;
using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::orb::testing::TempDir;
using ::orb::testing::WaitFor;
using ::testing::HasSubstr;

// A Beast WebSocket server on 127.0.0.1:0, on its own thread. It echoes text messages, except:
// "flood N" sends N messages "m0".."m<N-1>", "quiet" is not answered, "close-policy" makes it
// close with 1008. An upgrade of "/denied" is answered 401.
class WsTestServer {
 public:
  explicit WsTestServer(std::optional<test_pki::TestCa::Issued> tls = std::nullopt) {
    if (tls) {
      tls_context_.emplace(asio::ssl::context::tls_server);
      tls_context_->use_certificate_chain_file(tls->cert_file.string());
      tls_context_->use_private_key_file(tls->key_file.string(), asio::ssl::context::pem);
    }
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, Accept(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~WsTestServer() {
    ioc_.stop();
    thread_.join();
  }

  std::string url() const {
    return (tls_context_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
  }
  int accepts() const { return accepts_; }
  int messages() const { return messages_; }
  int close_code() const { return close_code_; }
  std::string authorization() const {
    const std::lock_guard lock(mutex_);
    return authorization_;
  }

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
      websocket::stream<beast::tcp_stream> ws(std::move(socket));
      co_await Serve(ws);
      co_return;
    }
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(std::move(socket), *tls_context_);
    boost::system::error_code ec;
    co_await ws.next_layer().async_handshake(asio::ssl::stream_base::server,
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await Serve(ws);
  }

  template <class Ws>
  asio::awaitable<void> Serve(Ws& ws) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> upgrade;
    co_await http::async_read(ws.next_layer(), buffer, upgrade,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    {
      const std::lock_guard lock(mutex_);
      authorization_ = std::string(upgrade[http::field::authorization]);
    }
    if (upgrade.target() == "/denied") {
      http::response<http::string_body> denied(http::status::unauthorized, 11);
      denied.prepare_payload();
      co_await http::async_write(ws.next_layer(), denied,
                                 asio::redirect_error(asio::use_awaitable, ec));
      co_return;
    }
    co_await ws.async_accept(upgrade, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    for (;;) {
      buffer.clear();
      co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == websocket::error::closed) close_code_ = ws.reason().code;
        co_return;
      }
      ++messages_;
      const std::string text = beast::buffers_to_string(buffer.data());
      ws.text(true);
      if (text == "close-policy") {
        co_await ws.async_close(websocket::close_code::policy_error,
                                asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      if (text == "quiet") continue;
      if (text == "reset-after-close") {
        co_await ResetAfterClose(ws);
        co_return;
      }
      if (text.starts_with("flood ")) {
        const int count = std::stoi(text.substr(6));
        for (int i = 0; i < count; ++i) {
          const std::string message = "m" + std::to_string(i);
          co_await ws.async_write(asio::buffer(message),
                                  asio::redirect_error(asio::use_awaitable, ec));
          if (ec) co_return;
        }
        continue;
      }
      co_await ws.async_write(asio::buffer(text), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }

  // What nginx in front of a replica may do: the client's close frame is answered, then the TCP
  // connection is gone before the client's own teardown (TLS shutdown, TCP FIN) reaches it.
  template <class Ws>
  asio::awaitable<void> ResetAfterClose(Ws& ws) {
    boost::system::error_code ec;
    std::string received;
    char chunk[64];
    // A masked close frame with a status code: 2 bytes of header, 4 of mask, 2 of code.
    while (received.size() < 8) {
      const std::size_t n = co_await ws.next_layer().async_read_some(
          asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      received.append(chunk, n);
    }
    constexpr char kClose1000[] = {'\x88', '\x02', '\x03', '\xe8'};
    co_await asio::async_write(ws.next_layer(), asio::buffer(kClose1000),
                               asio::redirect_error(asio::use_awaitable, ec));
    auto& socket = beast::get_lowest_layer(ws).socket();
    socket.set_option(asio::socket_base::linger(true, 0), ec);
    socket.close(ec);
  }

  std::optional<asio::ssl::context> tls_context_;
  asio::io_context ioc_;
  asio::ip::tcp::acceptor acceptor_{ioc_};
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<int> accepts_{0};
  std::atomic<int> messages_{0};
  std::atomic<int> close_code_{0};
  mutable std::mutex mutex_;
  std::string authorization_;
};

unsigned short UnusedPort() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST(WebSocketClientTest, EchoesTextMessagesInOrder) {
  WsTestServer server;
  WebSocketClient client({.base_url = server.url(), .bearer_token = "tok"});
  ASSERT_THAT(client.Connect("/v1/stream"), IsOk());
  EXPECT_TRUE(client.is_open());
  EXPECT_EQ(server.authorization(), "Bearer tok");

  ASSERT_THAT(client.Send(R"({"type":"subscribe"})"), IsOk());
  ASSERT_THAT(client.Send("second"), IsOk());
  auto first = client.Receive(5s);
  auto second = client.Receive(5s);

  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(*first, R"({"type":"subscribe"})");
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(*second, "second");
  EXPECT_THAT(client.Close(), IsOk());
  EXPECT_FALSE(client.is_open());
  EXPECT_TRUE(WaitFor([&] { return server.close_code() == 1000; }, 5s));
}

TEST(WebSocketClientTest, ReceiveTimesOutAndTheConnectionStaysUsable) {
  WsTestServer server;
  WebSocketClient client({.base_url = server.url()});
  ASSERT_THAT(client.Connect(), IsOk());
  ASSERT_THAT(client.Send("quiet"), IsOk());

  const auto start = std::chrono::steady_clock::now();
  auto nothing = client.Receive(200ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;

  ASSERT_THAT(nothing, FailsWith(Errc::kTimeout));
  EXPECT_TRUE(nothing.error().retryable);
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 3s);
  ASSERT_THAT(client.Send("still here"), IsOk());
  auto echoed = client.Receive(5s);
  ASSERT_THAT(echoed, IsOk());
  EXPECT_EQ(*echoed, "still here");
}

TEST(WebSocketClientTest, KeepsMessagesThatArriveBetweenReceives) {
  WsTestServer server;
  WebSocketClient client({.base_url = server.url()});
  ASSERT_THAT(client.Connect(), IsOk());

  ASSERT_THAT(client.Send("flood 5"), IsOk());

  for (int i = 0; i < 5; ++i) {
    auto message = client.Receive(5s);
    ASSERT_THAT(message, IsOk());
    EXPECT_EQ(*message, "m" + std::to_string(i));
  }
}

TEST(WebSocketClientTest, ReportsTheServersCloseCode) {
  WsTestServer server;
  WebSocketClient client({.base_url = server.url()});
  ASSERT_THAT(client.Connect(), IsOk());
  ASSERT_THAT(client.Send("close-policy"), IsOk());

  auto message = client.Receive(5s);

  ASSERT_THAT(message, FailsWith(Errc::kNetwork));
  EXPECT_FALSE(message.error().retryable);
  EXPECT_THAT(message.error().message, HasSubstr("1008"));
  EXPECT_EQ(client.close_code(), 1008);
  EXPECT_FALSE(client.is_open());
  EXPECT_THAT(client.Send("x"), FailsWith(Errc::kNetwork));
}

// Through nginx over TLS the server's close frame arrived, and then the client's TLS shutdown or
// TCP teardown failed ("Transport endpoint is not connected"): the close handshake was complete,
// so Close is Ok.
TEST(WebSocketClientTest, CloseIsOkWhenTheConnectionDropsAfterTheServersCloseFrame) {
  WsTestServer server;
  WebSocketClient client({.base_url = server.url()});
  ASSERT_THAT(client.Connect(), IsOk());
  ASSERT_THAT(client.Send("reset-after-close"), IsOk());

  EXPECT_THAT(client.Close(), IsOk());
  EXPECT_FALSE(client.is_open());
}

TEST(WebSocketClientTest, ARefusedUpgradeIsAnHttpError) {
  WsTestServer server;
  WebSocketClient client({.base_url = server.url()});

  auto connected = client.Connect("/denied");

  ASSERT_THAT(connected, FailsWith(Errc::kHttp));
  EXPECT_THAT(connected.error().message, HasSubstr("401"));
  EXPECT_FALSE(client.is_open());
}

TEST(WebSocketClientTest, ConnectRefusedIsARetryableNetworkError) {
  WebSocketClient client({.base_url = "ws://127.0.0.1:" + std::to_string(UnusedPort())});

  auto connected = client.Connect();

  ASSERT_THAT(connected, FailsWith(Errc::kNetwork));
  EXPECT_TRUE(connected.error().retryable);
  EXPECT_THAT(connected.error().message, HasSubstr("127.0.0.1"));
}

TEST(WebSocketClientTest, CallsBeforeConnectFail) {
  WebSocketClient client({.base_url = "http://127.0.0.1:1"});

  EXPECT_THAT(client.Send("x"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(client.Receive(10ms), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(client.Close(), IsOk());
}

TEST(WebSocketClientTest, CancelFromAnotherThreadInterruptsAWaitingReceive) {
  WsTestServer server;
  WebSocketClient client({.base_url = server.url()});
  ASSERT_THAT(client.Connect(), IsOk());
  std::atomic<bool> waiting{false};

  auto pending = std::async(std::launch::async, [&] {
    waiting = true;
    return client.Receive(60s);
  });
  ASSERT_TRUE(WaitFor([&] { return waiting.load(); }, 5s));
  client.Cancel();

  ASSERT_EQ(pending.wait_for(5s), std::future_status::ready);
  EXPECT_THAT(pending.get(), FailsWith(Errc::kCancelled));
  EXPECT_THAT(client.Connect(), FailsWith(Errc::kCancelled));
}

TEST(WebSocketClientTest, ReconnectsAfterTheServerClosed) {
  WsTestServer server;
  WebSocketClient client({.base_url = server.url()});
  ASSERT_THAT(client.Connect(), IsOk());
  ASSERT_THAT(client.Send("close-policy"), IsOk());
  ASSERT_THAT(client.Receive(5s), FailsWith(Errc::kNetwork));

  ASSERT_THAT(client.Connect(), IsOk());
  ASSERT_THAT(client.Send("again"), IsOk());
  auto echoed = client.Receive(5s);

  ASSERT_THAT(echoed, IsOk());
  EXPECT_EQ(*echoed, "again");
  EXPECT_EQ(server.accepts(), 2);
}

class WebSocketClientTlsTest : public ::testing::Test {
 protected:
  TempDir dir_;
  test_pki::TestCa ca_{dir_.path(), "good"};
  test_pki::TestCa other_ca_{dir_.path(), "other"};
};

TEST_F(WebSocketClientTlsTest, EchoesOverTls) {
  WsTestServer server(ca_.IssueServer("server", "IP:127.0.0.1"));
  WebSocketClient client({.base_url = server.url(), .ca_file = ca_.ca_file()});
  ASSERT_THAT(client.Connect(), IsOk());

  ASSERT_THAT(client.Send("secure"), IsOk());
  auto echoed = client.Receive(5s);

  ASSERT_THAT(echoed, IsOk());
  EXPECT_EQ(*echoed, "secure");
  EXPECT_THAT(client.Close(), IsOk());
}

TEST_F(WebSocketClientTlsTest, CloseIsOkWhenTheConnectionDropsAfterTheServersCloseFrame) {
  WsTestServer server(ca_.IssueServer("server", "IP:127.0.0.1"));
  WebSocketClient client({.base_url = server.url(), .ca_file = ca_.ca_file()});
  ASSERT_THAT(client.Connect(), IsOk());
  ASSERT_THAT(client.Send("reset-after-close"), IsOk());

  EXPECT_THAT(client.Close(), IsOk());
  EXPECT_FALSE(client.is_open());
}

TEST_F(WebSocketClientTlsTest, FailsOnACertificateFromAnUnknownCa) {
  WsTestServer server(ca_.IssueServer("server", "IP:127.0.0.1"));
  WebSocketClient client({.base_url = server.url(), .ca_file = other_ca_.ca_file()});

  auto connected = client.Connect();

  ASSERT_THAT(connected, FailsWith(Errc::kNetwork));
  EXPECT_FALSE(connected.error().retryable);
  EXPECT_THAT(connected.error().message, HasSubstr("certificate"));
}

}  // namespace
}  // namespace orb::net
