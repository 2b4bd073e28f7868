#pragma once

// A real PostgreSQL for tests: scripts/pg-test-cluster.sh as a class, the cluster the ctest
// fixture `postgres` started for the whole test run, and a fresh database per test.
//
// The fixture (tests/CMakeLists.txt) starts one cluster per test run in
// <build>/pg-test-cluster (FIXTURES_SETUP) and destroys it at the end (FIXTURES_CLEANUP); tests
// that need it name FIXTURES_REQUIRED postgres and open it with PostgresCluster::FromFixture,
// which fails with the reason (and the command to start it by hand) when it is not running: a
// PostgreSQL test is never skipped. A test that restarts or kills the server starts a cluster of
// its own (PostgresCluster::Start in a TempDir) so that the other tests, running at the same
// time, keep theirs.
// Thread-safety: a PostgresCluster is used by one thread at a time; TestDatabase likewise.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace orb::testing {

class PostgresCluster {
 public:
  // Creates a cluster in `dir` (or starts the one kept there again); waits until it accepts
  // connections.
  static Expected<PostgresCluster> Start(const std::filesystem::path& dir);
  // The cluster of the ctest fixture.
  static Expected<PostgresCluster> FromFixture();
  // A synchronous standby of `primary` (streaming replication) in `dir`, started; from then on
  // the primary's commits return once the standby has them.
  static Expected<PostgresCluster> StartStandby(const std::filesystem::path& dir,
                                                const PostgresCluster& primary);

  // Fast shutdown, data kept; Start again with Restart.
  Status Stop();
  // Immediate shutdown, as a crash (the next start recovers from the WAL).
  Status Kill();
  Status Restart();
  // A standby becomes a primary (pg_ctl promote; returns once it accepts writes).
  Status Promote();
  // 127.0.0.1:PORT
  std::string HostPort() const;
  // Stops it and removes its files (the fixture's cleanup; a test's own cluster on destruction
  // of its TempDir needs this too, since the data lives elsewhere).
  Status Destroy();

  // postgresql://orb@127.0.0.1:PORT/<database>
  std::string Url(std::string_view database = "postgres") const;

 private:
  explicit PostgresCluster(std::filesystem::path dir, std::string base_url)
      : dir_(std::move(dir)), base_url_(std::move(base_url)) {}
  Status Run(std::string_view command, std::string_view extra = {}) const;

  std::filesystem::path dir_;
  std::string base_url_;  // without the database name
};

// A test's own cluster (PostgresCluster::Start), destroyed when this goes out of scope: its data
// lives outside the test's TempDir.
struct DestroyCluster {
  PostgresCluster& cluster;
  ~DestroyCluster() { (void)cluster.Destroy(); }
};

// A new database on `cluster`, copied from `template_name`; dropped (WITH (FORCE)) on
// destruction.
class TestDatabase {
 public:
  static Expected<std::unique_ptr<TestDatabase>> Create(
      const PostgresCluster& cluster, std::string_view template_name = "template1");
  // An empty database on the cluster of the ctest fixture `postgres`.
  static Expected<std::unique_ptr<TestDatabase>> OnFixture();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& url() const { return url_; }

 private:
  TestDatabase(std::string admin_url, std::string name, std::string url)
      : admin_url_(std::move(admin_url)), name_(std::move(name)), url_(std::move(url)) {}
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// The port of a postgresql://user@host:PORT/db URL (0 when it has none), and the same URL with
// another port: a relay in front of the server (support/tcp_relay.hpp).
std::uint16_t PortOfUrl(const std::string& url);
std::string UrlWithPort(const std::string& url, std::uint16_t port);

// Runs `sql` (one or more statements) on the database at `url` and returns the first column of
// the first row of the last result ("" when it has none).
Expected<std::string> PgQuery(const std::string& url, const std::string& sql);

}  // namespace orb::testing
