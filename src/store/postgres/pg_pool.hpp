#pragma once

// The connections of a PostgreSQL store: new ones (refused at once for a pause after a failed
// attempt, so that a call made while the database is down fails fast), and a pool of idle ones
// for reads and artifacts. Internal to src/store/postgres/.
// Thread-safety: all methods are thread-safe.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "store/postgres/pg_connection.hpp"

namespace orb::store::postgres {

class PgPool {
 public:
  PgPool(std::string url, int idle, std::chrono::milliseconds reconnect_pause,
         std::chrono::milliseconds response_timeout)
      : url_(std::move(url)),
        idle_(idle),
        reconnect_pause_(reconnect_pause),
        response_timeout_(response_timeout) {}

  // A new connection (pipeline mode or not) with the pool's response timeout, unless the last attempt failed less than
  // reconnect_pause ago: then a retryable kStore at once. `counters` may be null.
  Expected<std::unique_ptr<PgConnection>> Connect(bool pipeline, PgCounters* counters);

  // An idle pooled connection, or a new one (`fresh` says which).
  Expected<std::unique_ptr<PgConnection>> Acquire(bool& fresh);
  // Back to the pool (dropped when broken or the pool is full).
  void Release(std::unique_ptr<PgConnection> db);
  // Ends the transaction of a call that failed on `db` and keeps it if that works.
  void ReleaseAfterFailure(std::unique_ptr<PgConnection> db);

  // Runs `body` in one REPEATABLE READ READ ONLY transaction on a pooled connection; a pooled
  // connection found dead (the server restarted) is replaced once. SqlError and other exceptions
  // of `body` come back as the Error.
  Status Read(const std::function<void(sql::Connection&)>& body);

  PgCounters& counters() { return counters_; }
  const PgCounters& counters() const { return counters_; }

 private:
  std::string url_;
  int idle_;
  std::chrono::milliseconds reconnect_pause_;
  std::chrono::milliseconds response_timeout_;
  PgCounters counters_;

  std::mutex mutex_;
  std::vector<std::unique_ptr<PgConnection>> idle_connections_;
  std::chrono::steady_clock::time_point down_until_{};
  std::string down_reason_;
};

}  // namespace orb::store::postgres
