#pragma once

// What the store benchmarks (store_load.cpp, store_retention.cpp) share: setting up a PostgreSQL
// database and stopping at the first failure. Setup only: a benchmark, not a test.

#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include <libpq-fe.h>

#include "common/expected.hpp"

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

}  // namespace orb::bench
