#include "common/error.hpp"

#include <array>
#include <system_error>
#include <utility>

namespace orb {
namespace {

struct Name {
  Errc code;
  std::string_view text;
};

constexpr std::array kNames{
    Name{Errc::kInvalidJson, "invalid_json"},
    Name{Errc::kInvalidRequest, "invalid_request"},
    Name{Errc::kInvalidPayload, "invalid_payload"},
    Name{Errc::kUnknownJobType, "unknown_job_type"},
    Name{Errc::kUnauthenticated, "unauthenticated"},
    Name{Errc::kForbidden, "forbidden"},
    Name{Errc::kNotFound, "not_found"},
    Name{Errc::kMethodNotAllowed, "method_not_allowed"},
    Name{Errc::kInvalidState, "invalid_state"},
    Name{Errc::kNotCancellable, "not_cancellable"},
    Name{Errc::kRunNotActive, "run_not_active"},
    Name{Errc::kIdempotencyConflict, "idempotency_conflict"},
    Name{Errc::kAlreadyExists, "already_exists"},
    Name{Errc::kPayloadTooLarge, "payload_too_large"},
    Name{Errc::kUnsupportedMediaType, "unsupported_media_type"},
    Name{Errc::kRateLimited, "rate_limited"},
    Name{Errc::kUnavailable, "unavailable"},
    Name{Errc::kInternal, "internal"},
    Name{Errc::kIo, "io_error"},
    Name{Errc::kTimeout, "timeout"},
    Name{Errc::kCancelled, "cancelled"},
    Name{Errc::kNetwork, "network_error"},
    Name{Errc::kHttp, "http_error"},
    Name{Errc::kAgentLost, "agent_lost"},
    Name{Errc::kAgentRestarted, "agent_restarted"},
    Name{Errc::kChecksumMismatch, "checksum_mismatch"},
    Name{Errc::kUnsafeArchive, "unsafe_archive"},
    Name{Errc::kBackupCorrupt, "backup_corrupt"},
    Name{Errc::kInstanceNotReady, "instance_not_ready"},
    Name{Errc::kUpdateRolledBack, "update_rolled_back"},
    Name{Errc::kNotInstalled, "not_installed"},
    Name{Errc::kStore, "store_error"},
};

}  // namespace

std::string_view ToString(Errc code) {
  for (const auto& name : kNames) {
    if (name.code == code) return name.text;
  }
  return "internal";
}

std::optional<Errc> ErrcFromString(std::string_view text) {
  for (const auto& name : kNames) {
    if (name.text == text) return name.code;
  }
  return std::nullopt;
}

Error Error::WithContext(std::string context) && {
  stack.insert(stack.begin(), std::move(context));
  return std::move(*this);
}

Error Error::WithContext(std::string context) const& {
  Error copy = *this;
  return std::move(copy).WithContext(std::move(context));
}

std::string Error::Describe() const {
  std::string out{ToString(code)};
  out += ": ";
  out += message;
  if (!stack.empty()) {
    out += " (";
    for (std::size_t i = 0; i < stack.size(); ++i) {
      if (i > 0) out += ": ";
      out += stack[i];
    }
    out += ")";
  }
  return out;
}

Error MakeError(Errc code, std::string message, bool retryable) {
  Error error;
  error.code = code;
  error.message = std::move(message);
  error.retryable = retryable;
  return error;
}

Error InvalidField(std::string field, std::string problem) {
  Error error = MakeError(Errc::kInvalidRequest, field + ": " + problem);
  error.details.push_back({std::move(field), std::move(problem)});
  return error;
}

std::string ErrnoText(int error_number) {
  return std::generic_category().message(error_number);
}

}  // namespace orb
