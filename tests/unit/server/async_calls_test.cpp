// AsyncCalls' bounded worker queue (server/async_calls.hpp): beyond max_queued waiting requests,
// a request is answered 503 with Retry-After at once instead of waiting behind a slow store.
#include "server/async_calls.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "support/wait_for.hpp"

namespace orb::server {
namespace {

using namespace std::chrono_literals;

// Where the network would be: keeps the answer (thread-safe: workers answer).
class AnswerSlot final : public net::Responder {
 public:
  void Send(net::HttpResponse response) override {
    const std::lock_guard lock(mutex_);
    if (!response_) response_ = std::move(response);
  }
  bool IsOpen() const override {
    const std::lock_guard lock(mutex_);
    return !response_.has_value();
  }
  std::optional<net::HttpResponse> response() const {
    const std::lock_guard lock(mutex_);
    return response_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<net::HttpResponse> response_;
};

// A store call that does not return until Open: what a slow store looks like to a worker.
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mutex_);
    opened_.wait(lock, [this] { return open_; });
  }
  void Open() {
    const std::lock_guard lock(mutex_);
    open_ = true;
    opened_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

TEST(AsyncCallsTest, BeyondTheQueueLimitARequestIsAnswered503AtOnce) {
  Gate store;
  AsyncCalls calls;
  calls.Start(/*worker_threads=*/1, /*max_queued=*/2);
  std::atomic<int> ran{0};
  const auto slow = [&] {
    store.Wait();
    ++ran;
  };
  auto running = std::make_shared<AnswerSlot>();
  calls.OnWorker(running, slow);
  ASSERT_TRUE(orb::testing::WaitFor([&] { return calls.queued() == 0; }, 5s));  // it started
  auto waiting1 = std::make_shared<AnswerSlot>();
  auto waiting2 = std::make_shared<AnswerSlot>();
  calls.OnWorker(waiting1, slow);
  calls.OnWorker(waiting2, slow);
  EXPECT_EQ(calls.queued(), 2U);

  auto refused = std::make_shared<AnswerSlot>();
  calls.OnWorker(refused, slow);
  const auto answer = refused->response();  // answered on this thread, before OnWorker returned
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 503);
  EXPECT_NE(answer->body.find(R"("code":"unavailable")"), std::string::npos) << answer->body;
  bool retry_after = false;
  for (const auto& header : answer->headers)
    retry_after |= header.name == "Retry-After";
  EXPECT_TRUE(retry_after);
  EXPECT_EQ(calls.busy_refused(), 1U);

  // The queued ones are not lost: once the store answers, they run.
  store.Open();
  EXPECT_TRUE(orb::testing::WaitFor([&] { return ran == 3; }, 5s));
  calls.RefuseNew();
  calls.Stop();
  EXPECT_EQ(ran, 3);
}

}  // namespace
}  // namespace orb::server
