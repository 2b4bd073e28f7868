#include "common/sanitize.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <mutex>
#include <utility>

namespace orb {
namespace {

constexpr std::array<std::string_view, 16> kSecretSuffixes = {
    "token", "password",   "passwd",      "pwd",        "secret",     "signature",
    "sig",   "apikey",     "api_key",     "api-key",    "credential", "credentials",
    "auth",  "privatekey", "private_key", "private-key"};

// Header names whose whole value is a credential (lower case, with the colon).
constexpr std::array<std::string_view, 6> kSecretHeaders = {
    "authorization:", "proxy-authorization:", "cookie:",
    "set-cookie:",    "x-api-key:",           "x-auth-token:"};

char Lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}
bool IsAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool IsSpace(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}
bool IsNameChar(char c) {
  return IsAlnum(c) || c == '_' || c == '-' || c == '.';
}
bool IsSchemeChar(char c) {
  return IsAlnum(c) || c == '+' || c == '-' || c == '.';
}
// Ends a URL or an unquoted value in running text.
bool EndsUrl(char c) {
  return IsSpace(c) || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' ||
         static_cast<unsigned char>(c) < 0x20;
}
bool EndsValue(char c) {
  return EndsUrl(c) || c == '&' || c == ',' || c == ';' || c == ')' || c == ']' || c == '}';
}

bool StartsWithNoCase(std::string_view text, std::size_t at, std::string_view lower_prefix) {
  if (text.size() - at < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    if (Lower(text[at + i]) != lower_prefix[i]) return false;
  }
  return true;
}

std::string ReplaceSecrets(std::string_view text, std::span<const std::string> secrets) {
  std::string out(text);
  for (const auto& secret : secrets) {
    if (secret.size() < kMinSecretLength) continue;
    for (auto at = out.find(secret); at != std::string::npos;
         at = out.find(secret, at + kRedacted.size())) {
      out.replace(at, secret.size(), kRedacted);
    }
  }
  return out;
}

// scheme://[userinfo@]host[:port][/path][?query][#fragment] -> scheme://host[:port][/path] plus
// "?[redacted]" when there was a query or fragment.
std::string StripUrls(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (auto mark = text.find("://"); mark != std::string_view::npos;
       mark = text.find("://", mark + 3)) {
    std::size_t start = mark;
    while (start > copied && IsSchemeChar(text[start - 1]))
      --start;
    while (start < mark && !std::isalpha(static_cast<unsigned char>(text[start])))
      ++start;
    if (start == mark) continue;  // "://" without a scheme before it
    std::size_t end = mark + 3;
    while (end < text.size() && !EndsUrl(text[end]))
      ++end;
    // Punctuation that ends a sentence or closes a bracket around the URL is not part of it.
    while (end > mark + 3 && std::string_view(".,;:!)]}").find(text[end - 1]) != std::string::npos)
      --end;
    // A URL sanitized before ("...?[redacted]"): its own closing bracket is part of it, so that
    // sanitizing twice changes nothing.
    const std::string_view redacted_open =
        std::string_view(kRedacted).substr(0, kRedacted.size() - 1);
    if (end < text.size() && text[end] == ']' &&
        text.substr(mark + 3, end - mark - 3).ends_with(redacted_open)) {
      ++end;
    }
    const std::string_view rest = text.substr(mark + 3, end - mark - 3);
    const std::size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
    const std::string_view authority = rest.substr(0, authority_end);
    const std::size_t at = authority.rfind('@');
    const std::string_view host =
        at == std::string_view::npos ? authority : authority.substr(at + 1);
    const std::size_t path_end = std::min(rest.find_first_of("?#", authority_end), rest.size());
    out.append(text.substr(copied, start - copied));
    out.append(text.substr(start, mark + 3 - start));
    out.append(host);
    out.append(rest.substr(authority_end, path_end - authority_end));
    if (path_end < rest.size()) {
      out += '?';
      out.append(kRedacted);
    }
    copied = end;
    mark = end > 3 ? end - 3 : 0;
  }
  out.append(text.substr(copied));
  return out;
}

// "Authorization: <value>" and friends: everything to the end of the line (or a quote).
std::string StripHeaders(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    bool matched = false;
    if (i == 0 || !(IsAlnum(text[i - 1]) || text[i - 1] == '-')) {
      for (const auto header : kSecretHeaders) {
        if (!StartsWithNoCase(text, i, header)) continue;
        std::size_t value = i + header.size();
        out.append(text.substr(i, value - i));
        while (value < text.size() && (text[value] == ' ' || text[value] == '\t'))
          out += text[value++];
        std::size_t end = value;
        while (end < text.size() && text[end] != '\n' && text[end] != '\r' && text[end] != '"' &&
               text[end] != '\'')
          ++end;
        if (end > value) out.append(kRedacted);
        i = end;
        matched = true;
        break;
      }
    }
    if (!matched) out += text[i++];
  }
  return out;
}

// "Bearer <credential>" anywhere.
std::string StripBearer(std::string_view text) {
  constexpr std::string_view kBearer = "bearer ";
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if ((i == 0 || !IsAlnum(text[i - 1])) && StartsWithNoCase(text, i, kBearer)) {
      std::size_t value = i + kBearer.size();
      while (value < text.size() && text[value] == ' ')
        ++value;
      std::size_t end = value;
      while (end < text.size() && (IsAlnum(text[end]) || std::string_view("-._~+/=").find(
                                                             text[end]) != std::string::npos))
        ++end;
      out.append(text.substr(i, value - i));
      if (end > value && text.substr(value, end - value) != kRedacted) out.append(kRedacted);
      i = end;
      continue;
    }
    out += text[i++];
  }
  return out;
}

// name=value and "name": "value" where the name names a secret.
std::string StripNamedValues(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '=' && c != ':') continue;
    // The name just before the separator, possibly quoted ("name":) and followed by spaces.
    std::size_t name_end = i;
    while (c == ':' && name_end > copied && text[name_end - 1] == ' ')
      --name_end;
    bool quoted_name = false;
    if (name_end > copied && text[name_end - 1] == '"') {
      quoted_name = true;
      --name_end;
    }
    if (c == ':' && !quoted_name) continue;  // only JSON members use ':' here
    std::size_t name_start = name_end;
    while (name_start > copied && IsNameChar(text[name_start - 1]))
      --name_start;
    if (quoted_name && (name_start == copied || text[name_start - 1] != '"')) continue;
    if (name_start == name_end || !IsSecretName(text.substr(name_start, name_end - name_start))) {
      continue;
    }
    std::size_t value = i + 1;
    while (value < text.size() && text[value] == ' ')
      ++value;
    std::size_t end = value;
    if (value < text.size() && (text[value] == '"' || text[value] == '\'')) {
      const char quote = text[value++];
      end = value;
      while (end < text.size() && text[end] != quote) {
        if (text[end] == '\\' && end + 1 < text.size()) ++end;
        ++end;
      }
    } else if (c == ':') {
      continue;  // a JSON member whose value is not a string: a number, true, null
    } else {
      while (end < text.size() && !EndsValue(text[end]))
        ++end;
    }
    if (end == value || text.substr(value, end - value) == kRedacted) continue;
    out.append(text.substr(copied, value - copied));
    out.append(kRedacted);
    copied = end;
    i = end == 0 ? 0 : end - 1;
  }
  out.append(text.substr(copied));
  return out;
}

struct Registry {
  std::mutex mutex;
  std::shared_ptr<const std::vector<std::string>> secrets =
      std::make_shared<const std::vector<std::string>>();
};

Registry& TheRegistry() {
  static Registry registry;
  return registry;
}

std::shared_ptr<const std::vector<std::string>> Snapshot() {
  auto& registry = TheRegistry();
  const std::lock_guard lock(registry.mutex);
  return registry.secrets;
}

}  // namespace

bool IsSecretName(std::string_view name) {
  std::string lower;
  lower.reserve(name.size());
  for (const char c : name)
    lower += Lower(c);
  return std::any_of(kSecretSuffixes.begin(), kSecretSuffixes.end(), [&](std::string_view suffix) {
    return lower.size() >= suffix.size() &&
           lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0;
  });
}

std::string SanitizeWith(std::string_view text, std::span<const std::string> secrets) {
  std::string out = ReplaceSecrets(text, secrets);
  if (out.find("://") != std::string::npos) out = StripUrls(out);
  out = StripHeaders(out);
  out = StripBearer(out);
  if (out.find_first_of("=:") != std::string::npos) out = StripNamedValues(out);
  return out;
}

std::string Sanitize(std::string_view text) {
  const auto secrets = Snapshot();
  return SanitizeWith(text, *secrets);
}

Error Sanitize(Error error) {
  const auto secrets = Snapshot();
  error.message = SanitizeWith(error.message, *secrets);
  for (auto& context : error.stack)
    context = SanitizeWith(context, *secrets);
  for (auto& detail : error.details) {
    detail.field = SanitizeWith(detail.field, *secrets);
    detail.problem = SanitizeWith(detail.problem, *secrets);
  }
  return error;
}

std::string SanitizeUrl(std::string_view url) {
  return Sanitize(url);
}

void RegisterSecret(std::string_view secret) {
  if (secret.size() < kMinSecretLength) return;
  auto& registry = TheRegistry();
  const std::lock_guard lock(registry.mutex);
  const auto& current = *registry.secrets;
  if (std::find(current.begin(), current.end(), secret) != current.end()) return;
  auto next = std::make_shared<std::vector<std::string>>(current);
  next->emplace_back(secret);
  // Longest first, so a secret that contains another is replaced whole.
  std::stable_sort(next->begin(), next->end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  registry.secrets = std::move(next);
}

std::vector<std::string> RegisteredSecrets() {
  return *Snapshot();
}

void ForgetRegisteredSecrets() {
  auto& registry = TheRegistry();
  const std::lock_guard lock(registry.mutex);
  registry.secrets = std::make_shared<const std::vector<std::string>>();
}

}  // namespace orb
