#include "net/http_server.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/byte_range.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"
#include "unit/net/test_client.hpp"

namespace orb::net {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::TestClient;

HttpResponse Text(std::string body, int status = 200) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

// Echoes "METHOD path k=v,k=v body" for every request.
HttpHandler EchoHandler() {
  return [](HttpRequest&& request, std::shared_ptr<Responder> responder) {
    std::string text = request.method + " " + request.path;
    for (const auto& [key, value] : request.query)
      text += " " + key + "=" + value;
    if (!request.body.empty()) text += " " + request.body;
    responder->Send(Text(std::move(text)));
  };
}

// A server started on 127.0.0.1:0 for one test.
std::unique_ptr<HttpServer> StartServer(HttpServerOptions options, HttpHandler handler,
                                        BodyPolicyFn policy = {}) {
  auto server =
      std::make_unique<HttpServer>(std::move(options), std::move(handler), std::move(policy));
  EXPECT_THAT(server->Start(), orb::testing::IsOk());
  return server;
}

// Long-poll requests park their responders here; tests complete them from their own thread.
struct Parked {
  std::mutex mutex;
  std::vector<std::shared_ptr<Responder>> responders;
  std::vector<std::string> order;  // paths in handler-call order

  std::size_t size() {
    const std::lock_guard lock(mutex);
    return responders.size();
  }
  std::shared_ptr<Responder> at(std::size_t i) {
    const std::lock_guard lock(mutex);
    return responders.at(i);
  }
};

HttpHandler ParkingHandler(Parked& parked) {
  return [&parked](HttpRequest&& request, std::shared_ptr<Responder> responder) {
    const std::lock_guard lock(parked.mutex);
    parked.order.push_back(request.path);
    if (request.path == "/wait") {
      parked.responders.push_back(std::move(responder));
    } else {
      responder->Send(Text("fast"));
    }
  };
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = StartServer({}, EchoHandler());
  TestClient client(server->port());
  ASSERT_TRUE(client.ok());

  for (int i = 0; i < 3; ++i) {
    const auto response = client.Get("/v1/jobs?limit=" + std::to_string(i) + "&q=a%20b+c");
    ASSERT_TRUE(response.has_value()) << client.error().message();
    EXPECT_EQ(response->result_int(), 200);
    EXPECT_EQ(response->body(), "GET /v1/jobs limit=" + std::to_string(i) + " q=a b c");
    EXPECT_TRUE(response->keep_alive());
    EXPECT_EQ((*response)[boost::beast::http::field::server], "fleet-cmdr");
  }
}

TEST(HttpServerTest, RequestGivesHeadersAndQueryToTheHandler) {
  std::promise<HttpRequest> seen;
  auto server = StartServer({}, [&](HttpRequest&& request, std::shared_ptr<Responder> responder) {
    responder->Send(Text("ok"));
    seen.set_value(std::move(request));
  });
  TestClient client(server->port());
  ASSERT_TRUE(client.Get("/a%2Fb/c?x=1&flag", "X-Token: abc\r\n").has_value());
  auto future = seen.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  const HttpRequest request = future.get();
  EXPECT_EQ(request.target, "/a%2Fb/c?x=1&flag");
  EXPECT_EQ(request.path, "/a/b/c");
  EXPECT_EQ(request.Query("x"), "1");
  EXPECT_EQ(request.Query("flag"), "");
  EXPECT_FALSE(request.Query("missing").has_value());
  ASSERT_NE(request.FindHeader("x-token"), nullptr);
  EXPECT_EQ(*request.FindHeader("X-TOKEN"), "abc");
  EXPECT_EQ(request.remote_address, "127.0.0.1");
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Parked parked;
  auto server = StartServer({}, ParkingHandler(parked));
  TestClient client(server->port());
  ASSERT_TRUE(
      client.Write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(orb::testing::WaitFor([&] { return parked.size() == 1; }, 5s));
  {
    const std::lock_guard lock(parked.mutex);
    EXPECT_EQ(parked.order, std::vector<std::string>{"/wait"});  // /fast not started yet
  }
  std::thread([responder = parked.at(0)] { responder->Send(Text("slow")); }).join();

  const auto first = client.Read();
  const auto second = client.Read();
  ASSERT_TRUE(first && second) << client.error().message();
  EXPECT_EQ(first->body(), "slow");
  EXPECT_EQ(second->body(), "fast");
}

TEST(HttpServerTest, LongPollCompletedLaterDoesNotHoldUpOtherConnections) {
  Parked parked;
  auto server = StartServer({}, ParkingHandler(parked));
  TestClient waiting(server->port());
  ASSERT_TRUE(waiting.Write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(orb::testing::WaitFor([&] { return parked.size() == 1; }, 5s));

  TestClient other(server->port());
  const auto fast = other.Get("/fast");
  ASSERT_TRUE(fast.has_value());
  EXPECT_EQ(fast->body(), "fast");
  EXPECT_TRUE(parked.at(0)->IsOpen());

  std::thread([responder = parked.at(0)] { responder->Send(Text("done")); }).join();
  EXPECT_FALSE(parked.at(0)->IsOpen());
  parked.at(0)->Send(Text("second send is ignored"));
  const auto late = waiting.Read();
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->body(), "done");
  const auto next = waiting.Get("/fast");  // the connection is usable again
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body(), "fast");
}

TEST(HttpServerTest, ClientDisconnectDuringLongPollMakesResponderClosed) {
  Parked parked;
  auto server = StartServer({}, ParkingHandler(parked));
  {
    TestClient client(server->port());
    ASSERT_TRUE(client.Write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(orb::testing::WaitFor([&] { return parked.size() == 1; }, 5s));
    EXPECT_TRUE(parked.at(0)->IsOpen());
  }
  EXPECT_TRUE(orb::testing::WaitFor([&] { return !parked.at(0)->IsOpen(); }, 5s));
  parked.at(0)->Send(Text("nobody listens"));  // a no-op, not a crash
}

TEST(HttpServerTest, BodyOverTheLimitGets413) {
  HttpServerOptions options;
  options.body_limit = 100;
  auto server = StartServer(options, EchoHandler());

  TestClient small(server->port());
  ASSERT_TRUE(small.Write("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
  const auto ok = small.Read();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->body(), "POST /p hello");

  TestClient declared(server->port());
  ASSERT_TRUE(declared.Write("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n" +
                             std::string(500, 'x')));
  const auto too_large = declared.Read();
  ASSERT_TRUE(too_large.has_value()) << declared.error().message();
  EXPECT_EQ(too_large->result_int(), 413);
  EXPECT_THAT(too_large->body(), HasSubstr(R"({"error":{"code":"payload_too_large")"));
  EXPECT_TRUE(declared.WaitClosed());

  TestClient chunked(server->port());
  ASSERT_TRUE(
      chunked.Write("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "c8\r\n" +
                    std::string(200, 'y') + "\r\n0\r\n\r\n"));
  const auto chunked_too_large = chunked.Read();
  ASSERT_TRUE(chunked_too_large.has_value()) << chunked.error().message();
  EXPECT_EQ(chunked_too_large->result_int(), 413);
}

TEST(HttpServerTest, HeadersOverTheLimitAreAnInvalidRequest) {
  HttpServerOptions options;
  options.header_limit = 1024;
  auto server = StartServer(options, EchoHandler());
  TestClient client(server->port());
  ASSERT_TRUE(
      client.Write("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n"));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value()) << client.error().message();
  EXPECT_EQ(response->result_int(), 400);
  EXPECT_THAT(response->body(), HasSubstr(R"("code":"invalid_request")"));
  EXPECT_THAT(response->body(), HasSubstr("request headers are too large"));
  EXPECT_TRUE(client.WaitClosed());
}

TEST(HttpServerTest, RequestNotCompleteWithinTheTimeoutIsAnInvalidRequestAndIsClosed) {
  HttpServerOptions options;
  options.request_timeout = 1s;
  auto server = StartServer(options, EchoHandler());
  TestClient client(server->port());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.Write("GET /slow HTTP/1.1\r\nHost: t\r\n"));  // the head never ends
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value()) << client.error().message();
  EXPECT_EQ(response->result_int(), 400);
  EXPECT_THAT(response->body(), HasSubstr("the request did not arrive in time"));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);
  EXPECT_TRUE(client.WaitClosed());
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  HttpServerOptions options;
  options.idle_timeout = 300ms;
  auto server = StartServer(options, EchoHandler());
  TestClient client(server->port());
  ASSERT_TRUE(client.Get("/").has_value());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.WaitClosed(5s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
}

TEST(HttpServerTest, LongPollIsNotClosedByTheIdleTimeout) {
  HttpServerOptions options;
  options.idle_timeout = 200ms;
  Parked parked;
  auto server = StartServer(options, ParkingHandler(parked));
  TestClient client(server->port());
  ASSERT_TRUE(client.Write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(orb::testing::WaitFor([&] { return parked.size() == 1; }, 5s));
  // Three idle timeouts pass while the handler holds the request: the connection stays open.
  EXPECT_FALSE(orb::testing::WaitFor([&] { return !parked.at(0)->IsOpen(); }, 600ms));
  parked.at(0)->Send(Text("late"));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body(), "late");
}

TEST(HttpServerTest, MalformedRequestGets400AndIsClosed) {
  auto server = StartServer({}, EchoHandler());
  TestClient client(server->port());
  ASSERT_TRUE(client.Write("THIS IS NOT HTTP\r\n\r\n"));
  const auto response = client.Read();
  ASSERT_TRUE(response.has_value()) << client.error().message();
  EXPECT_EQ(response->result_int(), 400);
  EXPECT_THAT(response->body(), HasSubstr(R"({"error":{"code":"invalid_request")"));
  EXPECT_TRUE(client.WaitClosed());
}

TEST(HttpServerTest, HandlerExceptionGives500AndTheConnectionStaysUsable) {
  auto server = StartServer({}, [](HttpRequest&& request, std::shared_ptr<Responder> responder) {
    if (request.path == "/throw") throw std::runtime_error("boom");
    responder->Send(Text("fine"));
  });
  TestClient client(server->port());
  const auto failed = client.Get("/throw");
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->result_int(), 500);
  EXPECT_THAT(failed->body(), HasSubstr(R"({"error":{"code":"internal")"));
  const auto fine = client.Get("/ok");
  ASSERT_TRUE(fine.has_value());
  EXPECT_EQ(fine->body(), "fine");
}

TEST(HttpServerTest, Http10AndConnectionCloseAreHonoured) {
  auto server = StartServer({}, EchoHandler());
  TestClient old(server->port());
  ASSERT_TRUE(old.Write("GET /old HTTP/1.0\r\n\r\n"));
  const auto response = old.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->version(), 10u);
  EXPECT_TRUE(old.WaitClosed());

  TestClient closing(server->port());
  const auto last = closing.Get("/x", "Connection: close\r\n");
  ASSERT_TRUE(last.has_value());
  EXPECT_FALSE(last->keep_alive());
  EXPECT_TRUE(closing.WaitClosed());
}

TEST(HttpServerTest, FileResponseHonoursRanges) {
  orb::testing::TempDir dir;
  const auto path = dir / "artifact.bin";
  std::ofstream(path) << "0123456789";
  auto server = StartServer({}, [&](HttpRequest&&, std::shared_ptr<Responder> responder) {
    HttpResponse response;
    response.content_type = "application/octet-stream";
    response.file = path;
    responder->Send(std::move(response));
  });
  TestClient client(server->port());

  const auto whole = client.Get("/f");
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->result_int(), 200);
  EXPECT_EQ(whole->body(), "0123456789");
  EXPECT_EQ((*whole)[boost::beast::http::field::accept_ranges], "bytes");

  const auto middle = client.Get("/f", "Range: bytes=2-5\r\n");
  ASSERT_TRUE(middle.has_value());
  EXPECT_EQ(middle->result_int(), 206);
  EXPECT_EQ(middle->body(), "2345");
  EXPECT_EQ((*middle)[boost::beast::http::field::content_range], "bytes 2-5/10");

  const auto open_ended = client.Get("/f", "Range: bytes=7-\r\n");
  ASSERT_TRUE(open_ended.has_value());
  EXPECT_EQ(open_ended->body(), "789");

  const auto suffix = client.Get("/f", "Range: bytes=-3\r\n");
  ASSERT_TRUE(suffix.has_value());
  EXPECT_EQ(suffix->result_int(), 206);
  EXPECT_EQ(suffix->body(), "789");

  const auto beyond = client.Get("/f", "Range: bytes=10-20\r\n");
  ASSERT_TRUE(beyond.has_value());
  EXPECT_EQ(beyond->result_int(), 416);
  EXPECT_EQ((*beyond)[boost::beast::http::field::content_range], "bytes */10");

  const auto after = client.Get("/f");  // keep-alive survives file responses
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->body(), "0123456789");
}

TEST(HttpServerTest, MissingFileGives404) {
  orb::testing::TempDir dir;
  auto server = StartServer({}, [&](HttpRequest&&, std::shared_ptr<Responder> responder) {
    HttpResponse response;
    response.file = dir / "nope";
    responder->Send(std::move(response));
  });
  TestClient client(server->port());
  const auto response = client.Get("/f");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 404);
  EXPECT_THAT(response->body(), HasSubstr(R"("code":"not_found")"));
}

TEST(HttpServerTest, StreamedUploadGoesToTheFileAndTheLimitIsEnforced) {
  orb::testing::TempDir dir;
  std::promise<HttpRequest> seen;
  auto server = StartServer(
      {},
      [&](HttpRequest&& request, std::shared_ptr<Responder> responder) {
        responder->Send(Text("stored"));
        seen.set_value(std::move(request));
      },
      [&](const HttpRequest& head) {
        BodyPolicy policy;
        policy.limit = 1000;
        policy.stream_to_file = dir / (head.path.substr(1) + ".upload");
        return policy;
      });

  TestClient client(server->port());
  const std::string body(600, 'u');
  ASSERT_TRUE(client.Write("PUT /a HTTP/1.1\r\nHost: t\r\nContent-Length: 600\r\n\r\n" + body));
  const auto stored = client.Read();
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->body(), "stored");
  auto future = seen.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  const HttpRequest request = future.get();
  ASSERT_TRUE(request.body_file.has_value());
  EXPECT_TRUE(request.body.empty());
  std::ifstream in(*request.body_file);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), body);

  TestClient big(server->port());
  ASSERT_TRUE(big.Write("PUT /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(big.Write("1f4\r\n" + std::string(500, 'b') + "\r\n"));
  const auto too_large = big.Read();
  ASSERT_TRUE(too_large.has_value()) << big.error().message();
  EXPECT_EQ(too_large->result_int(), 413);
  EXPECT_TRUE(big.WaitClosed());
  // Removed on the file pool, after its last write.
  EXPECT_TRUE(
      orb::testing::WaitFor([&] { return !std::filesystem::exists(dir / "b.upload"); }, 5s));
}

// A policy that must ask elsewhere first (a token another replica created): the body waits for
// the answer, then goes where the answer says.
TEST(HttpServerTest, ABodyPolicyDecidedLaterAppliesOnlyOnceDecided) {
  orb::testing::TempDir dir;
  std::promise<HttpRequest> seen;
  std::mutex mutex;
  std::vector<std::function<void(BodyPolicy)>> deciding;
  auto server = StartServer(
      {},
      [&](HttpRequest&& request, std::shared_ptr<Responder> responder) {
        responder->Send(Text("stored"));
        if (request.path == "/a") seen.set_value(std::move(request));
      },
      [&](const HttpRequest&) {
        BodyPolicy policy;
        policy.limit = 10;  // what would apply without the answer: 413
        policy.decide_later = [&](std::function<void(BodyPolicy)> decide) {
          const std::lock_guard lock(mutex);
          deciding.push_back(std::move(decide));
        };
        return policy;
      });
  const auto asked = [&](std::size_t n) {
    return orb::testing::WaitFor(
        [&] {
          const std::lock_guard lock(mutex);
          return deciding.size() == n;
        },
        5s);
  };

  TestClient client(server->port());
  const std::string body(600, 'u');
  ASSERT_TRUE(client.Write("PUT /a HTTP/1.1\r\nHost: t\r\nContent-Length: 600\r\n\r\n" + body));
  ASSERT_TRUE(asked(1));
  std::thread([&] {
    BodyPolicy file;
    file.limit = 1000;
    file.stream_to_file = dir / "a.upload";
    deciding[0](std::move(file));
  }).join();
  const auto stored = client.Read();
  ASSERT_TRUE(stored.has_value()) << client.error().message();
  EXPECT_EQ(stored->body(), "stored");
  auto future = seen.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  const HttpRequest request = future.get();
  ASSERT_TRUE(request.body_file.has_value());
  std::ifstream in(*request.body_file);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), body);

  // Decided as too small: 413, as if decided at once.
  TestClient refused(server->port());
  ASSERT_TRUE(refused.Write("PUT /b HTTP/1.1\r\nHost: t\r\nContent-Length: 600\r\n\r\n"));
  ASSERT_TRUE(asked(2));
  BodyPolicy small;
  small.limit = 100;
  deciding[1](std::move(small));
  const auto too_large = refused.Read();
  ASSERT_TRUE(too_large.has_value()) << refused.error().message();
  EXPECT_EQ(too_large->result_int(), 413);
}

TEST(HttpServerTest, ServesOverTls) {
  orb::testing::TempDir dir;
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
      " -keyout " +
      (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  HttpServerOptions options;
  options.tls = TlsFiles{dir / "cert.pem", dir / "key.pem"};
  auto server = StartServer(options, EchoHandler());
  testing::TlsTestClient client(server->port());
  ASSERT_TRUE(client.ok()) << client.error().message();
  const auto first = client.Get("/secure?x=1");
  ASSERT_TRUE(first.has_value()) << client.error().message();
  EXPECT_EQ(first->body(), "GET /secure x=1");
  const auto second = client.Get("/again");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->body(), "GET /again");
}

TEST(HttpServerTest, StartFailsWithAClearMessageWhenTheAddressIsTaken) {
  auto first = StartServer({}, EchoHandler());
  HttpServerOptions options;
  options.port = first->port();
  HttpServer second(options, EchoHandler());
  const Status status = second.Start();
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code, Errc::kIo);
  EXPECT_THAT(status.error().message, HasSubstr("127.0.0.1:" + std::to_string(first->port())));
}

TEST(HttpServerTest, TlsWithMissingFilesFailsToStart) {
  HttpServerOptions options;
  options.tls = TlsFiles{"/nonexistent/cert.pem", "/nonexistent/key.pem"};
  HttpServer server(options, EchoHandler());
  EXPECT_THAT(server.Start(), orb::testing::FailsWith(Errc::kInvalidRequest));
}

TEST(HttpServerTest, PostAndRunAfterRunOnTheLoopsAndCancelStopsATimer) {
  auto server = StartServer({}, EchoHandler());
  std::atomic<int> posted{0};
  std::atomic<int> fired{0};
  std::atomic<int> cancelled_fired{0};
  server->Post([&] { ++posted; });
  auto cancelled = server->RunAfter(50ms, [&] { ++cancelled_fired; });
  cancelled->Cancel();
  auto timer = server->RunAfter(100ms, [&] { ++fired; });
  EXPECT_TRUE(orb::testing::WaitFor([&] { return posted == 1 && fired == 1; }, 5s));
  EXPECT_EQ(cancelled_fired, 0);
}

TEST(HttpServerTest, StopClosesIdleConnectionsAndLetsInFlightRequestsAnswer) {
  Parked parked;
  HttpServerOptions options;
  options.threads = 2;
  auto server = StartServer(options, ParkingHandler(parked));
  TestClient idle(server->port());
  ASSERT_TRUE(idle.Get("/fast").has_value());
  TestClient waiting(server->port());
  ASSERT_TRUE(waiting.Write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(orb::testing::WaitFor([&] { return parked.size() == 1; }, 5s));

  auto stopped = std::async(std::launch::async, [&] { server->Stop(); });
  EXPECT_TRUE(idle.WaitClosed());
  parked.at(0)->Send(Text("bye"));
  const auto response = waiting.Read();
  ASSERT_TRUE(response.has_value()) << waiting.error().message();
  EXPECT_EQ(response->body(), "bye");
  EXPECT_FALSE(response->keep_alive());
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
}

TEST(HttpServerTest, StopForceClosesLongPollsThatDoNotAnswer) {
  Parked parked;
  HttpServerOptions options;
  options.stop_timeout = 200ms;
  auto server = StartServer(options, ParkingHandler(parked));
  TestClient waiting(server->port());
  ASSERT_TRUE(waiting.Write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(orb::testing::WaitFor([&] { return parked.size() == 1; }, 5s));
  server->Stop();
  EXPECT_FALSE(parked.at(0)->IsOpen());
  EXPECT_TRUE(waiting.WaitClosed());
  server.reset();
  parked.at(0)->Send(Text("after the server is gone"));  // a no-op
}

// A disk that does not answer, without any seam: opening a FIFO blocks until the other end is
// opened. `other_end` is how the test opens it (O_WRONLY for a server that reads, O_RDONLY for one
// that writes); whatever happens, it is opened when the test ends, so that the server can stop.
class Fifo {
 public:
  Fifo(std::filesystem::path path, int other_end) : path_(std::move(path)), other_end_(other_end) {
    EXPECT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  }
  ~Fifo() { Unblock(); }
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;
  const std::filesystem::path& path() const { return path_; }

  // Opens the other end, lets the server's side through, reads what the server writes until it
  // closes its end (at most 5 s), closes.
  void Unblock() {
    if (unblocked_) return;
    unblocked_ = true;
    const int fd = ::open(path_.c_str(), other_end_ | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return;
    if (other_end_ == O_RDONLY) {
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      char buffer[256];
      pollfd readable{fd, POLLIN, 0};
      while (std::chrono::steady_clock::now() < deadline && ::poll(&readable, 1, 100) >= 0) {
        if (readable.revents == 0) continue;
        if (::read(fd, buffer, sizeof(buffer)) == 0) break;  // the server closed its end
      }
    }
    ::close(fd);
  }

 private:
  std::filesystem::path path_;
  int other_end_;
  bool unblocked_ = false;
};

// Answers /file with `file`, parks /wait (a long-poll the test answers), answers the rest at once.
// `touched` turns true when the request for the file (or its upload) reached the server.
struct DiskFixture {
  explicit DiskFixture(std::filesystem::path file) : file_path(std::move(file)) {
    server = StartServer(
        {},
        [this](HttpRequest&& request, std::shared_ptr<Responder> responder) {
          if (request.path == "/file") {
            touched = true;
            HttpResponse response;
            response.content_type = "application/octet-stream";
            response.file = file_path;
            return responder->Send(std::move(response));
          }
          if (request.path == "/upload") return responder->Send(Text("stored"));
          ParkingHandler(parked)(std::move(request), std::move(responder));
        },
        [this](const HttpRequest& head) {
          BodyPolicy policy;
          if (head.path == "/upload") {
            touched = true;
            policy.stream_to_file = file_path;
          }
          return policy;
        });
  }

  // While the disk holds the /file or /upload request, a long-poll on another connection is
  // answered the moment it is completed, and another request is served: the loop (one thread
  // here) never waits for the disk.
  void ExpectOtherConnectionsServed() {
    TestClient poll(server->port());
    ASSERT_TRUE(poll.Write("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(orb::testing::WaitFor([&] { return parked.size() == 1; }, 2s))
        << "the long-poll did not reach its handler while the disk was stuck";
    std::thread([responder = parked.at(0)] { responder->Send(Text("job!")); }).join();
    const auto answered = poll.Read(2s);
    ASSERT_TRUE(answered.has_value()) << poll.error().message();
    EXPECT_EQ(answered->body(), "job!");
    TestClient other(server->port());
    ASSERT_TRUE(other.Write("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"));
    const auto fast = other.Read(2s);
    ASSERT_TRUE(fast.has_value()) << other.error().message();
    EXPECT_EQ(fast->body(), "fast");
  }

  std::filesystem::path file_path;
  Parked parked;
  std::atomic<bool> touched{false};
  std::unique_ptr<HttpServer> server;
};

TEST(HttpServerTest, AFileResponseWaitingOnTheDiskDelaysNoOtherConnection) {
  orb::testing::TempDir dir;
  Fifo disk(dir / "stuck.bin", O_WRONLY);
  DiskFixture fixture(disk.path());
  TestClient download(fixture.server->port());
  ASSERT_TRUE(download.Write("GET /file HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(orb::testing::WaitFor([&] { return fixture.touched.load(); }, 5s));

  fixture.ExpectOtherConnectionsServed();

  disk.Unblock();
  const auto response = download.Read();  // a FIFO is not a file that can be served
  ASSERT_TRUE(response.has_value()) << download.error().message();
  EXPECT_EQ(response->result_int(), 404);
}

TEST(HttpServerTest, AnUploadWaitingOnTheDiskDelaysNoOtherConnection) {
  orb::testing::TempDir dir;
  Fifo disk(dir / "upload.bin", O_RDONLY);
  DiskFixture fixture(disk.path());
  TestClient upload(fixture.server->port());
  ASSERT_TRUE(upload.Write("PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
  ASSERT_TRUE(orb::testing::WaitFor([&] { return fixture.touched.load(); }, 5s));

  fixture.ExpectOtherConnectionsServed();

  disk.Unblock();
  const auto response = upload.Read();
  ASSERT_TRUE(response.has_value()) << upload.error().message();
  EXPECT_EQ(response->body(), "stored");
}

TEST(ByteRangeTest, ParsesTheThreeFormsAndRejectsWhatCannotBeServed) {
  EXPECT_EQ(ParseByteRange("bytes=0-4", 10).kind, ByteRange::Kind::kPartial);
  EXPECT_EQ(ParseByteRange("bytes=0-4", 10).length, 5u);
  EXPECT_EQ(ParseByteRange("bytes=5-100", 10).length, 5u);
  EXPECT_EQ(ParseByteRange("bytes=-20", 10).first, 0u);
  EXPECT_EQ(ParseByteRange("bytes=10-", 10).kind, ByteRange::Kind::kUnsatisfiable);
  EXPECT_EQ(ParseByteRange("bytes=-0", 10).kind, ByteRange::Kind::kUnsatisfiable);
  EXPECT_EQ(ParseByteRange("bytes=5-2", 10).kind, ByteRange::Kind::kWhole);
  EXPECT_EQ(ParseByteRange("items=1-2", 10).kind, ByteRange::Kind::kWhole);
  EXPECT_EQ(ParseByteRange("bytes=0-1,4-5", 10).kind, ByteRange::Kind::kWhole);
  // Numbers longer than 64 bits are still numbers, past any file's end: clamped, or beyond it.
  const auto huge = ParseByteRange("bytes=3-99999999999999999999999", 10);
  EXPECT_EQ(huge.kind, ByteRange::Kind::kPartial);
  EXPECT_EQ(huge.first, 3u);
  EXPECT_EQ(huge.length, 7u);
  EXPECT_EQ(ParseByteRange("bytes=-99999999999999999999999", 10).length, 10u);
  EXPECT_EQ(ParseByteRange("bytes=99999999999999999999999-", 10).kind,
            ByteRange::Kind::kUnsatisfiable);
  EXPECT_EQ(ParseByteRange("bytes=+3-5", 10).kind, ByteRange::Kind::kWhole);  // not 1*DIGIT
}

TEST(ErrorBodyTest, EscapesTheMessage) {
  EXPECT_EQ(ErrorBody("invalid_request", "bad \"x\""),
            R"({"error":{"code":"invalid_request","message":"bad \"x\"","details":[]}})");
}

}  // namespace
}  // namespace orb::net
