// fleet-cmdr's whole route table against protocol.md §2, over real HTTP and WebSocket: every route
// it serves is called by every kind of caller, and the answer (401, 403, or let through to its
// handler) must be the one this file expects. The expectations are written here, not read from the
// table, so a route added with a wrong role fails, and a route added without an expectation fails
// too. Also: 405 carries Allow, and the /metrics labels of 404 and 405.

#include <array>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "integration/test_cluster.hpp"
#include "net/http_client.hpp"
#include "net/ws_client.hpp"
#include "server/route_table.hpp"

namespace orb::testing {
namespace {

using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

// The callers of protocol.md §2; "own" agent is orb-1, whose id the {agentId} of every path is.
enum Caller { kAnonymous, kViewer, kOperator, kAdmin, kOwnAgent, kOtherAgent, kCallers };
constexpr std::array<const char*, kCallers> kCallerNames = {"no token", "viewer",    "operator",
                                                            "admin",    "own agent", "other agent"};

enum class Access { kAllowed, kUnauthenticated, kForbidden };
using Profile = std::array<Access, kCallers>;  // by Caller

constexpr Access kOk = Access::kAllowed;
constexpr Access k401 = Access::kUnauthenticated;
constexpr Access k403 = Access::kForbidden;
// In the order of Caller: no token, viewer, operator, admin, own agent, other agent.
constexpr Profile kPublic = {kOk, kOk, kOk, kOk, kOk, kOk};
constexpr Profile kStaffRead = {k401, kOk, kOk, kOk, k403, k403};
constexpr Profile kOperatorOnly = {k401, k403, kOk, kOk, k403, k403};
constexpr Profile kAdminOnly = {k401, k403, k403, kOk, k403, k403};
constexpr Profile kOwnAgentOnly = {k401, k403, k403, k403, kOk, k403};
constexpr Profile kDownload = {k401, kOk, kOk, kOk, kOk, kOk};

// protocol.md §2 and §4–§6 (and docs/protocol.md), route by route. A new route goes here with
// the access the spec gives it.
const std::map<std::pair<std::string, std::string>, Profile>& ExpectedAccess() {
  static const std::map<std::pair<std::string, std::string>, Profile> expected = {
      {{"GET", "/healthz"}, kPublic},
      {{"GET", "/readyz"}, kPublic},
      {{"GET", "/"}, kPublic},
      {{"GET", "/index.html"}, kPublic},
      {{"GET", "/ui/{file}"}, kPublic},
      {{"GET", "/metrics"}, kStaffRead},
      {{"POST", "/v1/jobs"}, kOperatorOnly},
      {{"GET", "/v1/jobs"}, kStaffRead},
      {{"GET", "/v1/jobs/{id}"}, kStaffRead},
      {{"GET", "/v1/jobs/{id}/events"}, kStaffRead},
      {{"GET", "/v1/jobs/{id}/logs"}, kStaffRead},
      {{"POST", "/v1/jobs/{id}/cancel"}, kOperatorOnly},
      {{"POST", "/v1/jobs/{id}/retry"}, kOperatorOnly},
      {{"GET", "/v1/job-types"}, kStaffRead},
      {{"GET", "/v1/whoami"}, kStaffRead},
      {{"GET", "/v1/agents"}, kStaffRead},
      {{"POST", "/v1/agents"}, kAdminOnly},
      {{"GET", "/v1/agents/{agentId}"}, kStaffRead},
      {{"DELETE", "/v1/agents/{agentId}"}, kAdminOnly},
      {{"POST", "/v1/agents/{agentId}/hello"}, kOwnAgentOnly},
      {{"GET", "/v1/agents/{agentId}/notify"}, kOwnAgentOnly},
      {{"POST", "/v1/agents/{agentId}/jobs/next"}, kOwnAgentOnly},
      {{"POST", "/v1/agents/{agentId}/runs/{runId}/updates"}, kOwnAgentOnly},
      {{"POST", "/v1/agents/{agentId}/status"}, kOwnAgentOnly},
      {{"POST", "/v1/agents/{agentId}/inventory"}, kOwnAgentOnly},
      {{"GET", "/v1/agents/{agentId}/inventory"}, kStaffRead},
      {{"POST", "/v1/tokens"}, kAdminOnly},
      {{"DELETE", "/v1/tokens/{id}"}, kAdminOnly},
      {{"PUT", "/v1/artifacts"}, kOperatorOnly},
      {{"GET", "/v1/artifacts"}, kStaffRead},
      {{"GET", "/v1/artifacts/{sha256}"}, kDownload},
      {{"DELETE", "/v1/artifacts/{sha256}"}, kOperatorOnly},
      {{"GET", "/v1/stream"}, kStaffRead},
      {{"POST", "/v1/rollouts"}, kOperatorOnly},
      {{"GET", "/v1/rollouts"}, kStaffRead},
      {{"GET", "/v1/rollouts/{id}"}, kStaffRead},
      {{"GET", "/v1/rollouts/{id}/hosts"}, kStaffRead},
      {{"POST", "/v1/rollouts/{id}/pause"}, kOperatorOnly},
      {{"POST", "/v1/rollouts/{id}/resume"}, kOperatorOnly},
      {{"POST", "/v1/rollouts/{id}/abort"}, kOperatorOnly},
      {{"POST", "/v1/schedules"}, kOperatorOnly},
      {{"GET", "/v1/schedules"}, kStaffRead},
      {{"GET", "/v1/schedules/{id}"}, kStaffRead},
      {{"PATCH", "/v1/schedules/{id}"}, kOperatorOnly},
      {{"DELETE", "/v1/schedules/{id}"}, kOperatorOnly},
      {{"POST", "/v1/schedules/{id}/fire"}, kOperatorOnly},
      {{"GET", "/v1/stats/history"}, kStaffRead},
  };
  return expected;
}

// The pattern with its parameters filled in: ids that exist where that matters (the own agent),
// unknown ids elsewhere (so that a call let through changes nothing).
std::string PathOf(const std::string& pattern) {
  static const std::map<std::string, std::string> values = {
      {"agentId", "orb-1"},
      {"id", "0190a0a0-0000-7000-8000-000000000000"},
      {"runId", "0190a0a0-0000-7000-8000-000000000001"},
      {"sha256", std::string(64, '0')},
      {"file", "app.js"},
  };
  std::string path;
  std::size_t at = 0;
  while (at < pattern.size()) {
    const auto open = pattern.find('{', at);
    if (open == std::string::npos) {
      path += pattern.substr(at);
      break;
    }
    const auto close = pattern.find('}', open);
    const auto name = pattern.substr(open + 1, close - open - 1);
    const auto value = values.find(name);
    if (value == values.end()) {
      ADD_FAILURE() << pattern << ": no value for {" << name << "} in PathOf";
      return pattern;
    }
    path += pattern.substr(at, open - at) + value->second;
    at = close + 1;
  }
  return path;
}

std::string Describe(const server::RouteSpec& route, Caller caller) {
  return fmt::format("{} {} as {}", route.method, route.pattern, kCallerNames[caller]);
}

class RouteAccessTest : public ::testing::Test {
 protected:
  RouteAccessTest() {
    tokens_[kViewer] = cluster_.CreateToken("viewer");
    tokens_[kOperator] = cluster_.CreateToken("operator");
    tokens_[kAdmin] = cluster_.admin_token();
    tokens_[kOwnAgent] = cluster_.Enroll("orb-1");
    tokens_[kOtherAgent] = cluster_.Enroll("orb-2");
  }

  void CheckHttp(const server::RouteSpec& route, Caller caller, Access expected) {
    ApiClient client(cluster_.port(), tokens_[caller]);
    const bool has_body = route.method == "POST" || route.method == "PUT";
    const auto reply = client.Call(route.method, PathOf(route.pattern), has_body ? "{}" : "");
    const auto what = Describe(route, caller) + ": " + std::to_string(reply.status) + " " +
                      reply.body.substr(0, 200);
    switch (expected) {
      case Access::kUnauthenticated:
        EXPECT_EQ(reply.status, 401) << what;
        EXPECT_EQ(reply.error_code, "unauthenticated") << what;
        break;
      case Access::kForbidden:
        EXPECT_EQ(reply.status, 403) << what;
        EXPECT_EQ(reply.error_code, "forbidden") << what;
        break;
      case Access::kAllowed:
        // Let through to the handler, which may still refuse the empty body or unknown id.
        EXPECT_NE(reply.status, 401) << what;
        EXPECT_NE(reply.status, 403) << what;
        EXPECT_NE(reply.status, 405) << what;
        EXPECT_EQ(reply.body.find("no such path"), std::string::npos) << what;
        break;
    }
  }

  // The stream authenticates with its subscribe message (protocol.md §6): a caller it refuses is
  // closed with 1008, whether it had no token (401 elsewhere) or the wrong kind (403).
  void CheckStream(const server::RouteSpec& route, Caller caller, Access expected) {
    net::WebSocketOptions options;
    options.base_url = fmt::format("http://127.0.0.1:{}", cluster_.port());
    net::WebSocketClient ws(options);
    ASSERT_TRUE(ws.Connect(route.pattern).has_value()) << Describe(route, caller);
    const auto subscribe =
        tokens_[caller] ? fmt::format(R"({{"type":"subscribe","token":"{}"}})", *tokens_[caller])
                        : std::string(R"({"type":"subscribe"})");
    ASSERT_TRUE(ws.Send(subscribe).has_value()) << Describe(route, caller);
    const auto first = ws.Receive(5s);
    if (expected == Access::kAllowed) {
      ASSERT_TRUE(first) << Describe(route, caller) << ": " << first.error().Describe();
      EXPECT_NE(first->find(R"("type":"ready")"), std::string::npos) << *first;
    } else {
      EXPECT_FALSE(first) << Describe(route, caller) << ": " << *first;
      EXPECT_EQ(ws.close_code(), 1008) << Describe(route, caller);
    }
  }

  void Check(const server::RouteSpec& route, Caller caller) {
    const auto expected = ExpectedAccess().find({route.method, route.pattern});
    if (expected == ExpectedAccess().end()) return;  // reported by the test on the table
    const Access access = expected->second[caller];
    if (route.body == server::BodyKind::kWebSocket) {
      CheckStream(route, caller, access);
    } else {
      CheckHttp(route, caller, access);
    }
  }

  TestCluster cluster_;
  std::array<std::optional<std::string>, kCallers> tokens_{};
};

TEST_F(RouteAccessTest, EveryRouteOfTheTableHasItsAccessWrittenHereAndNoOtherIs) {
  const auto routes = cluster_.cmdr().Routes();
  ASSERT_FALSE(routes.empty());
  std::map<std::pair<std::string, std::string>, int> seen;
  for (const auto& route : routes) {
    const auto key = std::make_pair(route.method, route.pattern);
    ++seen[key];
    EXPECT_TRUE(ExpectedAccess().count(key))
        << route.method << " " << route.pattern
        << " is served but has no expected access in ExpectedAccess(): add it (protocol.md §2)";
  }
  for (const auto& [key, profile] : ExpectedAccess()) {
    EXPECT_EQ(seen[key], 1) << key.first << " " << key.second << " is expected but not served";
  }
}

TEST_F(RouteAccessTest, EveryRouteAnswersEveryCallerAsProtocolSection2Says) {
  const auto routes = cluster_.cmdr().Routes();
  ASSERT_EQ(routes.size(), ExpectedAccess().size());
  // The admin comes last: its calls may revoke the own agent (DELETE /v1/agents/{agentId}).
  for (const Caller caller : {kAnonymous, kViewer, kOperator, kOwnAgent, kOtherAgent, kAdmin}) {
    for (const auto& route : routes)
      Check(route, caller);
  }
}

TEST(FleetCmdrRoutingTest, MethodNotAllowedListsTheMethodsThePathHas) {
  TestCluster cluster;
  net::ClientOptions options;
  options.base_url = fmt::format("http://127.0.0.1:{}", cluster.port());
  options.bearer_token = cluster.admin_token();
  net::HttpClient client(options);
  auto call = [&](const std::string& method, const std::string& target) {
    net::ClientRequest request;
    request.method = method;
    request.target = target;
    auto response = client.Send(request);
    EXPECT_TRUE(response) << method << " " << target << ": " << response.error().Describe();
    return response ? *response : net::ClientResponse{};
  };

  const auto jobs = call("DELETE", "/v1/jobs");
  EXPECT_EQ(jobs.status, 405);
  EXPECT_EQ(jobs.Header("Allow"), "GET, POST");
  EXPECT_NE(jobs.body.find(R"("code":"method_not_allowed")"), std::string::npos) << jobs.body;

  const auto hello = call("GET", "/v1/agents/orb-1/hello");
  EXPECT_EQ(hello.status, 405);
  EXPECT_EQ(hello.Header("Allow"), "POST");

  const auto agent = call("PUT", "/v1/agents/orb-1");
  EXPECT_EQ(agent.status, 405);
  EXPECT_EQ(agent.Header("Allow"), "DELETE, GET");

  // Public paths are in the table too: their other methods are 405, not 404.
  const auto health = call("POST", "/healthz");
  EXPECT_EQ(health.status, 405);
  EXPECT_EQ(health.Header("Allow"), "GET");

  // The stream is only a WebSocket: plain HTTP may use no method on it.
  const auto stream = call("GET", "/v1/stream");
  EXPECT_EQ(stream.status, 405);
  EXPECT_EQ(stream.Header("Allow"), "");

  const auto nothing = call("GET", "/v1/nothing-here");
  EXPECT_EQ(nothing.status, 404);
  EXPECT_FALSE(nothing.Header("Allow").has_value());

  // /metrics counts a 405 under its method and pattern, a 404 under the bounded label "other".
  const auto metrics = call("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find(R"(route="DELETE /v1/jobs",code="405")"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find(R"(route="GET /v1/agents/{agentId}/hello",code="405")"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find(R"(route="other",code="404")"), std::string::npos) << metrics.body;
  EXPECT_EQ(metrics.body.find("nothing-here"), std::string::npos) << metrics.body;
}

}  // namespace
}  // namespace orb::testing
