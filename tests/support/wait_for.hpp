#pragma once

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace orb::testing {

// Polls `condition` until it holds or `timeout` passes. Use instead of sleep().
template <class Condition>
::testing::AssertionResult WaitFor(Condition condition, std::chrono::milliseconds timeout,
                                   std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure()
             << "condition not met within " << timeout.count() << " ms";
    }
    std::this_thread::sleep_for(poll);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace orb::testing
