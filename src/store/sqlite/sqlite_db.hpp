#pragma once

// SQLite behind the store's database seam (store/sql/sql.hpp): a connection with a
// prepared-statement cache. Internal to src/store/sqlite/.
//
// Deferred statements run at once (SQLite is in-process: there is no round trip to save).
// Lists (Dialect::in_list) are bound as a JSON array and read back with json_each.
// Errors: SqlError; busy, locked, I/O, full and protocol errors are Failure::kRetryable.
// Thread-safety: a Connection (and its Statements) is used by one thread at a time.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "store/sql/sql.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace orb::store::sqlite {

class SqliteStatement;

class Connection final : public sql::Connection {
 public:
  // Opens (creating when `create`) the database file and applies the per-connection pragmas:
  // busy_timeout, foreign_keys, synchronous=FULL; `read_only` connections get query_only.
  Connection(const std::filesystem::path& file, bool create, bool read_only);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sql::Statement& Prepare(std::string_view sql) override;
  void Exec(std::string_view sql) override;
  void ExecDeferred(std::string_view sql) override { Exec(sql); }
  void Sync() override {}
  std::uint64_t writes() const override;
  bool InTransaction() const override { return !InAutocommit(); }
  const sql::Dialect& dialect() const override;

  // True when no transaction is open (SQLite may roll one back by itself after an I/O error).
  bool InAutocommit() const;
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, std::unique_ptr<SqliteStatement>, std::less<>> statements_;
};

}  // namespace orb::store::sqlite
