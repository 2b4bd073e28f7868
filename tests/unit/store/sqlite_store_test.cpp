// SQLite-only behaviour of the store: the file, WAL mode and the migrations. Everything a store
// must do is in tests/contract/store_contract_test.cpp.

#include "store/sqlite/sqlite_store.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <future>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include "common/ids.hpp"
#include "store/migrations/sqlite_migrations.hpp"
#include "store/ops/dependencies.hpp"
#include "store/ops/history.hpp"
#include "store/ops/rollouts.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "support/manual_clock.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

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

// Migrations 16 to 14 undone: the abort reason; the hosts' start-time index; the rollout hosts'
// states, their indexes and triggers.
constexpr const char* kBackToVersionThirteen =
    "ALTER TABLE rollouts DROP COLUMN abort_reason; "
    "DROP INDEX rollout_hosts_start_time; "
    "DROP TRIGGER rollout_hosts_job_status; DROP TRIGGER rollout_hosts_job_started; "
    "DROP TRIGGER rollout_hosts_unenrolled; DROP INDEX rollout_hosts_job; "
    "DROP INDEX rollout_hosts_agent; DROP INDEX rollout_hosts_in_flight; "
    "DROP INDEX rollout_hosts_cancel; ALTER TABLE rollout_hosts DROP COLUMN job_status; "
    "ALTER TABLE rollout_hosts DROP COLUMN unenrolled; "
    "ALTER TABLE rollout_hosts DROP COLUMN cancel_asked; "
    "DELETE FROM schema_migrations WHERE version >= 14;";

// Undoes migrations 16 to 4 on a database file: the above, then no finished-jobs index, no
// inventories, no schedules, no rollouts, no run log counts, no dependencies, no health column,
// events numbered by AUTOINCREMENT again.
const std::string kBackToVersionThree =
    std::string(kBackToVersionThirteen) +
    "DROP INDEX jobs_ended; DROP TABLE agent_inventories; "
    "DROP TABLE schedules; DROP TABLE schedule_fires; DROP TABLE schedule_hosts; "
    "DROP TABLE job_schedules; ALTER TABLE events DROP COLUMN extra_json; "
    "DROP TABLE rollout_hosts; DROP TABLE rollouts; ALTER TABLE jobs DROP COLUMN rollout_id; "
    "ALTER TABLE events DROP COLUMN rollout_id; ALTER TABLE events DROP COLUMN counts_json; "
    "ALTER TABLE runs DROP COLUMN log_lines; ALTER TABLE runs DROP COLUMN log_bytes; "
    "ALTER TABLE runs DROP COLUMN logs_dropped; "
    "DROP TABLE job_dependencies; ALTER TABLE jobs DROP COLUMN deps_waiting; "
    "ALTER TABLE jobs DROP COLUMN has_dependents; "
    "ALTER TABLE agents DROP COLUMN health_json; DELETE FROM schema_migrations WHERE version >= 6; "
    "DROP TABLE leases; DROP INDEX agents_online; ALTER TABLE agents DROP COLUMN online; "
    "DROP INDEX tokens_change; ALTER TABLE tokens DROP COLUMN change_version; "
    "DROP TABLE store_meta; "
    "CREATE INDEX runs_agent_running ON runs (agent_id) WHERE status = 'RUNNING'; "
    "ALTER TABLE events RENAME TO events_plain; DROP INDEX events_job; "
    "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, "
    "ts_ms INTEGER NOT NULL, job_id TEXT, run_id TEXT, agent_id TEXT, instance_id TEXT, "
    "job_type TEXT, status TEXT, percent INTEGER, message TEXT, attempt INTEGER, "
    "error_json TEXT); "
    "INSERT INTO events SELECT * FROM events_plain; DROP TABLE events_plain; "
    "CREATE INDEX events_job ON events (job_id, seq); "
    "DELETE FROM schema_migrations WHERE version >= 4;";

// Undoes migrations 5 to 2 on a database file.
constexpr const std::string_view kBackToVersionOneFromThree =
    "DROP INDEX jobs_queue; DROP INDEX jobs_running; DROP INDEX jobs_status; "
    "CREATE INDEX jobs_dispatch ON jobs (agent_id, status, priority DESC, queued_at_ms, id); "
    "CREATE INDEX jobs_status ON jobs (status, not_before_ms); "
    "CREATE INDEX events_agent ON events (agent_id, seq); "
    "DROP TRIGGER jobs_queued_insert; DROP TRIGGER jobs_queued_update; "
    "DROP TRIGGER jobs_queued_delete; ALTER TABLE agents DROP COLUMN queued_jobs; "
    "DELETE FROM schema_migrations WHERE version >= 2;";
const std::string kBackToVersionOne =
    std::string(kBackToVersionThree) + std::string(kBackToVersionOneFromThree);

// The query plan of `sql` on the database file, one line per step.
std::string QueryPlan(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  const std::string explain = "EXPLAIN QUERY PLAN " + sql;
  EXPECT_EQ(sqlite3_prepare_v2(db, explain.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::string plan;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    plan += std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3))) + "\n";
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return plan;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  StoreDeps Deps() {
    StoreDeps deps;
    deps.ids = &ids_;
    return deps;
  }
  Expected<std::unique_ptr<SqliteStore>> Open() {
    return SqliteStore::Open({.data_dir = dir_ / "data"}, Deps());
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
  ExecFile(File(), kBackToVersionOne);
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

TEST_F(SqliteStoreTest, MigrationFourKeepsTheEventsAndNeverReusesASeqTheyHad) {
  protocol::Event event;
  event.type = protocol::EventType::kAgentOnline;
  event.timestamp = clock_.WallNow();
  event.agent_id = "a1";
  {
    auto store = Open();
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->AppendEvents(std::vector<protocol::Event>(5, event)), IsOk());
  }
  // A version-3 database with events 1..5, whose two newest were then deleted (as pruning with
  // nothing kept did then): AUTOINCREMENT remembered 5.
  ExecFile(File(), kBackToVersionThree);
  ExecFile(File(), "DELETE FROM events WHERE seq > 3");
  EXPECT_EQ(QueryFile(File(), "SELECT seq FROM sqlite_sequence WHERE name = 'events'"), "5");
  auto store = Open();
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ(QueryFile(File(), "SELECT COUNT(*) FROM events WHERE agent_id = 'a1'"), "3");
  auto last = (*store)->LastEventSeq();
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(*last, 5);
  auto appended = (*store)->AppendEvents({event});
  ASSERT_THAT(appended, IsOk());
  EXPECT_EQ(appended->events.front().seq, 6);
  auto read = (*store)->ReadEvents(0, 10, {});
  ASSERT_THAT(read, IsOk());
  ASSERT_EQ(read->size(), 4u);
  EXPECT_EQ((*read)[0].seq, 1);
  EXPECT_EQ((*read)[2].seq, 3);
  EXPECT_EQ((*read)[3].seq, 6);
}

// A rollout under way when the store is upgraded: migration 14 fills its hosts' states from
// their jobs and agents, and the next advance goes on from them.
TEST_F(SqliteStoreTest, MigrationFourteenFillsTheStatesOfTheHostsOfARolloutUnderWay) {
  const WallTime now = clock_.WallNow();
  std::string id;
  {
    auto store = Open();
    ASSERT_THAT(store, IsOk());
    for (const std::string agent : {"a1", "a2", "a3", "a4"}) {
      const TokenRecord token{"t-" + agent, agent, protocol::Role::kAgent, agent, "h-" + agent, now,
                              std::nullopt};
      ASSERT_THAT((*store)->EnrollAgent(agent, {}, token, now), IsOk());
    }
    CreateRolloutCommand command;
    command.request.name = "upgrade";
    command.request.target.agent_ids = {"a1", "a2", "a3", "a4"};
    command.request.job.type = "VERIFY_BACKUP";
    command.request.job.instance_id = "main";
    command.request.policy.max_in_flight = 3;
    auto created = (*store)->CreateRollout(command, now);
    ASSERT_THAT(created, IsOk());
    id = created->value.rollout.id;
    ASSERT_THAT((*store)->AdvanceRollout(id, now), IsOk());
  }
  // Back to version 13; then, as version 13 would have, a1's job completes and a2 is revoked.
  ExecFile(File(), kBackToVersionThirteen);
  ExecFile(File(),
           "UPDATE jobs SET status = 'COMPLETED' WHERE agent_id = 'a1'; UPDATE agents SET "
           "revoked_at_ms = 1 WHERE id = 'a2'");
  auto store = Open();
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ(QueryFile(File(),
                      "SELECT group_concat(agent_id || ':' || COALESCE(job_status, '-') || ':' || "
                      "unenrolled, ' ') FROM (SELECT * FROM rollout_hosts ORDER BY position)"),
            "a1:COMPLETED:0 a2:QUEUED:1 a3:QUEUED:0 a4:-:0");
  auto advanced = (*store)->AdvanceRollout(id, now);
  ASSERT_THAT(advanced, IsOk());
  const protocol::RolloutCounts& counts = advanced->value.rollout.counts;
  EXPECT_EQ(counts.completed, 1);
  EXPECT_EQ(counts.skipped, 1);
  EXPECT_EQ(counts.queued, 2);  // a3, and a4 started in the slots freed
  EXPECT_EQ(counts.pending, 0);
}

TEST_F(SqliteStoreTest, EventSeqsStayDenseAcrossAFailedOperation) {
  auto store = Open();
  ASSERT_THAT(store, IsOk());
  protocol::Event event;
  event.type = protocol::EventType::kAgentOnline;
  event.timestamp = clock_.WallNow();
  auto first = (*store)->AppendEvents({event});
  ASSERT_THAT(first, IsOk());
  // Dispatching for an unknown agent fails inside the writer and is rolled back.
  EXPECT_THAT((*store)->DispatchNext("nobody", clock_.WallNow(), 60), FailsWith(Errc::kNotFound));
  auto second = (*store)->AppendEvents({event});
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->events.front().seq, first->events.front().seq + 1);
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

TEST_F(SqliteStoreTest, ReadsQueuesAndRunningJobsThroughTheirNarrowIndexes) {
  ASSERT_THAT(Open(), IsOk());
  EXPECT_THAT(QueryPlan(File(),
                        "SELECT id FROM jobs WHERE agent_id = 'a' AND status = 'QUEUED' "
                        "ORDER BY priority DESC, queued_at_ms ASC, id ASC LIMIT 1"),
              ::testing::HasSubstr("jobs_queue"));
  EXPECT_THAT(QueryPlan(File(), "SELECT id FROM jobs WHERE agent_id = 'a' AND status = 'RUNNING'"),
              ::testing::HasSubstr("jobs_running"));
  // The agents' running runs (GET /v1/agents) come from the running jobs, found by index (runs
  // has no index by agent any more): no scan of the whole table.
  const std::string running =
      QueryPlan(File(),
                "SELECT agent_id, current_run_id FROM jobs WHERE status = 'RUNNING' "
                "ORDER BY agent_id, current_run_id");
  EXPECT_THAT(running, ::testing::HasSubstr("SEARCH jobs USING INDEX"));
  EXPECT_THAT(running, ::testing::Not(::testing::HasSubstr("SCAN")));
  EXPECT_THAT(
      QueryPlan(File(), "SELECT id FROM jobs WHERE status = 'CREATED' AND not_before_ms <= 5"),
      ::testing::HasSubstr("jobs_status"));
  EXPECT_THAT(QueryPlan(File(), "SELECT id FROM jobs WHERE status = ?1 ORDER BY id DESC LIMIT 5"),
              ::testing::HasSubstr("jobs_status"));
  // A job's dependents (the end of a job that has some) and its own dependencies (reads), each
  // by index (docs/decisions/0019): the dependents from the job's own few, not from every
  // CREATED job through jobs_status (which a `j.status = 'CREATED' ... ORDER BY j.id` made
  // SQLite read for the order).
  const std::string dependents = QueryPlan(File(), ops::DependentsSql());
  EXPECT_THAT(dependents, ::testing::HasSubstr("SEARCH d USING INDEX job_dependencies_on"));
  EXPECT_THAT(dependents, ::testing::Not(::testing::HasSubstr("jobs_status")));
  const std::string dependencies =
      QueryPlan(File(),
                "SELECT d.depends_on FROM job_dependencies d JOIN jobs j ON j.id = d.depends_on "
                "WHERE d.job_id = 'x'");
  EXPECT_THAT(dependencies, ::testing::HasSubstr("SEARCH d USING PRIMARY KEY"));
  EXPECT_THAT(dependencies, ::testing::Not(::testing::HasSubstr("SCAN")));
  // The stats history reads the jobs that ended in its window, not every finished job kept
  // (docs/decisions/0028): a range of jobs_ended, in its order (no sort).
  const sqlite::Connection db(File(), false, true);
  const std::string history = QueryPlan(File(), ops::HistorySql(db.dialect()));
  EXPECT_THAT(history, ::testing::HasSubstr("SEARCH j USING INDEX jobs_ended (updated_at_ms>? AND "
                                            "updated_at_ms<?)"));
  EXPECT_THAT(history, ::testing::Not(::testing::HasSubstr("TEMP B-TREE")));
  // An advance reads a rollout's hosts by state through the partial indexes, not every host of
  // the rollout by its primary key nor every host in flight (docs/decisions/0026, 0028); it
  // counts those in flight from the index alone.
  using ops::HostRead;
  const std::pair<HostRead, std::string> reads[] = {
      {HostRead::kSettle,
       "SEARCH h USING INDEX rollout_hosts_in_flight (rollout_id=? AND "
       "job_status=?)"},
      {HostRead::kTimedOut,
       "SEARCH h USING INDEX rollout_hosts_in_flight (rollout_id=? AND "
       "job_status=? AND unenrolled=? AND started_ms<?)"},
      {HostRead::kUnenrolled,
       "SEARCH h USING INDEX rollout_hosts_in_flight (rollout_id=? AND "
       "job_status=? AND unenrolled=?)"},
      {HostRead::kPending, "SEARCH h USING INDEX rollout_hosts_pending (rollout_id=?)"},
      {HostRead::kUnstarted,
       "SEARCH h USING INDEX rollout_hosts_in_flight (rollout_id=? AND "
       "job_status=?)"},
      {HostRead::kRunningToCancel, "SEARCH h USING INDEX rollout_hosts_cancel (rollout_id=?)"},
      {HostRead::kInFlightCounts,
       "SEARCH rollout_hosts USING COVERING INDEX "
       "rollout_hosts_in_flight (rollout_id=? AND job_status=? AND "
       "unenrolled<?)"},
      {HostRead::kRecentStarts,
       "SEARCH rollout_hosts USING COVERING INDEX rollout_hosts_start_time (rollout_id=? AND "
       "started_ms>?)"},
  };
  for (const auto& [read, expected] : reads) {
    const std::string plan = QueryPlan(File(), ops::HostReadSql(db.dialect(), read));
    EXPECT_THAT(plan, ::testing::HasSubstr(expected)) << static_cast<int>(read);
    EXPECT_THAT(plan, ::testing::Not(::testing::HasSubstr("TEMP B-TREE")))
        << static_cast<int>(read);
  }
}

// A store over a WAL "disk" whose sync the test controls.
class SqliteStoreSyncTest : public SqliteStoreTest {
 protected:
  Expected<std::unique_ptr<SqliteStore>> OpenWithSync(std::function<int(int)> sync) {
    return SqliteStore::Open({.data_dir = dir_ / "data", .sync_wal = std::move(sync)}, Deps());
  }
  static CreateJobsCommand OneJob(const std::string& instance) {
    CreateJobsCommand command;
    JobSpec spec;
    spec.agent_id = "a1";
    spec.type = "VERIFY_BACKUP";
    spec.instance_id = instance;
    command.jobs.push_back(spec);
    return command;
  }
  void Enroll(Store& store) {
    const WallTime now = clock_.WallNow();
    const TokenRecord token{"t1", "a1", protocol::Role::kAgent, "a1", "h1", now, std::nullopt};
    ASSERT_THAT(store.EnrollAgent("a1", {}, token, now), IsOk());
  }
};

TEST_F(SqliteStoreSyncTest, AcknowledgesAWriteOnlyAfterTheWalIsSynced) {
  std::atomic<bool> hold{false};
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto store = OpenWithSync([&](int fd) {
    if (hold.exchange(false)) {
      entered.set_value();
      released.wait();
    }
    return ::fdatasync(fd);
  });
  ASSERT_THAT(store, IsOk());
  Enroll(**store);

  hold = true;
  std::promise<Expected<Mutation<CreatedJobs>>> result;
  (*store)->CreateJobsAsync(
      OneJob("mc-1"), clock_.WallNow(),
      [&](Expected<Mutation<CreatedJobs>> r) { result.set_value(std::move(r)); });
  auto done = result.get_future();
  ASSERT_EQ(entered.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  // Committed by SQLite, so another connection sees it, but not on disk yet: nobody was told.
  EXPECT_EQ(QueryFile(File(), "SELECT COUNT(*) FROM jobs"), "1");
  EXPECT_EQ(done.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

  release.set_value();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_THAT(done.get(), IsOk());
}

TEST_F(SqliteStoreSyncTest, AFailedSyncFailsItsWritesAndEveryLaterOneWhileReadsGoOn) {
  std::atomic<bool> fail{false};
  auto store = OpenWithSync([&](int fd) {
    if (fail.load()) {
      errno = EIO;
      return -1;
    }
    return ::fdatasync(fd);
  });
  ASSERT_THAT(store, IsOk());
  Enroll(**store);
  ASSERT_THAT((*store)->CreateJobs(OneJob("mc-1"), clock_.WallNow()), IsOk());

  fail = true;
  auto lost = (*store)->CreateJobs(OneJob("mc-2"), clock_.WallNow());
  ASSERT_THAT(lost, FailsWith(Errc::kStore));
  EXPECT_THAT(lost.error().Describe(), ::testing::HasSubstr("fdatasync"));

  fail = false;  // the disk answers again, but what it holds is not known: still refused
  auto later = (*store)->CreateJobs(OneJob("mc-3"), clock_.WallNow());
  ASSERT_THAT(later, FailsWith(Errc::kStore));
  EXPECT_THAT(later.error().Describe(), ::testing::HasSubstr("restart"));
  EXPECT_THAT((*store)->GetAgent("a1"), IsOk());
}

}  // namespace
}  // namespace orb::store

namespace orb::store {
namespace {

// The writer's commits do not checkpoint; the checkpointer thread does, beside it
// (docs/decisions/0027). It must still copy the WAL into the database and keep the WAL from
// growing: 300 commits of ~64 KiB each write ~4,800 WAL frames (~19 MiB), and without
// checkpoints the WAL file would hold all of them.
TEST_F(SqliteStoreSyncTest, TheCheckpointerCopiesTheWalIntoTheDatabaseAndKeepsItSmall) {
  auto store = Open();
  ASSERT_THAT(store, IsOk());
  Enroll(**store);
  const std::string filler(64 * 1024, 'x');
  for (int i = 0; i < 300; ++i) {
    CreateJobsCommand command = OneJob("mc-" + std::to_string(i));
    command.jobs[0].payload_json = R"({"filler":")" + filler + R"("})";
    ASSERT_THAT((*store)->CreateJobs(command, clock_.WallNow()), IsOk());
  }
  const std::filesystem::path wal = File().string() + "-wal";
  // The last wake-up's checkpoint may still be running: the jobs are in the database file once
  // it is done (19 MiB of payloads; the file holds nothing but the schema without checkpoints).
  EXPECT_TRUE(::orb::testing::WaitFor(
      [&] { return std::filesystem::file_size(File()) > 16u << 20; }, std::chrono::seconds(20)));
  // SQLite's own automatic checkpoint would keep the WAL at ~1,000 frames (4 MiB) plus what was
  // committed while a checkpoint ran.
  EXPECT_LT(std::filesystem::file_size(wal), 12u << 20);
  EXPECT_EQ(QueryFile(File(), "SELECT COUNT(*) FROM jobs"), "300");
}

}  // namespace
}  // namespace orb::store
