#include "jobs/cancel_token.hpp"

#include <utility>

namespace orb::jobs {

std::string_view ToString(CancelCause cause) {
  switch (cause) {
    case CancelCause::kNone: return "none";
    case CancelCause::kRequested: return "requested";
    case CancelCause::kTimeout: return "timeout";
    case CancelCause::kShutdown: return "shutdown";
    case CancelCause::kAbandoned: return "abandoned";
  }
  return "none";
}

bool CancelToken::Cancel(CancelCause cause, std::string reason) {
  if (cause == CancelCause::kNone) return false;
  {
    const std::lock_guard lock(mutex_);
    if (cause_ != CancelCause::kNone) return false;
    if (past_point_of_no_return_ && cause != CancelCause::kAbandoned) {
      cancel_ignored_ = true;
      return false;
    }
    cause_ = cause;
    reason_ = std::move(reason);
  }
  changed_.notify_all();
  return true;
}

bool CancelToken::cancelled() const {
  const std::lock_guard lock(mutex_);
  return cause_ != CancelCause::kNone;
}

CancelCause CancelToken::cause() const {
  const std::lock_guard lock(mutex_);
  return cause_;
}

std::string CancelToken::reason() const {
  const std::lock_guard lock(mutex_);
  return reason_;
}

bool CancelToken::WaitFor(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return cause_ != CancelCause::kNone; });
}

Error CancelToken::ToError() const {
  const std::lock_guard lock(mutex_);
  return MakeError(Errc::kCancelled, reason_.empty() ? "cancelled" : reason_);
}

Status CancelToken::MarkPastPointOfNoReturn() {
  const std::lock_guard lock(mutex_);
  if (cause_ != CancelCause::kNone) {
    return Fail(Errc::kCancelled, reason_.empty() ? "cancelled" : reason_);
  }
  past_point_of_no_return_ = true;
  return Ok();
}

bool CancelToken::past_point_of_no_return() const {
  const std::lock_guard lock(mutex_);
  return past_point_of_no_return_;
}

bool CancelToken::cancel_ignored() const {
  const std::lock_guard lock(mutex_);
  return cancel_ignored_;
}

}  // namespace orb::jobs
