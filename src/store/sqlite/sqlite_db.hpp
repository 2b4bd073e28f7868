#pragma once

// Thin RAII over the SQLite C API for the SQLite store: a connection with a prepared-statement
// cache, and a Query that binds, steps and reads columns. Internal to src/store/sqlite/.
//
// Errors: failures throw SqliteError. This exception never leaves the store: SqliteStore catches
// it at the boundary of each operation and turns it into Errc::kStore (ToError below), which keeps
// the many-statement operations readable without an Expected after every line.
// Thread-safety: a Connection (and its Queries) is used by one thread at a time.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace orb::store::sqlite {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// kStore, retryable for busy / locked / I/O / full.
Error ToError(const SqliteError& error);

class Connection {
 public:
  // Opens (creating when `create`) the database file and applies the per-connection pragmas:
  // busy_timeout, foreign_keys, synchronous=FULL; `read_only` connections get query_only.
  Connection(const std::filesystem::path& file, bool create, bool read_only);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements without results (DDL, BEGIN, COMMIT ...).
  void Exec(std::string_view sql);
  // The cached prepared statement for `sql` (prepared on first use).
  sqlite3_stmt* Statement(std::string_view sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t Changes() const;
  // Rowid of the last INSERT (events.seq).
  std::int64_t LastInsertRowid() const;
  // True when no transaction is open (SQLite may roll one back by itself after an I/O error).
  bool InAutocommit() const;
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
};

// One execution of a cached statement; resets it on destruction.
//   Query q(conn, "SELECT id FROM jobs WHERE agent_id = ?");
//   q.Bind(1, agent_id);
//   while (q.Step()) ids.push_back(q.Text(0));
class Query {
 public:
  Query(Connection& connection, std::string_view sql);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Bind(int index, std::int64_t value);
  Query& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Query& Bind(int index, bool value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Query& Bind(int index, std::string_view value);
  Query& Bind(int index, const std::string& value) { return Bind(index, std::string_view(value)); }
  Query& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Query& BindNull(int index);
  template <class T>
  Query& Bind(int index, const std::optional<T>& value) {
    return value ? Bind(index, *value) : BindNull(index);
  }

  // True while there is a row; false when done.
  bool Step();
  // Steps to completion (statements without rows).
  void Run();

  bool IsNull(int column) const;
  std::int64_t Int64(int column) const;
  int Int(int column) const;
  bool Bool(int column) const { return Int64(column) != 0; }
  std::string Text(int column) const;
  std::optional<std::string> OptText(int column) const;
  std::optional<std::int64_t> OptInt64(int column) const;

 private:
  Connection& connection_;
  sqlite3_stmt* stmt_;
};

}  // namespace orb::store::sqlite
