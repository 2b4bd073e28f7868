#include "store/ops/batch_reads.hpp"

#include <utility>

#include "protocol/job_types.hpp"

namespace orb::store::ops {
namespace {

using sql::Query;

// An agent with its running jobs, one row per running job (or one row without a job); the
// agent's id first, so one decoder serves the read of one agent and of many.
std::string AgentsSql(std::string_view condition) {
  return "SELECT a.id, a.job_types, a.max_parallel, a.revoked_at_ms IS NOT NULL, j.id, j.type, "
         "j.server_id, j.instance_id, j.exclusive FROM agents a "
         "LEFT JOIN jobs j ON j.agent_id = a.id AND j.status = 'RUNNING' WHERE " +
         std::string(condition);
}

// Folds one row of AgentsSql into `agents`.
void ReadAgentRow(const Query& q, std::map<std::string, AgentForDispatch, std::less<>>& agents) {
  auto [it, inserted] = agents.try_emplace(q.Text(0));
  AgentForDispatch& agent = it->second;
  if (inserted) {
    agent.revoked = q.Bool(3);
    agent.capacity.job_types = SplitTypes(q.Text(1));
    agent.capacity.max_parallel = q.Int(2);
  }
  if (q.IsNull(4)) return;
  agent.running.push_back(
      {q.Text(4), q.Text(5), protocol::LocksFor(q.Text(5), q.OptText(6), q.OptText(7)), q.Bool(8)});
}

// The head of each listed agent's queue in dispatch order (protocol.md §3): the order and the
// index of the dispatch's own queue read (ops/jobs.cpp), one job per agent.
std::string HeadsSql(const sql::Dialect& dialect) {
  return "SELECT " + JobColumns() +
         ", queued_at_ms FROM jobs WHERE id IN (SELECT (SELECT q.id FROM jobs q "
         "WHERE q.agent_id = a.id AND q.status = 'QUEUED' "
         "ORDER BY q.priority DESC, q.queued_at_ms ASC, q.id ASC LIMIT 1) FROM agents a WHERE " +
         dialect.in_list("a.id", 1) + ")";
}

}  // namespace

std::optional<AgentForDispatch> ReadAgentForDispatch(sql::Connection& db,
                                                     const std::string& agent_id) {
  static const std::string kAgentSql = AgentsSql("a.id = ?");
  static const std::string kHeadSql = "SELECT " + JobColumns() +
                                      ", queued_at_ms FROM jobs WHERE agent_id = ? AND status = "
                                      "'QUEUED' ORDER BY priority DESC, queued_at_ms ASC, id ASC "
                                      "LIMIT 1";
  Query agent(db, kAgentSql);
  agent.Bind(1, agent_id);
  agent.Send();
  Query head(db, kHeadSql);
  head.Bind(1, agent_id);
  head.Send();
  std::map<std::string, AgentForDispatch, std::less<>> found;
  while (agent.Step())
    ReadAgentRow(agent, found);
  if (found.empty()) return std::nullopt;
  AgentForDispatch read = std::move(found.begin()->second);
  if (head.Step()) {
    read.head = ReadJob(head);
    read.head_queued_at_ms = head.Int64(kJobColumnCount);
  }
  return read;
}

BatchReads::~BatchReads() = default;

void BatchReads::Add(const ReadHint& hint) {
  switch (hint.kind) {
    case ReadHint::Kind::kDispatch: dispatch_agents_.push_back(hint.key); break;
    case ReadHint::Kind::kRun: run_ids_.push_back(hint.key); break;
    case ReadHint::Kind::kNone: break;
  }
}

void BatchReads::Send(sql::Connection& db) {
  const sql::Dialect& dialect = db.dialect();
  if (!dispatch_agents_.empty()) {
    agents_query_ = std::make_unique<Query>(db, AgentsSql(dialect.in_list("a.id", 1)));
    agents_query_->BindList(1, dispatch_agents_);
    agents_query_->Send();
    heads_query_ = std::make_unique<Query>(db, HeadsSql(dialect));
    heads_query_->BindList(1, dispatch_agents_);
    heads_query_->Send();
  }
  if (!run_ids_.empty()) {
    runs_query_ = std::make_unique<Query>(db, "SELECT " + RunAndJobColumns() +
                                                  " FROM runs r JOIN jobs j ON j.id = r.job_id "
                                                  "WHERE " +
                                                  dialect.in_list("r.id", 1));
    runs_query_->BindList(1, run_ids_);
    runs_query_->Send();
  }
}

// Reads the answers of what Send sent (one wait for all of them) and frees the statements.
void BatchReads::Receive() {
  if (received_) return;
  received_ = true;
  if (agents_query_) {
    while (agents_query_->Step())
      ReadAgentRow(*agents_query_, agents_);
    while (heads_query_->Step()) {
      protocol::Job job = ReadJob(*heads_query_);
      const auto it = agents_.find(job.agent_id);
      if (it == agents_.end()) continue;
      it->second.head_queued_at_ms = heads_query_->Int64(kJobColumnCount);
      it->second.head = std::move(job);
    }
    agents_query_.reset();
    heads_query_.reset();
  }
  if (runs_query_) {
    while (runs_query_->Step()) {
      RunAndJob row = ReadRunAndJob(*runs_query_);
      std::string id = row.row.run.id;
      runs_.emplace(std::move(id), std::move(row));
    }
    runs_query_.reset();
  }
}

std::optional<AgentForDispatch> BatchReads::TakeAgent(const std::string& agent_id) {
  if (dispatch_agents_.empty() || Stale(agent_id)) return std::nullopt;
  Receive();
  const auto it = agents_.find(agent_id);
  if (it == agents_.end()) return std::nullopt;
  AgentForDispatch read = std::move(it->second);
  agents_.erase(it);
  return read;
}

std::optional<RunAndJob> BatchReads::TakeRun(const std::string& run_id) {
  if (run_ids_.empty() || all_stale_) return std::nullopt;
  Receive();
  const auto it = runs_.find(run_id);
  if (it == runs_.end() || Stale(it->second.row.agent_id) || Stale(it->second.job.agent_id)) {
    return std::nullopt;
  }
  RunAndJob read = std::move(it->second);
  runs_.erase(it);
  return read;
}

void BatchReads::Ran(std::span<const std::string> agents) {
  if (agents.empty()) all_stale_ = true;
  stale_.insert(agents.begin(), agents.end());
}

}  // namespace orb::store::ops
