#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace orb::net {

// A fixed pool of threads for blocking work (store calls, file hashing) so that the HTTP server's
// I/O threads never block. Wraps asio::thread_pool (no pool of our own). Thread-safe.
// Tasks posted after Stop() are dropped. The destructor stops the pool and joins its threads.
class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Post(std::function<void()> task);
  // Waits for queued tasks to finish, then joins the threads.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orb::net
