#include "agent/journal.hpp"

#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/fs.hpp"
#include "protocol/codec.hpp"

namespace orb::agent {
namespace {

constexpr int kUpdate = 0;
constexpr int kLog = 1;
constexpr int kFinal = 2;

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  position INTEGER NOT NULL,
  execution TEXT NOT NULL,
  next_update_seq INTEGER NOT NULL DEFAULT 1,
  next_log_seq INTEGER NOT NULL DEFAULT 1,
  final_seq INTEGER
);
CREATE TABLE IF NOT EXISTS outbox (
  run_id TEXT NOT NULL,
  kind INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (run_id, kind, seq)
) WITHOUT ROWID;
)sql";

// One prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Statement& Bind(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return stmt_ == nullptr ? SQLITE_ERROR : sqlite3_step(stmt_); }
  std::int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string Text(int column) const {
    const auto* text = sqlite3_column_text(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    return text == nullptr
               ? std::string()
               : std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
  }
  std::string ErrorMessage() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

Error SqlError(sqlite3* db, std::string_view what) {
  return MakeError(Errc::kIo, fmt::format("journal: {}: {}", what, sqlite3_errmsg(db)), true);
}

Status Exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message == nullptr ? "unknown error" : message;
    sqlite3_free(message);
    return Fail(Errc::kIo, "journal: " + text, true);
  }
  return Ok();
}

// BEGIN IMMEDIATE ... COMMIT, rolled back unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db), begun_(Exec(db, "BEGIN IMMEDIATE").has_value()) {}
  ~Transaction() {
    if (begun_ && !committed_) (void)Exec(db_, "ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  bool begun() const { return begun_; }
  Status Commit() {
    auto status = Exec(db_, "COMMIT");
    committed_ = status.has_value();
    return status;
  }

 private:
  sqlite3* db_;
  bool begun_;
  bool committed_ = false;
};

}  // namespace

Expected<std::unique_ptr<Journal>> Journal::Open(const std::filesystem::path& file,
                                                 const JournalOptions& options) {
  // The journal holds every payload in flight (an instance's environment among them): its
  // owner's only. SQLite gives its -wal and -shm files the database file's mode; files an older
  // version made are narrowed too.
  if (const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, os::kPrivateFileMode);
      fd >= 0) {
    ::close(fd);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    (void)::chmod((file.string() + suffix).c_str(), os::kPrivateFileMode);
  }
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(file.c_str(), &db, flags,
                      options.vfs.empty() ? nullptr : options.vfs.c_str()) != SQLITE_OK) {
    Error error = SqlError(db, "cannot open " + file.string());
    sqlite3_close(db);
    return error;
  }
  sqlite3_busy_timeout(db, 5000);
  if (auto schema = Exec(db, kSchema); !schema) {
    sqlite3_close(db);
    return std::move(schema.error()).WithContext("opening " + file.string());
  }
  return std::unique_ptr<Journal>(new Journal(db));
}

Journal::~Journal() {
  sqlite3_close(db_);
}

Status Journal::SetDurability(bool fsync) {
  if (fsync == fsync_) return Ok();
  auto set = Exec(db_, fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  if (set) fsync_ = fsync;
  return set;
}

Status Journal::AddRun(const protocol::JobExecution& execution) {
  const std::lock_guard lock(mutex_);
  if (auto set = SetDurability(false); !set) return set;
  Statement insert(db_,
                   "INSERT OR IGNORE INTO runs (run_id, position, execution) VALUES "
                   "(?1, (SELECT COALESCE(MAX(position), 0) + 1 FROM runs), ?2)");
  insert.Bind(1, execution.run_id).Bind(2, protocol::ToJson(execution));
  if (insert.Step() != SQLITE_DONE) return Fail(SqlError(db_, "adding run " + execution.run_id));
  return Ok();
}

Expected<std::int64_t> Journal::Append(const std::string& run_id, int kind,
                                       std::int64_t requested_seq,
                                       const std::function<std::string(std::int64_t)>& body) {
  const std::lock_guard lock(mutex_);
  if (auto set = SetDurability(kind == kFinal); !set) return Fail(std::move(set.error()));
  Transaction transaction(db_);
  if (!transaction.begun()) return SqlError(db_, "begin");
  Statement select(db_,
                   "SELECT next_update_seq, next_log_seq, final_seq FROM runs WHERE run_id = ?1");
  select.Bind(1, run_id);
  const int step = select.Step();
  if (step == SQLITE_DONE) return Fail(Errc::kInvalidRequest, "journal: unknown run " + run_id);
  if (step != SQLITE_ROW) return SqlError(db_, "reading run " + run_id);
  if (!select.IsNull(2)) {
    return Fail(Errc::kInvalidState, "journal: run " + run_id + " already has its final update");
  }
  const std::int64_t next = kind == kLog ? select.Int(1) : select.Int(0);
  if (requested_seq > 0 && requested_seq < next) {
    return Fail(Errc::kInvalidState, "journal: run " + run_id + ": seq " +
                                         std::to_string(requested_seq) + " is not after " +
                                         std::to_string(next - 1));
  }
  const std::int64_t seq = requested_seq > 0 ? requested_seq : next;
  Statement bump(db_, kind == kLog ? "UPDATE runs SET next_log_seq = ?2 WHERE run_id = ?1"
                      : kind == kFinal
                          ? "UPDATE runs SET next_update_seq = ?2, final_seq = ?3 WHERE run_id = ?1"
                          : "UPDATE runs SET next_update_seq = ?2 WHERE run_id = ?1");
  bump.Bind(1, run_id).Bind(2, seq + 1);
  if (kind == kFinal) bump.Bind(3, seq);
  if (bump.Step() != SQLITE_DONE) return SqlError(db_, "updating run " + run_id);
  Statement insert(db_, "INSERT INTO outbox (run_id, kind, seq, body) VALUES (?1, ?2, ?3, ?4)");
  insert.Bind(1, run_id).Bind(2, std::int64_t{kind}).Bind(3, seq).Bind(4, body(seq));
  if (insert.Step() != SQLITE_DONE) return SqlError(db_, "appending to run " + run_id);
  if (auto committed = transaction.Commit(); !committed) return Fail(std::move(committed.error()));
  return seq;
}

Expected<std::int64_t> Journal::AppendUpdate(const std::string& run_id,
                                             protocol::ProgressUpdate update) {
  return Append(run_id, kUpdate, update.seq, [&](std::int64_t seq) {
    update.seq = seq;
    return protocol::ToJson(update);
  });
}

Expected<std::int64_t> Journal::AppendLog(const std::string& run_id, protocol::LogLine line) {
  return Append(run_id, kLog, line.seq, [&](std::int64_t seq) {
    line.seq = seq;
    return protocol::ToJson(line);
  });
}

Expected<std::int64_t> Journal::AppendFinal(const std::string& run_id,
                                            protocol::FinalUpdate final_update) {
  return Append(run_id, kFinal, final_update.seq, [&](std::int64_t seq) {
    final_update.seq = seq;
    return protocol::ToJson(final_update);
  });
}

Expected<protocol::UpdatesRequest> Journal::NextBatch(const std::string& run_id,
                                                      std::size_t max_items,
                                                      bool* complete_out) const {
  const std::lock_guard lock(mutex_);
  protocol::UpdatesRequest batch;
  const auto limit = static_cast<std::int64_t>(max_items);
  bool complete = true;  // every update and log of the outbox is in the batch
  for (const int kind : {kUpdate, kLog}) {
    Statement select(db_,
                     "SELECT body FROM outbox WHERE run_id = ?1 AND kind = ?2 ORDER BY seq "
                     "LIMIT ?3");
    select.Bind(1, run_id).Bind(2, std::int64_t{kind}).Bind(3, limit + 1);
    std::int64_t count = 0;
    int step = SQLITE_ROW;
    while ((step = select.Step()) == SQLITE_ROW) {
      if (++count > limit) {
        complete = false;
        break;
      }
      const std::string body = select.Text(0);
      if (kind == kUpdate) {
        auto update = protocol::FromJson<protocol::ProgressUpdate>(body);
        if (!update) return std::move(update.error()).WithContext("journal: run " + run_id);
        batch.updates.push_back(std::move(*update));
      } else {
        auto line = protocol::FromJson<protocol::LogLine>(body);
        if (!line) return std::move(line.error()).WithContext("journal: run " + run_id);
        batch.logs.push_back(std::move(*line));
      }
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) return SqlError(db_, "reading outbox");
  }
  if (complete_out != nullptr) *complete_out = complete;
  if (complete) {
    Statement select(db_, "SELECT body FROM outbox WHERE run_id = ?1 AND kind = 2");
    select.Bind(1, run_id);
    if (select.Step() == SQLITE_ROW) {
      auto final_update = protocol::FromJson<protocol::FinalUpdate>(select.Text(0));
      if (!final_update) return std::move(final_update.error()).WithContext("journal: " + run_id);
      batch.final_update = std::move(*final_update);
    }
  }
  return batch;
}

Expected<bool> Journal::Acknowledge(const std::string& run_id, std::int64_t acked_update_seq,
                                    std::int64_t acked_log_seq) {
  const std::lock_guard lock(mutex_);
  // A lost acknowledgement only makes the agent resend what fleet-cmdr de-duplicates by seq.
  if (auto set = SetDurability(false); !set) return Fail(std::move(set.error()));
  Transaction transaction(db_);
  if (!transaction.begun()) return SqlError(db_, "begin");
  Statement remove(db_,
                   "DELETE FROM outbox WHERE run_id = ?1 AND ((kind IN (0, 2) AND seq <= ?2) OR "
                   "(kind = 1 AND seq <= ?3))");
  remove.Bind(1, run_id).Bind(2, acked_update_seq).Bind(3, acked_log_seq);
  if (remove.Step() != SQLITE_DONE) return SqlError(db_, "acknowledging " + run_id);
  Statement select(db_, "SELECT final_seq FROM runs WHERE run_id = ?1");
  select.Bind(1, run_id);
  bool finished = false;
  if (select.Step() == SQLITE_ROW && !select.IsNull(0) && select.Int(0) <= acked_update_seq) {
    finished = true;
    Statement drop_outbox(db_, "DELETE FROM outbox WHERE run_id = ?1");
    drop_outbox.Bind(1, run_id);
    Statement drop_run(db_, "DELETE FROM runs WHERE run_id = ?1");
    drop_run.Bind(1, run_id);
    if (drop_outbox.Step() != SQLITE_DONE || drop_run.Step() != SQLITE_DONE) {
      return SqlError(db_, "removing finished run " + run_id);
    }
  }
  if (auto committed = transaction.Commit(); !committed) return Fail(std::move(committed.error()));
  return finished;
}

Status Journal::RemoveRun(const std::string& run_id) {
  const std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.begun()) return Fail(SqlError(db_, "begin"));
  Statement drop_outbox(db_, "DELETE FROM outbox WHERE run_id = ?1");
  drop_outbox.Bind(1, run_id);
  Statement drop_run(db_, "DELETE FROM runs WHERE run_id = ?1");
  drop_run.Bind(1, run_id);
  if (drop_outbox.Step() != SQLITE_DONE || drop_run.Step() != SQLITE_DONE) {
    return Fail(SqlError(db_, "removing run " + run_id));
  }
  return transaction.Commit();
}

Expected<std::vector<JournalRun>> Journal::Runs() const {
  const std::lock_guard lock(mutex_);
  Statement select(db_,
                   "SELECT execution, next_update_seq, next_log_seq, final_seq FROM runs "
                   "ORDER BY position");
  std::vector<JournalRun> runs;
  int step = SQLITE_ROW;
  while ((step = select.Step()) == SQLITE_ROW) {
    auto execution = protocol::FromJson<protocol::JobExecution>(select.Text(0));
    if (!execution) return std::move(execution.error()).WithContext("journal: reading runs");
    runs.push_back(
        {std::move(*execution), select.Int(1) - 1, select.Int(2) - 1, !select.IsNull(3)});
  }
  if (step != SQLITE_DONE) return SqlError(db_, "reading runs");
  return runs;
}

Status Journal::Probe() {
  const std::lock_guard lock(mutex_);
  // Alternating values: each probe really writes the database header.
  return Exec(db_, (++probes_ % 2) != 0 ? "PRAGMA user_version = 1" : "PRAGMA user_version = 0");
}

Expected<std::vector<std::string>> Journal::RunsWithPending() const {
  const std::lock_guard lock(mutex_);
  Statement select(db_,
                   "SELECT run_id FROM runs WHERE EXISTS (SELECT 1 FROM outbox WHERE "
                   "outbox.run_id = runs.run_id) ORDER BY position");
  std::vector<std::string> ids;
  int step = SQLITE_ROW;
  while ((step = select.Step()) == SQLITE_ROW)
    ids.push_back(select.Text(0));
  if (step != SQLITE_DONE) return SqlError(db_, "reading outbox");
  return ids;
}

}  // namespace orb::agent
