#include "agent/health.hpp"

#include <utility>

namespace orb::agent {

bool AgentHealth::Set(const std::string& code, const std::string& message) {
  const std::lock_guard lock(mutex_);
  const auto found = problems_.find(code);
  if (found != problems_.end() && found->second == message) return false;
  problems_[code] = message;
  ++version_;
  return true;
}

bool AgentHealth::Clear(const std::string& code) {
  const std::lock_guard lock(mutex_);
  if (problems_.erase(code) == 0) return false;
  ++version_;
  return true;
}

bool AgentHealth::healthy() const {
  const std::lock_guard lock(mutex_);
  return problems_.empty();
}

std::uint64_t AgentHealth::version() const {
  const std::lock_guard lock(mutex_);
  return version_;
}

protocol::AgentStatusReport AgentHealth::Report(WallTime now) const {
  const std::lock_guard lock(mutex_);
  protocol::AgentStatusReport report;
  report.healthy = problems_.empty();
  for (const auto& [code, message] : problems_)
    report.problems.push_back({code, message});
  report.reported_at = now;
  return report;
}

std::optional<Clock::MonoTime> StatusSchedule::NextDue(std::uint64_t version, bool healthy) const {
  if (unsupported_) return std::nullopt;
  if (!last_attempt_ || attempted_version_ != version) return Clock::MonoTime{};  // at once
  if (delivered_version_ != version || !healthy) return *last_attempt_ + interval_;
  return std::nullopt;
}

void StatusSchedule::Attempted(Clock::MonoTime now, std::uint64_t version, bool delivered) {
  last_attempt_ = now;
  attempted_version_ = version;
  if (delivered) delivered_version_ = version;
}

}  // namespace orb::agent
