#pragma once

// The rollout controller (docs/decisions/0017): given a rollout's policy, its hosts in order with
// their states, its status and the time, what to do now. Pure; thread-safe. The caller (the
// store's transaction) applies the decision and calls again on the next change or at `wake_at`.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/time.hpp"

namespace orb::orchestration {

enum class RolloutStatus { kRunning, kPaused, kCompleted, kAborted };
std::string_view ToString(RolloutStatus status);  // "RUNNING", "PAUSED", ...
std::optional<RolloutStatus> RolloutStatusFromString(std::string_view text);

// A host of a rollout, by its job's state. Final: completed, failed, cancelled, skipped.
enum class HostState {
  kPending,    // no job yet
  kWaiting,    // its job is CREATED (retry backoff, notBefore)
  kQueued,     // QUEUED
  kRunning,    // handed out to the agent (ASSIGNED, RUNNING)
  kCompleted,  // COMPLETED
  kFailed,     // FAILED after its last attempt
  kCancelled,  // CANCELLED by an operator (not by this controller)
  kSkipped,    // skipped by this controller (timed out, unenrolled); its job, if any, cancelled
};
std::string_view ToString(HostState state);  // "pending", "waiting", ...
std::optional<HostState> HostStateFromString(std::string_view text);
bool IsFinal(HostState state);

// maxInFlight: an integer >= 1, or a percentage of the hosts ("25%"), rounded up, at least 1.
struct MaxInFlight {
  std::int64_t value = 1;
  bool percent = false;
  bool operator==(const MaxInFlight&) const = default;
};
// "25%" or "3" (the JSON integer form is MaxInFlight{n}). Errors name field "policy.maxInFlight".
Expected<MaxInFlight> ParseMaxInFlight(std::string_view text);

struct RolloutPhase {
  int percent = 100;                 // cumulative share of the hosts
  std::optional<WallTime> start_at;  // no host of this phase (or a later one) starts before then
  bool operator==(const RolloutPhase&) const = default;
};

struct AbortPolicy {
  double failed_percent = 100;    // abort when (failed + skipped) / finished * 100 >= this
  std::int64_t min_finished = 1;  // ... once at least this many hosts are final
  bool operator==(const AbortPolicy&) const = default;
};

struct RolloutPolicy {
  MaxInFlight max_in_flight;
  std::vector<RolloutPhase> phases;  // empty: one phase of 100 %
  std::optional<AbortPolicy> abort;
  std::optional<std::int64_t> host_timeout_seconds;
  // Hosts start at an even pace of this many per minute (AWS IoT Jobs' maximumPerMinute; see
  // PaceOf): a rollout of jobs that end at once moves at this pace instead of in waves of
  // maxInFlight hosts.
  std::optional<std::int64_t> max_per_minute;
  bool operator==(const RolloutPolicy&) const = default;
};

struct RolloutHost {
  HostState state = HostState::kPending;
  // When its current job was created (or last retried): the start of hostTimeoutSeconds. Unused
  // for pending and final hosts.
  WallTime since{};
  bool unenrolled = false;  // the agent was unenrolled: the host is skipped at once
  bool operator==(const RolloutHost&) const = default;
};

struct RolloutCounts {
  std::int64_t total = 0;
  std::int64_t pending = 0;
  std::int64_t waiting = 0;
  std::int64_t queued = 0;
  std::int64_t running = 0;
  std::int64_t completed = 0;
  std::int64_t failed = 0;
  std::int64_t cancelled = 0;
  std::int64_t skipped = 0;
  bool operator==(const RolloutCounts&) const = default;
};
// Adds one host in `state` to `counts` (total aside).
void Count(RolloutCounts& counts, HostState state);
RolloutCounts CountHosts(const std::vector<RolloutHost>& hosts);

struct RolloutDecision {
  // Host indexes, in host order.
  std::vector<std::size_t> start;       // create their job now
  std::vector<std::size_t> timed_out;   // not final after hostTimeoutSeconds: cancel the job, skip
  std::vector<std::size_t> unenrolled;  // unenrolled, not final: cancel the job if any, skip
  bool abort = false;                   // the rollout becomes ABORTED now
  // With abort: why, with the figures, e.g. "the abort rule: 2 of 3 final hosts failed or were
  // skipped (66.67% >= 50%, at least 2 final)".
  std::string abort_reason;
  std::vector<std::size_t> cancel_on_abort;  // with abort: the waiting and queued jobs to cancel
  bool complete = false;                     // the rollout becomes COMPLETED now
  std::size_t phase = 0;                     // the current phase (index into the phases)
  // The counts once the skips and the abort's cancellations are applied (hosts started now are
  // still pending: their job does not exist yet).
  RolloutCounts counts;
  // The next instant at which time alone changes the decision (a phase's startAt, a host's
  // timeout), if any.
  std::optional<WallTime> wake_at;
};

// A rollout's hosts as the controller needs to see them when there are many (docs/decisions/
// 0026): the final hosts already counted (`settled`: only completed, failed, cancelled and
// skipped are used), the others in position order (`open`, each with its position), and how many
// pending hosts follow the last of them unlisted. Pending hosts are always a suffix of the
// unsettled ones (hosts start in order), so a window that lists the first few pending hosts
// decides as the full list does, except that an unenrolled host among the unlisted pending ones is
// skipped only once the window reaches it.
//
// Hosts in flight (started, not final) need not be listed either: `in_flight` counts those left
// out, with the first position and the earliest `since` among them. None of them may be
// unenrolled or past its timeout at the decision's `now`: those must be listed.
struct UnlistedInFlight {
  std::int64_t waiting = 0;
  std::int64_t queued = 0;
  std::int64_t running = 0;
  std::optional<std::int64_t> first_position;
  std::optional<WallTime> earliest_since;
  std::int64_t Total() const { return waiting + queued + running; }
};

// maxPerMinute N as an even pace: at most `starts` = ceil(N / 60) hosts start in any `window`
// of starts x 60 s / N (rounded up to the millisecond): N a minute, about a second's worth at
// once at most (N = 6: one every 10 s; N = 600: ten a second).
struct Pace {
  std::int64_t starts = 1;
  std::chrono::milliseconds window{60'000};
  bool operator==(const Pace&) const = default;
};
Pace PaceOf(std::int64_t max_per_minute);  // max_per_minute >= 1

// The hosts started within the pace's window before the decision's `now` (for maxPerMinute).
struct RecentStarts {
  std::int64_t count = 0;
  std::optional<WallTime> earliest;  // the first of them
};

struct RolloutWindow {
  std::int64_t total = 0;  // every host of the rollout
  RolloutCounts settled;
  std::vector<std::int64_t> positions;  // of `open`, ascending
  std::vector<RolloutHost> open;
  std::int64_t unlisted_pending = 0;
  UnlistedInFlight in_flight;
  RecentStarts recent_starts;  // read only when the policy has maxPerMinute
};

// The decision for a rollout in `status` (RUNNING or PAUSED act; COMPLETED and ABORTED only get
// their counts and phase). In order: unenrolled and timed-out hosts are skipped (also while
// PAUSED); the abort rule is checked; a rollout whose hosts are all final completes (also while
// PAUSED); a RUNNING rollout starts pending hosts of the current phase, in order, while fewer than
// maxInFlight hosts have a job that is not final and, with maxPerMinute, while fewer than the
// pace's `starts` hosts started within its window (this list form knows of no earlier starts;
// the window form below takes them). The current phase is the first whose hosts are not all final;
// it starts no host before the latest startAt of it and the phases before it.
RolloutDecision DecideRollout(const RolloutPolicy& policy, const std::vector<RolloutHost>& hosts,
                              RolloutStatus status, WallTime now);
// The whole rollout's counts from `open`, the counts of the window's listed hosts in their states
// now: with its settled hosts and its unlisted pending and in-flight ones.
RolloutCounts WholeCounts(const RolloutWindow& window, RolloutCounts open);
// The same over a window: host indexes in the decision are indexes into `window.open`; the counts
// are the whole rollout's. With nothing settled and nothing unlisted it is the call above.
RolloutDecision DecideRollout(const RolloutPolicy& policy, const RolloutWindow& window,
                              RolloutStatus status, WallTime now);

// ceil(percent x hosts / 100): the hosts phase `percent` may have started.
std::int64_t PhaseLimit(int percent, std::int64_t hosts);
// maxInFlight for this many hosts: the value, or ceil(percent x hosts / 100); at least 1.
std::int64_t SlotCount(const MaxInFlight& max_in_flight, std::int64_t hosts);

}  // namespace orb::orchestration
