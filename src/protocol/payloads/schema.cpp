#include "protocol/payloads/schema.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace orb::protocol {

std::string_view ToString(FieldKind kind) {
  switch (kind) {
    case FieldKind::kString: return "string";
    case FieldKind::kInteger: return "integer";
    case FieldKind::kBoolean: return "boolean";
    case FieldKind::kEnum: return "enum";
    case FieldKind::kObject: return "object";
    case FieldKind::kArray: return "array";
    case FieldKind::kUrl: return "url";
    case FieldKind::kSha256: return "sha256";
    case FieldKind::kName: return "name";
    case FieldKind::kPath: return "path";
    case FieldKind::kStringMap: return "stringMap";
  }
  return "string";
}

std::optional<std::string> UrlProblem(std::string_view url) {
  // fleet-cmdr's own artifact, as `PUT /v1/artifacts` names it: the agent resolves the path
  // against its server URL and sends its token (docs/protocol.md).
  constexpr std::string_view kArtifactPath = "/v1/artifacts/";
  if (url.starts_with(kArtifactPath)) {
    if (IsSha256Hex(url.substr(kArtifactPath.size()))) return std::nullopt;
    return "a fleet-cmdr artifact path must be /v1/artifacts/<sha256>";
  }
  const auto parsed = boost::urls::parse_uri(boost::core::string_view(url.data(), url.size()));
  if (!parsed) {
    return "must be an absolute URL (http://, https:// or file://) or /v1/artifacts/<sha256>";
  }
  const boost::urls::url_view& view = *parsed;
  if (view.has_userinfo()) {
    return "must not contain credentials (user:password@); artifact URLs of fleet-cmdr are "
           "authenticated with the agent's token";
  }
  switch (view.scheme_id()) {
    case boost::urls::scheme::http:
    case boost::urls::scheme::https:
      if (!view.has_authority() || view.encoded_host().empty()) return "must name a host";
      return std::nullopt;
    case boost::urls::scheme::file:
      if (view.has_authority() && !view.encoded_host().empty() &&
          view.encoded_host() != "localhost") {
        return "file:// URLs must name a local path (file:///path)";
      }
      if (!view.is_path_absolute()) return "file:// URLs must have an absolute path";
      return std::nullopt;
    default: return "must be an http://, https:// or file:// URL";
  }
}

std::optional<std::string> RelativePathProblem(std::string_view path) {
  constexpr std::size_t kMaxPath = 1024;
  constexpr std::size_t kMaxSegment = 255;
  if (path.empty()) return "must not be empty";
  if (path.size() > kMaxPath) return "must have at most 1024 characters";
  if (path.front() == '/') return "must be a relative path, not an absolute one";
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return "must not contain control characters";
    if (c == '\\') return "must not contain a backslash";
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment.empty()) return "must not contain empty segments (\"//\" or a trailing '/')";
    if (segment == "..") return "must not contain \"..\"";
    if (segment.front() == '.') return "must not contain segments starting with '.'";
    if (segment.size() > kMaxSegment) return "must not have segments longer than 255 characters";
    start = end + 1;
  }
  return std::nullopt;
}

bool IsSha256Hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace orb::protocol
