// The control plane over a list of replicas (agent/server_failover.hpp, control_plane.hpp): real
// HTTP to servers on 127.0.0.1 that answer as fleet-cmdr would, or fail as a replica does when it
// dies, goes silent or sits behind a proxy that cannot reach it.
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/control_plane.hpp"
#include "agent/server_failover.hpp"
#include "net/http_server.hpp"
#include "protocol/codec.hpp"
#include "support/manual_clock.hpp"
#include "support/matchers.hpp"

namespace orb::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::IsOk;
using SteadyClock = std::chrono::steady_clock;

// fleet-cmdr's agent API in miniature: answers hello and notify with 200, after the statuses a
// test queued (each with its Retry-After, if any). Counts the requests it got.
class Replica {
 public:
  Replica() {
    server_ = std::make_unique<net::HttpServer>(
        net::HttpServerOptions{},
        [this](net::HttpRequest&& request, std::shared_ptr<net::Responder> responder) {
          responder->Send(Handle(request));
        });
    EXPECT_THAT(server_->Start(), IsOk());
  }
  ~Replica() { server_->Stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  int requests() const { return requests_.load(); }
  void Queue(int status, std::string retry_after = "") {
    const std::lock_guard lock(mutex_);
    queued_.push_back({status, std::move(retry_after)});
  }

 private:
  struct Scripted {
    int status;
    std::string retry_after;
  };

  net::HttpResponse Handle(const net::HttpRequest& request) {
    ++requests_;
    net::HttpResponse response;
    {
      const std::lock_guard lock(mutex_);
      if (!queued_.empty()) {
        response.status = queued_.front().status;
        if (!queued_.front().retry_after.empty()) {
          response.headers.push_back({"Retry-After", queued_.front().retry_after});
        }
        queued_.pop_front();
        response.body = net::ErrorBody("unavailable", "scripted");
        return response;
      }
    }
    if (request.path.ends_with("/hello")) {
      response.body = protocol::ToJson(protocol::HelloResponse{});
    } else {
      response.body = protocol::ToJson(protocol::NotifyResponse{});
    }
    return response;
  }

  std::unique_ptr<net::HttpServer> server_;
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::deque<Scripted> queued_;
};

// A port that accepts connections (the kernel's backlog) and never answers: a replica whose host
// hangs, or one stopped with SIGSTOP.
class SilentPort {
 public:
  SilentPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~SilentPort() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A URL nothing listens on: connect is refused at once.
std::string RefusedUrl() {
  SilentPort closed;  // bound, then closed again when this returns
  return closed.url();
}

class ControlPlaneFailoverTest : public ::testing::Test {
 protected:
  std::unique_ptr<ControlPlane> Plane(std::vector<std::string> urls,
                                      milliseconds initial_delay = seconds(5)) {
    servers_ = std::make_shared<ServerSet>(std::move(urls), clock_,
                                           FailoverOptions{seconds(60), seconds(600)});
    ControlPlaneOptions options;
    options.servers = servers_;
    options.agent_id = "host-1";
    options.token = "agent-token";
    options.request_timeout = milliseconds(500);
    options.retry_initial_delay = initial_delay;
    options.retry_max_delay = initial_delay;
    return MakeHttpControlPlane(options);
  }

  static double SecondsSince(SteadyClock::time_point start) {
    return std::chrono::duration<double>(SteadyClock::now() - start).count();
  }

  testing::ManualClock clock_;
  std::shared_ptr<ServerSet> servers_;
};

TEST_F(ControlPlaneFailoverTest, ARefusedConnectionMovesToTheNextServerWithoutWaiting) {
  Replica b;
  auto plane = Plane({RefusedUrl(), b.url()});
  const auto start = SteadyClock::now();
  auto hello = plane->Hello({}, {});
  ASSERT_TRUE(hello.has_value()) << hello.error().Describe();
  // The backoff would have waited 5 s (initial_delay): the next server is tried at once.
  EXPECT_LT(SecondsSince(start), 2.0);
  EXPECT_EQ(b.requests(), 1);
  EXPECT_EQ(servers_->Current().url, b.url());
  // Later calls stay on B.
  ASSERT_TRUE(plane->Notify(0, {}).has_value());
  EXPECT_EQ(b.requests(), 2);
}

TEST_F(ControlPlaneFailoverTest, A503MovesOnWhileA500OrA429StaysWithTheServer) {
  Replica a, b;
  auto plane = Plane({a.url(), b.url()}, milliseconds(10));
  a.Queue(500);
  a.Queue(429);
  ASSERT_TRUE(plane->Hello({}, {}).has_value());
  EXPECT_EQ(a.requests(), 3);  // 500 and 429 were retried on A, which then answered
  EXPECT_EQ(b.requests(), 0);
  EXPECT_EQ(servers_->Current().index, 0U);

  a.Queue(503);
  ASSERT_TRUE(plane->Hello({}, {}).has_value());
  EXPECT_EQ(a.requests(), 4);
  EXPECT_EQ(b.requests(), 1);
  EXPECT_EQ(servers_->Current().index, 1U);
}

TEST_F(ControlPlaneFailoverTest, WhenEveryServerFailsTheCallWaitsTheLongestRetryAfter) {
  Replica a, b;
  auto plane = Plane({a.url(), b.url()}, milliseconds(10));
  a.Queue(503, "1");
  b.Queue(502);
  const auto start = SteadyClock::now();
  ASSERT_TRUE(plane->Hello({}, {}).has_value());
  // A then B at once, then a wait of A's Retry-After (1 s, longer than the 10 ms backoff), then A.
  EXPECT_GE(SecondsSince(start), 1.0);
  EXPECT_LT(SecondsSince(start), 4.0);
  EXPECT_EQ(a.requests(), 2);
  EXPECT_EQ(b.requests(), 1);
  EXPECT_EQ(servers_->Current().index, 0U);
}

TEST_F(ControlPlaneFailoverTest, ALongPollOnASilentServerEndsAtItsDeadlineAndGoesOnElsewhere) {
  SilentPort a;
  Replica b;
  auto plane = Plane({a.url(), b.url()});
  const auto start = SteadyClock::now();
  auto notify = plane->Notify(1, {});
  ASSERT_TRUE(notify.has_value()) << notify.error().Describe();
  // The notify deadline is wait (1 s) + request_timeout (0.5 s): A's call ends there, and B
  // answers at once.
  EXPECT_GE(SecondsSince(start), 1.5);
  EXPECT_LT(SecondsSince(start), 3.0);
  EXPECT_EQ(b.requests(), 1);
}

TEST_F(ControlPlaneFailoverTest, WhenEveryServerIsUnreachableTheCallRetriesUntilStopped) {
  auto plane = Plane({RefusedUrl(), RefusedUrl()}, milliseconds(10));
  std::atomic<int> waits{0};
  CallHooks hooks{[&] { return waits.load() >= 6; }, [&] { ++waits; }};
  auto hello = plane->Hello({}, hooks);
  ASSERT_FALSE(hello.has_value());
  EXPECT_EQ(hello.error().code, Errc::kCancelled);
}

TEST_F(ControlPlaneFailoverTest, NotifyGoesBackToTheFirstServerOnceItsTimeHasCome) {
  Replica a, b;
  auto plane = Plane({a.url(), b.url()});
  a.Queue(503);
  ASSERT_TRUE(plane->Notify(0, {}).has_value());
  ASSERT_EQ(servers_->Current().index, 1U);
  clock_.Advance(seconds(59));
  ASSERT_TRUE(plane->Notify(0, {}).has_value());
  EXPECT_EQ(b.requests(), 2);
  // Updates and jobs/next never go back by themselves: only the long-poll boundary does.
  clock_.Advance(seconds(1));
  ASSERT_TRUE(plane->Hello({}, {}).has_value());
  EXPECT_EQ(b.requests(), 3);
  ASSERT_TRUE(plane->Notify(0, {}).has_value());
  EXPECT_EQ(a.requests(), 2);
  EXPECT_EQ(b.requests(), 3);
  EXPECT_EQ(servers_->Current().index, 0U);
}

TEST_F(ControlPlaneFailoverTest, AMoveFoundByOnePlaneIsFollowedByTheOther) {
  Replica a, b;
  auto loop = Plane({a.url(), b.url()});
  ControlPlaneOptions options;
  options.servers = servers_;
  options.agent_id = "host-1";
  options.token = "agent-token";
  auto reporter = MakeHttpControlPlane(options);
  ASSERT_TRUE(reporter->Hello({}, {}).has_value());  // on A, connection kept alive
  EXPECT_EQ(a.requests(), 1);
  a.Queue(503);
  ASSERT_TRUE(loop->Notify(0, {}).has_value());
  EXPECT_EQ(b.requests(), 1);
  ASSERT_TRUE(reporter->Hello({}, {}).has_value());
  EXPECT_EQ(a.requests(), 2);  // the 503 only
  EXPECT_EQ(b.requests(), 2);
}

}  // namespace
}  // namespace orb::agent
