#pragma once

// The PostgreSQL side of a batch (store/engine/batch.hpp): BEGIN and the agents' row locks in
// one statement (read later, when an operation first asks which agents exist), and at the end
// the notify-state reads, the statement that takes the event counter row, numbers and stores the
// events and sends the NOTIFY, and the COMMIT, in one round trip (docs/decisions/0012, 0014).
// A store's writers share one CommitOrder: a writer takes its turn at Commit and holds it until
// ReleaseCommitOrder, after the writer told on_queues_committed, so this instance's commits and
// what it tells its owner come in one order. Internal to src/store/postgres/.
// Thread-safety: one writer thread per driver.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/engine/batch.hpp"
#include "store/postgres/pg_connection.hpp"

namespace orb::store::postgres {

// Counted by the drivers of one store (PostgresStore::stats).
struct CommitCounters {
  std::atomic<std::uint64_t> commits{0};  // commits that carried events
  std::atomic<std::uint64_t> micros{0};   // from sending their last statement to the answer
};

// The turn to commit, one writer at a time. A writer that takes its turn `first` (the
// interactive writer, decision 0014) goes before those already waiting: an operator's create
// then waits for at most the commit in progress, not for the fleet's writers queued behind it
// as well (W2 beside the orchestration, docs/benchmarks.md). The others wait while a first one
// does; it commits one batch at a time and runs the next batch's statements before it asks
// again, so they are never kept out for long.
class CommitOrder {
 public:
  void Take(bool first);
  void Release();
  int waiting() const;  // writers waiting for their turn now

 private:
  mutable std::mutex mutex_;
  std::condition_variable turn_free_;
  bool taken_ = false;
  int first_waiting_ = 0;
  int waiting_ = 0;
};

class PgBatchDriver final : public engine::BatchDriver {
 public:
  // `first`: this driver's commits go before those of the drivers already waiting.
  PgBatchDriver(CommitOrder& order, bool first, std::string instance_id, CommitCounters& counters)
      : order_(order), first_(first), instance_id_(std::move(instance_id)), counters_(counters) {}
  ~PgBatchDriver() override { ReleaseCommitOrder(); }

  void Begin(sql::Connection& db, std::span<const std::string> agents) override;
  ops::LockedRows* locked_rows() override { return &rows_; }
  bool reads_ahead() const override { return true; }
  std::vector<AgentQueue> Commit(sql::Connection& db, std::span<protocol::Event* const> events,
                                 std::vector<std::string> touched) override;
  void Rollback(sql::Connection& db) noexcept override;
  // Lets the next commit of this instance go (after the writer told its listener).
  void ReleaseCommitOrder();

 private:
  // The agents the lock statement found, read from its rows when first asked.
  class Rows final : public ops::LockedRows {
   public:
    explicit Rows(PgBatchDriver& driver) : driver_(driver) {}
    bool AgentExisted(std::string_view agent_id) override;

   private:
    PgBatchDriver& driver_;
  };

  void ForgetLock();

  CommitOrder& order_;
  bool first_;
  bool has_turn_ = false;
  std::string instance_id_;
  CommitCounters& counters_;
  PgStatement* lock_ = nullptr;
  bool lock_read_ = false;
  std::set<std::string, std::less<>> locked_;
  Rows rows_{*this};
};

}  // namespace orb::store::postgres
