#pragma once

// Authentication and authorization of fleet-cmdr's callers, protocol.md §2.
//
// Every request carries `Authorization: Bearer <token>` (except the public routes). Tokens are
// random 256-bit values shown once; the store keeps only their SHA-256 hex (HashToken). The
// TokenCache keeps hash -> Principal in memory so authenticating a request (the long-poll hot
// path included) never touches the store. Authorize() is the one access rule, a pure function.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/expected.hpp"
#include "protocol/types.hpp"

namespace orb::server {

// Who is calling: the token's id (for revocation and audit), its role, and for agent tokens the
// agent it belongs to.
struct Principal {
  std::string token_id;
  protocol::Role role = protocol::Role::kViewer;
  std::optional<std::string> agent_id;  // set exactly when role == kAgent
  bool operator==(const Principal&) const = default;
};

// What a route requires (protocol.md §2 table).
enum class RouteClass {
  kPublic,            // GET /healthz, GET /readyz, the static UI: no token needed
  kViewerRead,        // GET /v1/... and the stream: viewer, operator, admin
  kOperatorWrite,     // create/cancel/retry jobs, upload artifacts: operator, admin
  kAdmin,             // enroll/revoke agents, create/revoke tokens: admin
  kAgentOwn,          // /v1/agents/{agentId}/...: only the agent token of that agentId
  kArtifactDownload,  // GET /v1/artifacts/{sha256}: viewer and above, or any agent
  kMetrics,           // GET /metrics: viewer and above
};

std::string_view ToString(RouteClass route);

// The access rule. `principal` is nullopt when the request had no token or an unknown one.
// `path_agent_id` is the {agentId} of a kAgentOwn route (ignored otherwise).
// Errors: kUnauthenticated (401) without a principal on any non-public route; kForbidden (403)
// for a valid token without the right, agents calling operator routes and agents calling another
// agent's path included.
Status Authorize(const std::optional<Principal>& principal, RouteClass route,
                 std::string_view path_agent_id = {});

// The token of an `Authorization` header value: "Bearer <token>" with the scheme matched
// case-insensitively (RFC 7235) and the token in RFC 6750 token68 syntax. nullopt for anything
// else (another scheme, no token, spaces or control characters inside the token).
std::optional<std::string> ParseBearer(std::string_view authorization_header);

// True when `token` could be sent as a Bearer token (non-empty token68).
bool IsValidBearerToken(std::string_view token);

// A fresh token: 32 random bytes as 64 lower-case hex characters (256 bits).
std::string GenerateToken();

// The form a token is stored and looked up in: its SHA-256 as lower-case hex.
std::string HashToken(std::string_view token);

// One stored token, as the store lists them for TokenCache::Load.
struct TokenEntry {
  std::string token_hash;  // HashToken(token)
  Principal principal;
};

// In-memory map token hash -> Principal, loaded from the store at start and kept current by the
// server as it creates and revokes tokens (and, on a shared store, by the token feed). Thread-safe:
// lookups take a shared lock, changes an exclusive one. Lookups hash the presented token and
// compare hashes, so the plain token is never kept. A removed token stays removed: Add and Load
// skip it, since revocation is final and a token feed read that began before the revoke would
// otherwise bring it back until the next read (its hash is kept; one per revoked token).
class TokenCache {
 public:
  // Replaces the whole content with `entries`.
  void Load(std::vector<TokenEntry> entries);
  // Adds or replaces one token.
  void Add(std::string token_hash, Principal principal);
  // Removes by hash, by token id, or every token of an agent; each returns how many went.
  std::size_t Remove(std::string_view token_hash);
  std::size_t RemoveById(std::string_view token_id);
  std::size_t RemoveAgent(std::string_view agent_id);

  // The principal of a presented (plain) token, or nullopt when unknown.
  std::optional<Principal> Lookup(std::string_view token) const;
  // Lookup of the Bearer token of an Authorization header; nullopt when absent or malformed.
  std::optional<Principal> Authenticate(std::optional<std::string_view> authorization_header) const;

  // True while the token with this hash is known (not revoked).
  bool Contains(std::string_view token_hash) const;

  std::size_t size() const;

 private:
  std::size_t RemoveIf(const std::function<bool(const Principal&)>& match);

  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, Principal> by_hash_;
  std::unordered_set<std::string> removed_;  // hashes of removed (revoked) tokens
};

// The first start of fleet-cmdr (protocol.md §2). When the store already has an admin token,
// returns nullopt and does nothing. Otherwise returns the admin token whose hash the caller must
// store: `env_value` (FLEET_CMDR_ADMIN_TOKEN) when set and non-empty, or else a generated token
// that is also written to <data_dir>/admin.token (token + "\n", mode 0600, written atomically:
// temp file, fsync, rename, fsync of the directory). Logs the file's path, never the token.
// Errors: kInvalidRequest when `env_value` is not a usable Bearer token or shorter than
// kMinAdminTokenLength; kIo when the file cannot be written.
inline constexpr std::size_t kMinAdminTokenLength = 16;
inline constexpr const char* kAdminTokenFileName = "admin.token";
Expected<std::optional<std::string>> BootstrapAdminToken(bool store_has_admin,
                                                         const char* env_value,
                                                         const std::filesystem::path& data_dir);

}  // namespace orb::server
