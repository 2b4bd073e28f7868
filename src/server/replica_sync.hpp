#pragma once

// What keeps one replica current with the others when they share a PostgreSQL store
// (docs/decisions/0016):
//  - events: another replica's commit (Store's on_foreign_commit, LISTEN/NOTIFY) wakes this
//    class, which reads the events after the last published seq and publishes them in seq order
//    (EventPublisher::CatchUp), so a stream on this replica sees the other's events; then it
//    reloads the notify state of the agents they name (Notifier::Load), so a job created through
//    another replica wakes an agent long-polling here. A notification may be lost (the listener
//    reconnecting), so it also catches up every event_poll without one;
//  - tokens: every token_poll it applies Store::TokenChangesSince to the token cache, so a token
//    revoked (or created) through another replica counts here within that time. A request whose
//    token the cache does not know asks for the feed at once (SyncTokensNow): a token created
//    through another replica a moment ago (an agent just enrolled) is then known, not a 401.
//
// One thread of its own does both (the store's callback only records the seq and wakes it: it
// must not call the store). Thread-safety: OnForeignCommit and SyncTokensNow from any thread;
// Start/Stop from the controlling thread. Ownership: holds its dependencies by reference; they must outlive it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "server/auth.hpp"
#include "server/event_publisher.hpp"
#include "server/notifier.hpp"
#include "store/store.hpp"

namespace orb::server {

struct ReplicaSyncOptions {
  std::chrono::milliseconds event_poll{1000};
  std::chrono::milliseconds token_poll{250};
};

class ReplicaSync {
 public:
  struct Deps {
    store::Store& store;
    EventPublisher& publisher;
    Notifier& notifier;
    TokenCache& tokens;
  };
  // `token_version`: the version the token cache was loaded at (TokenChanges::version).
  ReplicaSync(ReplicaSyncOptions options, Deps deps, std::int64_t token_version);
  ~ReplicaSync();
  ReplicaSync(const ReplicaSync&) = delete;
  ReplicaSync& operator=(const ReplicaSync&) = delete;

  void Start();
  // Wakes and joins the thread. Idempotent.
  void Stop();

  // Another replica committed events up to `last_seq`: quick, never calls the store.
  void OnForeignCommit(std::int64_t last_seq);
  // Reads the token feed now rather than at the next token_poll, then runs `done` on this class's
  // thread (quick: it hands its work on). Callers that ask while a read is under way share the
  // next one, so a flood of unknown tokens costs one store read at a time. Never calls the store
  // itself. After Stop, or when the thread stops, `done` runs at once.
  void SyncTokensNow(std::function<void()> done);
  // Whether the last read of the token feed worked (any thread).
  bool TokensReadable() const { return tokens_readable_.load(); }

 private:
  void Run();
  void SyncEvents();
  void SyncTokens();

  const ReplicaSyncOptions options_;
  Deps deps_;
  std::int64_t token_version_;  // the thread's
  int token_failures_ = 0;      // the thread's: failed reads in a row
  std::atomic<bool> tokens_readable_{true};

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;
  std::int64_t foreign_seq_ = 0;                      // the highest seq told
  std::int64_t synced_seq_ = 0;                       // foreign_seq_ when the last catch-up began
  std::vector<std::function<void()>> token_waiters_;  // SyncTokensNow's, for the next read
  std::thread thread_;
};

}  // namespace orb::server
