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
  // An event CatchUp already published (read from the store first) is neither kept nor counted.
  for (const auto& event : events) {
    if (event.seq > published_seq_ && unpublished_.emplace(event.seq, event).second) {
      CountLocked(event);
    }
  }
  std::vector<protocol::Event> ready;
  TakeReadyLocked(ready);
  if (unpublished_.empty()) {
    gap_since_ = {};
  } else if (gap_since_ == Clock::MonoTime{}) {
    gap_since_ = clock_.Now();
  }
  // Under the lock, so two threads never hand the hub events out of order (Publish only queues).
  if (!ready.empty()) HandOut(ready);
}

void EventPublisher::HandOut(const std::vector<protocol::Event>& ready) {
  hub_.Publish(ready);
  if (observer_) observer_(ready);
}

void EventPublisher::CountLocked(const protocol::Event& event) {
  events_published_.With({std::string(protocol::ToString(event.type))}).Inc();
}

void EventPublisher::TakeReadyLocked(std::vector<protocol::Event>& ready) {
  while (!unpublished_.empty() && unpublished_.begin()->first <= published_seq_ + 1) {
    if (unpublished_.begin()->first == published_seq_ + 1) {
      ready.push_back(std::move(unpublished_.begin()->second));
      ++published_seq_;
    }
    unpublished_.erase(unpublished_.begin());
  }
}

std::vector<protocol::Event> EventPublisher::CatchUp() {
  constexpr int kPage = 1000;
  std::vector<protocol::Event> published;
  // Bounded: 16 pages per call; the next call (at most a poll interval later) goes on.
  for (int page = 0; page < 16; ++page) {
    std::int64_t after = 0;
    {
      const std::lock_guard lock(mutex_);
      after = published_seq_;
    }
    auto events = store_.ReadEvents(after, kPage, store::EventFilter{});
    if (!events || events->empty()) break;
    const bool full = events->size() == static_cast<std::size_t>(kPage);
    const std::lock_guard lock(mutex_);
    std::vector<protocol::Event> ready;
    for (auto& event : *events) {
      if (event.seq <= published_seq_) continue;  // published meanwhile
      TakeReadyLocked(ready);                     // this replica's waiting events before it
      if (event.seq <= published_seq_) continue;
      // Seqs below a visible one are visible too: a missing one was never committed.
      if (unpublished_.erase(event.seq) == 0) CountLocked(event);
      published_seq_ = event.seq;
      ready.push_back(std::move(event));
    }
    TakeReadyLocked(ready);
    gap_since_ = unpublished_.empty() ? Clock::MonoTime{} : clock_.Now();
    if (!ready.empty()) HandOut(ready);
    published.insert(published.end(), ready.begin(), ready.end());
    if (!full) break;
  }
  return published;
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
  if (!ready.empty()) HandOut(ready);
}

}  // namespace orb::server
