#pragma once

// Hands the events of store mutations to the stream hub strictly in seq order (protocol.md §6:
// `seq` is global and increasing, and a client that replays from `since` must miss nothing).
//
// Concurrent mutations commit in one order and reach Publish in another, so an event whose
// predecessors have not arrived waits in a reorder buffer. A gap that stays open (a seq that was
// never committed, or whose mutation nobody publishes) is closed by FillGaps, which a timer calls:
// after gap_wait it reads the events after the last published seq from the store, publishes what
// the store has, and skips the seqs it does not.
//
// Thread-safety: every method from any thread; the hub is handed events under this class's lock,
// so two threads never hand it events out of order. Ownership: holds the store, hub, counter and
// clock by reference; they must outlive it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "common/clock.hpp"
#include "protocol/types.hpp"
#include "server/metrics.hpp"
#include "server/stream_hub.hpp"
#include "store/store.hpp"

namespace orb::server {

class EventPublisher {
 public:
  // `last_seq`: the store's last event seq when the hub was made (nothing after it is published
  // yet). `events_published` has one label, the event type.
  EventPublisher(store::Store& store, StreamHub& hub, Family<Counter>& events_published,
                 const Clock& clock, std::int64_t last_seq,
                 std::chrono::milliseconds gap_wait = std::chrono::milliseconds(200));
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  // After a store mutation: publishes its events. (The notify state of the agents it touched is
  // already current: the store told the Notifier as it committed, StoreDeps.)
  template <class T>
  void Publish(const store::Mutation<T>& mutation) {
    Publish(mutation.events);
  }
  void Publish(const std::vector<protocol::Event>& events);

  // Closes a gap that has been open for gap_wait at `now` (monotonic), from the store.
  void FillGaps(Clock::MonoTime now);

  // Another replica committed events (StoreDeps::on_foreign_commit, or the fallback poll): reads
  // every event after the last published seq from the store and publishes them in seq order,
  // together with the waiting ones of this replica they complete. Seqs follow commit order
  // (docs/decisions/0012), so what the store returns is complete up to its last seq. Value: the
  // events it published (the caller refreshes the notify state of the agents they name). Calls
  // the store: never on a store thread.
  std::vector<protocol::Event> CatchUp();

  // Also hands every published batch of events, in seq order, to `observer` (the rollout driver
  // watches its jobs end): under this class's lock, so it must be quick and must not publish.
  // Set once, before the first Publish.
  void SetObserver(std::function<void(const std::vector<protocol::Event>&)> observer) {
    observer_ = std::move(observer);
  }

 private:
  // Under mutex_: hands `ready` to the hub and the observer.
  void HandOut(const std::vector<protocol::Event>& ready);
  // Under mutex_: publishes the waiting events that follow published_seq_ without a gap.
  void TakeReadyLocked(std::vector<protocol::Event>& ready);
  void CountLocked(const protocol::Event& event);

  store::Store& store_;
  StreamHub& hub_;
  Family<Counter>& events_published_;
  const Clock& clock_;
  const std::chrono::milliseconds gap_wait_;

  std::mutex mutex_;
  std::int64_t published_seq_;
  std::map<std::int64_t, protocol::Event> unpublished_;  // the reorder buffer
  Clock::MonoTime gap_since_{};                          // when the current gap opened
  std::function<void(const std::vector<protocol::Event>&)> observer_;
};

}  // namespace orb::server
