#include "net/worker_pool.hpp"

#include <atomic>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/log.hpp"

namespace orb::net {

struct WorkerPool::Impl {
  Impl(std::size_t threads, std::size_t limit) : pool(threads), max_queued(limit) {}
  boost::asio::thread_pool pool;
  const std::size_t max_queued;
  std::atomic<std::size_t> queued{0};
  std::atomic<std::size_t> refused{0};
  std::atomic<bool> stopped{false};
};

WorkerPool::WorkerPool(std::size_t threads, std::size_t max_queued)
    : impl_(std::make_unique<Impl>(threads, max_queued)) {}

WorkerPool::~WorkerPool() {
  Stop();
}

void WorkerPool::Enqueue(std::function<void()> task) {
  impl_->queued.fetch_add(1, std::memory_order_relaxed);
  boost::asio::post(impl_->pool, [impl = impl_.get(), task = std::move(task)] {
    impl->queued.fetch_sub(1, std::memory_order_relaxed);
    try {
      task();
    } catch (const std::exception& e) {
      GetLogger("worker-pool")->error("task threw: {}", e.what());
    } catch (...) {
      GetLogger("worker-pool")->error("task threw a non-standard exception");
    }
  });
}

void WorkerPool::Post(std::function<void()> task) {
  if (impl_->stopped.load()) return;
  Enqueue(std::move(task));
}

bool WorkerPool::TryPost(std::function<void()> task) {
  if (impl_->stopped.load()) return false;
  // A check, then an increment: concurrent posts may pass the bound by the number of posting
  // threads (the event loops), which is what a bound on memory needs.
  if (impl_->max_queued > 0 && impl_->queued.load(std::memory_order_relaxed) >= impl_->max_queued) {
    impl_->refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Enqueue(std::move(task));
  return true;
}

std::size_t WorkerPool::queued() const {
  return impl_->queued.load(std::memory_order_relaxed);
}

std::size_t WorkerPool::refused() const {
  return impl_->refused.load(std::memory_order_relaxed);
}

void WorkerPool::Stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->pool.join();
}

}  // namespace orb::net
