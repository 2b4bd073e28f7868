#include "store/ops/events.hpp"

#include <algorithm>
#include <map>
#include <memory>

#include "protocol/schedules.hpp"
#include "store/ops/rows.hpp"

namespace orb::store::ops {

using protocol::Event;

// ---- writes ----

Expected<Unit> AppendEvents(WriteContext& ctx, const std::vector<Event>& events) {
  for (const Event& event : events)
    ctx.Emit(event);
  return Unit{};
}

Expected<std::int64_t> PruneEvents(WriteContext& ctx, std::int64_t keep_last,
                                   std::int64_t last_seq) {
  const std::int64_t through = last_seq - std::max<std::int64_t>(keep_last, 0);
  Query q(ctx.db(), "DELETE FROM events WHERE seq <= ?");
  q.Bind(1, through);
  q.Run();
  return q.Changes();
}

void InsertEvents(sql::Connection& db, std::span<const Event* const> events) {
  for (const Event* event : events) {
    Query q(db,
            "INSERT INTO events (type, ts_ms, job_id, run_id, agent_id, instance_id, job_type, "
            "status, percent, message, attempt, error_json, seq, rollout_id, counts_json, "
            "extra_json) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    q.Bind(1, protocol::ToString(event->type))
        .Bind(2, Millis(event->timestamp))
        .Bind(3, event->job_id)
        .Bind(4, event->run_id)
        .Bind(5, event->agent_id)
        .Bind(6, event->instance_id)
        .Bind(7, event->job_type)
        .Bind(8, event->status)
        .Bind(9, event->percent)
        .Bind(10, event->message)
        .Bind(11, event->attempt)
        .Bind(12, RunErrorJson(event->error))
        .Bind(13, event->seq)
        .Bind(14, event->rollout_id)
        .Bind(15, CountsJson(event->counts))
        .Bind(16, protocol::EventExtraJson(*event));
    q.Defer();
  }
}

// ---- reads ----

std::vector<Event> ReadEvents(sql::Connection& db, std::int64_t after_seq, int limit,
                              const EventFilter& filter) {
  std::string sql = "SELECT " + std::string(EventColumns()) + " FROM events WHERE seq > ?1";
  int next = 2;
  if (filter.agent_id) sql += " AND agent_id = ?" + std::to_string(next++);
  if (filter.job_id) sql += " AND job_id = ?" + std::to_string(next++);
  sql += " ORDER BY seq LIMIT ?" + std::to_string(next);
  Query q(db, sql);
  q.Bind(1, after_seq);
  int index = 2;
  if (filter.agent_id) q.Bind(index++, *filter.agent_id);
  if (filter.job_id) q.Bind(index++, *filter.job_id);
  q.Bind(index, std::clamp(limit, 1, 10'000));
  std::vector<Event> events;
  while (q.Step())
    events.push_back(ReadEvent(q));
  return events;
}

Expected<std::vector<Event>> JobEvents(sql::Connection& db, std::string_view job_id) {
  {
    Query q(db, "SELECT 1 FROM jobs WHERE id = ?");
    q.Bind(1, job_id);
    if (!q.Step()) return Fail(Errc::kNotFound, "job " + std::string(job_id) + " not found");
  }
  static const std::string sql =
      "SELECT " + std::string(EventColumns()) + " FROM events WHERE job_id = ? ORDER BY seq";
  Query q(db, sql);
  q.Bind(1, job_id);
  std::vector<Event> events;
  while (q.Step())
    events.push_back(ReadEvent(q));
  return events;
}

std::int64_t OldestEventSeq(sql::Connection& db, std::int64_t last_seq) {
  Query q(db, "SELECT MIN(seq) FROM events");
  if (q.Step() && !q.IsNull(0)) return q.Int64(0);
  return last_seq + 1;
}

Expected<protocol::JobLogs> ReadLogs(sql::Connection& db, const LogQuery& query,
                                     const protocol::LogCap& cap) {
  {
    Query q(db, "SELECT 1 FROM jobs WHERE id = ?");
    q.Bind(1, query.job_id);
    if (!q.Step()) return Fail(Errc::kNotFound, "job " + query.job_id + " not found");
  }
  const int limit = std::clamp(query.limit, 1, 10'000);
  protocol::JobLogs logs;
  auto collect = [&](Query& q) {
    while (q.Step()) {
      logs.lines.push_back({q.Text(0), q.Int64(1), Wall(q.Int64(2)), q.Text(3), q.Text(4)});
    }
  };
  if (query.run_id) {
    Query run(db, "SELECT job_id, logs_dropped FROM runs WHERE id = ?");
    run.Bind(1, *query.run_id);
    if (!run.Step() || run.Text(0) != query.job_id) {
      return Fail(Errc::kNotFound,
                  "run " + *query.run_id + " of job " + query.job_id + " not found");
    }
    logs.logs_dropped = run.Int64(1);
    Query q(db,
            "SELECT run_id, seq, ts_ms, level, message FROM job_logs "
            "WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3");
    q.Bind(1, *query.run_id).Bind(2, query.after_seq).Bind(3, limit);
    collect(q);
  } else {
    Query q(db,
            "SELECT run_id, seq, ts_ms, level, message FROM job_logs "
            "WHERE job_id = ?1 AND seq > ?2 ORDER BY run_id, seq LIMIT ?3");
    q.Bind(1, query.job_id).Bind(2, query.after_seq).Bind(3, limit);
    collect(q);
    Query dropped(
        db, "SELECT CAST(COALESCE(SUM(logs_dropped), 0) AS BIGINT) FROM runs WHERE job_id = ?");
    dropped.Bind(1, query.job_id);
    if (dropped.Step()) logs.logs_dropped = dropped.Int64(0);
  }
  if (logs.logs_dropped > 0) logs.log_cap = cap;
  return logs;
}

protocol::NotifyResponse AgentQueueState(sql::Connection& db, std::string_view agent_id) {
  auto queues = AgentQueuesQuery(db, {std::string(agent_id)}).Read();
  return std::move(queues.at(0).state);
}

AgentQueuesQuery::AgentQueuesQuery(sql::Connection& db, std::vector<std::string> agents)
    : agents_(std::move(agents)) {
  std::sort(agents_.begin(), agents_.end());
  agents_.erase(std::unique(agents_.begin(), agents_.end()), agents_.end());
  if (agents_.empty()) return;
  // pending is kept by triggers in the agent's row: O(1), where counting the queue was O(its
  // length). One agent (the usual case) by key, several by list.
  if (agents_.size() == 1) {
    pending_ = std::make_unique<Query>(db, "SELECT id, queued_jobs FROM agents WHERE id = ?");
    pending_->Bind(1, agents_[0]);
    cancel_ = std::make_unique<Query>(
        db,
        "SELECT agent_id, current_run_id FROM jobs WHERE agent_id = ? AND status = 'RUNNING' "
        "AND cancel_requested = 1 ORDER BY current_run_id");
    cancel_->Bind(1, agents_[0]);
  } else {
    const sql::Dialect& dialect = db.dialect();
    pending_ = std::make_unique<Query>(
        db, "SELECT id, queued_jobs FROM agents WHERE " + dialect.in_list("id", 1));
    pending_->BindList(1, agents_);
    cancel_ = std::make_unique<Query>(db, "SELECT agent_id, current_run_id FROM jobs WHERE " +
                                              dialect.in_list("agent_id", 1) +
                                              " AND status = 'RUNNING' AND cancel_requested = 1 "
                                              "ORDER BY agent_id, current_run_id");
    cancel_->BindList(1, agents_);
  }
  pending_->Send();
  cancel_->Send();
}

std::vector<AgentQueue> AgentQueuesQuery::Read() {
  std::map<std::string, protocol::NotifyResponse> states;
  for (const std::string& agent : agents_)
    states[agent];
  if (pending_) {
    while (pending_->Step())
      states[pending_->Text(0)].pending = pending_->Int(1);
    while (cancel_->Step())
      states[cancel_->Text(0)].cancel.push_back(cancel_->Text(1));
    pending_.reset();
    cancel_.reset();
  }
  std::vector<AgentQueue> queues;
  for (auto& [agent, state] : states)
    queues.push_back({agent, std::move(state)});
  return queues;
}

}  // namespace orb::store::ops
