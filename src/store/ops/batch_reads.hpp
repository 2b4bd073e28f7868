#pragma once

// The first reads of the hot path's operations, made for all operations of a batch at once:
// a dispatch's agent (capacity, running jobs) and the head of its queue, an update's run and
// job. On PostgreSQL each operation's own reads cost a round trip, one after the other on the
// batch's connection; sent together right after the batch's row locks they cost none of their
// own: the first operation's wait reads them all (docs/decisions/0014).
//
// A read stays valid for an operation only while no earlier operation of the batch may have
// changed what it read: operations change only the things of the agents they declared (an
// agent's row guards its jobs and runs, ops/context.hpp), so after an operation ran, what was
// read about its agents is dropped (Ran), and after an operation without agents, everything.
// The reads take place after the batch locked its agents' rows, in the same transaction, so
// they see what the operation's own reads would have seen.
// Internal to src/store. Thread-safety: used by the thread running the batch.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/dispatch.hpp"
#include "protocol/types.hpp"
#include "store/ops/rows.hpp"
#include "store/sql/sql.hpp"

namespace orb::store::ops {

// What an operation reads first, declared when it is queued.
struct ReadHint {
  enum class Kind { kNone, kDispatch, kRun };
  Kind kind = Kind::kNone;
  std::string key;  // kDispatch: the agent id; kRun: the run id
};

// An agent as a dispatch reads it.
struct AgentForDispatch {
  bool revoked = false;
  protocol::AgentCapacity capacity;
  std::vector<protocol::RunningJob> running;
  // The first QUEUED job in dispatch order (protocol.md §3), with its queued_at_ms.
  std::optional<protocol::Job> head;
  std::int64_t head_queued_at_ms = 0;
};

// The dispatch's two reads of one agent, sent together: one round trip on PostgreSQL. nullopt
// when the agent does not exist.
std::optional<AgentForDispatch> ReadAgentForDispatch(sql::Connection& db,
                                                     const std::string& agent_id);

class BatchReads {
 public:
  BatchReads() = default;
  ~BatchReads();
  BatchReads(const BatchReads&) = delete;
  BatchReads& operator=(const BatchReads&) = delete;

  void Add(const ReadHint& hint);
  // Sends the reads of every hint added (at most two statements) without waiting.
  void Send(sql::Connection& db);

  // What was read for a dispatch by `agent_id`, or nullopt when nothing current was read (the
  // agent was not asked for, does not exist, or an earlier operation may have changed it): the
  // operation then reads for itself. Each read is handed out once.
  std::optional<AgentForDispatch> TakeAgent(const std::string& agent_id);
  // The same for an update of `run_id`.
  std::optional<RunAndJob> TakeRun(const std::string& run_id);

  // An operation that declared `agents` ran (an empty list: it may have changed anything).
  void Ran(std::span<const std::string> agents);

 private:
  void Receive();
  bool Stale(const std::string& agent_id) const { return all_stale_ || stale_.contains(agent_id); }

  std::vector<std::string> dispatch_agents_;
  std::vector<std::string> run_ids_;
  std::unique_ptr<sql::Query> agents_query_;
  std::unique_ptr<sql::Query> heads_query_;
  std::unique_ptr<sql::Query> runs_query_;
  bool received_ = false;
  std::map<std::string, AgentForDispatch, std::less<>> agents_;
  std::map<std::string, RunAndJob, std::less<>> runs_;
  std::set<std::string, std::less<>> stale_;
  bool all_stale_ = false;
};

}  // namespace orb::store::ops
