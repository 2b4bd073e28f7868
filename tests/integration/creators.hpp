#pragma once

// Job creators for the fault tests (replicas_chaos_test.cpp, cmdr_chaos_test.cpp): many threads
// creating jobs through fleet-cmdr processes that die and come back, resending each create with its
// idempotency key until one acknowledges it, and recording what was acknowledged.
// Thread-safety: the accessors may be called from any thread while the creators run.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "integration/test_cluster.hpp"
#include "net/http_client.hpp"
#include "protocol/codec.hpp"

namespace orb::testing {

// Creates jobs 0..count-1 (VERIFY_BACKUP for host-<i % agents>) from `threads` threads through
// random fleet-cmdr URLs, each with the idempotency key chaos-<i>: a create whose answer was lost
// (the process died, 5xx, 429) is sent again, with the same key, to a random URL (another replica,
// or the same one once it is back) until one acknowledges it (201, or 200 for a key already
// stored), for up to 60 s.
class Creators {
 public:
  Creators(std::vector<std::string> urls, std::string token, int count, int agents, int threads)
      : urls_(std::move(urls)),
        token_(std::move(token)),
        count_(count),
        agents_(agents),
        acked_(count) {
    for (int t = 0; t < threads; ++t)
      threads_.emplace_back([this, t] { Run(t); });
  }
  ~Creators() { Join(); }
  void Join() {
    for (auto& thread : threads_)
      if (thread.joinable()) thread.join();
  }

  int started() const { return next_.load(); }
  int resent() const { return resent_.load(); }
  int replayed() const { return replayed_.load(); }
  // The longest time one create took to be acknowledged, resends included.
  long long slowest_ms() const { return slowest_ms_.load(); }
  // The acknowledged job id of each create ("" if never acknowledged).
  std::vector<std::string> acked() const {
    const std::lock_guard lock(mutex_);
    return acked_;
  }
  std::vector<std::string> problems() const {
    const std::lock_guard lock(mutex_);
    return problems_;
  }

 private:
  void Run(int thread) {
    std::mt19937 random(static_cast<unsigned>(1000 + thread));
    std::vector<std::unique_ptr<net::HttpClient>> clients;
    for (const auto& url : urls_) {
      net::ClientOptions options;
      options.base_url = url;
      options.bearer_token = token_;
      options.connect_timeout = std::chrono::seconds(2);
      options.request_timeout = std::chrono::seconds(10);
      clients.push_back(std::make_unique<net::HttpClient>(options));
    }
    for (int i = next_++; i < count_; i = next_++) {
      const std::string body = JobBody(
          fmt::format("host-{}", i % agents_), "VERIFY_BACKUP", fmt::format("i-{}", i),
          R"({"backupId":"b1"})",
          fmt::format(R"("maxAttempts":3,"retryBackoffSeconds":1,"idempotencyKey":"chaos-{}")", i));
      const auto first_sent = std::chrono::steady_clock::now();
      const auto deadline = first_sent + std::chrono::seconds(60);
      for (int attempt = 0;; ++attempt) {
        if (std::chrono::steady_clock::now() > deadline) {
          Problem(fmt::format("create {} never acknowledged", i));
          break;
        }
        if (attempt > 0) ++resent_;
        auto& client = *clients[random() % clients.size()];
        auto reply = client.Send({.method = "POST", .target = "/v1/jobs", .body = body});
        if (!reply || reply->status == 429 || reply->status >= 500) {
          // The process is gone, went away mid-call, or is busy: again, to a random URL, after a
          // pause that paces the resends as a real client's back-off would.
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        if (reply->status != 201 && reply->status != 200) {
          Problem(fmt::format("create {}: {} {}", i, reply->status, reply->body));
          break;
        }
        auto job = protocol::FromJson<protocol::Job>(reply->body);
        if (!job) {
          Problem(fmt::format("create {}: not a job: {}", i, reply->body));
          break;
        }
        if (reply->status == 200) ++replayed_;
        const long long took = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - first_sent)
                                   .count();
        for (long long was = slowest_ms_.load(); took > was;) {
          if (slowest_ms_.compare_exchange_weak(was, took)) break;
        }
        const std::lock_guard lock(mutex_);
        acked_[i] = job->id;
        break;
      }
    }
  }
  void Problem(std::string text) {
    const std::lock_guard lock(mutex_);
    problems_.push_back(std::move(text));
  }

  const std::vector<std::string> urls_;
  const std::string token_;
  const int count_;
  const int agents_;
  std::atomic<int> next_{0};
  std::atomic<int> resent_{0};
  std::atomic<int> replayed_{0};
  std::atomic<long long> slowest_ms_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> acked_;
  std::vector<std::string> problems_;
  std::vector<std::thread> threads_;
};

}  // namespace orb::testing
