#include "store/postgres/pg_pool.hpp"

#include <exception>

namespace orb::store::postgres {

using sql::SqlError;
using Steady = std::chrono::steady_clock;

Expected<std::unique_ptr<PgConnection>> PgPool::Connect(bool pipeline, PgCounters* counters) {
  {
    const std::lock_guard lock(mutex_);
    if (Steady::now() < down_until_) {
      return Fail(Errc::kStore, "store: PostgreSQL is unreachable: " + down_reason_, true);
    }
  }
  try {
    return std::make_unique<PgConnection>(url_, pipeline, counters, response_timeout_);
  } catch (const SqlError& error) {
    const std::lock_guard lock(mutex_);
    down_until_ = Steady::now() + reconnect_pause_;
    down_reason_ = error.what();
    return Fail(sql::ToError(error));
  }
}

Expected<std::unique_ptr<PgConnection>> PgPool::Acquire(bool& fresh) {
  for (;;) {
    std::unique_ptr<PgConnection> db;
    {
      const std::lock_guard lock(mutex_);
      if (idle_connections_.empty()) break;
      db = std::move(idle_connections_.back());
      idle_connections_.pop_back();
    }
    // One the server closed while it was idle (a restart, a failover) is dropped here rather
    // than failing the call that takes it.
    if (!db->PeerStillThere()) continue;
    fresh = false;
    return db;
  }
  fresh = true;
  return Connect(true, &counters_);
}

void PgPool::Release(std::unique_ptr<PgConnection> db) {
  if (db->broken()) return;
  const std::lock_guard lock(mutex_);
  if (idle_connections_.size() < static_cast<std::size_t>(std::max(0, idle_))) {
    idle_connections_.push_back(std::move(db));
  }
}

void PgPool::ReleaseAfterFailure(std::unique_ptr<PgConnection> db) {
  try {
    db->Sync();
  } catch (const SqlError&) {
    // Reported by the caller already.
  }
  try {
    if (!db->broken() && db->InTransaction()) db->Exec("ROLLBACK");
    Release(std::move(db));
  } catch (const SqlError&) {
    // Dropped: closing it ends whatever it was doing.
  }
}

Status PgPool::Read(const std::function<void(sql::Connection&)>& body) {
  for (int attempt = 0;; ++attempt) {
    bool fresh = false;
    auto db = Acquire(fresh);
    if (!db) return Fail(db.error());
    try {
      (*db)->ExecDeferred("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      (*db)->RefreshPlansIfDue(Steady::now());
      body(**db);
    } catch (const SqlError& error) {
      if ((*db)->broken()) {
        // A pooled connection that died while idle and passed Acquire's check (the server
        // closed it just after): once more on a new one; a new one that fails is the answer. A server that did not answer in time would
        // only make the call wait again, for a connection.
        if (!fresh && attempt == 0 && !(*db)->timed_out()) continue;
        return Fail(sql::ToError(error));
      }
      ReleaseAfterFailure(*std::move(db));
      return Fail(sql::ToError(error));
    } catch (const std::exception& error) {
      ReleaseAfterFailure(*std::move(db));
      return Fail(Errc::kInternal, std::string("store: ") + error.what());
    }
    // Sent, not waited for: the connection's next round trip reads its answer (a read-only
    // transaction's COMMIT has nothing to fail on), so a read costs the round trips of its
    // statements only. The read is done either way; a connection that cannot send is dropped.
    try {
      (*db)->ExecDeferred("COMMIT");
      (*db)->Flush();
      Release(*std::move(db));
    } catch (const SqlError&) {
      // Dropped with the unique_ptr; closing it ends the transaction.
    }
    return Ok();
  }
}

}  // namespace orb::store::postgres
