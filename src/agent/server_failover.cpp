#include "agent/server_failover.hpp"

#include <algorithm>
#include <utility>

#include "common/log.hpp"

namespace orb::agent {

ServerFailover::ServerFailover(std::size_t servers, FailoverOptions options)
    : size_(std::max<std::size_t>(servers, 1)),
      options_(options),
      return_delay_(options.return_after) {}

bool ServerFailover::Failed(std::size_t server, Time now) {
  if (size_ == 1 || server != current_) return false;
  if (server == 0) {
    if (trying_first_) {
      // The first is still down: wait twice as long before the next try.
      return_delay_ = std::min(return_delay_ * 2, std::max(options_.return_max, return_delay_));
      trying_first_ = false;
    }
    return_at_ = now + return_delay_;
  }
  current_ = (current_ + 1) % size_;
  if (current_ == 0) return_at_.reset();  // round the list and home again
  return true;
}

void ServerFailover::Succeeded(std::size_t server) {
  if (server != 0 || server != current_) return;
  trying_first_ = false;
  return_delay_ = options_.return_after;
}

bool ServerFailover::TryReturn(Time now) {
  if (current_ == 0 || !return_at_ || now < *return_at_) return false;
  current_ = 0;
  return_at_.reset();
  trying_first_ = true;
  return true;
}

ServerSet::ServerSet(std::vector<std::string> urls, const Clock& clock, FailoverOptions options)
    : urls_(std::move(urls)), clock_(clock), failover_(urls_.size(), options) {}

ServerSet::Choice ServerSet::Current() const {
  const std::lock_guard lock(mutex_);
  const std::size_t index = std::min(failover_.current(), urls_.size() - 1);
  return {index, urls_.empty() ? std::string() : urls_[index]};
}

bool ServerSet::Failed(std::size_t index, const std::string& why) {
  const std::lock_guard lock(mutex_);
  if (!failover_.Failed(index, clock_.Now())) return false;
  const std::size_t next = failover_.current();
  ++failures_since_answer_;
  GetLogger("agent")->log(
      failures_since_answer_ <= urls_.size() ? spdlog::level::warn : spdlog::level::debug,
      "fleet-cmdr {} failed ({}); moving to {}{}", urls_[index], why, urls_[next],
      next == 0 ? " (the first of the list)" : "");
  return true;
}

void ServerSet::Succeeded(std::size_t index) {
  const std::lock_guard lock(mutex_);
  if (failures_since_answer_ > urls_.size()) {
    GetLogger("agent")->info("fleet-cmdr {} answers again", urls_[index]);
  }
  failures_since_answer_ = 0;
  failover_.Succeeded(index);
}

bool ServerSet::TryReturn() {
  const std::lock_guard lock(mutex_);
  const std::size_t away_on = failover_.current();
  if (!failover_.TryReturn(clock_.Now())) return false;
  GetLogger("agent")->info("trying the first fleet-cmdr {} again (on {} since it failed)", urls_[0],
                           urls_[away_on]);
  return true;
}

}  // namespace orb::agent
