#pragma once

#include <chrono>

namespace orb {

// Time as an injectable edge (style.md "The OS and the time are injected"). Decisions take a
// Clock or a `now`.
// Thread-safety: implementations are safe to call from any thread.
class Clock {
 public:
  using MonoTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;      // monotonic: durations, deadlines
  virtual WallTime WallNow() const = 0;  // wall: timestamps that leave the process
};

class SystemClock final : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
};

// The process-wide real clock, for mains that build Deps.
const Clock& RealClock();

}  // namespace orb
