#pragma once

// One sanitizer for every text that leaves a program for people or for another program: a run's
// error (message and stack, which protocol.md §3 wants "sanitized: no tokens, passwords, URL
// credentials or query strings"), the log lines an agent ships, and every program's own log
// (installed once in SetupLogging, common/log.hpp, so no call site can forget it).
//
// Secrets are recognised by their context, never by their shape: a token is 64 hex characters like
// every sha256, and a checksum in an error ("sha256 mismatch: expected 3f2a… got 9b1c…") must stay
// readable. What is removed:
//  - URLs (`scheme://...`) lose userinfo, query and fragment; scheme, host, port and path stay
//    ("https://u:p@host:8443/a/b?sig=x" -> "https://host:8443/a/b?[redacted]");
//  - the value of an `Authorization:`, `Proxy-Authorization:`, `Cookie:`, `Set-Cookie:`,
//    `X-Api-Key:` or `X-Auth-Token:` header, and the credential after `Bearer `;
//  - the value of a `name=value` pair or a JSON `"name": "value"` member whose name ends in token,
//    password, passwd, pwd, secret, signature, sig, credential(s), apikey, api_key, api-key or
//    auth (case-insensitive: access_token, X-Amz-Signature, clientSecret, ...);
//  - every occurrence of a secret the process holds and registered (RegisterSecret): the agent's
//    token, secret-looking values of an instance's environment.
// Each removed value becomes "[redacted]".
//
// Thread-safety: the functions are safe to call from any thread; the registry is guarded.
// Cost: a few linear passes over the text (no regex): 3-4 µs for a 130-character log line on the
// dev build (-O1), far below what writing the line costs.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace orb {

inline constexpr std::string_view kRedacted = "[redacted]";
// Registered secrets shorter than this are ignored: redacting every "abc" would garble the text.
inline constexpr std::size_t kMinSecretLength = 8;

// `text` without the secrets above, `secrets` being the values to remove wherever they appear.
std::string SanitizeWith(std::string_view text, std::span<const std::string> secrets);

// SanitizeWith the secrets registered in this process.
std::string Sanitize(std::string_view text);

// The error with its message, stack and details sanitized (code and retryable unchanged).
Error Sanitize(Error error);

// A URL for a message: scheme, host, port and path only (see above). Text that is not an absolute
// URL is sanitized like any text.
std::string SanitizeUrl(std::string_view url);

// True when `name` (a parameter, header or environment variable name) names a secret by the rule
// above ("ORB_RCON_PASSWORD", "access_token", "X-Amz-Signature").
bool IsSecretName(std::string_view name);

// Adds a value this process holds that must never appear in its output. Idempotent.
void RegisterSecret(std::string_view secret);

// The registered secrets (a copy), longest first.
std::vector<std::string> RegisteredSecrets();

// Forgets every registered secret (for tests).
void ForgetRegisteredSecrets();

}  // namespace orb
