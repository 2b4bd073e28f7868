#pragma once

// The event stream's fan-out, protocol.md §6 (GET /v1/stream).
//
// A subscriber is a StreamSink (the WebSocket session implements it) with a filter. Subscribe()
// sends {"type":"ready"}, replays the events after `since` (read through a ReplayFn the server
// backs with the store), then delivers live events from Publish(). No event is missed or sent
// twice between replay and live: events published while the replay is being read are buffered
// and deduplicated by seq. If `since` is older than what the store keeps (or further back than
// max_replay events), the subscriber gets {"type":"resync"} instead of the replay.
//
// Slow clients: while a sink has soft_limit messages queued, further messages wait in a per-
// subscriber backlog in the hub, where job.progress events are coalesced per job to the latest
// (state-change events are never dropped, the progress just before a job's state change is
// kept, and the backlog stays in seq order). When the sink's queue plus the backlog exceed
// hard_limit, the hub closes the sink with 1008 and forgets it. The session calls Drain() when
// its queue shrinks (after each completed write) so the backlog moves on.
//
// Thread-safety: every method may be called from any thread. StreamSink::Send and Queued run
// under the hub's lock, on any thread, so they must be thread-safe, non-blocking and must not
// call into the hub; StreamSink::Close and the ReplayFn run outside it. Publish() must be called
// in seq order (events are stored before they are published, protocol.md §3). The hub sends
// nothing about authentication: the session closes an unauthenticated client itself (§6).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/expected.hpp"
#include "protocol/types.hpp"

namespace orb::server {

// One stream client, as the hub sees it.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Queues one text message for the client. Must not block and must not call the hub.
  virtual void Send(std::string text) = 0;
  // Messages queued by Send and not yet written to the client.
  virtual std::size_t Queued() const = 0;
  // Closes the connection with a WebSocket close code (1008 slow client, 1011 server error).
  virtual void Close(int code, std::string reason) = 0;
};

inline constexpr int kClosePolicyViolation = 1008;
inline constexpr int kCloseInternalError = 1011;
// RFC 6455 1013 "Try Again Later": the store could not be read to check the token.
inline constexpr int kCloseTryAgainLater = 1013;

// filter.agentId / filter.jobId of the subscribe message; an unset field matches everything.
struct StreamFilter {
  std::optional<std::string> agent_id;
  std::optional<std::string> job_id;
  bool Matches(const protocol::Event& event) const;
  bool operator==(const StreamFilter&) const = default;
};

// What the store returns for a replay.
struct ReplayPage {
  // Seq of the oldest event the store still keeps; nullopt when it keeps none.
  std::optional<std::int64_t> oldest_kept_seq;
  // The highest seq the store has given out (Store::LastEventSeq). A since up to it is this
  // store's even when it is beyond the hub's head: on a shared store, another replica's events
  // that this one has not published yet (docs/decisions/0016). nullopt: only the head counts.
  std::optional<std::int64_t> stored_last_seq;
  // Events with seq > since matching the filter (the hub filters again), oldest first, at most
  // `limit` of them.
  std::vector<protocol::Event> events;
};
using ReplayFn = std::function<Expected<ReplayPage>(std::int64_t since, const StreamFilter& filter,
                                                    std::size_t limit)>;

struct StreamHubOptions {
  std::size_t soft_limit = 256;   // sink messages queued before the hub starts coalescing
  std::size_t hard_limit = 4096;  // sink queue + backlog beyond which the client is closed (1008)
  std::size_t max_replay = 2000;  // a longer replay is answered with resync (capped at hard_limit)
};

using SubscriptionId = std::uint64_t;

class StreamHub {
 public:
  // `head_seq`: the latest seq already in the store when the server starts.
  explicit StreamHub(StreamHubOptions options = {}, std::int64_t head_seq = 0);
  StreamHub(const StreamHub&) = delete;
  StreamHub& operator=(const StreamHub&) = delete;

  // Adds a subscriber: sends ready (with the current head seq), then the replay after `since`
  // (or resync), then live events. Calls `replay` (outside the lock) only when `since` is set.
  // Errors: the ReplayFn's error, after closing the sink with 1011; the subscriber is gone then.
  Expected<SubscriptionId> Subscribe(std::shared_ptr<StreamSink> sink, StreamFilter filter,
                                     std::optional<std::int64_t> since, const ReplayFn& replay);
  // Forgets a subscriber (its connection closed). No-op for an unknown id.
  void Unsubscribe(SubscriptionId id);

  // Delivers stored events, in seq order, to every matching subscriber.
  void Publish(const std::vector<protocol::Event>& events);

  // The sink of `id` has room again: moves its backlog on.
  void Drain(SubscriptionId id);

  std::size_t SubscriberCount() const { return subscriber_count_.load(std::memory_order_relaxed); }
  std::int64_t head() const;
  // Totals for /metrics: progress events coalesced away, clients closed for being slow.
  std::uint64_t coalesced_total() const { return coalesced_.load(std::memory_order_relaxed); }
  std::uint64_t slow_closed_total() const { return slow_closed_.load(std::memory_order_relaxed); }

 private:
  struct Item {
    std::int64_t seq = 0;
    bool progress = false;  // a job.progress event that may be coalesced
    std::string job_id;
    std::shared_ptr<const std::string> text;
  };
  struct Subscriber {
    std::shared_ptr<StreamSink> sink;
    StreamFilter filter;
    std::int64_t last_seq = 0;  // highest seq handled: anything at or below is a duplicate
    bool replaying = false;
    std::vector<Item> buffered;  // live events that arrived during the replay
    std::list<Item> backlog;     // waiting for room in the sink, seq order
    std::unordered_map<std::string, std::list<Item>::iterator> progress_in_backlog;
  };
  using Closing = std::vector<std::shared_ptr<StreamSink>>;

  static Item MakeItem(const protocol::Event& event, std::shared_ptr<const std::string> text);
  // Under mutex_. Return false when the subscriber passed the hard limit and must be closed.
  bool EnqueueLocked(Subscriber& subscriber, Item item);
  void DrainLocked(Subscriber& subscriber);
  void CloseSlowLocked(SubscriptionId id, Closing& closing);

  const StreamHubOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<SubscriptionId, Subscriber> subscribers_;
  SubscriptionId next_id_ = 1;
  std::int64_t head_seq_;
  std::atomic<std::size_t> subscriber_count_{0};
  std::atomic<std::uint64_t> coalesced_{0};
  std::atomic<std::uint64_t> slow_closed_{0};
};

}  // namespace orb::server
