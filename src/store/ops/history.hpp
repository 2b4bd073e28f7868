#pragma once

// GET /v1/stats/history (docs/protocol.md "Stats history", docs/decisions/0025): the jobs that
// ended in a window of whole minutes, by final status, and the percentiles of their final runs.
// One read query per request; the bucketing and percentiles are the pure BuildHistory, so they
// are tested without a database. Internal to src/store.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "protocol/stats_history.hpp"
#include "protocol/types.hpp"
#include "store/sql/sql.hpp"

namespace orb::store::ops {

// One job that ended in the window, as the query reads it.
struct EndedJob {
  protocol::JobStatus status = protocol::JobStatus::kCompleted;
  std::int64_t ended_ms = 0;   // the job's updated_at_ms: its final time
  std::int64_t queued_ms = 0;  // queued_at_ms, else created_at_ms
  // Its final run's start and end; absent when it never ran (cancelled while queued).
  std::optional<std::int64_t> run_started_ms;
  std::optional<std::int64_t> run_finished_ms;
};

// The window of `minutes` whole minutes that ends with the minute holding `now`: [from, to).
struct HistoryWindow {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  int minutes = 0;
};
HistoryWindow MakeHistoryWindow(WallTime now, int minutes);

// The per-minute answer from the rows of the window (any order). Percentiles are nearest-rank
// over the minute's values; a run whose start precedes its job's queued time (a job retried
// after that run) gives no queued→start value.
protocol::StatsHistory BuildHistory(const HistoryWindow& window, const std::vector<EndedJob>& rows,
                                    bool truncated);

// The read's SQL in `dialect` (its plan is tested on SQLite).
std::string HistorySql(const sql::Dialect& dialect);
// The read: at most store::kHistoryMaxRows rows, newest first; `truncated` when more ended.
protocol::StatsHistory ReadHistory(sql::Connection& db, WallTime now, int minutes);

}  // namespace orb::store::ops
