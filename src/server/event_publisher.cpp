#include "server/event_publisher.hpp"

#include <string>
#include <utility>

namespace orb::server {

EventPublisher::EventPublisher(store::Store& store, StreamHub& hub,
                               Family<Counter>& events_published, const Clock& clock,
                               std::int64_t last_seq, std::chrono::milliseconds gap_wait)
    : store_(store),
      hub_(hub),
      events_published_(events_published),
      clock_(clock),
      gap_wait_(gap_wait),
      published_seq_(last_seq) {}

void EventPublisher::Publish(const std::vector<protocol::Event>& events) {
  if (events.empty()) return;
  const std::lock_guard lock(mutex_);
  for (const auto& event : events) {
    if (event.seq > published_seq_) unpublished_.emplace(event.seq, event);
  }
  for (const auto& event : events) {
    events_published_.With({std::string(protocol::ToString(event.type))}).Inc();
  }
  std::vector<protocol::Event> ready;
  while (!unpublished_.empty() && unpublished_.begin()->first == published_seq_ + 1) {
    ready.push_back(std::move(unpublished_.begin()->second));
    unpublished_.erase(unpublished_.begin());
    ++published_seq_;
  }
  if (unpublished_.empty()) {
    gap_since_ = {};
  } else if (gap_since_ == Clock::MonoTime{}) {
    gap_since_ = clock_.Now();
  }
  // Under the lock, so two threads never hand the hub events out of order (Publish only queues).
  if (!ready.empty()) hub_.Publish(ready);
}

void EventPublisher::FillGaps(Clock::MonoTime now) {
  std::int64_t after = 0;
  {
    const std::lock_guard lock(mutex_);
    if (unpublished_.empty() || now - gap_since_ < gap_wait_) return;
    after = published_seq_;
  }
  auto events = store_.ReadEvents(after, 1000, store::EventFilter{});
  if (!events) return;
  const std::lock_guard lock(mutex_);
  if (published_seq_ != after) return;  // someone moved on meanwhile
  // Seqs the store does not have were never committed: skip them.
  if (!events->empty() && events->front().seq > published_seq_ + 1) {
    published_seq_ = events->front().seq - 1;
  } else if (events->empty() && !unpublished_.empty()) {
    published_seq_ = unpublished_.begin()->first - 1;
  }
  std::vector<protocol::Event> ready;
  for (auto& event : *events) {
    if (event.seq == published_seq_ + 1) {
      unpublished_.erase(event.seq);
      ready.push_back(std::move(event));
      ++published_seq_;
    }
  }
  while (!unpublished_.empty() && unpublished_.begin()->first <= published_seq_ + 1) {
    if (unpublished_.begin()->first == published_seq_ + 1) {
      ready.push_back(std::move(unpublished_.begin()->second));
      ++published_seq_;
    }
    unpublished_.erase(unpublished_.begin());
  }
  gap_since_ = unpublished_.empty() ? Clock::MonoTime{} : clock_.Now();
  if (!ready.empty()) hub_.Publish(ready);
}

}  // namespace orb::server
