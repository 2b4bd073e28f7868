#pragma once

// The store's tables as C++ values: column lists, decoding a row, loading and saving the rows
// the operations (store/ops/*.cpp) share. Written once over the database seam (store/sql), used
// by both stores. Internal to src/store.
//
// Times are Unix milliseconds (INTEGER / BIGINT); JSON columns hold codec text
// (protocol/codec.hpp); flags are integers 0/1. Decoding a damaged row throws sql::SqlError
// (sql::Corrupt). Thread-safety: functions of a connection's thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.hpp"
#include "protocol/types.hpp"
#include "store/sql/sql.hpp"
#include "store/store.hpp"

namespace orb::store::ops {

using sql::Connection;
using sql::Query;

std::int64_t Millis(WallTime time);
WallTime Wall(std::int64_t millis);
std::optional<WallTime> OptWall(const std::optional<std::int64_t>& millis);
std::optional<std::int64_t> OptMillis(const std::optional<WallTime>& time);

protocol::Labels ParseLabels(const std::string& text);
// An agent's labels: those given at enrollment, with those it declares in hello over them
// (agents.labels_json, agents.declared_labels_json).
protocol::Labels AgentLabels(const std::string& given_json, const std::string& declared_json);
std::optional<protocol::RunError> ParseRunError(const std::optional<std::string>& text);
std::optional<std::string> RunErrorJson(const std::optional<protocol::RunError>& error);
// A rollout event's counts as JSON (events.counts_json).
std::optional<std::string> CountsJson(const std::optional<protocol::RolloutCounts>& counts);
// Job types are names of [A-Z_]: stored comma-separated, no JSON needed.
std::string JoinTypes(const std::vector<std::string>& types);
std::vector<std::string> SplitTypes(const std::string& joined);

// ---- jobs ----

// "id, agent_id, ..." with each column prefixed by `prefix` ("j." or "").
std::string JobColumns(std::string_view prefix = "");
inline constexpr int kJobColumnCount = 23;
// The job whose columns (JobColumns order) start at `first`.
protocol::Job ReadJob(const Query& q, int first = 0);
std::optional<protocol::Job> LoadJob(Connection& db, std::string_view job_id);
// Writes the mutable columns of `job` back (deferred); `queued_at` is set when the job becomes
// QUEUED.
void SaveJob(Connection& db, const protocol::Job& job,
             std::optional<std::int64_t> queued_at = std::nullopt);

// ---- runs ----

// A run with the columns the store needs beyond protocol::Run.
struct RunRow {
  protocol::Run run;
  std::string agent_id;
  std::int64_t acked_update_seq = 0;
  std::int64_t acked_log_seq = 0;
  // What the run stored of its log, for the per-run cap (docs/decisions/0020); run.logs_dropped
  // holds the lines past it.
  std::int64_t log_lines = 0;
  std::int64_t log_bytes = 0;
};

std::string RunColumns(std::string_view prefix = "");
inline constexpr int kRunColumnCount = 16;
RunRow ReadRun(const Query& q, int first = 0);
std::vector<protocol::Run> LoadRuns(Connection& db, std::string_view job_id);
// A run and its job, read together (the updates, lease expiry and hello all need both).
struct RunAndJob {
  RunRow row;
  protocol::Job job;  // depends_on and waiting_for not loaded (a running job waits for nothing)
  bool has_dependents = false;  // jobs.has_dependents: some job was created depending on it
};
// The columns of RunAndJob ("r." run, "j." job, then j.has_dependents) and their decoding.
std::string RunAndJobColumns();
RunAndJob ReadRunAndJob(const Query& q);
std::optional<RunAndJob> LoadRunAndJob(Connection& db, std::string_view run_id);
// Ends a run's row: its final status and what the batch that ended it acknowledged, in one
// deferred write.
void SaveRunFinal(Connection& db, const RunRow& row);

// ---- events ----

std::string_view EventColumns();
protocol::Event ReadEvent(const Query& q);

// ---- agents ----

std::string_view AgentColumns();
protocol::AgentInfo ReadAgent(const Query& q);
std::optional<protocol::AgentInfo> LoadAgent(Connection& db, std::string_view agent_id);

// ---- tokens ----

std::string_view TokenColumns();
TokenRecord ReadToken(const Query& q);
// Inserts the token with the next token change version. False when its id or hash is taken
// (nothing inserted).
bool InsertToken(Connection& db, const TokenRecord& token);
// Takes the next token change version (store_meta 'tokens_version', deferred). Its row is locked
// until the commit, so token changes commit in version order (TokenChangesSince).
void BumpTokensVersion(Connection& db);

}  // namespace orb::store::ops
