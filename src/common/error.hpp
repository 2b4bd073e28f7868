#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orb {

// Stable error codes. The first block is the wire codes of protocol.md §1 (clients branch on them);
// the second block is the run error codes of job-types.md (run.error.code). ToString() gives the
// snake_case spelling used on the wire; ErrcFromString() is its inverse.
enum class Errc {
  // protocol.md §1
  kInvalidJson,
  kInvalidRequest,
  kInvalidPayload,
  kUnknownJobType,
  kUnauthenticated,
  kForbidden,
  kNotFound,
  kMethodNotAllowed,
  kInvalidState,
  kNotCancellable,
  kRunNotActive,
  kIdempotencyConflict,
  kAlreadyExists,
  kPayloadTooLarge,
  kUnsupportedMediaType,
  kRateLimited,
  kUnavailable,
  kInternal,
  // Run errors (job-types.md) and local failures.
  kIo,
  kTimeout,
  kCancelled,
  kNetwork,
  kHttp,
  kAgentLost,
  kAgentRestarted,
  kChecksumMismatch,
  kUnsafeArchive,
  kBackupCorrupt,
  kInstanceNotReady,
  kUpdateRolledBack,
  kNotInstalled,
  kStore,
};

std::string_view ToString(Errc code);
// strerror's text for an errno value ("No such file or directory"), thread-safe.
std::string ErrnoText(int error_number);
std::optional<Errc> ErrcFromString(std::string_view text);

// One problem with one field of a request, for the `details` list of the §1 error body.
struct FieldProblem {
  std::string field;    // dotted path, e.g. "payload.keepLast"
  std::string problem;  // e.g. "must be an integer >= 1"
  bool operator==(const FieldProblem&) const = default;
};

// The one error type of orb-jobs (style.md "Errors: Expected<T> and Status"). Copyable, cheap to
// move.
struct Error {
  Errc code = Errc::kInternal;
  std::string message;             // what failed, in words an operator can act on
  std::vector<std::string> stack;  // contexts, outermost first (run.error.stack)
  bool retryable = false;
  std::vector<FieldProblem> details;  // field-level problems of a rejected request

  // Adds an outer context: the new context becomes stack[0].
  [[nodiscard]] Error WithContext(std::string context) &&;
  [[nodiscard]] Error WithContext(std::string context) const&;

  // "code: message (ctx1: ctx2)" for logs.
  [[nodiscard]] std::string Describe() const;
};

[[nodiscard]] Error MakeError(Errc code, std::string message, bool retryable = false);
// invalid_request about one field of a request: message "<field>: <problem>", details naming it.
[[nodiscard]] Error InvalidField(std::string field, std::string problem);

}  // namespace orb
