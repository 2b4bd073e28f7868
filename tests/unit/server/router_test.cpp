#include "server/router.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/manual_clock.hpp"
#include "support/matchers.hpp"

namespace orb::server {
namespace {

using protocol::Role;
using testing::FailsWith;
using testing::IsOk;

// Where the network would be: keeps the answer.
class CapturingResponder final : public net::Responder {
 public:
  void Send(net::HttpResponse response) override {
    if (!response_) response_ = std::move(response);
  }
  bool IsOpen() const override { return !response_.has_value(); }
  const std::optional<net::HttpResponse>& response() const { return response_; }

 private:
  std::optional<net::HttpResponse> response_;
};

std::optional<std::string> HeaderOf(const net::HttpResponse& response, const std::string& name) {
  for (const auto& header : response.headers) {
    if (header.name == name) return header.value;
  }
  return std::nullopt;
}

RouterOptions TestOptions() {
  RouterOptions options;
  options.body_limit = 1000;
  options.file_limit = 5000;
  options.upload_dir = "/uploads";
  return options;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    tokens_.Add(HashToken("viewer-token"), {"t-viewer", Role::kViewer, std::nullopt});
    tokens_.Add(HashToken("operator-token"), {"t-operator", Role::kOperator, std::nullopt});
    tokens_.Add(HashToken("agent-token"), {"t-agent", Role::kAgent, "orb-1"});
    const auto record = [this](Call&& call) { calls_.push_back(std::move(call)); };
    router_.Add({"GET", "/healthz", RouteClass::kPublic}, record);
    router_.Add({"GET", "/v1/jobs", RouteClass::kViewerRead}, record);
    router_.Add({"POST", "/v1/jobs", RouteClass::kOperatorWrite, BodyKind::kJson}, record);
    router_.Add({"POST", "/v1/jobs/{id}/cancel", RouteClass::kOperatorWrite}, record);
    router_.Add({"POST", "/v1/agents/{agentId}/runs/{runId}/updates", RouteClass::kAgentOwn,
                 BodyKind::kJson},
                record);
    router_.Add({"PUT", "/v1/artifacts", RouteClass::kOperatorWrite, BodyKind::kFile}, record);
    router_.Add({"GET", "/v1/artifacts/{sha256}", RouteClass::kArtifactDownload}, record);
    router_.Add({"GET", "/v1/stream", RouteClass::kViewerRead, BodyKind::kWebSocket}, nullptr);
  }

  static net::HttpRequest Request(std::string method, std::string path,
                                  std::optional<std::string> token = std::nullopt,
                                  std::string body = "",
                                  std::optional<std::string> content_type = std::nullopt) {
    net::HttpRequest request;
    request.method = std::move(method);
    request.target = path;
    request.path = std::move(path);
    if (token) request.headers.push_back({"Authorization", "Bearer " + *token});
    if (content_type) request.headers.push_back({"Content-Type", *content_type});
    request.body = std::move(body);
    return request;
  }

  // Routes `request`; returns what was answered (nothing when a handler took the call).
  std::optional<net::HttpResponse> Handle(net::HttpRequest request) {
    auto responder = std::make_shared<CapturingResponder>();
    router_.Handle(std::move(request), responder);
    return responder->response();
  }

  double Counted(const std::string& label, const std::string& code) {
    return requests_.With({label, code}).Value();
  }

  TokenCache tokens_;
  RateLimiter limiter_{1, 20};  // a burst of 20 per token, then one a second
  testing::ManualClock clock_;
  MetricsRegistry registry_;
  Family<Counter>& requests_ = registry_.AddCounter("requests_total", "test", {"route", "code"});
  Router router_{TestOptions(), tokens_, limiter_, clock_, requests_};
  std::vector<Call> calls_;
};

TEST_F(RouterTest, AHandlerGetsTheCallWithItsPrincipalAndPathParameters) {
  ASSERT_THAT(router_.status(), IsOk());
  EXPECT_FALSE(Handle(Request("POST", "/v1/agents/orb-1/runs/r-7/updates", "agent-token", "{}",
                              "application/json")));

  ASSERT_EQ(calls_.size(), 1u);
  const Call& call = calls_.front();
  EXPECT_EQ(call.Param("agentId"), "orb-1");
  EXPECT_EQ(call.Param("runId"), "r-7");
  ASSERT_TRUE(call.principal);
  EXPECT_EQ(call.principal->agent_id, "orb-1");
  EXPECT_EQ(call.request.body, "{}");
  EXPECT_EQ(call.match.route->label, "POST /v1/agents/{agentId}/runs/{runId}/updates");
  // The handler's answer is counted under the route's label.
  call.responder->Send(net::HttpResponse{});
  EXPECT_EQ(Counted("POST /v1/agents/{agentId}/runs/{runId}/updates", "200"), 1);
}

TEST_F(RouterTest, NotFoundAndMethodNotAllowedAreDecidedBeforeAuthentication) {
  const auto missing = Handle(Request("GET", "/v1/nothing"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_FALSE(HeaderOf(*missing, "Allow"));

  const auto wrong_method = Handle(Request("DELETE", "/v1/jobs"));
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(HeaderOf(*wrong_method, "Allow"), "GET, POST");
  EXPECT_NE(wrong_method->body.find("method_not_allowed"), std::string::npos);

  EXPECT_TRUE(calls_.empty());
  EXPECT_EQ(Counted("other", "404"), 1);
  EXPECT_EQ(Counted("DELETE /v1/jobs", "405"), 1);
}

TEST_F(RouterTest, TheRoleOfTheRouteDecidesWhoGetsThrough) {
  EXPECT_EQ(Handle(Request("GET", "/v1/jobs"))->status, 401);
  EXPECT_EQ(Handle(Request("GET", "/v1/jobs", "agent-token"))->status, 403);
  EXPECT_EQ(Handle(Request("POST", "/v1/jobs/j-1/cancel", "viewer-token"))->status, 403);
  EXPECT_EQ(Handle(Request("POST", "/v1/agents/orb-2/runs/r/updates", "agent-token", "{}",
                           "application/json"))
                ->status,
            403);
  EXPECT_TRUE(calls_.empty());

  EXPECT_FALSE(Handle(Request("GET", "/healthz")));
  EXPECT_FALSE(Handle(Request("GET", "/v1/jobs", "viewer-token")));
  EXPECT_FALSE(Handle(Request("POST", "/v1/jobs/j-1/cancel", "operator-token")));
  EXPECT_FALSE(Handle(Request("GET", "/v1/artifacts/abc", "agent-token")));
  EXPECT_EQ(calls_.size(), 4u);
  EXPECT_FALSE(calls_[0].principal);  // public: the token is not even looked at
}

TEST_F(RouterTest, AJsonRouteRefusesAnotherContentTypeOnceTheCallerIsAllowed) {
  EXPECT_EQ(Handle(Request("POST", "/v1/jobs", "viewer-token", "{}", "text/plain"))->status, 403);
  EXPECT_EQ(Handle(Request("POST", "/v1/jobs", "operator-token", "{}", "text/plain"))->status, 415);
  EXPECT_EQ(Handle(Request("POST", "/v1/jobs", "operator-token", "{}"))->status, 415);
  EXPECT_TRUE(calls_.empty());

  EXPECT_FALSE(Handle(
      Request("POST", "/v1/jobs", "operator-token", "{}", "Application/JSON; charset=utf-8")));
  EXPECT_FALSE(Handle(Request("POST", "/v1/jobs", "operator-token", "")));  // no body: no type
  // A route without a JSON body does not look at the type.
  EXPECT_FALSE(Handle(Request("POST", "/v1/jobs/j-1/cancel", "operator-token", "x", "text/plain")));
  EXPECT_EQ(calls_.size(), 3u);
}

TEST_F(RouterTest, StaffTokensAreRateLimitedAndAgentsAndPublicRoutesAreNot) {
  for (int i = 0; i < 20; ++i)
    EXPECT_FALSE(Handle(Request("GET", "/v1/jobs", "viewer-token")));
  const auto limited = Handle(Request("GET", "/v1/jobs", "viewer-token"));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(HeaderOf(*limited, "Retry-After"), "1");

  for (int i = 0; i < 30; ++i) {
    EXPECT_FALSE(Handle(Request("GET", "/v1/artifacts/abc", "agent-token")));
    EXPECT_FALSE(Handle(Request("POST", "/v1/agents/orb-1/runs/r/updates", "agent-token", "{}",
                                "application/json")));
    EXPECT_FALSE(Handle(Request("GET", "/healthz", "viewer-token")));
  }
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_FALSE(Handle(Request("GET", "/v1/jobs", "viewer-token")));
}

TEST_F(RouterTest, FailedAuthenticationsAreLimitedPerClientAddress) {
  RouterOptions options = TestOptions();
  options.auth_failures_per_second = 1;
  options.auth_failures_burst = 3;
  options.trusted_proxies = *TrustedProxies::Parse({"10.0.0.1"});
  Router router(options, tokens_, limiter_, clock_, requests_);
  router.Add({"GET", "/v1/jobs", RouteClass::kViewerRead}, [](Call&&) {});
  const auto from = [&](std::string peer, std::optional<std::string> token,
                        std::optional<std::string> forwarded_for = std::nullopt) {
    auto request = Request("GET", "/v1/jobs", std::move(token));
    request.remote_address = std::move(peer);
    if (forwarded_for) request.headers.push_back({"X-Forwarded-For", *forwarded_for});
    auto responder = std::make_shared<CapturingResponder>();
    router.Handle(std::move(request), responder);
    return responder->response() ? responder->response()->status : 0;  // 0: the handler has it
  };
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(from("192.0.2.7", "wrong-token"), 401);
  // Past the burst the address is refused before its token is looked at: a good token too.
  EXPECT_EQ(from("192.0.2.7", "wrong-token"), 429);
  EXPECT_EQ(from("192.0.2.7", "viewer-token"), 429);
  // Another address is not affected; an X-Forwarded-For from an untrusted peer is not believed.
  EXPECT_EQ(from("192.0.2.8", "viewer-token"), 0);
  EXPECT_EQ(from("192.0.2.7", "viewer-token", "192.0.2.99"), 429);
  // Behind the trusted proxy, each client has its own budget.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(from("10.0.0.1", "wrong-token", "192.0.2.50"), 401);
  EXPECT_EQ(from("10.0.0.1", "wrong-token", "192.0.2.50"), 429);
  EXPECT_EQ(from("10.0.0.1", "viewer-token", "192.0.2.51"), 0);
  // A successful call costs nothing, and the budget refills with time.
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_EQ(from("192.0.2.7", "viewer-token"), 0);
}

TEST_F(RouterTest, OnlyACallerAllowedToUploadStreamsItsBodyToAFile) {
  const auto upload = router_.BodyPolicyFor(Request("PUT", "/v1/artifacts", "operator-token"));
  EXPECT_EQ(upload.limit, 5000u);
  ASSERT_TRUE(upload.stream_to_file);
  EXPECT_EQ(upload.stream_to_file->parent_path(), "/uploads");
  EXPECT_TRUE(upload.stream_to_file->filename().string().starts_with(".upload-"));
  EXPECT_NE(
      *upload.stream_to_file,
      *router_.BodyPolicyFor(Request("PUT", "/v1/artifacts", "operator-token")).stream_to_file);

  for (const auto& head :
       {Request("PUT", "/v1/artifacts", "viewer-token"), Request("PUT", "/v1/artifacts"),
        Request("POST", "/v1/jobs", "operator-token"), Request("PUT", "/v1/jobs", "operator-token"),
        Request("GET", "/v1/artifacts/abc", "operator-token")}) {
    const auto policy = router_.BodyPolicyFor(head);
    EXPECT_EQ(policy.limit, 1000u) << head.method << " " << head.path;
    EXPECT_FALSE(policy.stream_to_file) << head.method << " " << head.path;
  }
}

TEST_F(RouterTest, TheWebSocketPathComesFromTheTableAndPlainHttpOnItIsNotAllowed) {
  EXPECT_TRUE(router_.IsWebSocketPath("/v1/stream"));
  EXPECT_FALSE(router_.IsWebSocketPath("/v1/jobs"));
  EXPECT_FALSE(router_.IsWebSocketPath("/v1/streams"));

  const auto plain = Handle(Request("GET", "/v1/stream", "viewer-token"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 405);
  EXPECT_EQ(HeaderOf(*plain, "Allow"), "");
  EXPECT_EQ(Counted("GET /v1/stream", "405"), 1);
}

TEST_F(RouterTest, ABadRouteIsReportedAndTheFirstErrorKept) {
  router_.Add({"GET", "/v1/jobs/{id}", RouteClass::kViewerRead}, nullptr);
  router_.Add({"GET", "no-slash", RouteClass::kViewerRead}, [](Call&&) {});
  EXPECT_THAT(router_.status(), FailsWith(Errc::kInvalidRequest));
  EXPECT_NE(router_.status().error().message.find("/v1/jobs/{id}: no handler"), std::string::npos)
      << router_.status().error().message;
}

}  // namespace
}  // namespace orb::server
