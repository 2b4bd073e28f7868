#include "store/sqlite/sqlite_db.hpp"

#include <cstdio>
#include <limits>
#include <utility>

#include <sqlite3.h>

namespace orb::store::sqlite {
namespace {

sql::Failure FailureOf(int code) {
  const int primary = code & 0xff;
  const bool retryable = primary == SQLITE_BUSY || primary == SQLITE_LOCKED ||
                         primary == SQLITE_IOERR || primary == SQLITE_FULL ||
                         primary == SQLITE_PROTOCOL;
  return retryable ? sql::Failure::kRetryable : sql::Failure::kOther;
}

[[noreturn]] void Throw(sqlite3* db, int code, std::string_view what) {
  std::string message = "sqlite: ";
  message += what;
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  throw sql::SqlError(FailureOf(code), message);
}

constexpr int kBusyTimeoutMs = 10'000;

// Process-wide settings, before SQLite initialises itself (sqlite3_config is refused after that;
// then, for instance when something else opened a database first, the defaults stay, which is
// only slower). Memory statistics take a global mutex around every allocation of every
// connection; nothing here reads them.
void ConfigureSqliteOnce() {
  static const bool configured = [] {
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
}

// A JSON array of strings, for json_each: quotes, backslashes and control characters escaped.
std::string JsonArray(std::span<const std::string> values) {
  std::string text = "[";
  for (const std::string& value : values) {
    if (text.size() > 1) text += ',';
    text += '"';
    for (const char c : value) {
      if (c == '"' || c == '\\') {
        text += '\\';
        text += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
        text += escaped;
      } else {
        text += c;
      }
    }
    text += '"';
  }
  text += ']';
  return text;
}

std::string InList(std::string_view column, int param) {
  return std::string(column) + " IN (SELECT value FROM json_each(?" + std::to_string(param) + "))";
}

std::string IndexedBy(std::string_view index) {
  return " INDEXED BY " + std::string(index);
}

const sql::Dialect kDialect{"", &InList, &IndexedBy};

}  // namespace

class SqliteStatement final : public sql::Statement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  void BindInt64(int index, std::int64_t value) override {
    Check(sqlite3_bind_int64(stmt_, index, value));
  }
  void BindText(int index, std::string_view value) override {
    Check(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                              SQLITE_UTF8));
  }
  void BindNull(int index) override { Check(sqlite3_bind_null(stmt_, index)); }
  void BindTextList(int index, std::span<const std::string> values) override {
    BindText(index, JsonArray(values));
  }
  bool Step() override {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    Throw(db_, rc, "step");
  }
  void Defer() override {
    while (Step()) {
    }
  }
  void Send() override {}  // in-process: the first Step executes it
  std::int64_t Changes() const override { return sqlite3_changes64(db_); }
  bool IsNull(int column) const override {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }
  std::int64_t Int64(int column) const override { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) const override {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
  }
  void Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) Throw(db_, rc, "bind");
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

Connection::Connection(const std::filesystem::path& file, bool create, bool read_only) {
  ConfigureSqliteOnce();
  // NOMUTEX: each connection is used by one thread at a time (see the header), so SQLite's own
  // per-connection mutex is not needed.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (create) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(file.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "sqlite: cannot open " + file.string() + ": " +
                          (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw sql::SqlError(FailureOf(rc), message);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  // synchronous=FULL in WAL mode fsyncs the WAL at every commit: a call that returned success is
  // on disk even if the machine loses power (NORMAL would only survive a process crash).
  // temp_store=MEMORY: the statement journal of a SAVEPOINT (engine/batch.cpp) and temporary
  // sort trees stay in memory; as files they cost an open, unlink, writes and a close, which
  // took ~10 % of W1's throughput (docs/decisions/0003).
  Exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;");
  if (read_only) Exec("PRAGMA query_only = ON;");
}

Connection::~Connection() {
  statements_.clear();  // finalized before the connection closes
  sqlite3_close_v2(db_);
}

void Connection::Exec(std::string_view sql) {
  const std::string text(sql);
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = "sqlite: ";
    message += error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw sql::SqlError(FailureOf(rc), message);
  }
}

sql::Statement& Connection::Prepare(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return *it->second;
  if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw sql::SqlError(sql::Failure::kOther, "sqlite: statement too long");
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) Throw(db_, rc, "prepare");
  auto [inserted, _] =
      statements_.emplace(std::string(sql), std::make_unique<SqliteStatement>(db_, stmt));
  return *inserted->second;
}

std::uint64_t Connection::writes() const {
  return static_cast<std::uint64_t>(sqlite3_total_changes64(db_));
}

const sql::Dialect& Connection::dialect() const {
  return kDialect;
}

bool Connection::InAutocommit() const {
  return sqlite3_get_autocommit(db_) != 0;
}

}  // namespace orb::store::sqlite
