#include "orchestration/rollout.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

namespace orb::orchestration {
namespace {

// A percentage as people write it: whole when it is, else with up to two decimals.
std::string Percent(double value) {
  char text[32];
  const double whole = std::round(value);
  if (std::abs(value - whole) < 1e-9) {
    std::snprintf(text, sizeof text, "%.0f%%", whole);
  } else {
    std::snprintf(text, sizeof text, "%.2f%%", value);
  }
  return text;
}

std::string AbortReason(std::int64_t bad, std::int64_t finished, const AbortPolicy& rule) {
  const double share = static_cast<double>(bad) * 100.0 / static_cast<double>(finished);
  return "the abort rule: " + std::to_string(bad) + " of " + std::to_string(finished) +
         " final hosts failed or were skipped (" + Percent(share) +
         " >= " + Percent(rule.failed_percent) + ", at least " + std::to_string(rule.min_finished) +
         " final)";
}

constexpr std::array<std::pair<RolloutStatus, std::string_view>, 4> kStatusNames = {{
    {RolloutStatus::kRunning, "RUNNING"},
    {RolloutStatus::kPaused, "PAUSED"},
    {RolloutStatus::kCompleted, "COMPLETED"},
    {RolloutStatus::kAborted, "ABORTED"},
}};

constexpr std::array<std::pair<HostState, std::string_view>, 8> kStateNames = {{
    {HostState::kPending, "pending"},
    {HostState::kWaiting, "waiting"},
    {HostState::kQueued, "queued"},
    {HostState::kRunning, "running"},
    {HostState::kCompleted, "completed"},
    {HostState::kFailed, "failed"},
    {HostState::kCancelled, "cancelled"},
    {HostState::kSkipped, "skipped"},
}};

bool HasJob(HostState state) {
  return state == HostState::kWaiting || state == HostState::kQueued ||
         state == HostState::kRunning;
}

RolloutCounts CountStates(const std::vector<HostState>& states) {
  RolloutCounts counts;
  counts.total = static_cast<std::int64_t>(states.size());
  for (const HostState state : states)
    Count(counts, state);
  return counts;
}

void Earliest(std::optional<WallTime>& wake, WallTime at) {
  if (!wake || at < *wake) wake = at;
}

}  // namespace

std::string_view ToString(RolloutStatus status) {
  for (const auto& [value, name] : kStatusNames) {
    if (value == status) return name;
  }
  return "RUNNING";
}

std::optional<RolloutStatus> RolloutStatusFromString(std::string_view text) {
  for (const auto& [value, name] : kStatusNames) {
    if (name == text) return value;
  }
  return std::nullopt;
}

std::string_view ToString(HostState state) {
  for (const auto& [value, name] : kStateNames) {
    if (value == state) return name;
  }
  return "pending";
}

std::optional<HostState> HostStateFromString(std::string_view text) {
  for (const auto& [value, name] : kStateNames) {
    if (name == text) return value;
  }
  return std::nullopt;
}

bool IsFinal(HostState state) {
  return state == HostState::kCompleted || state == HostState::kFailed ||
         state == HostState::kCancelled || state == HostState::kSkipped;
}

void Count(RolloutCounts& counts, HostState state) {
  switch (state) {
    case HostState::kPending: ++counts.pending; break;
    case HostState::kWaiting: ++counts.waiting; break;
    case HostState::kQueued: ++counts.queued; break;
    case HostState::kRunning: ++counts.running; break;
    case HostState::kCompleted: ++counts.completed; break;
    case HostState::kFailed: ++counts.failed; break;
    case HostState::kCancelled: ++counts.cancelled; break;
    case HostState::kSkipped: ++counts.skipped; break;
  }
}

RolloutCounts CountHosts(const std::vector<RolloutHost>& hosts) {
  RolloutCounts counts;
  counts.total = static_cast<std::int64_t>(hosts.size());
  for (const RolloutHost& host : hosts)
    Count(counts, host.state);
  return counts;
}

std::int64_t PhaseLimit(int percent, std::int64_t hosts) {
  const std::int64_t p = std::clamp(percent, 0, 100);
  return (p * hosts + 99) / 100;
}

Pace PaceOf(std::int64_t max_per_minute) {
  const std::int64_t n = std::max<std::int64_t>(max_per_minute, 1);
  const std::int64_t starts = (n + 59) / 60;
  return {starts, std::chrono::milliseconds((starts * 60'000 + n - 1) / n)};
}

std::int64_t SlotCount(const MaxInFlight& max_in_flight, std::int64_t hosts) {
  if (!max_in_flight.percent) return std::max<std::int64_t>(max_in_flight.value, 1);
  return std::max<std::int64_t>(
      PhaseLimit(static_cast<int>(std::clamp<std::int64_t>(max_in_flight.value, 0, 100)), hosts),
      1);
}

RolloutCounts WholeCounts(const RolloutWindow& window, RolloutCounts open) {
  open.total = window.total;
  open.completed += window.settled.completed;
  open.failed += window.settled.failed;
  open.cancelled += window.settled.cancelled;
  open.skipped += window.settled.skipped;
  open.pending += window.unlisted_pending;
  open.waiting += window.in_flight.waiting;
  open.queued += window.in_flight.queued;
  open.running += window.in_flight.running;
  return open;
}

RolloutDecision DecideRollout(const RolloutPolicy& policy, const std::vector<RolloutHost>& hosts,
                              RolloutStatus status, WallTime now) {
  RolloutWindow window;
  window.total = static_cast<std::int64_t>(hosts.size());
  window.open = hosts;
  window.positions.reserve(hosts.size());
  for (std::size_t i = 0; i < hosts.size(); ++i)
    window.positions.push_back(static_cast<std::int64_t>(i));
  return DecideRollout(policy, window, status, now);
}

RolloutDecision DecideRollout(const RolloutPolicy& policy, const RolloutWindow& window,
                              RolloutStatus status, WallTime now) {
  RolloutDecision decision;
  const std::vector<RolloutHost>& hosts = window.open;
  const std::int64_t total = window.total;
  std::vector<RolloutPhase> phases = policy.phases;
  if (phases.empty()) phases.push_back(RolloutPhase{});
  std::vector<HostState> states;
  states.reserve(hosts.size());
  for (const RolloutHost& host : hosts)
    states.push_back(host.state);
  const auto count = [&] { return WholeCounts(window, CountStates(states)); };

  const bool acts = status == RolloutStatus::kRunning || status == RolloutStatus::kPaused;

  // 1. Skips: unenrolled hosts at once, jobs not final after hostTimeoutSeconds.
  if (acts) {
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      const RolloutHost& host = hosts[i];
      if (IsFinal(host.state)) continue;
      if (host.unenrolled) {
        decision.unenrolled.push_back(i);
        states[i] = HostState::kSkipped;
      } else if (HasJob(host.state) && policy.host_timeout_seconds) {
        const WallTime deadline = host.since + std::chrono::seconds(*policy.host_timeout_seconds);
        if (now >= deadline) {
          decision.timed_out.push_back(i);
          states[i] = HostState::kSkipped;
        } else {
          Earliest(decision.wake_at, deadline);
        }
      }
    }
    if (policy.host_timeout_seconds && window.in_flight.earliest_since) {
      Earliest(decision.wake_at, *window.in_flight.earliest_since +
                                     std::chrono::seconds(*policy.host_timeout_seconds));
    }
  }

  // The current phase: the first whose hosts are not all final (the last one when all are).
  // Settled hosts are final; unlisted pending ones come after every listed one.
  std::int64_t first_not_final = total;
  bool all_final = window.unlisted_pending == 0 && window.in_flight.Total() == 0;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (!IsFinal(states[i])) {
      first_not_final = window.positions[i];
      all_final = false;
      break;
    }
  }
  if (window.in_flight.Total() > 0 && window.in_flight.first_position) {
    first_not_final = std::min(first_not_final, *window.in_flight.first_position);
  }
  if (all_final) {
    first_not_final = total;
  } else if (first_not_final == total) {
    // Every listed host is final (the listed pending ones were just skipped): the unlisted come
    // after the last listed one.
    first_not_final = hosts.empty() ? 0 : window.positions.back() + 1;
  }
  std::size_t phase = phases.size() - 1;
  for (std::size_t k = 0; k < phases.size(); ++k) {
    if (PhaseLimit(phases[k].percent, total) > first_not_final) {
      phase = k;
      break;
    }
  }
  decision.phase = phase;

  if (!acts) {
    decision.wake_at.reset();
    decision.counts = count();
    return decision;
  }

  // 2. The abort rule, over the hosts that are final.
  RolloutCounts counts = count();
  if (policy.abort) {
    const std::int64_t finished =
        counts.completed + counts.failed + counts.cancelled + counts.skipped;
    if (finished > 0 && finished >= policy.abort->min_finished &&
        static_cast<double>(counts.failed + counts.skipped) * 100.0 >=
            policy.abort->failed_percent * static_cast<double>(finished)) {
      decision.abort = true;
      decision.abort_reason = AbortReason(counts.failed + counts.skipped, finished, *policy.abort);
      for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (states[i] == HostState::kWaiting || states[i] == HostState::kQueued) {
          decision.cancel_on_abort.push_back(i);
          states[i] = HostState::kCancelled;
        }
      }
      decision.wake_at.reset();
      decision.counts = count();
      return decision;
    }
  }

  // 3. Completion: every host final.
  if (all_final) {
    decision.complete = true;
    decision.wake_at.reset();
    decision.counts = counts;
    return decision;
  }

  // 4. Starts, while RUNNING: pending hosts of the current phase within the free slots.
  if (status == RolloutStatus::kRunning) {
    std::optional<WallTime> start_at;
    for (std::size_t k = 0; k <= phase; ++k) {
      if (phases[k].start_at && (!start_at || *phases[k].start_at > *start_at)) {
        start_at = phases[k].start_at;
      }
    }
    const std::int64_t limit = std::min(PhaseLimit(phases[phase].percent, total), total);
    std::int64_t in_flight = window.in_flight.Total();
    for (const HostState state : states)
      in_flight += HasJob(state) ? 1 : 0;
    std::int64_t free = SlotCount(policy.max_in_flight, total) - in_flight;
    // maxPerMinute: the starts the pace's window before now leaves.
    std::optional<Pace> pace;
    std::optional<std::int64_t> paced;
    if (policy.max_per_minute) {
      pace = PaceOf(*policy.max_per_minute);
      paced = std::max<std::int64_t>(0, pace->starts - window.recent_starts.count);
    }
    bool pending_in_phase = false;
    for (std::size_t i = 0; i < hosts.size() && window.positions[i] < limit; ++i) {
      if (states[i] == HostState::kPending) pending_in_phase = true;
    }
    if (start_at && now < *start_at) {
      if (pending_in_phase) Earliest(decision.wake_at, *start_at);
    } else {
      bool held_by_pace = false;
      for (std::size_t i = 0; i < hosts.size() && window.positions[i] < limit && free > 0; ++i) {
        if (states[i] != HostState::kPending) continue;
        if (paced && *paced == 0) {
          held_by_pace = true;
          break;
        }
        decision.start.push_back(i);
        --free;
        if (paced) --*paced;
      }
      // A pending host that only the pace holds back may start once the first start within the
      // window is a window old (or, with none before, the ones made now).
      if (held_by_pace) {
        Earliest(decision.wake_at, window.recent_starts.earliest.value_or(now) + pace->window);
      }
    }
  }
  decision.counts = counts;
  return decision;
}

}  // namespace orb::orchestration
