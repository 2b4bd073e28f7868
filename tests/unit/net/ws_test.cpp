// WebSocket sessions of HttpServer (net/http_server.hpp; protocol.md §6).
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "net/http_server.hpp"
#include "support/matchers.hpp"
#include "support/wait_for.hpp"
#include "unit/net/test_client.hpp"

namespace orb::net {
namespace {

using namespace std::chrono_literals;
using testing::TestClient;
using testing::WsTestClient;

// A server whose /v1/stream is a WebSocket: "flood" sends 10 messages at once, anything else is
// echoed. Plain HTTP requests get "http".
struct WsFixture {
  explicit WsFixture(HttpServerOptions options = {}) {
    WebSocketHandlers handlers;
    handlers.on_open = [this](std::shared_ptr<WebSocketSession> session, const HttpRequest& req) {
      const std::lock_guard lock(mutex);
      last_session = std::move(session);
      upgrade_path = req.path;
    };
    handlers.on_message = [](WebSocketSession& session, std::string message) {
      if (message == "flood") {
        for (int i = 0; i < 10; ++i)
          session.Send("m" + std::to_string(i));
      } else {
        session.Send("echo:" + message);
      }
    };
    handlers.on_close = [this](WebSocketSession&) { ++closed; };
    server = std::make_unique<HttpServer>(
        std::move(options),
        [](HttpRequest&&, std::shared_ptr<Responder> responder) {
          HttpResponse response;
          response.body = "http";
          responder->Send(std::move(response));
        },
        BodyPolicyFn{}, std::move(handlers),
        [](std::string_view path) { return path == "/v1/stream"; });
    EXPECT_THAT(server->Start(), orb::testing::IsOk());
  }

  std::shared_ptr<WebSocketSession> session() {
    const std::lock_guard lock(mutex);
    return last_session;
  }

  std::mutex mutex;
  std::shared_ptr<WebSocketSession> last_session;
  std::string upgrade_path;
  std::atomic<int> closed{0};
  std::unique_ptr<HttpServer> server;
};

TEST(WebSocketTest, EchoesTextMessagesOnTheSamePortAsHttp) {
  WsFixture fixture;
  WsTestClient client(fixture.server->port(), "/v1/stream?since=5");
  ASSERT_TRUE(client.ok()) << client.error().message();
  ASSERT_TRUE(orb::testing::WaitFor([&] { return fixture.session() != nullptr; }, 5s));
  EXPECT_EQ(fixture.upgrade_path, "/v1/stream");
  EXPECT_TRUE(fixture.session()->IsOpen());
  EXPECT_EQ(fixture.session()->remote_address(), "127.0.0.1");

  ASSERT_TRUE(client.Send("hello"));
  EXPECT_EQ(client.Receive(), "echo:hello");
  ASSERT_TRUE(client.Send("again"));
  EXPECT_EQ(client.Receive(), "echo:again");

  fixture.session()->Send("pushed from another thread");
  EXPECT_EQ(client.Receive(), "pushed from another thread");

  TestClient http(fixture.server->port());
  const auto plain = http.Get("/v1/other");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->body(), "http");
}

TEST(WebSocketTest, ClientCloseRunsTheCloseHandshakeAndOnClose) {
  WsFixture fixture;
  WsTestClient client(fixture.server->port(), "/v1/stream");
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(orb::testing::WaitFor([&] { return fixture.session() != nullptr; }, 5s));
  ASSERT_TRUE(client.CloseNormally()) << client.error().message();
  EXPECT_TRUE(orb::testing::WaitFor([&] { return fixture.closed == 1; }, 5s));
  EXPECT_FALSE(fixture.session()->IsOpen());
  fixture.session()->Send("after close");  // a no-op
}

TEST(WebSocketTest, ServerCloseSendsTheCodeAndReason) {
  WsFixture fixture;
  WsTestClient client(fixture.server->port(), "/v1/stream");
  ASSERT_TRUE(orb::testing::WaitFor([&] { return fixture.session() != nullptr; }, 5s));
  fixture.session()->Close(4000, "token revoked");
  EXPECT_FALSE(client.Receive().has_value());
  EXPECT_EQ(client.reason().code, 4000);
  EXPECT_EQ(client.reason().reason, "token revoked");
  EXPECT_TRUE(orb::testing::WaitFor([&] { return fixture.closed == 1; }, 5s));
}

TEST(WebSocketTest, FullQueueClosesTheSessionWith1008) {
  HttpServerOptions options;
  options.ws_queue_limit = 4;
  WsFixture fixture(options);
  WsTestClient client(fixture.server->port(), "/v1/stream");
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client.Send("flood"));  // 10 messages queued in one go: over the limit of 4

  std::vector<std::string> received;
  while (auto message = client.Receive())
    received.push_back(*message);
  EXPECT_EQ(client.reason().code, 1008);
  EXPECT_LT(received.size(), 10u);
  EXPECT_TRUE(orb::testing::WaitFor([&] { return fixture.closed == 1; }, 5s));
  EXPECT_FALSE(fixture.session()->IsOpen());
  EXPECT_EQ(fixture.session()->QueuedMessages(), 0u);
}

TEST(WebSocketTest, StopClosesOpenSessionsAndConnections) {
  WsFixture fixture;
  WsTestClient ws(fixture.server->port(), "/v1/stream");
  ASSERT_TRUE(ws.ok());
  ASSERT_TRUE(orb::testing::WaitFor([&] { return fixture.session() != nullptr; }, 5s));
  TestClient idle(fixture.server->port());
  ASSERT_TRUE(idle.Get("/x").has_value());

  auto stopped = std::async(std::launch::async, [&] { fixture.server->Stop(); });
  EXPECT_FALSE(ws.Receive().has_value());
  EXPECT_EQ(ws.reason().code, 1001);
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fixture.closed, 1);
}

// Keep-alive (HttpServerOptions::ws_ping_interval): a peer that answers no ping is closed; one
// that reads (and so answers the pings) stays.
TEST(WebSocketTest, APeerThatAnswersNoPingIsClosed) {
  HttpServerOptions options;
  options.ws_ping_interval = 200ms;
  WsFixture fixture(options);

  WsTestClient answering(fixture.server->port(), "/v1/stream");
  ASSERT_TRUE(answering.ok()) << answering.error().message();
  WsTestClient silent(fixture.server->port(), "/v1/stream");  // never reads: never answers
  ASSERT_TRUE(silent.ok()) << silent.error().message();

  // 1.5 s is seven ping intervals: the silent peer is pinged after 200 ms and closed 200 ms
  // later. Meanwhile the answering one reads, so Beast answers every ping; its read ends only
  // when the 1.5 s are up (timed_out), not because the server closed it.
  EXPECT_FALSE(answering.Receive(1500ms).has_value());
  EXPECT_EQ(answering.error(), boost::asio::error::timed_out) << answering.error().message();
  // The silent one was closed by the server (it has nothing to read but the ping and the end).
  EXPECT_FALSE(silent.Receive(2s).has_value());
  EXPECT_NE(silent.error(), boost::asio::error::timed_out);
  EXPECT_TRUE(orb::testing::WaitFor([&] { return fixture.closed >= 1; }, 5s));
}

}  // namespace
}  // namespace orb::net
