#include "server/stream_hub.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/codec.hpp"
#include "support/matchers.hpp"
#include "support/wait_for.hpp"

namespace orb::server {
namespace {

using protocol::Event;
using protocol::EventType;
using protocol::StreamMessage;

// A stream client that queues what it is sent until the test "writes" it. Thread-safe.
class FakeSink final : public StreamSink {
 public:
  void Send(std::string text) override {
    const std::lock_guard lock(mutex_);
    auto message = protocol::ParseStreamMessage(text);
    EXPECT_TRUE(message.has_value()) << text;
    if (message) received_.push_back(*message);
    ++queued_;
  }
  std::size_t Queued() const override {
    const std::lock_guard lock(mutex_);
    return writes_everything_ ? 0 : queued_;
  }
  void Close(int code, std::string reason) override {
    const std::lock_guard lock(mutex_);
    EXPECT_EQ(close_code_, 0) << "closed twice";
    close_code_ = code;
    close_reason_ = std::move(reason);
  }

  // The connection wrote everything queued (or, with `always`, keeps up with anything).
  void WriteAll(bool always = false) {
    const std::lock_guard lock(mutex_);
    queued_ = 0;
    writes_everything_ = always;
  }
  std::vector<StreamMessage> received() const {
    const std::lock_guard lock(mutex_);
    return received_;
  }
  std::vector<std::int64_t> EventSeqs() const {
    std::vector<std::int64_t> seqs;
    for (const auto& message : received()) {
      if (message.kind == StreamMessage::Kind::kEvent) seqs.push_back(message.event->seq);
    }
    return seqs;
  }
  int close_code() const {
    const std::lock_guard lock(mutex_);
    return close_code_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<StreamMessage> received_;
  std::size_t queued_ = 0;
  bool writes_everything_ = true;
  int close_code_ = 0;
  std::string close_reason_;
};

std::shared_ptr<FakeSink> FastSink() {
  return std::make_shared<FakeSink>();
}
std::shared_ptr<FakeSink> StalledSink() {
  auto sink = std::make_shared<FakeSink>();
  sink->WriteAll(false);
  return sink;
}

Event MakeEvent(std::int64_t seq, EventType type = EventType::kJobQueued, std::string job = "job-1",
                std::string agent = "orb-7") {
  Event event;
  event.seq = seq;
  event.type = type;
  event.timestamp = FromUnixMillis(1795000000000 + seq);
  event.job_id = std::move(job);
  event.agent_id = std::move(agent);
  if (type == EventType::kJobProgress) event.percent = static_cast<int>(seq % 100);
  return event;
}

std::vector<std::int64_t> Range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> seqs;
  for (auto seq = first; seq <= last; ++seq)
    seqs.push_back(seq);
  return seqs;
}

// The store as the replay sees it: events are appended before they are published.
class FakeStore {
 public:
  void Append(const Event& event) {
    const std::lock_guard lock(mutex_);
    events_.push_back(event);
    last_seq_ = std::max(last_seq_, event.seq);
  }
  void Prune(std::int64_t up_to_seq) {
    const std::lock_guard lock(mutex_);
    std::erase_if(events_, [&](const Event& e) { return e.seq <= up_to_seq; });
  }
  ReplayFn Replay() {
    return [this](std::int64_t since, const StreamFilter& filter,
                  std::size_t limit) -> Expected<ReplayPage> {
      ++replays_;
      const std::lock_guard lock(mutex_);
      ReplayPage page;
      if (!events_.empty()) page.oldest_kept_seq = events_.front().seq;
      page.stored_last_seq = last_seq_;
      for (const auto& event : events_) {
        if (event.seq > since && filter.Matches(event) && page.events.size() < limit) {
          page.events.push_back(event);
        }
      }
      return page;
    };
  }
  int replays() const { return replays_; }

 private:
  std::mutex mutex_;
  std::vector<Event> events_;
  std::int64_t last_seq_ = 0;  // kept across Prune, as the store's counter
  std::atomic<int> replays_{0};
};

// Stores then publishes, as the server does.
void Commit(FakeStore& store, StreamHub& hub, const Event& event) {
  store.Append(event);
  hub.Publish({event});
}

ReplayFn NoReplay() {
  return [](std::int64_t, const StreamFilter&, std::size_t) -> Expected<ReplayPage> {
    ADD_FAILURE() << "replay called without since";
    return ReplayPage{};
  };
}

TEST(StreamHubTest, SendsReadyWithTheHeadThenLiveEvents) {
  StreamHub hub({}, 41);
  auto sink = FastSink();
  ASSERT_THAT(hub.Subscribe(sink, {}, std::nullopt, NoReplay()), testing::IsOk());
  hub.Publish({MakeEvent(42), MakeEvent(43)});

  const auto received = sink->received();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[0].kind, StreamMessage::Kind::kReady);
  EXPECT_EQ(received[0].seq, 41);
  EXPECT_EQ(*received[1].event, MakeEvent(42));
  EXPECT_EQ(sink->EventSeqs(), Range(42, 43));
  EXPECT_EQ(hub.head(), 43);
  EXPECT_EQ(hub.SubscriberCount(), 1u);
}

TEST(StreamHubTest, ReplaysEventsAfterSinceThenGoesLive) {
  FakeStore store;
  StreamHub hub;
  for (int seq = 1; seq <= 5; ++seq)
    Commit(store, hub, MakeEvent(seq));

  auto sink = FastSink();
  ASSERT_THAT(hub.Subscribe(sink, {}, 2, store.Replay()), testing::IsOk());
  Commit(store, hub, MakeEvent(6));

  EXPECT_EQ(sink->received().front().seq, 5);  // ready carries the head
  EXPECT_EQ(sink->EventSeqs(), Range(3, 6));
}

TEST(StreamHubTest, EventsPublishedDuringTheReplayAreNeitherMissedNorDuplicated) {
  FakeStore store;
  StreamHub hub;
  for (int seq = 1; seq <= 5; ++seq)
    Commit(store, hub, MakeEvent(seq));

  auto sink = FastSink();
  const auto inner = store.Replay();
  // While the store is being read: 6 is committed and published before the read sees it, 7 is
  // committed after the read and published while the replay is still in flight.
  const ReplayFn racing = [&](std::int64_t since, const StreamFilter& filter, std::size_t limit) {
    Commit(store, hub, MakeEvent(6));
    auto page = inner(since, filter, limit);
    Commit(store, hub, MakeEvent(7));
    return page;
  };
  ASSERT_THAT(hub.Subscribe(sink, {}, 0, racing), testing::IsOk());
  Commit(store, hub, MakeEvent(8));

  EXPECT_EQ(sink->EventSeqs(), Range(1, 8));
}

TEST(StreamHubTest, ConcurrentPublishingAndSubscribingGivesEveryClientAGaplessSequence) {
  FakeStore store;
  StreamHub hub;
  constexpr int kEvents = 3000;
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int seq = 1; seq <= kEvents; ++seq)
      Commit(store, hub, MakeEvent(seq));
    done = true;
  });
  std::vector<std::pair<std::int64_t, std::shared_ptr<FakeSink>>> clients;
  for (int i = 0; i < 20; ++i) {
    const std::int64_t since = hub.head() / 2;
    auto sink = FastSink();
    ASSERT_THAT(hub.Subscribe(sink, {}, since, store.Replay()), testing::IsOk());
    clients.emplace_back(since, sink);
  }
  publisher.join();
  for (const auto& [since, sink] : clients) {
    EXPECT_EQ(sink->EventSeqs(), Range(since + 1, kEvents)) << "since " << since;
  }
}

TEST(StreamHubTest, FiltersByAgentAndJob) {
  StreamHub hub;
  auto by_agent = FastSink();
  auto by_job = FastSink();
  auto both = FastSink();
  ASSERT_THAT(hub.Subscribe(by_agent, {"orb-7", std::nullopt}, std::nullopt, NoReplay()),
              testing::IsOk());
  ASSERT_THAT(hub.Subscribe(by_job, {std::nullopt, "job-2"}, std::nullopt, NoReplay()),
              testing::IsOk());
  ASSERT_THAT(hub.Subscribe(both, {"orb-8", "job-2"}, std::nullopt, NoReplay()), testing::IsOk());

  Event agent_online = MakeEvent(4, EventType::kAgentOnline, "", "orb-7");
  agent_online.job_id.reset();
  hub.Publish({MakeEvent(1, EventType::kJobQueued, "job-1", "orb-7"),
               MakeEvent(2, EventType::kJobQueued, "job-2", "orb-8"),
               MakeEvent(3, EventType::kJobRunning, "job-2", "orb-8"), agent_online});

  EXPECT_EQ(by_agent->EventSeqs(), (std::vector<std::int64_t>{1, 4}));
  EXPECT_EQ(by_job->EventSeqs(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(both->EventSeqs(), (std::vector<std::int64_t>{2, 3}));
}

TEST(StreamHubTest, ReplayIsFilteredToo) {
  FakeStore store;
  StreamHub hub;
  Commit(store, hub, MakeEvent(1, EventType::kJobQueued, "job-1"));
  Commit(store, hub, MakeEvent(2, EventType::kJobQueued, "job-2"));
  Commit(store, hub, MakeEvent(3, EventType::kJobRunning, "job-1"));
  auto sink = FastSink();
  ASSERT_THAT(hub.Subscribe(sink, {std::nullopt, "job-1"}, 0, store.Replay()), testing::IsOk());
  Commit(store, hub, MakeEvent(4, EventType::kJobCompleted, "job-2"));
  Commit(store, hub, MakeEvent(5, EventType::kJobCompleted, "job-1"));
  EXPECT_EQ(sink->EventSeqs(), (std::vector<std::int64_t>{1, 3, 5}));
}

TEST(StreamHubTest, SlowClientGetsTheLatestProgressPerJobAndEveryStateChangeInOrder) {
  StreamHub hub({.soft_limit = 2, .hard_limit = 100});
  auto sink = StalledSink();
  const auto id = hub.Subscribe(sink, {}, std::nullopt, NoReplay());
  ASSERT_THAT(id, testing::IsOk());  // ready is queued: 1 of 2
  hub.Publish({
      MakeEvent(1, EventType::kJobRunning, "job-a"),   // queued: 2 of 2
      MakeEvent(2, EventType::kJobProgress, "job-a"),  // backlog from here on
      MakeEvent(3, EventType::kJobProgress, "job-b"),
      MakeEvent(4, EventType::kJobProgress, "job-a"),   // replaces 2
      MakeEvent(5, EventType::kJobCompleted, "job-a"),  // kept
      MakeEvent(6, EventType::kJobRunning, "job-c"),
      MakeEvent(7, EventType::kJobProgress, "job-b"),  // replaces 3
      MakeEvent(8, EventType::kJobProgress, "job-a"),  // after the completion: its own entry
  });
  EXPECT_EQ(sink->EventSeqs(), (std::vector<std::int64_t>{1}));

  sink->WriteAll(true);
  hub.Drain(*id);
  EXPECT_EQ(sink->EventSeqs(), (std::vector<std::int64_t>{1, 4, 5, 6, 7, 8}));
  EXPECT_EQ(hub.coalesced_total(), 2u);
  EXPECT_EQ(sink->close_code(), 0);
}

TEST(StreamHubTest, ProgressAfterAStateChangeStillCoalescesWhileTheBacklogDrains) {
  StreamHub hub({.soft_limit = 1, .hard_limit = 100});
  auto sink = StalledSink();
  const auto id = hub.Subscribe(sink, {}, std::nullopt, NoReplay());
  ASSERT_THAT(id, testing::IsOk());  // ready fills the queue
  hub.Publish({MakeEvent(1, EventType::kJobProgress, "job-a"),
               MakeEvent(2, EventType::kJobRetried, "job-a"),
               MakeEvent(3, EventType::kJobProgress, "job-a"),
               MakeEvent(4, EventType::kJobProgress, "job-a")});  // backlog: 1 2 4
  sink->WriteAll();
  hub.Drain(*id);  // sends 1
  EXPECT_EQ(sink->EventSeqs(), (std::vector<std::int64_t>{1}));
  hub.Publish({MakeEvent(5, EventType::kJobProgress, "job-a")});  // replaces 4
  sink->WriteAll(true);
  hub.Drain(*id);
  EXPECT_EQ(sink->EventSeqs(), (std::vector<std::int64_t>{1, 2, 5}));
}

TEST(StreamHubTest, BacklogMovesOnAsTheClientCatchesUp) {
  StreamHub hub({.soft_limit = 2, .hard_limit = 100});
  auto sink = StalledSink();
  const auto id = hub.Subscribe(sink, {}, std::nullopt, NoReplay());
  ASSERT_THAT(id, testing::IsOk());
  hub.Publish({MakeEvent(1), MakeEvent(2), MakeEvent(3), MakeEvent(4)});
  EXPECT_EQ(sink->EventSeqs(), (std::vector<std::int64_t>{1}));
  sink->WriteAll();  // two more fit
  hub.Drain(*id);
  EXPECT_EQ(sink->EventSeqs(), Range(1, 3));
  sink->WriteAll();
  hub.Publish({MakeEvent(5)});  // publishing drains the backlog first, in order
  EXPECT_EQ(sink->EventSeqs(), Range(1, 5));
}

TEST(StreamHubTest, ClientPastTheHardLimitIsClosedWith1008AndOthersKeepGoing) {
  StreamHub hub({.soft_limit = 2, .hard_limit = 4});
  auto slow = StalledSink();
  auto fast = FastSink();
  ASSERT_THAT(hub.Subscribe(slow, {}, std::nullopt, NoReplay()), testing::IsOk());
  ASSERT_THAT(hub.Subscribe(fast, {}, std::nullopt, NoReplay()), testing::IsOk());

  hub.Publish({MakeEvent(1), MakeEvent(2), MakeEvent(3)});  // slow: 2 queued + 2 backlog
  EXPECT_EQ(slow->close_code(), 0);
  hub.Publish({MakeEvent(4)});  // 5 > 4
  EXPECT_EQ(slow->close_code(), kClosePolicyViolation);
  EXPECT_EQ(hub.SubscriberCount(), 1u);
  EXPECT_EQ(hub.slow_closed_total(), 1u);

  hub.Publish({MakeEvent(5)});
  EXPECT_EQ(slow->EventSeqs(), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(fast->EventSeqs(), Range(1, 5));
}

TEST(StreamHubTest, ProgressAloneNeverReachesTheHardLimit) {
  StreamHub hub({.soft_limit = 2, .hard_limit = 4});
  auto sink = StalledSink();
  ASSERT_THAT(hub.Subscribe(sink, {}, std::nullopt, NoReplay()), testing::IsOk());
  for (int seq = 1; seq <= 1000; ++seq)
    hub.Publish({MakeEvent(seq, EventType::kJobProgress)});
  EXPECT_EQ(sink->close_code(), 0);
  EXPECT_EQ(hub.SubscriberCount(), 1u);
}

TEST(StreamHubTest, SinceOlderThanTheOldestKeptEventGivesResyncThenLive) {
  FakeStore store;
  StreamHub hub;
  for (int seq = 1; seq <= 10; ++seq)
    Commit(store, hub, MakeEvent(seq));
  store.Prune(5);  // oldest kept: 6

  auto fine = FastSink();
  ASSERT_THAT(hub.Subscribe(fine, {}, 5, store.Replay()), testing::IsOk());
  EXPECT_EQ(fine->EventSeqs(), Range(6, 10));

  auto stale = FastSink();
  ASSERT_THAT(hub.Subscribe(stale, {}, 4, store.Replay()), testing::IsOk());
  Commit(store, hub, MakeEvent(11));
  const auto received = stale->received();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[0].kind, StreamMessage::Kind::kReady);
  EXPECT_EQ(received[1].kind, StreamMessage::Kind::kResync);
  EXPECT_EQ(received[2].event->seq, 11);
}

TEST(StreamHubTest, ResyncWhenTheStoreKeepsNothingOrTheReplayIsTooLong) {
  FakeStore store;
  StreamHub hub({.max_replay = 3});
  for (int seq = 1; seq <= 10; ++seq)
    Commit(store, hub, MakeEvent(seq));

  auto too_long = FastSink();
  ASSERT_THAT(hub.Subscribe(too_long, {}, 6, store.Replay()), testing::IsOk());
  EXPECT_EQ(too_long->received().back().kind, StreamMessage::Kind::kResync);
  auto short_enough = FastSink();
  ASSERT_THAT(hub.Subscribe(short_enough, {}, 7, store.Replay()), testing::IsOk());
  EXPECT_EQ(short_enough->EventSeqs(), Range(8, 10));

  store.Prune(10);
  auto pruned = FastSink();
  ASSERT_THAT(hub.Subscribe(pruned, {}, 9, store.Replay()), testing::IsOk());
  EXPECT_EQ(pruned->received().back().kind, StreamMessage::Kind::kResync);
  auto current = FastSink();
  ASSERT_THAT(hub.Subscribe(current, {}, 10, store.Replay()), testing::IsOk());
  EXPECT_EQ(current->received().back().kind, StreamMessage::Kind::kReady);
}

TEST(StreamHubTest, SinceBeyondTheHeadGivesResyncAndLiveEventsStillFlow) {
  FakeStore store;
  StreamHub hub({}, 10);
  auto sink = FastSink();
  ASSERT_THAT(hub.Subscribe(sink, {}, 500, store.Replay()), testing::IsOk());
  EXPECT_EQ(store.replays(), 1);  // asked how far the store goes: 0
  Commit(store, hub, MakeEvent(11));
  EXPECT_EQ(sink->received()[1].kind, StreamMessage::Kind::kResync);
  EXPECT_EQ(sink->EventSeqs(), (std::vector<std::int64_t>{11}));
}

TEST(StreamHubTest, SinceBeyondTheHeadButStoredIsFollowedWithoutResync) {
  // On a shared store another replica's events are stored before this hub publishes them
  // (docs/decisions/0016): a client that saw them elsewhere subscribes here with a since beyond
  // this hub's head, and gets what follows it.
  FakeStore store;
  StreamHub hub;
  Commit(store, hub, MakeEvent(1));
  store.Append(MakeEvent(2));
  store.Append(MakeEvent(3));
  auto sink = FastSink();
  ASSERT_THAT(hub.Subscribe(sink, {}, 3, store.Replay()), testing::IsOk());
  hub.Publish({MakeEvent(2), MakeEvent(3)});  // this replica catches up: the client has them
  Commit(store, hub, MakeEvent(4));
  const auto received = sink->received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].kind, StreamMessage::Kind::kReady);
  EXPECT_EQ(received[1].kind, StreamMessage::Kind::kEvent);
  EXPECT_EQ(sink->EventSeqs(), (std::vector<std::int64_t>{4}));
  // Beyond what the store gave out: another store's seqs, resync.
  auto foreign = FastSink();
  ASSERT_THAT(hub.Subscribe(foreign, {}, 5, store.Replay()), testing::IsOk());
  EXPECT_EQ(foreign->received().back().kind, StreamMessage::Kind::kResync);
}

TEST(StreamHubTest, FailedReplayClosesWith1011AndReturnsTheError) {
  StreamHub hub;
  auto sink = FastSink();
  const ReplayFn broken = [](std::int64_t, const StreamFilter&,
                             std::size_t) -> Expected<ReplayPage> {
    return Fail(Errc::kStore, "database is locked", true);
  };
  EXPECT_THAT(hub.Subscribe(sink, {}, 0, broken), testing::FailsWith(Errc::kStore));
  EXPECT_EQ(sink->close_code(), kCloseInternalError);
  EXPECT_EQ(hub.SubscriberCount(), 0u);
}

TEST(StreamHubTest, UnsubscribedClientGetsNothingMore) {
  StreamHub hub;
  auto sink = FastSink();
  const auto id = hub.Subscribe(sink, {}, std::nullopt, NoReplay());
  ASSERT_THAT(id, testing::IsOk());
  hub.Publish({MakeEvent(1)});
  hub.Unsubscribe(*id);
  hub.Unsubscribe(*id);
  hub.Publish({MakeEvent(2)});
  EXPECT_EQ(sink->EventSeqs(), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(hub.SubscriberCount(), 0u);
  EXPECT_EQ(sink->close_code(), 0);
}

TEST(StreamHubTest, DuplicatePublishesAreDeliveredOnce) {
  StreamHub hub;
  auto sink = FastSink();
  ASSERT_THAT(hub.Subscribe(sink, {}, std::nullopt, NoReplay()), testing::IsOk());
  hub.Publish({MakeEvent(1), MakeEvent(2)});
  hub.Publish({MakeEvent(2), MakeEvent(3)});
  EXPECT_EQ(sink->EventSeqs(), Range(1, 3));
}

}  // namespace
}  // namespace orb::server
