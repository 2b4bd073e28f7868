#pragma once

// The context of one write operation inside a batch's transaction (store/engine/batch.hpp), and
// the lifecycle steps every operation shares. Internal to src/store.
//
// Rows an operation may change: an agent's row guards the agent, its jobs and its runs. The batch
// locks the rows of the agents its operations declared (sorted, at its start; PostgreSQL only,
// SQLite has one writer), so an operation changes only declared agents' things (Locked) and every
// read-decide-write on them is atomic across connections and replicas (docs/decisions/0011).
//
// Events are buffered (Emit): the batch gives them their seqs and stores them at the end of the
// transaction, so both stores number events the same way and in commit order
// (docs/decisions/0012). An operation must have no effect outside the transaction: PostgreSQL
// re-runs a batch whose transaction hit a deadlock.
// Thread-safety: used by the thread running the batch.

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/lifecycle.hpp"
#include "protocol/types.hpp"
#include "store/sql/sql.hpp"
#include "store/store.hpp"

namespace orb::store::ops {

// What the batch learned when it locked its agents' rows.
class LockedRows {
 public:
  virtual ~LockedRows() = default;
  // True when the agent's row was there when the batch locked it (agents are never deleted, so
  // it still is); false when that is not known.
  virtual bool AgentExisted(std::string_view agent_id) = 0;
};

// Thrown by an operation that found, before changing any of their jobs, that it must change jobs
// of agents the batch did not lock for it (the dependents of a job that ended, on other agents:
// docs/decisions/0019). Not a std::exception, so only the batch catches it: it rolls the
// transaction back, adds `agents` to the operation's and runs the batch again, their rows locked
// in order with the others.
struct MoreAgentsNeeded {
  std::vector<std::string> agents;
};

class BatchReads;

class WriteContext {
 public:
  // `locked`: the agents the batch locked for this operation; `rows`: what the locking saw (may
  // be null: nothing known); `reads`: what the batch read ahead for its operations (may be null).
  WriteContext(sql::Connection& db, const StoreDeps& deps, const std::vector<std::string>& locked,
               LockedRows* rows = nullptr, BatchReads* reads = nullptr)
      : db_(db), deps_(deps), locked_(locked), rows_(rows), reads_(reads) {}

  sql::Connection& db() { return db_; }
  std::string NextId() { return deps_.ids->Next(); }
  double Random() const;

  // Appends `event` to what this operation emits; its seq is given at the commit.
  void Emit(protocol::Event event) { events_.push_back(std::move(event)); }
  // The agent's queue or cancel set changed.
  void Touch(const std::string& agent_id) { touched_.insert(agent_id); }
  // True when the batch locked `agent_id` for this operation (it declared it).
  bool Locked(std::string_view agent_id) const;
  // Throws MoreAgentsNeeded with those of `agents` the batch did not lock; returns when it locked
  // them all.
  void RequireLocked(const std::vector<std::string>& agents) const;
  // True when the batch's locking found the agent's row: no need to look for it again. False
  // means not known, not missing.
  bool KnownAgent(std::string_view agent_id) const {
    return rows_ != nullptr && Locked(agent_id) && rows_->AgentExisted(agent_id);
  }

  // What the batch read ahead (ops/batch_reads.hpp), or null.
  BatchReads* reads() { return reads_; }

  std::vector<protocol::Event> TakeEvents() { return std::move(events_); }
  std::vector<std::string> TakeTouched() {
    return std::vector<std::string>(touched_.begin(), touched_.end());
  }

 private:
  sql::Connection& db_;
  const StoreDeps& deps_;
  const std::vector<std::string>& locked_;
  LockedRows* rows_;
  BatchReads* reads_;
  std::vector<protocol::Event> events_;
  std::set<std::string> touched_;
};

// Moves job.status along the lifecycle table (protocol/lifecycle.hpp) and returns the §6 event
// type that announces the step. Callers check the status first (answering invalid_state to
// clients), so a missing row is a bug in the store: std::logic_error.
protocol::EventType Advance(protocol::Job& job, protocol::JobEvent step);

// An event about `job` in its current state.
protocol::Event MakeJobEvent(protocol::EventType type, const protocol::Job& job, WallTime now);

}  // namespace orb::store::ops
