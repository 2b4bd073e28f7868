#include "server/replica_sync.hpp"

#include <set>
#include <string>
#include <utility>

#include "common/log.hpp"

namespace orb::server {

ReplicaSync::ReplicaSync(ReplicaSyncOptions options, Deps deps, std::int64_t token_version)
    : options_(options), deps_(deps), token_version_(token_version) {}

ReplicaSync::~ReplicaSync() {
  Stop();
}

void ReplicaSync::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ReplicaSync::Stop() {
  std::vector<std::function<void()>> waiters;
  {
    const std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    const std::lock_guard lock(mutex_);
    waiters.swap(token_waiters_);
  }
  for (auto& done : waiters)
    done();
}

void ReplicaSync::SyncTokensNow(std::function<void()> done) {
  {
    const std::lock_guard lock(mutex_);
    if (!stopped_) {
      token_waiters_.push_back(std::move(done));
      done = nullptr;
    }
  }
  if (done) return done();
  wake_.notify_one();
}

void ReplicaSync::OnForeignCommit(std::int64_t last_seq) {
  {
    const std::lock_guard lock(mutex_);
    if (last_seq <= foreign_seq_) return;
    foreign_seq_ = last_seq;
  }
  wake_.notify_one();
}

void ReplicaSync::Run() {
  using Steady = std::chrono::steady_clock;
  auto next_events = Steady::now();
  auto next_tokens = Steady::now() + options_.token_poll;
  std::unique_lock lock(mutex_);
  while (!stopped_) {
    const auto until = std::min(next_events, next_tokens);
    wake_.wait_until(lock, until, [&] {
      return stopped_ || foreign_seq_ > synced_seq_ || !token_waiters_.empty();
    });
    if (stopped_) break;
    const auto now = Steady::now();
    const bool events_due = foreign_seq_ > synced_seq_ || now >= next_events;
    std::vector<std::function<void()>> waiters;
    waiters.swap(token_waiters_);  // they wait for a read that begins after they asked
    const bool tokens_due = now >= next_tokens || !waiters.empty();
    synced_seq_ = foreign_seq_;
    lock.unlock();
    if (tokens_due) {
      SyncTokens();
      next_tokens = Steady::now() + options_.token_poll;
      for (auto& done : waiters)
        done();
    }
    if (events_due) {
      SyncEvents();
      next_events = Steady::now() + options_.event_poll;
    }
    lock.lock();
  }
}

void ReplicaSync::SyncEvents() {
  const auto events = deps_.publisher.CatchUp();
  std::set<std::string> agents;
  for (const auto& event : events) {
    if (event.agent_id) agents.insert(*event.agent_id);
  }
  for (const auto& agent_id : agents) {
    // An agent whose state is not known is read when it next asks (AgentApi); a known one is
    // reloaded, which wakes its held long-poll if it now has work. Version first, then read: a
    // change of this replica between the two makes Load refuse the read, and it is read again.
    for (int attempt = 0; attempt < 3 && deps_.notifier.IsKnown(agent_id); ++attempt) {
      const auto version = deps_.notifier.Version(agent_id);
      auto state = deps_.store.AgentQueueState(agent_id);
      if (!state) {
        deps_.notifier.Invalidate(agent_id);
        break;
      }
      if (deps_.notifier.Load(agent_id, AgentQueueState{state->pending, state->cancel}, version)) {
        break;
      }
    }
  }
}

void ReplicaSync::SyncTokens() {
  auto changes = deps_.store.TokenChangesSince(token_version_);
  if (!changes) {
    tokens_readable_ = false;
    // Once when it starts and then every ~30 s: read every token_poll, an outage of the store
    // would otherwise fill the log.
    const int every =
        std::max<int>(1, static_cast<int>(std::chrono::seconds(30) / options_.token_poll));
    if (token_failures_++ % every == 0) {
      GetLogger("fleet-cmdr")
          ->warn("reading token changes: {} ({} failed reads in a row)", changes.error().Describe(),
                 token_failures_);
    }
    return;
  }
  if (token_failures_ > 0) {
    GetLogger("fleet-cmdr")
        ->info("reading token changes again after {} failed reads", token_failures_);
    token_failures_ = 0;
  }
  tokens_readable_ = true;
  for (const auto& token : changes->tokens) {
    if (token.revoked_at) {
      deps_.tokens.Remove(token.token_hash);
    } else {
      deps_.tokens.Add(token.token_hash, Principal{token.id, token.role, token.agent_id});
    }
  }
  token_version_ = changes->version;
}

}  // namespace orb::server
