#include "server/stream_hub.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include "protocol/codec.hpp"

namespace orb::server {
namespace {

std::shared_ptr<const std::string> Encode(const protocol::Event& event) {
  return std::make_shared<const std::string>(protocol::StreamEventJson(event));
}

}  // namespace

bool StreamFilter::Matches(const protocol::Event& event) const {
  if (agent_id && event.agent_id != agent_id) return false;
  if (job_id && event.job_id != job_id) return false;
  return true;
}

StreamHub::StreamHub(StreamHubOptions options, std::int64_t head_seq)
    : options_([&] {
        // A replay longer than the hard limit would close every client that asks for it.
        options.hard_limit = std::max(options.hard_limit, options.soft_limit);
        options.max_replay = std::min(options.max_replay, options.hard_limit);
        return options;
      }()),
      head_seq_(head_seq) {}

StreamHub::Item StreamHub::MakeItem(const protocol::Event& event,
                                    std::shared_ptr<const std::string> text) {
  Item item;
  item.seq = event.seq;
  item.progress = event.type == protocol::EventType::kJobProgress && event.job_id.has_value();
  if (event.job_id) item.job_id = *event.job_id;
  item.text = std::move(text);
  return item;
}

Expected<SubscriptionId> StreamHub::Subscribe(std::shared_ptr<StreamSink> sink, StreamFilter filter,
                                              std::optional<std::int64_t> since,
                                              const ReplayFn& replay) {
  SubscriptionId id = 0;
  std::int64_t head = 0;
  {
    // Registered before the replay is read, so every event published from now on is either in
    // the replay or buffered (or both: the seq check removes the duplicate).
    const std::lock_guard lock(mutex_);
    id = next_id_++;
    head = head_seq_;
    Subscriber subscriber;
    subscriber.sink = sink;
    subscriber.filter = filter;
    subscriber.last_seq = head;
    subscriber.replaying = since.has_value();
    sink->Send(protocol::StreamReadyJson(head));
    subscribers_.emplace(id, std::move(subscriber));
    subscriber_count_.fetch_add(1, std::memory_order_relaxed);
  }
  if (!since) return id;

  // A since beyond every seq the store gave out comes from another store (or a bug): the
  // client's view is not ours. One beyond this hub's head only is the store's all the same (another
  // replica's events, not published here yet): the replay has what follows it, and the live events
  // up to it are skipped by the seq check below.
  auto page = replay(*since, filter, options_.max_replay + 1);
  if (!page) {
    {
      const std::lock_guard lock(mutex_);
      if (subscribers_.erase(id) > 0) subscriber_count_.fetch_sub(1, std::memory_order_relaxed);
    }
    sink->Close(kCloseInternalError, "cannot read the events to replay");
    return Fail(std::move(page.error()).WithContext("replaying the event stream"));
  }
  const std::int64_t known = std::max(head, page->stored_last_seq.value_or(head));
  const bool gap = page->oldest_kept_seq ? *since < *page->oldest_kept_seq - 1 : *since < head;
  const bool resync = *since > known || gap || page->events.size() > options_.max_replay;
  std::vector<protocol::Event> events = std::move(page->events);
  std::vector<std::shared_ptr<const std::string>> texts;  // encoded outside the lock
  if (!resync) {
    texts.reserve(events.size());
    for (const auto& event : events)
      texts.push_back(Encode(event));
  }

  Closing closing;
  {
    const std::lock_guard lock(mutex_);
    const auto it = subscribers_.find(id);
    if (it == subscribers_.end()) return id;  // unsubscribed while replaying
    Subscriber& subscriber = it->second;
    bool within_limits = true;
    if (resync) {
      subscriber.sink->Send(protocol::StreamResyncJson());
      subscriber.last_seq = head;
    } else {
      subscriber.last_seq = *since;
      for (std::size_t i = 0; i < events.size() && within_limits; ++i) {
        const auto& event = events[i];
        if (event.seq <= subscriber.last_seq) continue;
        subscriber.last_seq = event.seq;
        if (!subscriber.filter.Matches(event)) continue;
        within_limits = EnqueueLocked(subscriber, MakeItem(event, texts[i]));
      }
    }
    for (auto& item : subscriber.buffered) {
      if (!within_limits) break;
      if (item.seq <= subscriber.last_seq) continue;
      subscriber.last_seq = item.seq;
      within_limits = EnqueueLocked(subscriber, std::move(item));
    }
    subscriber.buffered.clear();
    subscriber.replaying = false;
    if (!within_limits) CloseSlowLocked(id, closing);
  }
  for (const auto& slow : closing)
    slow->Close(kClosePolicyViolation, "client too slow");
  return id;
}

void StreamHub::Unsubscribe(SubscriptionId id) {
  std::shared_ptr<StreamSink> released;  // the session may go with it: not under the lock
  const std::lock_guard lock(mutex_);
  const auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  released = std::move(it->second.sink);
  subscribers_.erase(it);
  subscriber_count_.fetch_sub(1, std::memory_order_relaxed);
}

void StreamHub::Publish(const std::vector<protocol::Event>& events) {
  if (events.empty()) return;
  std::vector<std::shared_ptr<const std::string>> texts;
  const auto encode_all = [&] {
    texts.reserve(events.size());
    for (const auto& event : events)
      texts.push_back(Encode(event));
  };
  if (SubscriberCount() > 0) encode_all();  // outside the lock

  Closing closing;
  {
    const std::lock_guard lock(mutex_);
    for (const auto& event : events)
      head_seq_ = std::max(head_seq_, event.seq);
    if (subscribers_.empty()) return;
    if (texts.empty()) encode_all();  // someone subscribed meanwhile: rare

    std::vector<SubscriptionId> slow;
    for (auto& [id, subscriber] : subscribers_) {
      for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& event = events[i];
        if (subscriber.replaying) {
          if (subscriber.filter.Matches(event)) {
            subscriber.buffered.push_back(MakeItem(event, texts[i]));
          }
          continue;
        }
        if (event.seq <= subscriber.last_seq) continue;
        subscriber.last_seq = event.seq;
        if (!subscriber.filter.Matches(event)) continue;
        if (!EnqueueLocked(subscriber, MakeItem(event, texts[i]))) {
          slow.push_back(id);
          break;
        }
      }
    }
    for (const auto id : slow)
      CloseSlowLocked(id, closing);
  }
  for (const auto& sink : closing)
    sink->Close(kClosePolicyViolation, "client too slow");
}

void StreamHub::Drain(SubscriptionId id) {
  const std::lock_guard lock(mutex_);
  const auto it = subscribers_.find(id);
  if (it != subscribers_.end()) DrainLocked(it->second);
}

std::int64_t StreamHub::head() const {
  const std::lock_guard lock(mutex_);
  return head_seq_;
}

bool StreamHub::EnqueueLocked(Subscriber& subscriber, Item item) {
  if (subscriber.backlog.empty() && subscriber.sink->Queued() < options_.soft_limit) {
    subscriber.sink->Send(*item.text);
    return true;
  }
  if (item.progress) {
    // Only the latest progress of a job is worth sending to a client that is behind. Removing
    // the older one and appending the newer keeps the backlog in seq order.
    const auto previous = subscriber.progress_in_backlog.find(item.job_id);
    if (previous != subscriber.progress_in_backlog.end()) {
      subscriber.backlog.erase(previous->second);
      subscriber.progress_in_backlog.erase(previous);
      coalesced_.fetch_add(1, std::memory_order_relaxed);
    }
    auto job_id = item.job_id;
    subscriber.backlog.push_back(std::move(item));
    subscriber.progress_in_backlog.emplace(std::move(job_id), std::prev(subscriber.backlog.end()));
  } else {
    // A state change closes its job's coalescing window: the progress before it stays, so the
    // client sees how far the job got before it changed state.
    if (!item.job_id.empty()) subscriber.progress_in_backlog.erase(item.job_id);
    subscriber.backlog.push_back(std::move(item));
  }
  DrainLocked(subscriber);
  return subscriber.sink->Queued() + subscriber.backlog.size() <= options_.hard_limit;
}

void StreamHub::DrainLocked(Subscriber& subscriber) {
  while (!subscriber.backlog.empty() && subscriber.sink->Queued() < options_.soft_limit) {
    auto& front = subscriber.backlog.front();
    if (front.progress) {
      const auto indexed = subscriber.progress_in_backlog.find(front.job_id);
      if (indexed != subscriber.progress_in_backlog.end() &&
          indexed->second == subscriber.backlog.begin()) {
        subscriber.progress_in_backlog.erase(indexed);
      }
    }
    subscriber.sink->Send(*front.text);
    subscriber.backlog.pop_front();
  }
}

void StreamHub::CloseSlowLocked(SubscriptionId id, Closing& closing) {
  const auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  closing.push_back(std::move(it->second.sink));
  subscribers_.erase(it);
  subscriber_count_.fetch_sub(1, std::memory_order_relaxed);
  slow_closed_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace orb::server
