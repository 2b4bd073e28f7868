#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace orb::net {

// A fixed pool of threads for blocking work (store calls, file I/O, hashing) so that the HTTP
// server's event loops never block. Wraps asio::thread_pool (no pool of our own). Thread-safe.
//
// Its queue is bounded by `max_queued` (tasks posted and not yet started; 0: no bound): TryPost
// refuses a task beyond it, so that a flood of requests is answered "busy" at once instead of
// waiting in an ever longer queue. Post always queues (work bounded by its sources: timers, one
// per agent, one per connection). Tasks posted after Stop() are dropped. The destructor stops the
// pool and joins its threads.
class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads, std::size_t max_queued = 0);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Post(std::function<void()> task);
  // Posts `task` unless max_queued tasks are waiting (or the pool is stopped): false then, and
  // `task` is dropped.
  bool TryPost(std::function<void()> task);
  // Tasks posted and not yet started.
  std::size_t queued() const;
  // Tasks TryPost refused, since the start.
  std::size_t refused() const;
  // Waits for queued tasks to finish, then joins the threads.
  void Stop();

 private:
  struct Impl;
  void Enqueue(std::function<void()> task);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orb::net
