#include "net/worker_pool.hpp"

#include <atomic>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/log.hpp"

namespace orb::net {

struct WorkerPool::Impl {
  explicit Impl(std::size_t threads) : pool(threads) {}
  boost::asio::thread_pool pool;
  std::atomic<bool> stopped{false};
};

WorkerPool::WorkerPool(std::size_t threads) : impl_(std::make_unique<Impl>(threads)) {}

WorkerPool::~WorkerPool() {
  Stop();
}

void WorkerPool::Post(std::function<void()> task) {
  if (impl_->stopped.load()) return;
  boost::asio::post(impl_->pool, [task = std::move(task)] {
    try {
      task();
    } catch (const std::exception& e) {
      GetLogger("worker-pool")->error("task threw: {}", e.what());
    } catch (...) {
      GetLogger("worker-pool")->error("task threw a non-standard exception");
    }
  });
}

void WorkerPool::Stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->pool.join();
}

}  // namespace orb::net
