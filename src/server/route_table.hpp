#pragma once

// fleet-cmdr's route table: every (method, path pattern) it serves, with the role a caller needs
// (protocol.md §2), the kind of body it takes and its label in /metrics. Routing, 404 vs 405,
// authorization, body handling and the metrics label all follow from one entry (server/router.hpp
// puts the table to work; docs/decisions/0005-route-table.md).
//
//   RouteTable table;
//   table.Add({"GET", "/v1/jobs/{id}", RouteClass::kViewerRead});            // Status
//   const auto match = table.Match("GET", "/v1/jobs/0190a0a0-...");
//   match.result == RouteMatch::Result::kFound;  match.route->label == "GET /v1/jobs/{id}"
//   match.Param("id", path) == "0190a0a0-..."
//
// Patterns are absolute paths whose segments are literals or named parameters
// ("/v1/agents/{agentId}/runs/{runId}/updates"). A request path is split on '/' with empty pieces
// dropped ("/v1//jobs/" is "/v1/jobs"), then matched segment by segment, literals exactly.
// Several patterns may match one path: the most specific wins, that is, at the first segment where
// two differ the literal beats the parameter ("/v1/jobs/next" beats "/v1/jobs/{id}"). The winner
// is the resource the path names: its routes' methods are what the path allows, a method it has no
// route for is 405 (RouteMatch::resource->allow is the Allow header), and a less specific pattern
// is never tried in its place. A path no pattern matches is 404.
//
// Pure: plain strings in, a match out; no I/O. Match does not allocate (parameters are offsets
// into the path). Thread-safety: Add from one thread before any Match; afterwards every const
// method from any thread. The Route and Resource a match points to live as long as the table
// (Add moves Routes, which is why it comes first).

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "server/auth.hpp"

namespace orb::server {

// What the router does with a route's request body.
enum class BodyKind {
  kNone,  // not looked at: the handler ignores it, or reads it itself (jobs/next's optional list)
  kJson,  // application/json: a non-empty body of another Content-Type is 415
  kFile,  // streamed to a file (PUT /v1/artifacts) under the larger artifact limit
  kWebSocket,  // the route is a WebSocket upgrade (GET /v1/stream); plain HTTP on it is 405
};

std::string_view ToString(BodyKind kind);

// One route as it is registered.
struct RouteSpec {
  std::string method;   // "GET", upper case
  std::string pattern;  // "/v1/jobs/{id}/cancel"
  RouteClass role = RouteClass::kViewerRead;
  BodyKind body = BodyKind::kNone;
  bool operator==(const RouteSpec&) const = default;
};

// The path parameter that names the agent of a RouteClass::kAgentOwn route (Authorize's
// path_agent_id); such a route must have it.
inline constexpr std::string_view kAgentIdParam = "agentId";

// The most parameters a pattern may have and the most segments a path may have to match anything.
inline constexpr std::size_t kMaxRouteParams = 4;
inline constexpr std::size_t kMaxRouteSegments = 16;

// A pattern with every route registered on it (same literals and parameters).
struct Resource {
  std::string pattern;
  std::string allow;                // the Allow header of a 405: "GET, POST" (sorted, no WebSocket)
  std::vector<std::size_t> routes;  // indexes into RouteTable::routes(), in registration order
};

struct Route {
  RouteSpec spec;
  std::string label;  // the /metrics label: "GET /v1/jobs/{id}"
  std::size_t index = 0;
  const Resource* resource = nullptr;
};

// One named parameter of a match: its value is path.substr(offset, size) of the matched path.
struct PathParam {
  std::string_view name;  // points into the table
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
};

struct RouteMatch {
  enum class Result { kNotFound, kMethodNotAllowed, kFound };
  Result result = Result::kNotFound;
  const Resource* resource = nullptr;  // kFound and kMethodNotAllowed
  const Route* route = nullptr;        // kFound
  std::array<PathParam, kMaxRouteParams> params{};
  std::size_t param_count = 0;

  // The value of parameter `name` in `path` (the path that was matched), or empty when the
  // pattern has no such parameter.
  std::string_view Param(std::string_view name, std::string_view path) const;
};

class RouteTable {
 public:
  RouteTable() = default;
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Adds a route and returns its index. Errors (kInvalidRequest, nothing added): a method that is
  // not an upper-case token; a pattern that is not absolute, has an empty segment, a malformed or
  // repeated parameter, or too many segments or parameters; a method+pattern already there; a
  // pattern that names an existing resource with other parameter names ("/v1/jobs/{jobId}"
  // beside "/v1/jobs/{id}", which would make two equally specific matches); a kAgentOwn route
  // without an {agentId} parameter.
  Expected<std::size_t> Add(RouteSpec spec);

  RouteMatch Match(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Segment {
    std::string text;  // the literal, or the parameter's name
    bool param = false;
  };
  struct Pattern {
    std::vector<Segment> segments;
    std::unique_ptr<Resource> resource;
  };

  // The pattern (index into patterns_) that matches `segments` most specifically, or -1.
  int BestPattern(const std::array<std::string_view, kMaxRouteSegments>& segments,
                  std::size_t count) const;

  std::vector<Route> routes_;
  std::vector<Pattern> patterns_;
  // patterns_ indexes by segment count, so Match only looks at patterns of the path's length.
  std::array<std::vector<int>, kMaxRouteSegments + 1> by_length_;
};

}  // namespace orb::server
