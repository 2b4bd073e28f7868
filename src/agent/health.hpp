#pragma once

// The agent's own health and when to report it (docs/protocol.md, POST .../status): the
// problems it has now (AgentHealth), and the pure decision of when the next report is due
// (StatusSchedule): once after hello, at once on every change, every heartbeatSeconds while
// unhealthy, and never again once fleet-cmdr said it has no such call.
//
// Thread-safety: AgentHealth is safe from any thread (the reporter sets problems from its
// threads, the loop reads them). StatusSchedule is not: the loop owns it.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "protocol/types.hpp"

namespace orb::agent {

// The problem codes of the agent's status report.
inline constexpr const char* kJournalUnwritable = "journal_unwritable";

class AgentHealth {
 public:
  // Sets or replaces a problem; true when that changed the report's problems.
  bool Set(const std::string& code, const std::string& message);
  // Clears a problem; true when there was one.
  bool Clear(const std::string& code);

  [[nodiscard]] bool healthy() const;
  // Goes up by one with every change of the problems.
  [[nodiscard]] std::uint64_t version() const;
  // The report to send: healthy, the problems sorted by code, `now`.
  [[nodiscard]] protocol::AgentStatusReport Report(WallTime now) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> problems_;
  std::uint64_t version_ = 0;
};

class StatusSchedule {
 public:
  explicit StatusSchedule(std::chrono::milliseconds interval) : interval_(interval) {}
  void set_interval(std::chrono::milliseconds interval) { interval_ = interval; }

  // When the report of health `version` (`healthy` or not) is due: now (the first, or a change),
  // at the last attempt plus the interval (the last attempt failed, or the agent is unhealthy),
  // or nullopt (reported and healthy, or the call is unsupported).
  [[nodiscard]] std::optional<Clock::MonoTime> NextDue(std::uint64_t version, bool healthy) const;
  [[nodiscard]] bool Due(Clock::MonoTime now, std::uint64_t version, bool healthy) const {
    const auto due = NextDue(version, healthy);
    return due && now >= *due;
  }
  // A report of `version` was sent at `now`; `delivered` when fleet-cmdr took it.
  void Attempted(Clock::MonoTime now, std::uint64_t version, bool delivered);
  // fleet-cmdr has no status call (404/405): no report is ever due again.
  void Unsupported() { unsupported_ = true; }
  [[nodiscard]] bool unsupported() const { return unsupported_; }

 private:
  std::chrono::milliseconds interval_;
  std::optional<Clock::MonoTime> last_attempt_;
  std::optional<std::uint64_t> attempted_version_;
  std::optional<std::uint64_t> delivered_version_;
  bool unsupported_ = false;
};

}  // namespace orb::agent
