#pragma once

// Group commit, written once for both stores: the write operations waiting in a store's queue run
// together in ONE transaction and share its commit.
//
// A batch
//  1. begins (BatchDriver::Begin) and locks the rows of every agent its operations declared, in
//     id order (PostgreSQL; SQLite has one writer): an agent's row guards its jobs and runs, so
//     each operation's read-decide-write is atomic across connections and replicas, and batches
//     that all lock their agents first, in one order, cannot deadlock on them;
//  2. runs the operations by rank (plain operations, then those that take the token-version row,
//     then the lease rows: one lock order for everything taken later);
//  3. hands the events of the operations that succeeded, and the agents they touched, to
//     BatchDriver::Commit, which reads those agents' notify state inside the transaction
//     (on_queues_committed), numbers and stores the events, and commits (docs/decisions/0012).
// Operations run without savepoints while they succeed (PostgreSQL spends a subtransaction per
// SAVEPOINT that writes, and more than 64 per transaction slow every reader). An operation that
// fails before writing anything needs no undo. If one fails after writing, or a statement fails
// (PostgreSQL then aborts the whole transaction), the batch is rolled back and run again with a
// SAVEPOINT per operation and every statement waited for, so the failure stays with its
// operation ("exact" mode). Deadlocks, serialization failures and lock timeouts roll the batch
// back and run it again, a few times; operation bodies must have no effect outside the
// transaction. An operation that finds it must change jobs of agents it did not declare (the
// dependents of a job that ended, docs/decisions/0019) throws ops::MoreAgentsNeeded: the batch
// rolls back, adds them to that operation's agents and runs again, a few times.
// Thread-safety: RunBatch runs on the thread that owns the connection.

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "store/ops/batch_reads.hpp"
#include "store/ops/context.hpp"
#include "store/sql/sql.hpp"
#include "store/store.hpp"

namespace orb::store::engine {

// The order in which a batch runs its operations (and so takes the rows they lock later).
enum class Rank {
  kPlain = 0,   // agents, jobs, runs, events: locked at the batch's start
  kTokens = 1,  // also the token-version row
  kLeases = 2,  // also a lease row
};

// Which queue an operation waits in (OpQueue): what a person is waiting for goes before the
// agents' traffic, and both before the timers' background work (docs/decisions/0026).
enum class Lane {
  kInteractive = 0,  // operators' and the UI's writes, tokens, the leader lease
  kAgents = 1,       // agents' calls: hello, dispatch, updates, heartbeats
  kBackground = 2,   // timers: lease expiry, promotion, rollouts' advances, schedules' fires
};
inline constexpr std::size_t kLanes = 3;

// One write operation waiting for a batch.
class PendingOp {
 public:
  PendingOp(std::vector<std::string> agents, Rank rank, Lane lane, ops::ReadHint hint = {})
      : agents_(std::move(agents)), rank_(rank), lane_(lane), hint_(std::move(hint)) {}
  virtual ~PendingOp() = default;

  // The agents whose rows the batch locks for this operation (the only ones it may change).
  const std::vector<std::string>& agents() const { return agents_; }
  // Adds agents the operation found it needs (ops::MoreAgentsNeeded), for the batch's next run.
  void AddAgents(const std::vector<std::string>& agents);
  Rank rank() const { return rank_; }
  Lane lane() const { return lane_; }
  // What the body reads first, for the batch to read ahead (ops/batch_reads.hpp).
  const ops::ReadHint& hint() const { return hint_; }

  // Runs the body in the open transaction, afresh each time (a batch may run it again): true when
  // it succeeded. Database failures throw sql::SqlError; bugs std::exception.
  // `rows`: what the batch's locking saw; `reads`: what it read ahead (either may be null).
  virtual bool Run(sql::Connection& db, const StoreDeps& deps, ops::LockedRows* rows,
                   ops::BatchReads* reads) = 0;
  // Makes the result `error` (the body failed by throwing).
  virtual void Fail(Error error) = 0;
  // After a successful Run: what the body emitted (the batch sets the seqs) and touched.
  virtual std::vector<protocol::Event>& events() = 0;
  virtual const std::vector<std::string>& touched() const = 0;
  // After the commit: hands the result (or `failure`, when the batch did not commit) to the caller.
  virtual void Finish(const std::optional<Error>& failure) = 0;

 private:
  std::vector<std::string> agents_;
  Rank rank_;
  Lane lane_;
  ops::ReadHint hint_;
};

using OpPtr = std::shared_ptr<PendingOp>;

// The operations waiting for one writer, by lane. A batch takes the interactive ones first, then
// the agents', then the background ones, each lane in arrival order, but at least one of every
// lane that has any (while the batch has room), so that no lane waits behind another for ever.
// A batch with interactive operations takes only kRideAlong of each other lane: a person's call
// commits without the agents' whole backlog in its transaction (docs/decisions/0027).
// Not thread-safe: the stores guard it with their queue's mutex.
class OpQueue {
 public:
  static constexpr std::size_t kRideAlong = 4;
  void Push(OpPtr op);
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  // At most `max` (at least 1) operations, in the order they are to run.
  std::vector<OpPtr> TakeBatch(std::size_t max);

 private:
  std::array<std::deque<OpPtr>, kLanes> lanes_;
  std::size_t size_ = 0;
};

template <class T>
class TypedOp final : public PendingOp {
 public:
  using Body = std::function<Expected<T>(ops::WriteContext&)>;
  TypedOp(std::vector<std::string> agents, Rank rank, Lane lane, Body body, Completion<T> done,
          ops::ReadHint hint = {})
      : PendingOp(std::move(agents), rank, lane, std::move(hint)),
        body_(std::move(body)),
        done_(std::move(done)) {}

  bool Run(sql::Connection& db, const StoreDeps& deps, ops::LockedRows* rows,
           ops::BatchReads* reads) override {
    result_.reset();
    events_.clear();
    touched_.clear();
    ops::WriteContext ctx(db, deps, agents(), rows, reads);
    result_.emplace(body_(ctx));
    if (!*result_) return false;
    events_ = ctx.TakeEvents();
    touched_ = ctx.TakeTouched();
    return true;
  }
  void Fail(Error error) override { result_.emplace(std::move(error)); }
  std::vector<protocol::Event>& events() override { return events_; }
  const std::vector<std::string>& touched() const override { return touched_; }

  void Finish(const std::optional<Error>& failure) override {
    if (failure) {
      done_(*failure);
    } else if (!result_) {
      done_(MakeError(Errc::kInternal, "store: operation did not run"));
    } else if (!*result_) {
      done_(result_->error());
    } else {
      done_(Mutation<T>{std::move(**result_), std::move(events_), std::move(touched_)});
    }
  }

 private:
  Body body_;
  Completion<T> done_;
  std::optional<Expected<T>> result_;
  std::vector<protocol::Event> events_;
  std::vector<std::string> touched_;
};

// What a store provides to run a batch on its connection.
class BatchDriver {
 public:
  virtual ~BatchDriver() = default;
  // Opens the transaction and locks the rows of `agents` (sorted, unique).
  virtual void Begin(sql::Connection& db, std::span<const std::string> agents) = 0;
  // What the locking of Begin saw, for the operations (null: nothing).
  virtual ops::LockedRows* locked_rows() { return nullptr; }
  // True when the operations' first reads are worth sending ahead for the whole batch
  // (ops::BatchReads): where each read costs a round trip.
  virtual bool reads_ahead() const { return false; }
  // Reads the notify state of `touched` inside the transaction (ops::AgentQueuesQuery), numbers
  // `events` (in this order, consecutive seqs), stores them and commits; returns the states. On
  // return the batch is committed (for SQLite: written, its sync follows). Throws
  // sql::SqlError; then the transaction did not commit, unless the failure is kConnection
  // during the COMMIT itself.
  virtual std::vector<AgentQueue> Commit(sql::Connection& db,
                                         std::span<protocol::Event* const> events,
                                         std::vector<std::string> touched) = 0;
  // Ends a failed transaction; never throws.
  virtual void Rollback(sql::Connection& db) noexcept = 0;
};

struct BatchOutcome {
  std::vector<AgentQueue> queues;  // the touched agents' notify state, when asked for
  std::optional<Error> failure;    // the batch did not commit: every operation fails with it
  int attempts = 1;                // transactions it took (conflicts and exact mode add some)
};

// Runs `ops` in one transaction as described above. `read_queues`: read the notify state of the
// touched agents before the commit. Throws nothing.
BatchOutcome RunBatch(sql::Connection& db, BatchDriver& driver, const StoreDeps& deps,
                      std::span<const OpPtr> ops, bool read_queues);

}  // namespace orb::store::engine
