#include "server/async_calls.hpp"

namespace orb::server {

AsyncCalls::~AsyncCalls() {
  RefuseNew();
  Stop();
}

void AsyncCalls::Start(std::size_t worker_threads, std::size_t max_queued) {
  workers_ = std::make_unique<net::WorkerPool>(worker_threads, max_queued);
}

void AsyncCalls::RefuseNew() {
  refusing_.store(true);
}

void AsyncCalls::Stop() {
  if (workers_) workers_->Stop();
  std::unique_lock lock(mutex_);
  all_done_.wait(lock, [this] { return store_calls_ == 0; });
}

void AsyncCalls::Post(std::function<void()> work) {
  if (workers_) workers_->Post(std::move(work));
}

void AsyncCalls::OnWorker(const ResponderPtr& responder, std::function<void()> work) {
  if (refusing_.load() || !workers_) {
    return ReplyError(responder,
                      MakeError(Errc::kUnavailable, "fleet-cmdr is shutting down", true));
  }
  const bool queued = workers_->TryPost([responder, work = std::move(work)] {
    try {
      work();
    } catch (const std::exception& e) {
      ReplyError(responder, MakeError(Errc::kInternal, std::string("internal error: ") + e.what()));
    }
  });
  if (!queued) {
    ReplyErrorQuietly(responder,
                      MakeError(Errc::kUnavailable, "fleet-cmdr is busy: retry later", true));
  }
}

bool AsyncCalls::Begin() {
  const std::lock_guard lock(mutex_);
  if (refusing_.load()) return false;
  ++store_calls_;
  return true;
}

void AsyncCalls::End() {
  const std::lock_guard lock(mutex_);
  if (--store_calls_ == 0) all_done_.notify_all();
}

}  // namespace orb::server
