// SQLite-only behaviour of the store: the file, WAL mode and the migrations. Everything a store
// must do is in tests/contract/store_contract_test.cpp.

#include "store/sqlite/sqlite_store.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "common/ids.hpp"
#include "store/migrations/sqlite_migrations.hpp"
#include "support/manual_clock.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::store {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;

// Runs `sql` on the database file directly and returns the first column of the first row.
std::string QueryFile(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::string value;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

// Runs the statements of `sql` on the database file directly.
void ExecFile(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  Expected<std::unique_ptr<SqliteStore>> Open() {
    return SqliteStore::Open({.data_dir = dir_ / "data"}, StoreDeps{&ids_, {}, {}});
  }
  std::filesystem::path File() const { return dir_ / "data" / std::string(kSqliteFileName); }

  ::orb::testing::TempDir dir_;
  ::orb::testing::ManualClock clock_;
  IdGenerator ids_{clock_};
};

TEST_F(SqliteStoreTest, CreatesTheDataDirAndAWalDatabase) {
  {
    auto store = Open();
    ASSERT_THAT(store, IsOk());
  }
  EXPECT_TRUE(std::filesystem::exists(File()));
  EXPECT_EQ(QueryFile(File(), "PRAGMA journal_mode"), "wal");
}

TEST_F(SqliteStoreTest, AppliesEveryMigrationOnceAcrossOpens) {
  for (int i = 0; i < 3; ++i) {
    auto store = Open();
    ASSERT_THAT(store, IsOk());
  }
  const auto migrations = SqliteMigrations();
  ASSERT_FALSE(migrations.empty());
  EXPECT_EQ(QueryFile(File(), "SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(migrations.size()));
  EXPECT_EQ(QueryFile(File(), "SELECT MAX(version) FROM schema_migrations"),
            std::to_string(migrations.back().version));
}

TEST_F(SqliteStoreTest, MigrationsAreNumberedWithoutGaps) {
  int expected = 1;
  for (const Migration& migration : SqliteMigrations()) {
    EXPECT_EQ(migration.version, expected++);
    EXPECT_FALSE(migration.name.empty());
    EXPECT_FALSE(migration.sql.empty());
  }
}

TEST_F(SqliteStoreTest, MigrationTwoCountsTheQueuedJobsAlreadyThereAndKeepsCounting) {
  {
    auto store = Open();
    ASSERT_THAT(store, IsOk());
    const WallTime now = clock_.WallNow();
    const TokenRecord token{"t1", "a1", protocol::Role::kAgent, "a1", "h1", now, std::nullopt};
    ASSERT_THAT((*store)->EnrollAgent("a1", {}, token, now), IsOk());
    protocol::HelloRequest hello;
    hello.agent_version = "1";
    hello.job_types = {"VERIFY_BACKUP"};
    hello.max_parallel = 1;
    ASSERT_THAT((*store)->RecordHello("a1", hello, now), IsOk());
    for (int i = 0; i < 3; ++i) {
      CreateJobsCommand command;
      JobSpec spec;
      spec.agent_id = "a1";
      spec.type = "VERIFY_BACKUP";
      spec.instance_id = "mc-" + std::to_string(i);
      command.jobs.push_back(spec);
      ASSERT_THAT((*store)->CreateJobs(command, now), IsOk());
    }
    ASSERT_THAT((*store)->DispatchNext("a1", now, 60), IsOk());
  }
  // Back to a database of version 1, with its jobs.
  ExecFile(File(),
           "DROP TRIGGER jobs_queued_insert; DROP TRIGGER jobs_queued_update; "
           "DROP TRIGGER jobs_queued_delete; ALTER TABLE agents DROP COLUMN queued_jobs; "
           "DELETE FROM schema_migrations WHERE version = 2;");
  auto store = Open();
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ(QueryFile(File(), "SELECT queued_jobs FROM agents WHERE id = 'a1'"), "2");
  auto state = (*store)->AgentQueueState("a1");
  ASSERT_THAT(state, IsOk());
  EXPECT_EQ(state->pending, 2);
  ASSERT_THAT((*store)->DispatchNext("a1", clock_.WallNow(), 60), IsOk());  // maxParallel 1: none
  ExecFile(File(),
           "UPDATE jobs SET status = 'CANCELLED' WHERE status = 'QUEUED' AND instance_id = 'mc-2'");
  EXPECT_EQ(QueryFile(File(), "SELECT queued_jobs FROM agents WHERE id = 'a1'"), "1");
}

TEST_F(SqliteStoreTest, RefusesADatabaseWithANewerSchema) {
  {
    auto store = Open();
    ASSERT_THAT(store, IsOk());
  }
  QueryFile(File(),
            "INSERT INTO schema_migrations (version, name, applied_at_ms) "
            "VALUES (999, 'from the future', 0)");
  auto store = Open();
  ASSERT_THAT(store, FailsWith(Errc::kStore));
  EXPECT_FALSE(store.error().retryable);
  EXPECT_THAT(store.error().Describe(), ::testing::HasSubstr("newer"));
  EXPECT_THAT(store.error().Describe(), ::testing::HasSubstr("999"));
}

TEST_F(SqliteStoreTest, ReportsAnUnopenableFileAsAStoreError) {
  std::filesystem::create_directories(File());  // a directory where the file should be
  EXPECT_THAT(Open(), FailsWith(Errc::kStore));
}

TEST_F(SqliteStoreTest, RefusesToOpenWithoutAnIdGenerator) {
  EXPECT_THAT(SqliteStore::Open({.data_dir = dir_ / "data"}, StoreDeps{}),
              FailsWith(Errc::kInternal));
}

}  // namespace
}  // namespace orb::store
