// HttpServer's connection limit (net/http_server.hpp): beyond max_connections, or out of
// descriptors, a connection is told 503 and closed; the server neither crashes nor spins, and
// serves again once connections go.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.hpp"
#include "net/http_server.hpp"
#include "support/matchers.hpp"
#include "support/wait_for.hpp"
#include "unit/net/test_client.hpp"

namespace orb::net {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::TestClient;

HttpHandler Hello() {
  return [](HttpRequest&&, std::shared_ptr<Responder> responder) {
    HttpResponse response;
    response.body = "hello";
    responder->Send(std::move(response));
  };
}

TEST(HttpServerLimitsTest, ConnectionsBeyondTheLimitAreAnswered503AndClosed) {
  HttpServerOptions options;
  options.max_connections = 3;
  HttpServer server(options, Hello());
  ASSERT_THAT(server.Start(), orb::testing::IsOk());
  std::vector<std::unique_ptr<TestClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<TestClient>(server.port()));
    ASSERT_TRUE(held.back()->Get("/x").has_value());  // accepted and counted
  }
  EXPECT_EQ(server.stats().connections, 3U);

  TestClient over(server.port());
  const auto refused = over.Get("/x");
  ASSERT_TRUE(refused.has_value()) << over.error().message() << " " << over.error().value();
  EXPECT_EQ(refused->result_int(), 503);
  EXPECT_EQ((*refused)[boost::beast::http::field::retry_after], "5");
  // The whole §1 error body (its Content-Length is written by hand).
  EXPECT_EQ(refused->body(),
            R"({"error":{"code":"unavailable","message":"fleet-cmdr is at its connection limit",)"
            R"("details":[]}})");
  EXPECT_FALSE(refused->keep_alive());
  EXPECT_TRUE(over.WaitClosed());
  EXPECT_EQ(server.stats().refused, 1U);

  // The ones already in are still served; one going makes room for another.
  ASSERT_TRUE(held[0]->Get("/x").has_value());
  held.erase(held.begin());
  ASSERT_TRUE(orb::testing::WaitFor([&] { return server.stats().connections == 2; }, 5s));
  TestClient next(server.port());
  const auto served = next.Get("/x");
  ASSERT_TRUE(served.has_value()) << next.error().message();
  EXPECT_EQ(served->body(), "hello");
}

// The CPU time (user + system) a process used so far, from /proc/<pid>/stat.
std::chrono::milliseconds CpuTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  // Fields after the command name "(...)": state is field 3, utime 14, stime 15.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  const long ticks = ::sysconf(_SC_CLK_TCK);
  return std::chrono::milliseconds((utime + stime) * 1000 / ticks);
}

// The server runs in a child process whose descriptor limit is a few dozen above what it has
// open: its connection limit is never reached, the process's is.
TEST(HttpServerLimitsTest, OutOfDescriptorsItRefusesWithoutSpinningAndRecovers) {
  int to_parent[2];
  int to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(to_parent[0]);
    ::close(to_child[1]);
    // The limit bounds descriptor numbers: descriptors inherited from the test runner (some high)
    // are closed first, so that the only free numbers are the few dozen below the limit.
    for (int fd = 3; fd < 4096; ++fd) {
      if (fd != to_parent[1] && fd != to_child[0]) ::close(fd);
    }
    // UBSan checks a dynamic type it has not seen yet by reading the vtable through a pipe, which
    // a process out of descriptors cannot open (the check then fails and aborts). So the types
    // first checked out there are used once before the limit, which puts them in UBSan's type
    // cache: spdlog's formatter (the server logs the refusal), the error categories of EMFILE and
    // of a peer's end of stream, and the connections' own types. In other builds this is merely a
    // little more work. The descriptors still open after it are counted below.
    GetLogger("net")->warn("descriptor limit test: warming up before the limit");
    for (const auto* category :
         {&boost::system::system_category(), &boost::system::generic_category(),
          &boost::asio::error::get_misc_category()}) {
      if (!boost::system::error_code(1, *category).failed()) ::_exit(3);
    }
    {  // one request served, one refused over the connection cap, both closed
      HttpServerOptions warm_options;
      warm_options.max_connections = 1;
      HttpServer warm(warm_options, Hello());
      if (!warm.Start()) ::_exit(4);
      TestClient served(warm.port());
      (void)served.Get("/x");
      TestClient refused(warm.port());
      (void)refused.Get("/x");
      warm.Stop();
    }
    int open_now = 0;
    for (int fd = 0; fd < 4096; ++fd) {
      if (::fcntl(fd, F_GETFD) != -1) open_now = fd + 1;
    }
    const rlimit limit{static_cast<rlim_t>(open_now + 24), static_cast<rlim_t>(open_now + 24)};
    ::setrlimit(RLIMIT_NOFILE, &limit);
    HttpServerOptions options;
    options.max_connections = 100'000;
    HttpServer server(options, Hello());
    const std::uint16_t port = server.Start() ? server.port() : 0;
    (void)::write(to_parent[1], &port, sizeof(port));
    char done = 0;
    (void)::read(to_child[0], &done, 1);  // until the parent closes its end
    server.Stop();
    ::_exit(0);
  }
  ::close(to_parent[1]);
  ::close(to_child[0]);
  std::uint16_t port = 0;
  ASSERT_EQ(::read(to_parent[0], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
  ASSERT_NE(port, 0);

  // 60 connections, far more than the child has descriptors for. Each is either served or told
  // 503 (the reserve descriptor) or, at worst, dropped; none waits for ever in the backlog.
  std::vector<std::unique_ptr<TestClient>> clients;
  int served = 0;
  int refused = 0;
  int dropped = 0;
  for (int i = 0; i < 60; ++i) {
    clients.push_back(std::make_unique<TestClient>(port));
    auto& client = *clients.back();
    const auto reply = client.Get("/x");
    if (!reply) {
      ++dropped;
    } else if (reply->result_int() == 200) {
      ++served;
    } else if (reply->result_int() == 503) {
      ++refused;
    }
  }
  std::printf("out of descriptors: %d served, %d refused with 503, %d dropped\n", served, refused,
              dropped);
  EXPECT_GT(served, 0);
  EXPECT_GT(refused, 0);
  EXPECT_EQ(served + refused + dropped, 60);

  // Still out of descriptors, with a connection waiting: 1 s of watching is ten of the 100 ms
  // back-offs, or thousands of turns of a loop that spins on EMFILE (which would burn the whole
  // second).
  TestClient waiting(port);
  ASSERT_TRUE(waiting.Write("GET /x HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto cpu_before = CpuTime(child);
  const auto answer = waiting.Read(1s);
  const auto cpu_used = CpuTime(child) - cpu_before;
  std::printf("CPU while out of descriptors: %lld ms in 1 s\n",
              static_cast<long long>(cpu_used.count()));
  EXPECT_LT(cpu_used, 300ms);
  if (answer) {
    EXPECT_EQ(answer->result_int(), 503);
  }

  // The clients go: the server serves again.
  clients.clear();
  EXPECT_TRUE(orb::testing::WaitFor(
      [&] {
        TestClient again(port);
        const auto reply = again.Get("/x");
        return reply && reply->result_int() == 200;
      },
      10s, 100ms));

  ::close(to_child[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ::close(to_parent[0]);
}

}  // namespace
}  // namespace orb::net
