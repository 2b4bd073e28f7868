#pragma once

#include <chrono>
#include <mutex>

#include "common/clock.hpp"

namespace orb::testing {

// A Clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  ManualClock() : wall_(std::chrono::system_clock::from_time_t(1795000000)) {}  // 2026-11-18

  MonoTime Now() const override {
    const std::lock_guard lock(mutex_);
    return mono_;
  }
  WallTime WallNow() const override {
    const std::lock_guard lock(mutex_);
    return wall_;
  }

  void Advance(std::chrono::milliseconds by) {
    const std::lock_guard lock(mutex_);
    mono_ += by;
    wall_ += by;
  }
  void SetWall(WallTime to) {
    const std::lock_guard lock(mutex_);
    wall_ = to;
  }

 private:
  mutable std::mutex mutex_;
  MonoTime mono_{std::chrono::seconds(1000)};
  WallTime wall_;
};

}  // namespace orb::testing
