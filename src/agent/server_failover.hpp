#pragma once

// Which of its fleet-cmdr replicas the agent talks to. The agent's `server` key is a list in order
// of preference; replicas share one database, so any of them answers any call with the same token
// and the same state. The agent talks to one at a time (one keep-alive connection per thread, one
// long-poll): spreading calls over replicas would buy nothing and would split its long-poll from
// its jobs/next.
//
// Moving on: a call that fails in a way another replica may not share (connect refused, reset,
// timeout, TLS failure, or 502/503/504 from a proxy or a replica going away: net::IsFailoverStatus
// and net::IsTransportFailure) moves the agent to the next server of the list, after the last to
// the first. Other failures (429, 500, 4xx) are the same on every replica and stay where they are.
//
// Coming back: while on any server but the first, the agent tries the first again `return_after`
// after it left it, then twice as long after each try that failed (up to `return_max`), so that a
// fleet spread over the replicas by failures drifts back to the one it prefers, and a first server
// that stays down costs one failed connection per interval, not one per call. The try happens only
// at the loop's long-poll boundary (ControlPlane::Notify, between two notify calls): never while a
// call is in flight, never inside a run's updates (the reporter follows at its next call, each
// batch being acknowledged before the next is sent), and the price of a first server that is still
// down (a refused connect, at worst a connect timeout) is paid by an idle long-poll rather than by
// a run's report or a jobs/next.

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"

namespace orb::agent {

struct FailoverOptions {
  std::chrono::milliseconds return_after{std::chrono::minutes(1)};
  std::chrono::milliseconds return_max{std::chrono::minutes(15)};
};

// The decision, pure: no I/O, no clock, no lock; the time comes in as an argument.
// Not thread-safe (ServerSet below is its thread-safe holder).
class ServerFailover {
 public:
  using Time = Clock::MonoTime;

  // `servers` >= 1; index 0 is the preferred one.
  explicit ServerFailover(std::size_t servers, FailoverOptions options = {});

  [[nodiscard]] std::size_t current() const { return current_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  // When the next try of the first server is due; nullopt while on the first.
  [[nodiscard]] std::optional<Time> return_at() const { return return_at_; }

  // A call to `server` failed with a failover reason at `now`. When `server` is the current one,
  // moves to the next (after the last: the first) and returns true. False, changing nothing, when
  // the agent has already moved on (another thread's call to it failed first) or has no other
  // server.
  bool Failed(std::size_t server, Time now);

  // `server` answered (any answer that is not a failover reason): for the first, its tries are
  // over and the next departure starts again at return_after.
  void Succeeded(std::size_t server);

  // At a point where switching is safe: true, and current() is the first again, when the agent is
  // away from it and return_at() has come.
  bool TryReturn(Time now);

 private:
  std::size_t size_;
  FailoverOptions options_;
  std::size_t current_ = 0;
  std::optional<Time> return_at_;
  std::chrono::milliseconds return_delay_;  // for the next departure from the first
  bool trying_first_ = false;               // back on the first by TryReturn, not yet answered
};

// The agent's one ServerFailover, shared by the loop's and the reporter's control planes so that a
// move found by one is followed by the other at its next call. Logs each move with the URLs and
// the failure that caused it (never a token): at warn for the first round through the list, then,
// while no server answers at all, at debug (an outage of every replica would otherwise log a line
// per server per backoff), and at info when one answers again. Thread-safe.
class ServerSet {
 public:
  struct Choice {
    std::size_t index = 0;
    std::string url;
  };

  ServerSet(std::vector<std::string> urls, const Clock& clock, FailoverOptions options = {});

  [[nodiscard]] Choice Current() const;
  [[nodiscard]] std::size_t size() const { return urls_.size(); }
  [[nodiscard]] const std::vector<std::string>& urls() const { return urls_; }

  // ServerFailover::Failed with the clock's time; `why` is the failure, for the log.
  bool Failed(std::size_t index, const std::string& why);
  void Succeeded(std::size_t index);
  // ServerFailover::TryReturn with the clock's time.
  bool TryReturn();

 private:
  const std::vector<std::string> urls_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  ServerFailover failover_;
  std::size_t failures_since_answer_ = 0;  // moves since any server last answered
};

}  // namespace orb::agent
