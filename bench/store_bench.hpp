#pragma once

// What the store benchmarks (store_load.cpp, store_retention.cpp) share: setting up a PostgreSQL
// database and stopping at the first failure. Setup only: a benchmark, not a test.

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include <libpq-fe.h>

#include "common/expected.hpp"
#include "common/random.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace orb::bench {

// Runs `sql` on `url`; exits on failure.
inline void Admin(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  PGresult* result = PQexec(conn, sql.c_str());
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    std::cerr << sql << ": " << PQerrorMessage(conn) << "\n";
    std::exit(1);
  }
  PQclear(result);
  PQfinish(conn);
}

// `url` with its database replaced by `db`.
inline std::string WithDatabase(const std::string& url, const std::string& db) {
  return url.substr(0, url.rfind('/') + 1) + db;
}

// The value, or the error on stderr and exit(1).
template <class T>
T Must(Expected<T> value, std::string_view what) {
  if (!value) {
    std::cerr << what << ": " << value.error().Describe() << "\n";
    std::exit(1);
  }
  return *std::move(value);
}

// A store of its own for one benchmark run: SQLite in `data_dir` (empty: a new temporary
// directory, removed at the end) or a new database `<prefix>_<random>` on the PostgreSQL server
// of `url` (dropped at the end). `pg` is set for PostgreSQL.
struct ScratchStore {
  std::unique_ptr<store::Store> store;
  store::PostgresStore* pg = nullptr;

  static ScratchStore Open(const std::string& kind, const std::string& data_dir,
                           const std::string& url, const std::string& prefix,
                           const store::PostgresStoreOptions& pg_options,
                           const store::StoreDeps& deps) {
    ScratchStore scratch;
    if (kind == "sqlite") {
      std::filesystem::path dir = data_dir;
      if (dir.empty()) {
        scratch.temp_ = std::filesystem::temp_directory_path() / (prefix + "-" + RandomHex(6));
        dir = scratch.temp_;
      }
      scratch.store = Must(store::SqliteStore::Open({.data_dir = dir}, deps), "open");
    } else {
      scratch.url_ = url;
      scratch.database_ = prefix + "_" + RandomHex(6);
      Admin(url, "CREATE DATABASE " + scratch.database_);
      auto opened =
          Must(store::PostgresStore::Open(WithDatabase(url, scratch.database_), pg_options, deps),
               "open");
      scratch.pg = opened.get();
      scratch.store = std::move(opened);
    }
    return scratch;
  }

  // Closes the store, then removes its directory or database.
  void Remove() {
    store.reset();
    pg = nullptr;
    if (!temp_.empty()) std::filesystem::remove_all(temp_);
    if (!database_.empty()) Admin(url_, "DROP DATABASE " + database_ + " WITH (FORCE)");
    temp_.clear();
    database_.clear();
  }

 private:
  std::filesystem::path temp_;
  std::string url_;
  std::string database_;
};

}  // namespace orb::bench
