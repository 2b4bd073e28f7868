#include "store/sqlite/sqlite_db.hpp"

#include <limits>
#include <utility>

#include <sqlite3.h>

namespace orb::store::sqlite {
namespace {

[[noreturn]] void Throw(sqlite3* db, int code, std::string_view what) {
  std::string message = "sqlite: ";
  message += what;
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  throw SqliteError(code, message);
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

}  // namespace

Error ToError(const SqliteError& error) {
  const int primary = error.code() & 0xff;
  const bool retryable = primary == SQLITE_BUSY || primary == SQLITE_LOCKED ||
                         primary == SQLITE_IOERR || primary == SQLITE_FULL ||
                         primary == SQLITE_PROTOCOL;
  return MakeError(Errc::kStore, error.what(), retryable);
}

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
    throw SqliteError(rc, message);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  // synchronous=FULL in WAL mode fsyncs the WAL at every commit: a call that returned success is
  // on disk even if the machine loses power (NORMAL would only survive a process crash).
  // temp_store=MEMORY: the statement journal of each operation's SAVEPOINT (sqlite_store.cpp)
  // and temporary sort trees stay in memory; as files they cost an open, unlink, writes and a
  // close, which took ~10 % of W1's throughput (docs/decisions/0003).
  Exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;");
  if (read_only) Exec("PRAGMA query_only = ON;");
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_)
    sqlite3_finalize(stmt);
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
    throw SqliteError(rc, message);
  }
}

sqlite3_stmt* Connection::Statement(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw SqliteError(SQLITE_TOOBIG, "sqlite: statement too long");
  }
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) Throw(db_, rc, "prepare");
  statements_.emplace(std::string(sql), stmt);
  return stmt;
}

std::int64_t Connection::Changes() const {
  return sqlite3_changes64(db_);
}

std::int64_t Connection::LastInsertRowid() const {
  return sqlite3_last_insert_rowid(db_);
}

bool Connection::InAutocommit() const {
  return sqlite3_get_autocommit(db_) != 0;
}

Query::Query(Connection& connection, std::string_view sql)
    : connection_(connection), stmt_(connection.Statement(sql)) {}

Query::~Query() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Query& Query::Bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) Throw(connection_.handle(), rc, "bind");
  return *this;
}

Query& Query::Bind(int index, std::string_view value) {
  const int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) Throw(connection_.handle(), rc, "bind");
  return *this;
}

Query& Query::BindNull(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) Throw(connection_.handle(), rc, "bind");
  return *this;
}

bool Query::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Throw(connection_.handle(), rc, "step");
}

void Query::Run() {
  while (Step()) {
  }
}

bool Query::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Query::Int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

int Query::Int(int column) const {
  return sqlite3_column_int(stmt_, column);
}

std::string Query::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::optional<std::string> Query::OptText(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Text(column);
}

std::optional<std::int64_t> Query::OptInt64(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int64(column);
}

}  // namespace orb::store::sqlite
