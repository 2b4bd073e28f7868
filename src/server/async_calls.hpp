#pragma once

// Runs fleet-cmdr's work off the HTTP event loops, and knows when it is done
// (docs/decisions/0001, 0002):
// - OnWorker: a request's blocking work (store reads, rare writes, hashing an upload) on the worker
//   pool; an exception becomes a 500.
// - OnStore: an asynchronous store call (the hot-path writes) that holds no thread: the request
//   submits it and answers from the store's completion.
// - Post: background work that answers no request (presence events, timer rounds, stream replays).
//
// Load: at most `max_queued` requests wait for a worker (0: no bound). One more is answered 503
// unavailable with Retry-After at once (call.hpp), instead of waiting in an ever longer queue
// behind a slow store; busy_refused() counts them. Background work (Post) is bounded by its
// sources and always queued.
//
// Life cycle: Start makes the worker pool. After RefuseNew, OnWorker and OnStore answer 503 at
// once; Stop then runs the queued work, joins the pool and waits until every started store call
// has completed (the store completes every call it took, so this ends).
//
// Thread-safety: Start, RefuseNew and Stop from the controlling thread; everything else from any
// thread. Ownership: owns the worker pool; holds the Histograms it is given by reference (they
// must outlive every store call).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "net/worker_pool.hpp"
#include "server/call.hpp"
#include "server/metrics.hpp"
#include "store/store.hpp"

namespace orb::server {

class AsyncCalls {
 public:
  AsyncCalls() = default;
  ~AsyncCalls();
  AsyncCalls(const AsyncCalls&) = delete;
  AsyncCalls& operator=(const AsyncCalls&) = delete;

  void Start(std::size_t worker_threads, std::size_t max_queued = 0);
  void RefuseNew();
  bool refusing() const { return refusing_.load(); }
  // Requests waiting for a worker now; requests refused because too many waited, since Start.
  std::size_t queued() const { return workers_ ? workers_->queued() : 0; }
  std::size_t busy_refused() const { return workers_ ? workers_->refused() : 0; }
  void Stop();

  // Runs `work` on a worker; dropped before Start and after Stop.
  void Post(std::function<void()> work);

  // Runs `work` on a worker; 503 when refusing or when max_queued requests wait. An exception from `work` becomes a 500.
  void OnWorker(const ResponderPtr& responder, std::function<void()> work);

  // Starts an asynchronous store call without holding a thread: `start(completion)` makes the
  // call; `done(result)` runs on the store's thread after the commit (quick; an exception becomes
  // a 500). 503 when refusing. `latency` gets the time from the submit to the completion.
  // Start: callable with a store::Completion<T>; Done: with an Expected<store::Mutation<T>>.
  template <class T, class StartFn, class DoneFn>
  void OnStore(Histogram& latency, const ResponderPtr& responder, StartFn&& start, DoneFn&& done) {
    if (!Begin()) {
      return ReplyError(responder,
                        MakeError(Errc::kUnavailable, "fleet-cmdr is shutting down", true));
    }
    const auto submitted = std::chrono::steady_clock::now();
    std::forward<StartFn>(start)(store::Completion<T>(
        [this, &latency, submitted, responder,
         done = std::forward<DoneFn>(done)](Expected<store::Mutation<T>> result) mutable {
          latency.Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - submitted).count());
          try {
            done(std::move(result));
          } catch (const std::exception& e) {
            ReplyError(responder,
                       MakeError(Errc::kInternal, std::string("internal error: ") + e.what()));
          }
          End();
        }));
  }

 private:
  bool Begin();
  void End();

  std::atomic<bool> refusing_{false};
  std::unique_ptr<net::WorkerPool> workers_;  // set by Start, before any request arrives
  std::mutex mutex_;
  std::condition_variable all_done_;
  int store_calls_ = 0;  // started and not completed
};

}  // namespace orb::server
