#include "server/route_table.hpp"

#include <string>

#include <gtest/gtest.h>

#include "support/matchers.hpp"

namespace orb::server {
namespace {

using Result = RouteMatch::Result;
using testing::FailsWith;
using testing::IsOk;

// Adds routes that must be accepted.
void AddAll(RouteTable& table, const std::vector<RouteSpec>& specs) {
  for (const auto& spec : specs) {
    ASSERT_THAT(table.Add(spec), IsOk()) << spec.method << " " << spec.pattern;
  }
}

TEST(RouteTableTest, APathThatNoPatternMatchesIsNotFound) {
  RouteTable table;
  AddAll(table, {{"GET", "/v1/jobs"}, {"GET", "/v1/jobs/{id}"}, {"GET", "/healthz"}});

  for (const std::string path : {"/", "", "/v1", "/v1/nothing", "/v1/jobs/a/b", "/healthz/x",
                                 "/v2/jobs", "/v1/jobs/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r"}) {
    const auto match = table.Match("GET", path);
    EXPECT_EQ(match.result, Result::kNotFound) << path;
    EXPECT_EQ(match.resource, nullptr) << path;
    EXPECT_EQ(match.route, nullptr) << path;
  }
}

TEST(RouteTableTest, AKnownPathWithAnotherMethodIsNotAllowedAndListsItsMethods) {
  RouteTable table;
  AddAll(table, {{"POST", "/v1/jobs", RouteClass::kOperatorWrite, BodyKind::kJson},
                 {"GET", "/v1/jobs"},
                 {"GET", "/v1/jobs/{id}"},
                 {"DELETE", "/v1/tokens/{id}", RouteClass::kAdmin}});

  const auto jobs = table.Match("DELETE", "/v1/jobs");
  EXPECT_EQ(jobs.result, Result::kMethodNotAllowed);
  EXPECT_EQ(jobs.route, nullptr);
  ASSERT_NE(jobs.resource, nullptr);
  EXPECT_EQ(jobs.resource->pattern, "/v1/jobs");
  EXPECT_EQ(jobs.resource->allow, "GET, POST");  // sorted, whatever the order of registration

  const auto token = table.Match("GET", "/v1/tokens/t-1");
  EXPECT_EQ(token.result, Result::kMethodNotAllowed);
  EXPECT_EQ(token.resource->allow, "DELETE");
  EXPECT_EQ(token.Param("id", "/v1/tokens/t-1"), "t-1");

  // HEAD is a method of its own: a route that does not name it does not allow it.
  EXPECT_EQ(table.Match("HEAD", "/v1/jobs").result, Result::kMethodNotAllowed);
  // Methods are compared exactly.
  EXPECT_EQ(table.Match("get", "/v1/jobs").result, Result::kMethodNotAllowed);
}

TEST(RouteTableTest, ParametersAreTakenFromThePathByName) {
  RouteTable table;
  AddAll(table, {{"POST", "/v1/agents/{agentId}/runs/{runId}/updates", RouteClass::kAgentOwn,
                  BodyKind::kJson}});
  const std::string path = "/v1/agents/orb-1/runs/01a2-run/updates";

  const auto match = table.Match("POST", path);

  ASSERT_EQ(match.result, Result::kFound);
  EXPECT_EQ(match.param_count, 2u);
  EXPECT_EQ(match.Param("agentId", path), "orb-1");
  EXPECT_EQ(match.Param("runId", path), "01a2-run");
  EXPECT_EQ(match.Param("id", path), "");
}

TEST(RouteTableTest, EmptyPathSegmentsAreSkippedAsTheyAlwaysWere) {
  RouteTable table;
  AddAll(table, {{"GET", "/", RouteClass::kPublic}, {"GET", "/v1/jobs/{id}"}});

  EXPECT_EQ(table.Match("GET", "/").result, Result::kFound);
  EXPECT_EQ(table.Match("GET", "//").result, Result::kFound);
  const std::string path = "//v1///jobs/j-1/";
  const auto match = table.Match("GET", path);
  ASSERT_EQ(match.result, Result::kFound);
  EXPECT_EQ(match.route->spec.pattern, "/v1/jobs/{id}");
  EXPECT_EQ(match.Param("id", path), "j-1");
}

TEST(RouteTableTest, OnePatternHasARoleForEachMethod) {
  // A viewer may read an agent's resource while only that agent may write it.
  RouteTable table;
  AddAll(table, {{"GET", "/v1/agents/{agentId}/status", RouteClass::kViewerRead},
                 {"POST", "/v1/agents/{agentId}/status", RouteClass::kAgentOwn, BodyKind::kJson}});

  const auto read = table.Match("GET", "/v1/agents/orb-1/status");
  const auto write = table.Match("POST", "/v1/agents/orb-1/status");

  ASSERT_EQ(read.result, Result::kFound);
  ASSERT_EQ(write.result, Result::kFound);
  EXPECT_EQ(read.route->spec.role, RouteClass::kViewerRead);
  EXPECT_EQ(read.route->spec.body, BodyKind::kNone);
  EXPECT_EQ(write.route->spec.role, RouteClass::kAgentOwn);
  EXPECT_EQ(write.route->spec.body, BodyKind::kJson);
  EXPECT_EQ(read.resource, write.resource);
  EXPECT_EQ(read.resource->allow, "GET, POST");
}

TEST(RouteTableTest, TheMetricsLabelIsTheMethodAndThePattern) {
  RouteTable table;
  AddAll(table, {{"GET", "/v1/jobs/{id}"},
                 {"POST", "/v1/agents/{agentId}/runs/{runId}/updates", RouteClass::kAgentOwn},
                 {"GET", "/v1/artifacts/{sha256}", RouteClass::kArtifactDownload},
                 {"DELETE", "/v1/tokens/{id}", RouteClass::kAdmin},
                 {"GET", "/metrics", RouteClass::kMetrics},
                 {"GET", "/", RouteClass::kPublic}});

  EXPECT_EQ(table.Match("GET", "/v1/jobs/01a2").route->label, "GET /v1/jobs/{id}");
  EXPECT_EQ(table.Match("POST", "/v1/agents/a/runs/r/updates").route->label,
            "POST /v1/agents/{agentId}/runs/{runId}/updates");
  EXPECT_EQ(table.Match("GET", "/v1/artifacts/" + std::string(64, 'a')).route->label,
            "GET /v1/artifacts/{sha256}");
  EXPECT_EQ(table.Match("DELETE", "/v1/tokens/t").route->label, "DELETE /v1/tokens/{id}");
  EXPECT_EQ(table.Match("GET", "/metrics").route->label, "GET /metrics");
  EXPECT_EQ(table.Match("GET", "/").route->label, "GET /");
  for (const auto& route : table.routes()) {
    EXPECT_EQ(route.label, route.spec.method + " " + route.spec.pattern);
  }
}

TEST(RouteTableTest, EachRouteKeepsItsBodyKind) {
  RouteTable table;
  AddAll(table, {{"PUT", "/v1/artifacts", RouteClass::kOperatorWrite, BodyKind::kFile},
                 {"POST", "/v1/tokens", RouteClass::kAdmin, BodyKind::kJson},
                 {"POST", "/v1/jobs/{id}/cancel", RouteClass::kOperatorWrite},
                 {"GET", "/v1/stream", RouteClass::kViewerRead, BodyKind::kWebSocket}});

  EXPECT_EQ(table.Match("PUT", "/v1/artifacts").route->spec.body, BodyKind::kFile);
  EXPECT_EQ(table.Match("POST", "/v1/tokens").route->spec.body, BodyKind::kJson);
  EXPECT_EQ(table.Match("POST", "/v1/jobs/j/cancel").route->spec.body, BodyKind::kNone);
  EXPECT_EQ(table.Match("GET", "/v1/stream").route->spec.body, BodyKind::kWebSocket);
}

TEST(RouteTableTest, AWebSocketRouteIsNoMethodThatPlainHttpMayUse) {
  RouteTable table;
  AddAll(table, {{"GET", "/v1/stream", RouteClass::kViewerRead, BodyKind::kWebSocket}});

  const auto get = table.Match("GET", "/v1/stream");
  const auto post = table.Match("POST", "/v1/stream");

  EXPECT_EQ(get.result, Result::kFound);
  EXPECT_EQ(post.result, Result::kMethodNotAllowed);
  EXPECT_EQ(post.resource->allow, "");
}

TEST(RouteTableTest, ALiteralSegmentBeatsAParameterWhateverTheOrderOfRegistration) {
  const std::vector<RouteSpec> specs = {
      {"GET", "/v1/jobs/{id}"},
      {"POST", "/v1/jobs/next", RouteClass::kOperatorWrite},
      {"GET", "/v1/{area}/{id}/summary"},
      {"GET", "/v1/jobs/{id}/summary"},
  };
  for (const bool reversed : {false, true}) {
    RouteTable table;
    if (reversed) {
      AddAll(table, {specs.rbegin(), specs.rend()});
    } else {
      AddAll(table, specs);
    }
    SCOPED_TRACE(reversed ? "registered in reverse" : "registered in order");

    const auto next = table.Match("POST", "/v1/jobs/next");
    ASSERT_EQ(next.result, Result::kFound);
    EXPECT_EQ(next.route->spec.pattern, "/v1/jobs/next");
    EXPECT_EQ(next.param_count, 0u);

    // /v1/jobs/next is a resource of its own: GET on it is not GET /v1/jobs/{id} with id "next".
    const auto get_next = table.Match("GET", "/v1/jobs/next");
    EXPECT_EQ(get_next.result, Result::kMethodNotAllowed);
    EXPECT_EQ(get_next.resource->allow, "POST");

    const auto job = table.Match("GET", "/v1/jobs/j-1");
    ASSERT_EQ(job.result, Result::kFound);
    EXPECT_EQ(job.route->spec.pattern, "/v1/jobs/{id}");

    // The first segment where two patterns differ decides.
    const auto summary = table.Match("GET", "/v1/jobs/j-1/summary");
    ASSERT_EQ(summary.result, Result::kFound);
    EXPECT_EQ(summary.route->spec.pattern, "/v1/jobs/{id}/summary");
    const auto other = table.Match("GET", "/v1/agents/a-1/summary");
    ASSERT_EQ(other.result, Result::kFound);
    EXPECT_EQ(other.route->spec.pattern, "/v1/{area}/{id}/summary");
    EXPECT_EQ(other.Param("area", "/v1/agents/a-1/summary"), "agents");
  }
}

TEST(RouteTableTest, MalformedOrConflictingRoutesAreRefusedAndChangeNothing) {
  RouteTable table;
  AddAll(table, {{"GET", "/v1/jobs/{id}"}});

  for (const RouteSpec& bad : std::vector<RouteSpec>{
           {"get", "/v1/x"},
           {"", "/v1/x"},
           {"GET", ""},
           {"GET", "v1/x"},
           {"GET", "/v1//x"},
           {"GET", "/v1/x/"},
           {"GET", "/v1/{}"},
           {"GET", "/v1/{a-b}"},
           {"GET", "/v1/{id"},
           {"GET", "/v1/x{id}"},
           {"GET", "/v1/{id}/{id}"},
           {"GET", "/{a}/{b}/{c}/{d}/{e}"},
           {"GET", "/v1/jobs/{id}"},      // twice
           {"POST", "/v1/jobs/{jobId}"},  // the resource is /v1/jobs/{id}
           {"POST", "/v1/agents/{id}/hello", RouteClass::kAgentOwn},
       }) {
    EXPECT_THAT(table.Add(bad), FailsWith(Errc::kInvalidRequest))
        << bad.method << " " << bad.pattern;
  }
  ASSERT_EQ(table.routes().size(), 1u);
  EXPECT_EQ(table.Match("POST", "/v1/jobs/j").result, Result::kMethodNotAllowed);
  EXPECT_EQ(table.Match("GET", "/v1/jobs/j").route->resource->allow, "GET");
}

}  // namespace
}  // namespace orb::server
