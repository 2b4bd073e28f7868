#include "store/ops/history.hpp"

#include <algorithm>
#include <map>
#include <string>

#include "store/ops/rows.hpp"
#include "store/store.hpp"

namespace orb::store::ops {
namespace {

constexpr std::int64_t kMinuteMs = 60'000;

// Nearest rank: the smallest value with at least p% of the values at or below it.
std::optional<std::int64_t> Percentile(std::vector<std::int64_t>& values, int p) {
  if (values.empty()) return std::nullopt;
  std::size_t rank = (values.size() * static_cast<std::size_t>(p) + 99) / 100;
  rank = std::clamp<std::size_t>(rank, 1, values.size());
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank - 1),
                   values.end());
  return values[rank - 1];
}

}  // namespace

HistoryWindow MakeHistoryWindow(WallTime now, int minutes) {
  const std::int64_t now_ms = Millis(now);
  const std::int64_t minute_start = now_ms - ((now_ms % kMinuteMs) + kMinuteMs) % kMinuteMs;
  HistoryWindow window;
  window.minutes = minutes;
  window.to_ms = minute_start + kMinuteMs;
  window.from_ms = window.to_ms - static_cast<std::int64_t>(minutes) * kMinuteMs;
  return window;
}

protocol::StatsHistory BuildHistory(const HistoryWindow& window, const std::vector<EndedJob>& rows,
                                    bool truncated) {
  protocol::StatsHistory history;
  history.from = FromUnixMillis(window.from_ms);
  history.minutes = window.minutes;
  history.truncated = truncated;
  const auto size = static_cast<std::size_t>(window.minutes);
  history.buckets.resize(size);
  std::vector<std::vector<std::int64_t>> waits(size);
  std::vector<std::vector<std::int64_t>> durations(size);
  for (std::size_t i = 0; i < size; ++i) {
    history.buckets[i].minute =
        FromUnixMillis(window.from_ms + static_cast<std::int64_t>(i) * kMinuteMs);
  }
  for (const EndedJob& row : rows) {
    if (row.ended_ms < window.from_ms || row.ended_ms >= window.to_ms) continue;
    const auto i = static_cast<std::size_t>((row.ended_ms - window.from_ms) / kMinuteMs);
    protocol::HistoryMinute& bucket = history.buckets[i];
    switch (row.status) {
      case protocol::JobStatus::kCompleted: ++bucket.completed; break;
      case protocol::JobStatus::kFailed: ++bucket.failed; break;
      case protocol::JobStatus::kCancelled: ++bucket.cancelled; break;
      default: continue;
    }
    if (!row.run_started_ms) continue;
    if (*row.run_started_ms >= row.queued_ms)
      waits[i].push_back(*row.run_started_ms - row.queued_ms);
    if (row.run_finished_ms && *row.run_finished_ms >= *row.run_started_ms) {
      durations[i].push_back(*row.run_finished_ms - *row.run_started_ms);
    }
  }
  for (std::size_t i = 0; i < size; ++i) {
    protocol::HistoryMinute& bucket = history.buckets[i];
    bucket.queue_to_start_p50_ms = Percentile(waits[i], 50);
    bucket.queue_to_start_p95_ms = Percentile(waits[i], 95);
    bucket.run_p50_ms = Percentile(durations[i], 50);
    bucket.run_p95_ms = Percentile(durations[i], 95);
  }
  return history;
}

std::string HistorySql(const sql::Dialect& dialect) {
  // jobs_ended holds the finished jobs by updated_at_ms, a finished job's final time (nothing
  // changes a finished job but a retry, which unfinishes it): the read is a range of it, the jobs
  // that ended in the window, at most kHistoryMaxRows + 1 (docs/decisions/0028).
  return "SELECT j.status, j.updated_at_ms, COALESCE(j.queued_at_ms, j.created_at_ms), "
         "r.started_at_ms, r.finished_at_ms FROM jobs j" +
         dialect.indexed_by("jobs_ended") +
         " LEFT JOIN runs r ON r.id = j.current_run_id "
         "WHERE j.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND j.updated_at_ms >= ?1 AND "
         "j.updated_at_ms < ?2 ORDER BY j.updated_at_ms DESC LIMIT ?3";
}

protocol::StatsHistory ReadHistory(sql::Connection& db, WallTime now, int minutes) {
  const HistoryWindow window = MakeHistoryWindow(now, minutes);
  sql::Query q(db, HistorySql(db.dialect()));
  q.Bind(1, window.from_ms).Bind(2, window.to_ms).Bind(3, kHistoryMaxRows + 1);
  std::vector<EndedJob> rows;
  while (q.Step()) {
    auto status = protocol::JobStatusFromString(q.Text(0));
    if (!status) sql::Corrupt("job status " + q.Text(0));
    EndedJob row;
    row.status = *status;
    row.ended_ms = q.Int64(1);
    row.queued_ms = q.Int64(2);
    if (!q.IsNull(3)) row.run_started_ms = q.Int64(3);
    if (!q.IsNull(4)) row.run_finished_ms = q.Int64(4);
    rows.push_back(row);
  }
  const bool truncated = rows.size() > static_cast<std::size_t>(kHistoryMaxRows);
  if (truncated) rows.resize(static_cast<std::size_t>(kHistoryMaxRows));
  return BuildHistory(window, rows, truncated);
}

}  // namespace orb::store::ops
