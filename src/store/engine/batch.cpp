#include "store/engine/batch.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <set>
#include <thread>

#include "common/random.hpp"

namespace orb::store::engine {
namespace {

// Conflicts (deadlock, serialization failure, lock timeout) re-run the batch at most this often.
constexpr int kMaxConflictAttempts = 8;

// Rounds of ops::MoreAgentsNeeded a batch takes at most: one per level of a chain of dependents
// created while the batch ran; more means a graph that keeps changing under it.
constexpr int kMaxAgentRounds = 8;

// Thrown inside RunBatch: roll back and run the batch again in exact mode.
struct RerunExactly {};

// Thrown inside RunBatch: roll back and run the batch again with `op` holding more agents.
struct RerunWithAgents {
  PendingOp* op;
  std::vector<std::string> agents;
};

// Runs one operation; false when it failed. In exact mode its failure is undone (ROLLBACK TO its
// savepoint); in fast mode a failure that may have left writes behind throws RerunExactly.
bool RunOne(sql::Connection& db, const StoreDeps& deps, ops::LockedRows* rows,
            ops::BatchReads* reads, PendingOp& op, bool exact) {
  if (exact) db.ExecDeferred("SAVEPOINT op");
  const std::uint64_t writes = db.writes();
  bool ok = false;
  try {
    ok = op.Run(db, deps, rows, reads);
    // Exact mode: the operation's deferred statements answer now, so a failure among them is
    // this operation's.
    if (exact) db.Sync();
  } catch (const sql::SqlError& error) {
    if (error.failure() == sql::Failure::kConflict ||
        error.failure() == sql::Failure::kConnection) {
      throw;
    }
    if (!exact) throw RerunExactly{};
    op.Fail(sql::ToError(error));
    ok = false;
  } catch (const std::exception& error) {
    if (!exact && db.writes() != writes) throw RerunExactly{};
    op.Fail(MakeError(Errc::kInternal, std::string("store: ") + error.what()));
    ok = false;
  }
  if (exact) {
    if (!db.InTransaction()) {
      // The database ended the transaction itself (SQLite after an I/O error): nothing of the
      // batch was kept.
      throw sql::SqlError(sql::Failure::kRetryable,
                          "store: transaction rolled back by the database");
    }
    if (!ok) db.ExecDeferred("ROLLBACK TO op");
    db.ExecDeferred("RELEASE op");
  } else if (!ok && db.writes() != writes) {
    throw RerunExactly{};
  }
  return ok;
}

}  // namespace

void OpQueue::Push(OpPtr op) {
  const auto lane = static_cast<std::size_t>(op->lane());
  lanes_.at(lane).push_back(std::move(op));
  ++size_;
}

std::vector<OpPtr> OpQueue::TakeBatch(std::size_t max) {
  max = std::max<std::size_t>(max, 1);
  std::vector<OpPtr> batch;
  batch.reserve(std::min(max, size_));
  const auto take = [&](std::deque<OpPtr>& lane, std::size_t count) {
    for (; count > 0 && !lane.empty() && batch.size() < max; --count) {
      batch.push_back(std::move(lane.front()));
      lane.pop_front();
      --size_;
    }
  };
  auto& interactive = lanes_[static_cast<std::size_t>(Lane::kInteractive)];
  const bool someone_waits = !interactive.empty();
  // One of each waiting lane first, lowest priority last: a full lane above cannot starve one
  // below.
  for (auto& lane : lanes_)
    take(lane, 1);
  if (someone_waits) {
    // Someone waits for this batch: it stays short, the interactive operations and a few of the
    // others (kRideAlong of each lane, so that a stream of operators' calls slows the agents'
    // traffic down but never stops it); the rest follows in the next batch.
    take(interactive, max);
    for (std::size_t lane = 1; lane < kLanes; ++lane)
      take(lanes_[lane], kRideAlong - 1);
    return batch;
  }
  // Then the rest, by priority.
  for (auto& lane : lanes_)
    take(lane, max);
  return batch;
}

void PendingOp::AddAgents(const std::vector<std::string>& agents) {
  agents_.insert(agents_.end(), agents.begin(), agents.end());
  std::sort(agents_.begin(), agents_.end());
  agents_.erase(std::unique(agents_.begin(), agents_.end()), agents_.end());
}

BatchOutcome RunBatch(sql::Connection& db, BatchDriver& driver, const StoreDeps& deps,
                      std::span<const OpPtr> input, bool read_queues) {
  std::vector<PendingOp*> ops;
  ops.reserve(input.size());
  std::set<std::string> agent_set;
  for (const OpPtr& op : input) {
    ops.push_back(op.get());
    agent_set.insert(op->agents().begin(), op->agents().end());
  }
  std::stable_sort(ops.begin(), ops.end(),
                   [](const PendingOp* a, const PendingOp* b) { return a->rank() < b->rank(); });
  std::vector<std::string> agents(agent_set.begin(), agent_set.end());

  BatchOutcome outcome;
  bool exact = false;
  int conflicts = 0;
  int agent_rounds = 0;
  for (int attempt = 1;; ++attempt) {
    outcome.attempts = attempt;
    outcome.queues.clear();
    try {
      driver.Begin(db, agents);
      // The operations' first reads, sent with BEGIN and the locks (not in exact mode, which
      // waits for every statement anyway).
      std::optional<ops::BatchReads> reads;
      if (driver.reads_ahead() && !exact) {
        reads.emplace();
        for (const PendingOp* op : ops)
          reads->Add(op->hint());
        reads->Send(db);
      }
      std::vector<char> ok(ops.size(), 0);
      std::set<std::string> touched;
      std::vector<protocol::Event*> events;
      for (std::size_t i = 0; i < ops.size(); ++i) {
        try {
          ok[i] = RunOne(db, deps, driver.locked_rows(), reads ? &*reads : nullptr, *ops[i], exact);
        } catch (ops::MoreAgentsNeeded& more) {
          throw RerunWithAgents{ops[i], std::move(more.agents)};
        }
        if (reads) reads->Ran(ops[i]->agents());
        if (!ok[i]) continue;
        touched.insert(ops[i]->touched().begin(), ops[i]->touched().end());
        for (protocol::Event& event : ops[i]->events())
          events.push_back(&event);
      }
      // What the batch left in each touched queue is read inside the transaction, with the commit.
      std::vector<std::string> queues;
      if (read_queues) queues.assign(touched.begin(), touched.end());
      outcome.queues = driver.Commit(db, events, std::move(queues));
      return outcome;
    } catch (const RerunExactly&) {
      driver.Rollback(db);
      exact = true;
    } catch (const RerunWithAgents& rerun) {
      driver.Rollback(db);
      if (++agent_rounds > kMaxAgentRounds) {
        outcome.queues.clear();
        outcome.failure = MakeError(
            Errc::kStore, "store: the jobs' dependents kept changing during the write", true);
        return outcome;
      }
      rerun.op->AddAgents(rerun.agents);
      agent_set.insert(rerun.agents.begin(), rerun.agents.end());
      agents.assign(agent_set.begin(), agent_set.end());
    } catch (const sql::SqlError& error) {
      driver.Rollback(db);
      if (error.deferred() && !exact && error.failure() == sql::Failure::kOther) {
        exact = true;  // a deferred statement of some operation failed: find out whose
      } else if (error.failure() == sql::Failure::kConflict && ++conflicts < kMaxConflictAttempts) {
        // Whoever won the conflict is committing now; give it a moment, more each time.
        const auto pause = std::chrono::microseconds(
            static_cast<long>((200 << std::min(conflicts, 6)) * (0.5 + RandomUnit())));
        std::this_thread::sleep_for(pause);
      } else {
        outcome.queues.clear();
        outcome.failure = sql::ToError(error);
        return outcome;
      }
    } catch (const std::exception& error) {
      driver.Rollback(db);
      outcome.queues.clear();
      outcome.failure = MakeError(Errc::kInternal, std::string("store: ") + error.what());
      return outcome;
    }
  }
}

}  // namespace orb::store::engine
