#include "store/postgres/pg_batch.hpp"

#include <chrono>
#include <optional>
#include <utility>

#include "protocol/schedules.hpp"
#include "store/ops/events.hpp"
#include "store/ops/rows.hpp"

namespace orb::store::postgres {
namespace {

using sql::SqlError;
using Steady = std::chrono::steady_clock;

// A PostgreSQL array literal whose elements may be NULL: {"a",NULL,"b\"c"} (also for int[]).
std::string ArrayLiteral(const std::vector<std::optional<std::string>>& values) {
  std::string literal = "{";
  for (const auto& value : values) {
    if (literal.size() > 1) literal += ',';
    if (!value) {
      literal += "NULL";
      continue;
    }
    literal += '"';
    for (const char c : *value) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  return literal;
}

std::optional<std::string> OptInt(const std::optional<int>& value) {
  if (!value) return std::nullopt;
  return std::to_string(*value);
}

// The last statement of every commit that carries events: takes the event counter row (held
// until the COMMIT that follows in the same round trip, so commits with events are numbered in
// commit order), stores the events under the seqs it took and notifies the other instances
// (channel kEventsChannel of postgres_store.hpp).
constexpr std::string_view kCommitEventsSql =
    "WITH counter AS ("
    "  UPDATE store_meta SET value = value + ?1::bigint WHERE key = 'events_last' RETURNING value),"
    " stored AS ("
    "  INSERT INTO events (seq, type, ts_ms, job_id, run_id, agent_id, instance_id, job_type,"
    "    status, percent, message, attempt, error_json, rollout_id, counts_json, extra_json)"
    "  SELECT counter.value - ?1::bigint + e.n, e.type, e.ts_ms, e.job_id, e.run_id, e.agent_id,"
    "    e.instance_id, e.job_type, e.status, e.percent, e.message, e.attempt, e.error_json,"
    "    e.rollout_id, e.counts_json, e.extra_json"
    "  FROM counter, unnest(?2::text[], ?3::bigint[], ?4::text[], ?5::text[], ?6::text[],"
    "    ?7::text[], ?8::text[], ?9::text[], ?10::int[], ?11::text[], ?12::int[], ?13::text[],"
    "    ?14::text[], ?15::text[], ?16::text[])"
    "    WITH ORDINALITY AS e(type, ts_ms, job_id, run_id, agent_id, instance_id, job_type,"
    "    status, percent, message, attempt, error_json, rollout_id, counts_json, extra_json, n))"
    " SELECT value, pg_notify('orb_events', value::text || ' ' || ?17::text) FROM counter";

// The events as the 15 array parameters of kCommitEventsSql (?2..?16), and their count.
void BindEvents(PgStatement& statement, std::span<protocol::Event* const> events) {
  std::vector<std::vector<std::optional<std::string>>> columns(15);
  for (auto& column : columns)
    column.reserve(events.size());
  for (const protocol::Event* event : events) {
    columns[0].emplace_back(std::string(protocol::ToString(event->type)));
    columns[1].emplace_back(std::to_string(ops::Millis(event->timestamp)));
    columns[2].push_back(event->job_id);
    columns[3].push_back(event->run_id);
    columns[4].push_back(event->agent_id);
    columns[5].push_back(event->instance_id);
    columns[6].push_back(event->job_type);
    columns[7].push_back(event->status);
    columns[8].push_back(OptInt(event->percent));
    columns[9].push_back(event->message);
    columns[10].push_back(OptInt(event->attempt));
    columns[11].push_back(ops::RunErrorJson(event->error));
    columns[12].push_back(event->rollout_id);
    columns[13].push_back(ops::CountsJson(event->counts));
    columns[14].push_back(protocol::EventExtraJson(*event));
  }
  statement.BindInt64(1, static_cast<std::int64_t>(events.size()));
  for (std::size_t i = 0; i < columns.size(); ++i)
    statement.BindText(static_cast<int>(i) + 2, ArrayLiteral(columns[i]));
}

}  // namespace

// BEGIN and the agents' row locks in id order (COLLATE "C": byte order, as sorted here),
// pipelined with the first operation's statements. The lock statement's rows (the agents that
// exist) are read when an operation first asks (LockedRows), in a round trip it makes anyway.
void PgBatchDriver::Begin(sql::Connection& db, std::span<const std::string> agents) {
  auto& pg = static_cast<PgConnection&>(db);
  ForgetLock();
  pg.ExecDeferred("BEGIN");
  pg.RefreshPlansIfDue(std::chrono::steady_clock::now());
  if (agents.empty()) return;
  lock_ = &pg.PrepareStatement(
      "SELECT id FROM agents WHERE id = ANY(?1::text[]) ORDER BY id FOR UPDATE");
  lock_->BindTextList(1, std::vector<std::string>(agents.begin(), agents.end()));
  lock_->Send();
}

// Waits for every statement still in the pipeline (the agents' row locks, deferred writes), then
// takes this instance's commit order (held until ReleaseCommitOrder) and sends the notify-state
// reads, the event statement and the COMMIT: one round trip. The wait comes first because a
// statement still in flight may wait for a row lock that another writer of this instance holds;
// that writer cannot commit, and so release it, without the commit order: had this batch taken
// the order first, neither could go on, and PostgreSQL would not see it as a deadlock (one side
// waits on a mutex here), so both would hang until idle_in_transaction_session_timeout.
std::vector<AgentQueue> PgBatchDriver::Commit(sql::Connection& db,
                                              std::span<protocol::Event* const> events,
                                              std::vector<std::string> touched) {
  auto& pg = static_cast<PgConnection&>(db);
  ForgetLock();
  pg.Sync();
  order_.Take(first_);
  has_turn_ = true;
  try {
    std::optional<ops::AgentQueuesQuery> queues;
    if (!touched.empty()) queues.emplace(pg, std::move(touched));
    if (events.empty()) {
      pg.Exec("COMMIT");
      return queues ? queues->Read() : std::vector<AgentQueue>{};
    }
    PgStatement& statement = pg.PrepareStatement(kCommitEventsSql);
    struct ResetOnExit {
      PgStatement& statement;
      ~ResetOnExit() { statement.Reset(); }
    } reset{statement};
    BindEvents(statement, events);
    statement.BindText(17, instance_id_);
    const auto sent = Steady::now();
    statement.Send();
    pg.ExecDeferred("COMMIT");
    if (!statement.Step()) sql::Corrupt("store_meta has no events_last");
    counters_.commits.fetch_add(1, std::memory_order_relaxed);
    counters_.micros.fetch_add(
        static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - sent).count()),
        std::memory_order_relaxed);
    const std::int64_t last = statement.Int64(0);
    std::int64_t seq = last - static_cast<std::int64_t>(events.size());
    for (protocol::Event* event : events)
      event->seq = ++seq;
    return queues ? queues->Read() : std::vector<AgentQueue>{};
  } catch (...) {
    ReleaseCommitOrder();
    throw;
  }
}

void CommitOrder::Take(bool first) {
  std::unique_lock lock(mutex_);
  ++waiting_;
  if (first) {
    ++first_waiting_;
    turn_free_.wait(lock, [&] { return !taken_; });
    --first_waiting_;
  } else {
    turn_free_.wait(lock, [&] { return !taken_ && first_waiting_ == 0; });
  }
  --waiting_;
  taken_ = true;
}

int CommitOrder::waiting() const {
  const std::lock_guard lock(mutex_);
  return waiting_;
}

void CommitOrder::Release() {
  {
    const std::lock_guard lock(mutex_);
    taken_ = false;
  }
  turn_free_.notify_all();
}

void PgBatchDriver::ReleaseCommitOrder() {
  if (!has_turn_) return;
  has_turn_ = false;
  order_.Release();
}

void PgBatchDriver::Rollback(sql::Connection& db) noexcept {
  ForgetLock();
  ReleaseCommitOrder();
  auto& pg = static_cast<PgConnection&>(db);
  if (pg.broken()) return;
  try {
    pg.Sync();
  } catch (const SqlError&) {
    // Whatever failed is being reported already; the ROLLBACK below ends the transaction.
  }
  try {
    if (!pg.broken() && pg.InTransaction()) pg.Exec("ROLLBACK");
  } catch (const SqlError&) {
    // The connection is unusable if even ROLLBACK fails: the writer replaces broken ones, and
    // a failed ROLLBACK leaves the session in a transaction, which the next BEGIN reports.
  }
}

bool PgBatchDriver::Rows::AgentExisted(std::string_view agent_id) {
  if (driver_.lock_ != nullptr && !driver_.lock_read_) {
    while (driver_.lock_->Step())
      driver_.locked_.insert(driver_.lock_->Text(0));
    driver_.lock_read_ = true;
  }
  return driver_.locked_.contains(agent_id);
}

void PgBatchDriver::ForgetLock() {
  if (lock_ != nullptr) lock_->Reset();
  lock_ = nullptr;
  lock_read_ = false;
  locked_.clear();
}

}  // namespace orb::store::postgres
