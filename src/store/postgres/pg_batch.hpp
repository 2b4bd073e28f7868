#pragma once

// The PostgreSQL side of a batch (store/engine/batch.hpp): BEGIN and the agents' row locks in
// one statement (read later, when an operation first asks which agents exist), and at the end
// the notify-state reads, the statement that takes the event counter row, numbers and stores the
// events and sends the NOTIFY, and the COMMIT, in one round trip (docs/decisions/0012, 0014).
// A store's writers share `commit_mutex`: it is taken at Commit and held until
// ReleaseCommitOrder, after the writer told on_queues_committed, so this instance's commits and
// what it tells its owner come in one order. Internal to src/store/postgres/.
// Thread-safety: one writer thread per driver.

#include <atomic>
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

class PgBatchDriver final : public engine::BatchDriver {
 public:
  PgBatchDriver(std::mutex& commit_mutex, std::string instance_id, CommitCounters& counters)
      : commit_mutex_(commit_mutex), instance_id_(std::move(instance_id)), counters_(counters) {}

  void Begin(sql::Connection& db, std::span<const std::string> agents) override;
  ops::LockedRows* locked_rows() override { return &rows_; }
  bool reads_ahead() const override { return true; }
  std::vector<AgentQueue> Commit(sql::Connection& db, std::span<protocol::Event* const> events,
                                 std::vector<std::string> touched) override;
  void Rollback(sql::Connection& db) noexcept override;
  // Lets the next commit of this instance go (after the writer told its listener).
  void ReleaseCommitOrder() { commit_lock_ = {}; }

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

  std::mutex& commit_mutex_;
  std::unique_lock<std::mutex> commit_lock_;
  std::string instance_id_;
  CommitCounters& counters_;
  PgStatement* lock_ = nullptr;
  bool lock_read_ = false;
  std::set<std::string, std::less<>> locked_;
  Rows rows_{*this};
};

}  // namespace orb::store::postgres
