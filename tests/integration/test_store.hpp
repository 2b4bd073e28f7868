#pragma once

// The store a real fleet-cmdr of an integration test runs on: SQLite in its data dir (the
// default), or, when the environment says ORB_TEST_STORE=postgresql, a fresh database on the
// PostgreSQL cluster of the ctest fixture `postgres` (support/postgres.hpp), dropped when the
// TestStore goes. tests/integration/CMakeLists.txt registers each binary whose tests hold on both
// stores a second time in ctest, with that variable and the fixture (test names
// `<binary>.postgres.*`), so the same tests prove the API on both stores (docs/decisions/0011).
// Thread-safety: none needed; made and dropped by the test's thread.

#include <memory>
#include <string>
#include <vector>

#include "support/postgres.hpp"

namespace orb::testing {

// True when this test process runs on PostgreSQL (ORB_TEST_STORE=postgresql).
bool TestsRunOnPostgres();

class TestStore {
 public:
  // On PostgreSQL, creates the database; throws std::runtime_error (the test fails, with the
  // reason and how to start the cluster by hand) when the fixture's cluster does not answer.
  TestStore();
  ~TestStore();
  TestStore(const TestStore&) = delete;
  TestStore& operator=(const TestStore&) = delete;

  bool postgres() const { return database_ != nullptr; }
  // FleetCmdrOptions::store_url: the database's URL, "" for SQLite.
  std::string url() const;
  // The flags of `fleet-cmdr serve` for this store: {"--store", url} or none.
  std::vector<std::string> Flags() const;

 private:
  std::unique_ptr<TestDatabase> database_;
};

}  // namespace orb::testing
