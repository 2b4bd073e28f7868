#pragma once

// Events, logs and the notify state (protocol.md §4 JobNotify, §5 logs, §6 events). Written once
// over the database seam; both stores run these. Where the stores differ (who numbers events,
// what the highest seq is) the store passes it in. Internal to src/store.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "store/ops/context.hpp"
#include "store/store.hpp"

namespace orb::store::ops {

// ---- writes ----

Expected<Unit> AppendEvents(WriteContext& ctx, const std::vector<protocol::Event>& events);
// Deletes the events with seq <= last_seq - keep_last. Value: how many.
Expected<std::int64_t> PruneEvents(WriteContext& ctx, std::int64_t keep_last,
                                   std::int64_t last_seq);
// Stores events whose seq is set, one statement each (deferred).
void InsertEvents(sql::Connection& db, std::span<const protocol::Event* const> events);

// ---- reads ----

std::vector<protocol::Event> ReadEvents(sql::Connection& db, std::int64_t after_seq, int limit,
                                        const EventFilter& filter);
Expected<std::vector<protocol::Event>> JobEvents(sql::Connection& db, std::string_view job_id);
// The lowest kept seq; last_seq + 1 when none is kept.
std::int64_t OldestEventSeq(sql::Connection& db, std::int64_t last_seq);
// `cap`: the store's run log cap, told with the lines when some were dropped.
Expected<protocol::JobLogs> ReadLogs(sql::Connection& db, const LogQuery& query,
                                     const protocol::LogCap& cap);

// pending = the agent's QUEUED jobs (agents.queued_jobs, kept by triggers); cancel = its RUNNING
// runs whose cancel was requested.
protocol::NotifyResponse AgentQueueState(sql::Connection& db, std::string_view agent_id);
// The same for several agents in two statements (the end of every batch that touched queues),
// sent at construction and read by Read (on PostgreSQL in the round trip of whatever waits
// first; on SQLite at Read, which must come before the transaction ends).
class AgentQueuesQuery {
 public:
  AgentQueuesQuery(sql::Connection& db, std::vector<std::string> agents);
  std::vector<AgentQueue> Read();

 private:
  std::vector<std::string> agents_;
  std::unique_ptr<sql::Query> pending_;
  std::unique_ptr<sql::Query> cancel_;
};

}  // namespace orb::store::ops
