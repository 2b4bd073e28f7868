#include "server/route_table.hpp"

#include <algorithm>

namespace orb::server {
namespace {

bool IsMethodToken(std::string_view method) {
  return !method.empty() &&
         std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool IsParamName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

tl::unexpected<Error> BadRoute(const RouteSpec& spec, const std::string& problem) {
  return Fail(Errc::kInvalidRequest, "route " + spec.method + " " + spec.pattern + ": " + problem);
}

}  // namespace

std::string_view ToString(BodyKind kind) {
  switch (kind) {
    case BodyKind::kNone: return "none";
    case BodyKind::kJson: return "json";
    case BodyKind::kFile: return "file";
    case BodyKind::kWebSocket: return "websocket";
  }
  return "unknown";
}

std::string_view RouteMatch::Param(std::string_view name, std::string_view path) const {
  for (std::size_t i = 0; i < param_count; ++i) {
    if (params[i].name == name) return path.substr(params[i].offset, params[i].size);
  }
  return {};
}

Expected<std::size_t> RouteTable::Add(RouteSpec spec) {
  if (!IsMethodToken(spec.method)) return BadRoute(spec, "the method must be an upper-case token");
  const std::string_view pattern = spec.pattern;
  if (pattern.empty() || pattern.front() != '/') {
    return BadRoute(spec, "the pattern must start with '/'");
  }
  std::vector<Segment> segments;
  std::size_t params = 0;
  if (pattern != "/") {
    std::size_t start = 1;
    while (true) {
      const auto end = pattern.find('/', start);
      const auto piece = pattern.substr(start, end == std::string_view::npos ? end : end - start);
      if (piece.empty()) return BadRoute(spec, "empty path segment");
      Segment segment;
      if (piece.front() == '{') {
        const auto name = piece.size() >= 3 && piece.back() == '}'
                              ? piece.substr(1, piece.size() - 2)
                              : std::string_view();
        if (!IsParamName(name)) {
          return BadRoute(spec, "a parameter is '{name}' with a name of [A-Za-z0-9_]");
        }
        segment.text = std::string(name);
        segment.param = true;
        for (const auto& other : segments) {
          if (other.param && other.text == segment.text) {
            return BadRoute(spec, "parameter {" + segment.text + "} appears twice");
          }
        }
        ++params;
      } else {
        if (piece.find_first_of("{}") != std::string_view::npos) {
          return BadRoute(spec, "'{' or '}' inside a literal segment");
        }
        segment.text = std::string(piece);
      }
      segments.push_back(std::move(segment));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
  }
  if (segments.size() > kMaxRouteSegments) return BadRoute(spec, "too many segments");
  if (params > kMaxRouteParams) return BadRoute(spec, "too many parameters");
  if (spec.role == RouteClass::kAgentOwn &&
      std::none_of(segments.begin(), segments.end(),
                   [](const Segment& s) { return s.param && s.text == kAgentIdParam; })) {
    return BadRoute(spec, "an agent's own route needs the {agentId} parameter");
  }

  // The resource: an existing pattern with the same literals and parameters, or a new one.
  int found = -1;
  for (const int index : by_length_[segments.size()]) {
    const auto& existing = patterns_[static_cast<std::size_t>(index)].segments;
    bool same_shape = true;
    bool same_names = true;
    for (std::size_t i = 0; i < segments.size() && same_shape; ++i) {
      if (existing[i].param != segments[i].param) {
        same_shape = false;
      } else if (existing[i].text != segments[i].text) {
        if (segments[i].param) {
          same_names = false;
        } else {
          same_shape = false;
        }
      }
    }
    if (!same_shape) continue;
    if (!same_names) {
      return BadRoute(spec, "the same resource is registered as " +
                                patterns_[static_cast<std::size_t>(index)].resource->pattern);
    }
    found = index;
    break;
  }
  if (found < 0) {
    Pattern created;
    created.segments = std::move(segments);
    created.resource = std::make_unique<Resource>();
    created.resource->pattern = spec.pattern;
    found = static_cast<int>(patterns_.size());
    by_length_[created.segments.size()].push_back(found);
    patterns_.push_back(std::move(created));
  }
  Resource& resource = *patterns_[static_cast<std::size_t>(found)].resource;
  for (const auto index : resource.routes) {
    if (routes_[index].spec.method == spec.method) return BadRoute(spec, "registered twice");
  }

  Route route;
  route.label = spec.method + " " + spec.pattern;
  route.spec = std::move(spec);
  route.index = routes_.size();
  route.resource = &resource;
  resource.routes.push_back(route.index);
  routes_.push_back(std::move(route));

  std::vector<std::string_view> methods;
  for (const auto index : resource.routes) {
    if (routes_[index].spec.body != BodyKind::kWebSocket) {
      methods.push_back(routes_[index].spec.method);
    }
  }
  std::sort(methods.begin(), methods.end());
  resource.allow.clear();
  for (const auto method : methods) {
    if (!resource.allow.empty()) resource.allow += ", ";
    resource.allow += method;
  }
  return routes_.back().index;
}

int RouteTable::BestPattern(const std::array<std::string_view, kMaxRouteSegments>& segments,
                            std::size_t count) const {
  int best = -1;
  for (const int index : by_length_[count]) {
    const auto& candidate = patterns_[static_cast<std::size_t>(index)].segments;
    bool matches = true;
    for (std::size_t i = 0; i < count && matches; ++i) {
      matches = candidate[i].param || candidate[i].text == segments[i];
    }
    if (!matches) continue;
    if (best < 0) {
      best = index;
      continue;
    }
    // Two different patterns that match the same path differ somewhere in where their
    // parameters are (equal literals and parameters would be one resource): the first literal
    // wins.
    const auto& current = patterns_[static_cast<std::size_t>(best)].segments;
    for (std::size_t i = 0; i < count; ++i) {
      if (candidate[i].param != current[i].param) {
        if (!candidate[i].param) best = index;
        break;
      }
    }
  }
  return best;
}

RouteMatch RouteTable::Match(std::string_view method, std::string_view path) const {
  RouteMatch match;
  std::array<std::string_view, kMaxRouteSegments> segments;
  std::size_t count = 0;
  std::size_t start = 0;
  while (start < path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) {
      if (count == kMaxRouteSegments) return match;  // longer than any pattern
      segments[count++] = path.substr(start, end - start);
    }
    start = end + 1;
  }
  const int best = BestPattern(segments, count);
  if (best < 0) return match;
  const Pattern& pattern = patterns_[static_cast<std::size_t>(best)];
  match.resource = pattern.resource.get();
  for (std::size_t i = 0; i < count; ++i) {
    if (!pattern.segments[i].param) continue;
    auto& param = match.params[match.param_count++];
    param.name = pattern.segments[i].text;
    param.offset = static_cast<std::uint32_t>(segments[i].data() - path.data());
    param.size = static_cast<std::uint32_t>(segments[i].size());
  }
  for (const auto index : match.resource->routes) {
    if (routes_[index].spec.method == method) {
      match.result = RouteMatch::Result::kFound;
      match.route = &routes_[index];
      return match;
    }
  }
  match.result = RouteMatch::Result::kMethodNotAllowed;
  return match;
}

}  // namespace orb::server
