#include "server/auth.hpp"

#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.hpp"
#include "common/random.hpp"
#include "common/sha256.hpp"

namespace orb::server {
namespace {

using protocol::Role;

bool IsStaff(Role role) {
  return role == Role::kViewer || role == Role::kOperator || role == Role::kAdmin;
}

int Rank(Role role) {
  switch (role) {
    case Role::kViewer: return 1;
    case Role::kOperator: return 2;
    case Role::kAdmin: return 3;
    case Role::kAgent: return 0;
  }
  return 0;
}

tl::unexpected<Error> Forbidden(const Principal& principal, RouteClass route) {
  return Fail(Errc::kForbidden, "a token of role " +
                                    std::string(protocol::ToString(principal.role)) +
                                    " may not call " + std::string(ToString(route)) + " routes");
}

bool IsToken68Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string Errno(const std::string& what, const std::filesystem::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

// Closes the descriptor on every path out of WriteFileAtomically.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Writes `content` to `path` with `mode` so that a reader sees either the old file or the whole
// new one, also across a crash: temp file in the same directory, fsync, rename, fsync the
// directory. The temp file is created with the final mode, so the secret is never readable by
// others, whatever the umask.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view content,
                           mode_t mode) {
  const auto temp = path.parent_path() / ("." + path.filename().string() + ".tmp-" + RandomHex(6));
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.get() < 0) return Fail(Errc::kIo, Errno("cannot create", temp));
  const auto fail = [&](const std::string& what) {
    auto error = MakeError(Errc::kIo, Errno(what, temp));
    ::unlink(temp.c_str());
    return tl::unexpected<Error>(std::move(error));
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("cannot chmod");
  std::size_t written = 0;
  while (written < content.size()) {
    const auto n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write");
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("cannot fsync");
  if (::close(fd.Release()) != 0) return fail("cannot close");
  if (::rename(temp.c_str(), path.c_str()) != 0)
    return fail("cannot rename to " + path.string() + ":");
  auto dir_path = path.parent_path();
  if (dir_path.empty()) dir_path = ".";
  const Fd dir(::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0)
    return Fail(Errc::kIo, Errno("cannot fsync", dir_path));
  return Ok();
}

}  // namespace

std::string_view ToString(RouteClass route) {
  switch (route) {
    case RouteClass::kPublic: return "public";
    case RouteClass::kViewerRead: return "viewer-read";
    case RouteClass::kOperatorWrite: return "operator-write";
    case RouteClass::kAdmin: return "admin";
    case RouteClass::kAgentOwn: return "agent";
    case RouteClass::kArtifactDownload: return "artifact-download";
    case RouteClass::kMetrics: return "metrics";
  }
  return "unknown";
}

Status Authorize(const std::optional<Principal>& principal, RouteClass route,
                 std::string_view path_agent_id) {
  if (route == RouteClass::kPublic) return Ok();
  if (!principal) return Fail(Errc::kUnauthenticated, "missing or unknown bearer token");
  const Role role = principal->role;
  switch (route) {
    case RouteClass::kPublic: return Ok();
    case RouteClass::kViewerRead:
    case RouteClass::kMetrics:
      if (IsStaff(role)) return Ok();
      break;
    case RouteClass::kOperatorWrite:
      if (IsStaff(role) && Rank(role) >= Rank(Role::kOperator)) return Ok();
      break;
    case RouteClass::kAdmin:
      if (role == Role::kAdmin) return Ok();
      break;
    case RouteClass::kAgentOwn:
      if (role == Role::kAgent && principal->agent_id && !path_agent_id.empty() &&
          *principal->agent_id == path_agent_id) {
        return Ok();
      }
      if (role == Role::kAgent) {
        return Fail(Errc::kForbidden, "an agent token may only call its own agent's paths");
      }
      break;
    case RouteClass::kArtifactDownload:
      if (IsStaff(role) || (role == Role::kAgent && principal->agent_id)) return Ok();
      break;
  }
  return Forbidden(*principal, route);
}

bool IsValidBearerToken(std::string_view token) {
  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
  std::size_t i = 0;
  while (i < token.size() && IsToken68Char(token[i]))
    ++i;
  if (i == 0) return false;
  while (i < token.size() && token[i] == '=')
    ++i;
  return i == token.size();
}

std::optional<std::string> ParseBearer(std::string_view header) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!header.empty() && is_space(header.front()))
    header.remove_prefix(1);
  while (!header.empty() && is_space(header.back()))
    header.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || !IEquals(header.substr(0, kScheme.size()), kScheme) ||
      !is_space(header[kScheme.size()])) {
    return std::nullopt;
  }
  header.remove_prefix(kScheme.size());
  while (!header.empty() && is_space(header.front()))
    header.remove_prefix(1);
  if (!IsValidBearerToken(header)) return std::nullopt;
  return std::string(header);
}

std::string GenerateToken() {
  return RandomHex(32);
}

std::string HashToken(std::string_view token) {
  return Sha256Hex(token);
}

void TokenCache::Load(std::vector<TokenEntry> entries) {
  std::unordered_map<std::string, Principal> fresh;
  fresh.reserve(entries.size());
  for (auto& entry : entries)
    fresh[std::move(entry.token_hash)] = std::move(entry.principal);
  const std::unique_lock lock(mutex_);
  for (const auto& hash : removed_)
    fresh.erase(hash);
  by_hash_.swap(fresh);
}

void TokenCache::Add(std::string token_hash, Principal principal) {
  const std::unique_lock lock(mutex_);
  if (removed_.count(token_hash) > 0) return;  // revoked here; a read older than that says not
  by_hash_[std::move(token_hash)] = std::move(principal);
}

std::size_t TokenCache::Remove(std::string_view token_hash) {
  const std::unique_lock lock(mutex_);
  removed_.emplace(token_hash);
  return by_hash_.erase(std::string(token_hash));
}

std::size_t TokenCache::RemoveIf(const std::function<bool(const Principal&)>& match) {
  const std::unique_lock lock(mutex_);
  std::size_t removed = 0;
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    if (match(it->second)) {
      removed_.insert(it->first);
      it = by_hash_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

std::size_t TokenCache::RemoveById(std::string_view token_id) {
  return RemoveIf([&](const Principal& principal) { return principal.token_id == token_id; });
}

std::size_t TokenCache::RemoveAgent(std::string_view agent_id) {
  return RemoveIf([&](const Principal& principal) {
    return principal.role == Role::kAgent && principal.agent_id == agent_id;
  });
}

std::optional<Principal> TokenCache::Lookup(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  const auto hash = HashToken(token);  // outside the lock: hashing is the costly part
  const std::shared_lock lock(mutex_);
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

std::optional<Principal> TokenCache::Authenticate(
    std::optional<std::string_view> authorization_header) const {
  if (!authorization_header) return std::nullopt;
  const auto token = ParseBearer(*authorization_header);
  if (!token) return std::nullopt;
  return Lookup(*token);
}

bool TokenCache::Contains(std::string_view token_hash) const {
  const std::shared_lock lock(mutex_);
  return by_hash_.find(std::string(token_hash)) != by_hash_.end();
}

std::size_t TokenCache::size() const {
  const std::shared_lock lock(mutex_);
  return by_hash_.size();
}

Expected<std::optional<std::string>> BootstrapAdminToken(bool store_has_admin,
                                                         const char* env_value,
                                                         const std::filesystem::path& data_dir) {
  if (store_has_admin) return std::optional<std::string>();
  if (env_value != nullptr && *env_value != '\0') {
    const std::string_view token(env_value);
    if (!IsValidBearerToken(token) || token.size() < kMinAdminTokenLength) {
      return Fail(Errc::kInvalidRequest,
                  "FLEET_CMDR_ADMIN_TOKEN must be at least " +
                      std::to_string(kMinAdminTokenLength) +
                      " characters of A-Z a-z 0-9 - . _ ~ + / (optionally ending in =)");
    }
    return std::optional<std::string>(std::string(token));
  }
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return Fail(Errc::kIo,
                "cannot create data directory " + data_dir.string() + ": " + ec.message());
  }
  auto token = GenerateToken();
  const auto path = data_dir / kAdminTokenFileName;
  if (auto written = WriteFileAtomically(path, token + "\n", S_IRUSR | S_IWUSR); !written) {
    return Fail(std::move(written.error()).WithContext("writing the admin token"));
  }
  return std::optional<std::string>(std::move(token));
}

}  // namespace orb::server
