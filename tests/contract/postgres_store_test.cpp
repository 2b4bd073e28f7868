// PostgreSQL-only behaviour of the store: migrations under the advisory lock, refusing a newer
// schema, and surviving the loss of the database server. Everything a store must do is in the
// value-parameterized suites (store_*_test.cpp).

#include "store/postgres/postgres_store.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "contract/store_contract.hpp"
#include "store/migrations/postgres_migrations.hpp"
#include "store/postgres/pg_connection.hpp"
#include "support/postgres.hpp"
#include "support/tcp_relay.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::store {
namespace {

using ::orb::testing::PgQuery;
using ::orb::testing::PostgresCluster;
using ::orb::testing::TestDatabase;
using Steady = std::chrono::steady_clock;
using postgres::PgConnection;
using protocol::RunStatus;

class PostgresStoreTest : public ::testing::Test {
 protected:
  StoreDeps Deps() {
    StoreDeps deps;
    deps.ids = &ids_;
    return deps;
  }
  // An empty database on the test run's cluster (no migration applied yet).
  std::unique_ptr<TestDatabase> EmptyDatabase() {
    auto db = TestDatabase::OnFixture();
    EXPECT_THAT(db, IsOk());
    return db ? *std::move(db) : nullptr;
  }
  // A store with `writers` writer connections on a fresh database (db_); null when either
  // failed.
  std::unique_ptr<PostgresStore> OpenStore(int writers) {
    db_ = EmptyDatabase();
    if (db_ == nullptr) return nullptr;
    PostgresStoreOptions options;
    options.writers = writers;
    auto opened = PostgresStore::Open(db_->url(), options, Deps());
    EXPECT_THAT(opened, IsOk());
    return opened ? *std::move(opened) : nullptr;
  }
  // A command that creates one job for `agent`, on `instance`.
  static CreateJobsCommand OneJob(const std::string& agent, const std::string& instance = "mc") {
    CreateJobsCommand command;
    JobSpec spec;
    spec.agent_id = agent;
    spec.type = "VERIFY_BACKUP";
    spec.instance_id = instance;
    spec.payload_json = "{}";
    command.jobs.push_back(spec);
    return command;
  }
  static void Enroll(Store& store, const std::string& agent, WallTime now) {
    TokenRecord token{"tok-" + agent, agent, protocol::Role::kAgent, agent, "hash-" + agent, now,
                      std::nullopt};
    ASSERT_THAT(store.EnrollAgent(agent, {}, token, now), IsOk());
  }

  // A cluster of the test's own, for a test that kills or restarts the server (the others keep
  // the fixture's), with an empty database `orb`; destroyed after the test. Null when it could
  // not start.
  PostgresCluster* OwnCluster() {
    auto started = PostgresCluster::Start(own_dir_.path() / "pg");
    EXPECT_THAT(started, IsOk());
    if (!started) return nullptr;
    own_cluster_.emplace(*std::move(started));
    EXPECT_THAT(PgQuery(own_cluster_->Url(), "CREATE DATABASE orb"), IsOk());
    return &*own_cluster_;
  }
  // Sessions of OpenStore's database waiting for a lock (-1 when that cannot be read). Not
  // pg_locks: it is the whole cluster's, which the tests running beside this one share.
  int WaitingLocks() const {
    auto waiting = PgQuery(db_->url(),
                           "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND wait_event_type = 'Lock'");
    return waiting ? std::stoi(*waiting) : -1;
  }
  void TearDown() override {
    if (own_cluster_) (void)own_cluster_->Destroy();
  }

  ::orb::testing::ManualClock clock_;
  IdGenerator ids_{clock_};
  std::unique_ptr<TestDatabase> db_;  // OpenStore's
  ::orb::testing::TempDir own_dir_;
  std::optional<PostgresCluster> own_cluster_;  // OwnCluster's
};

TEST_F(PostgresStoreTest, ReplicasThatOpenTogetherMigrateOnce) {
  auto db = EmptyDatabase();
  ASSERT_NE(db, nullptr);
  std::atomic<int> opened{0};
  std::vector<std::thread> replicas;
  for (int i = 0; i < 4; ++i) {
    replicas.emplace_back([&] {
      auto store = PostgresStore::Open(db->url(), {}, Deps());
      EXPECT_THAT(store, IsOk());
      if (store) ++opened;
    });
  }
  for (auto& replica : replicas)
    replica.join();
  EXPECT_EQ(opened.load(), 4);
  auto count = PgQuery(db->url(), "SELECT COUNT(*) FROM schema_migrations");
  ASSERT_THAT(count, IsOk());
  EXPECT_EQ(*count, std::to_string(PostgresMigrations().size()));
  auto store = PostgresStore::Open(db->url(), {}, Deps());
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->LastEventSeq(), IsOk());
}

TEST_F(PostgresStoreTest, MigrationsAreNumberedWithoutGaps) {
  int expected = 1;
  for (const Migration& migration : PostgresMigrations()) {
    EXPECT_EQ(migration.version, expected++);
    EXPECT_FALSE(migration.name.empty());
    EXPECT_FALSE(migration.sql.empty());
  }
}

TEST_F(PostgresStoreTest, RefusesADatabaseWithANewerSchema) {
  auto db = EmptyDatabase();
  ASSERT_NE(db, nullptr);
  ASSERT_THAT(PostgresStore::Open(db->url(), {}, Deps()), IsOk());
  ASSERT_THAT(PgQuery(db->url(),
                      "INSERT INTO schema_migrations (version, name, applied_at_ms) "
                      "VALUES (999, 'from the future', 0)"),
              IsOk());
  auto store = PostgresStore::Open(db->url(), {}, Deps());
  ASSERT_THAT(store, FailsWith(Errc::kStore));
  EXPECT_FALSE(store.error().retryable);
  EXPECT_THAT(store.error().Describe(),
              ::testing::HasSubstr("the database has schema version 999, newer than the " +
                                   std::to_string(PostgresMigrations().back().version) +
                                   " this fleet-cmdr knows; upgrade fleet-cmdr"));
}

TEST_F(PostgresStoreTest, AnUnreachableDatabaseIsARetryableStoreError) {
  // A port of 127.0.0.1 nobody listens on: the one of a cluster that was stopped.
  ::orb::testing::TempDir dir;
  auto cluster = PostgresCluster::Start(dir / "pg");
  ASSERT_THAT(cluster, IsOk());
  const std::string url = cluster->Url();
  ASSERT_THAT(cluster->Destroy(), IsOk());
  auto store = PostgresStore::Open(url, {}, Deps());
  ASSERT_THAT(store, FailsWith(Errc::kStore));
  EXPECT_TRUE(store.error().retryable);
}

// The server goes away under an open store (killed, as a crash would) and comes back: calls fail
// retryable and fast meanwhile, then work again on the same store, which reconnected by itself,
// and its listener tells the owner to catch up.
TEST_F(PostgresStoreTest, SurvivesTheServerGoingAwayAndComingBack) {
  PostgresCluster* cluster = OwnCluster();
  ASSERT_NE(cluster, nullptr);

  std::atomic<int> catch_ups{0};
  StoreDeps deps = Deps();
  deps.on_foreign_commit = [&](std::int64_t) { ++catch_ups; };
  auto opened = PostgresStore::Open(cluster->Url("orb"), {.reconnect_pause = 200ms}, deps);
  ASSERT_THAT(opened, IsOk());
  Store& store = **opened;
  ASSERT_TRUE(::orb::testing::WaitFor([&] { return catch_ups.load() >= 1; }, 10s));
  const WallTime now = clock_.WallNow();
  TokenRecord token{"t1", "a1", protocol::Role::kAgent, "a1", "h1", now, std::nullopt};
  ASSERT_THAT(store.EnrollAgent("a1", {}, token, now), IsOk());
  const CreateJobsCommand command = OneJob("a1");
  auto created = store.CreateJobs(command, now);
  ASSERT_THAT(created, IsOk());
  const std::string job_id = created->value.jobs[0].id;
  ASSERT_THAT(store.GetJob(job_id), IsOk());

  ASSERT_THAT(cluster->Kill(), IsOk());
  // Each call finds its connection gone or the server refusing: a retryable store error.
  auto read = store.GetJob(job_id);
  ASSERT_THAT(read, FailsWith(Errc::kStore));
  EXPECT_TRUE(read.error().retryable);
  auto write = store.CreateJobs(command, now);
  ASSERT_THAT(write, FailsWith(Errc::kStore));
  EXPECT_TRUE(write.error().retryable);
  // While it is down, a read fails at once (no connection attempt waits for a timeout).
  const auto before = Steady::now();
  EXPECT_THAT(store.GetJob(job_id), FailsWith(Errc::kStore));
  EXPECT_THAT(store.ListAgents({}), FailsWith(Errc::kStore));
  EXPECT_LT(Steady::now() - before, 1s);

  const int catch_ups_before = catch_ups.load();
  ASSERT_THAT(cluster->Restart(), IsOk());
  // Back: the same store reconnects by itself (after its reconnect pause).
  ASSERT_TRUE(::orb::testing::WaitFor([&] { return store.GetJob(job_id).has_value(); }, 10s));
  auto again = store.CreateJobs(command, now);
  ASSERT_THAT(again, IsOk());
  auto next = store.DispatchNext("a1", now, 60);
  ASSERT_THAT(next, IsOk());
  auto listed = store.ListJobs({}, 10, std::nullopt);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->jobs.size(), 2u);  // the write that failed did not happen
  // The listener reconnected too and asked its owner to catch up on what it may have missed.
  EXPECT_TRUE(::orb::testing::WaitFor([&] { return catch_ups.load() > catch_ups_before; }, 10s));
}

// The server restarts (or fails over) while the store has nothing to do: the writers' idle
// connections are closed by the server. The next write goes to a new connection at once instead
// of failing on the dead one (a 503 to its client), as the first write after a failover did.
TEST_F(PostgresStoreTest, TheFirstWriteAfterTheServerRestartedWhileTheStoreWasIdleSucceeds) {
  PostgresCluster* cluster = OwnCluster();
  ASSERT_NE(cluster, nullptr);
  auto opened = PostgresStore::Open(cluster->Url("orb"), {.writers = 1}, Deps());
  ASSERT_THAT(opened, IsOk());
  Store& store = **opened;
  const WallTime now = clock_.WallNow();
  Enroll(store, "a1", now);
  ASSERT_THAT(store.CreateJobs(OneJob("a1", "mc-1"), now), IsOk());

  ASSERT_THAT(cluster->Kill(), IsOk());
  ASSERT_THAT(cluster->Restart(), IsOk());
  EXPECT_THAT(store.CreateJobs(OneJob("a1", "mc-2"), now), IsOk());
  auto listed = store.ListJobs({}, 10, std::nullopt);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->jobs.size(), 2u);
}

// PostgreSQL stops answering without closing anything: the server hangs, or the network holds
// the packets (here a relay in front of the server holds every byte). TCP does not notice while
// the relay's kernel acknowledges what is sent, so only the store's response timeout ends a call:
// it fails retryable after that timeout instead of never, and the store works again, on new
// connections, once the server answers.
TEST_F(PostgresStoreTest, CallsToAServerThatStopsAnsweringFailAfterTheResponseTimeout) {
  auto db = EmptyDatabase();
  ASSERT_NE(db, nullptr);
  ::orb::testing::TcpRelay relay({.upstream_port = ::orb::testing::PortOfUrl(db->url())});
  const std::string url = ::orb::testing::UrlWithPort(db->url(), relay.port());
  PostgresStoreOptions options;
  options.response_timeout = 1s;
  options.reconnect_pause = 200ms;
  auto opened = PostgresStore::Open(url, options, Deps());
  ASSERT_THAT(opened, IsOk());
  Store& store = **opened;
  const WallTime now = clock_.WallNow();
  Enroll(store, "a1", now);
  const CreateJobsCommand command = OneJob("a1");
  auto created = store.CreateJobs(command, now);
  ASSERT_THAT(created, IsOk());
  const std::string job_id = created->value.jobs[0].id;
  ASSERT_THAT(store.GetJob(job_id), IsOk());  // a reader connection is pooled now

  relay.Stall();
  // Each call in a thread of its own, watched for 10 s: the response timeout (1 s), plus one
  // connection attempt's connect_timeout (5 s) when the call needs a new connection, plus slack.
  // Without a response timeout a call never returns; the relay resumes then, so that the test
  // ends.
  const auto bounded = [&](auto call) {
    const auto started = Steady::now();
    auto result = std::async(std::launch::async, call);
    const bool returned = result.wait_for(10s) == std::future_status::ready;
    if (!returned) relay.Resume();
    EXPECT_TRUE(returned) << "a call to a server that does not answer did not return in 10 s";
    auto value = result.get();
    EXPECT_GE(Steady::now() - started, options.response_timeout) << "it did not wait for an answer";
    return value;
  };
  auto read = bounded([&] { return store.GetJob(job_id); });
  ASSERT_THAT(read, FailsWith(Errc::kStore));
  EXPECT_TRUE(read.error().retryable);
  EXPECT_THAT(read.error().Describe(),
              ::testing::HasSubstr("no answer from the server within 1000 ms"));
  auto write = bounded([&] { return store.CreateJobs(command, now); });
  ASSERT_THAT(write, FailsWith(Errc::kStore));
  EXPECT_TRUE(write.error().retryable);

  relay.Resume();
  // The store replaced the connections it gave up, and works again.
  ASSERT_TRUE(::orb::testing::WaitFor([&] { return store.GetJob(job_id).has_value(); }, 10s));
  ASSERT_TRUE(
      ::orb::testing::WaitFor([&] { return store.CreateJobs(command, now).has_value(); }, 10s));
  auto next = store.DispatchNext("a1", now, 60);
  ASSERT_THAT(next, IsOk());
}

// A prepared statement keeps the generic plan PostgreSQL made for it until the table's
// statistics change, which autovacuum does up to a minute after a table grew. A plan made while
// the tables were nearly empty reads every row of the grown table on each call, so connections
// replan (RefreshPlansIfDue) every kPlanLifetime. Here the shape of the dispatch's queue-head read
// on two tables autovacuum leaves alone: their statistics stay those of empty tables.
TEST_F(PostgresStoreTest, ConnectionsReplanWhatTheyPreparedWhileTheTablesWereSmall) {
  auto db = EmptyDatabase();
  ASSERT_NE(db, nullptr);
  ASSERT_THAT(PgQuery(db->url(),
                      "CREATE TABLE a (id TEXT PRIMARY KEY) WITH (autovacuum_enabled = false); "
                      "CREATE TABLE q (id TEXT PRIMARY KEY, a_id TEXT NOT NULL, status TEXT NOT "
                      "NULL, priority INT NOT NULL) WITH (autovacuum_enabled = false); "
                      "CREATE INDEX q_queue ON q (a_id, priority DESC, id) WHERE status = "
                      "'QUEUED'; INSERT INTO a VALUES ('a1')"),
              IsOk());
  constexpr std::string_view kHead =
      "SELECT id FROM q WHERE id IN (SELECT (SELECT h.id FROM q h WHERE h.a_id = a.id AND "
      "h.status = 'QUEUED' ORDER BY h.priority DESC, h.id LIMIT 1) FROM a WHERE a.id = "
      "ANY(?1::text[]))";
  PgConnection connection(db->url(), /*pipeline=*/true);
  // PostgreSQL switches a statement to its generic plan after five custom ones when that looks no
  // dearer, which depends on the columns' widths and the tables' sizes; here it always does.
  connection.ExecScript("SET plan_cache_mode = force_generic_plan");
  const std::vector<std::string> agents{"a1"};
  const auto call = [&] {
    auto& statement = connection.PrepareStatement(kHead);
    statement.BindTextList(1, agents);
    while (statement.Step()) {
    }
    statement.Reset();
  };
  const auto plan = [&] {
    std::string text;
    const auto name = connection.ExecBinary(
        "SELECT name FROM pg_prepared_statements WHERE statement LIKE 'SELECT id FROM q%'", {},
        false);
    if (name.rows() != 1) return text;
    const auto rows = connection.ExecBinary(
        "EXPLAIN EXECUTE " + std::string(name.Value(0, 0)) + "('{a1}')", {}, false);
    for (int row = 0; row < rows.rows(); ++row)
      text += std::string(rows.Value(row, 0)) + "\n";
    return text;
  };
  for (int i = 0; i < 10; ++i)
    call();
  ASSERT_THAT(PgQuery(db->url(),
                      "INSERT INTO a SELECT 'a' || g FROM generate_series(2, 10000) g; INSERT "
                      "INTO q SELECT 'q' || g, 'a' || (1 + g % 10000), 'COMPLETED', 0 FROM "
                      "generate_series(1, 50000) g"),
              IsOk());
  call();
  // The plan made for the empty tables: all 50,000 rows of q read on each call.
  const auto made = Steady::now();
  connection.RefreshPlansIfDue(made);  // not due yet
  EXPECT_THAT(plan(), ::testing::HasSubstr("Seq Scan on q"));
  connection.RefreshPlansIfDue(made + PgConnection::kPlanLifetime);
  call();
  const std::string replanned = plan();
  EXPECT_THAT(replanned, ::testing::Not(::testing::HasSubstr("Seq Scan on q")));
  EXPECT_THAT(replanned, ::testing::HasSubstr("q_queue"));
}

// A replica stopped inside a transaction (SIGSTOP, a frozen VM) holds the leader lease's row lock
// while its session stays open. The server ends that session after the store's idle timeout, so
// another replica takes the lease seconds after it expired, not when the stopped one wakes up.
TEST_F(PostgresStoreTest, AReplicaStoppedInsideATransactionHoldsTheLeaderLeaseOnlySeconds) {
  auto db = EmptyDatabase();
  ASSERT_NE(db, nullptr);
  auto opened = PostgresStore::Open(db->url(), {}, Deps());
  ASSERT_THAT(opened, IsOk());
  Store& store = **opened;
  const WallTime now = clock_.WallNow();
  auto first = store.TryLeadership("timers", "replica-a", now, 10s);
  ASSERT_THAT(first, IsOk());
  ASSERT_TRUE(first->held);

  // replica-a's session, frozen after it locked the lease's row in a renewal.
  PgConnection frozen(db->url(), /*pipeline=*/false);
  frozen.ExecScript("BEGIN; SELECT * FROM leases WHERE name = 'timers' FOR UPDATE");

  // replica-b asks once the lease expired: it waits for the row until the server ends the frozen
  // session, then takes the lease.
  const auto asked = Steady::now();
  auto taken = std::async(std::launch::async, [&] {
    return store.TryLeadership("timers", "replica-b", now + 11s, 10s);
  });
  // Watched for three times the idle timeout: before it, the session's lock was 60 s.
  ASSERT_EQ(taken.wait_for(3 * PgConnection::kIdleInTransactionTimeout), std::future_status::ready);
  const auto waited = Steady::now() - asked;
  auto leadership = taken.get();
  ASSERT_THAT(leadership, IsOk());
  EXPECT_TRUE(leadership->held);
  EXPECT_EQ(leadership->holder, "replica-b");
  EXPECT_GE(waited, PgConnection::kIdleInTransactionTimeout - 1s);  // it did wait for the lock
  // The frozen session was ended: what it sends next fails as a lost connection.
  EXPECT_THROW(frozen.ExecScript("COMMIT"), sql::SqlError);
}

// The batch reads its operations' first reads ahead, together (ops/batch_reads.hpp): an operation
// must still see what the operations before it in the same batch changed. One writer whose batch
// waits for a row lock held here, while an update that ends a run and two dispatches of the same
// agent queue behind it; they run as the next batch, together.
TEST_F(PostgresStoreTest, OperationsOfOneBatchSeeWhatEarlierOnesChanged) {
  auto opened = OpenStore(1);
  ASSERT_NE(opened, nullptr);
  PostgresStore& store = *opened;
  const TestDatabase* db = db_.get();
  const WallTime now = clock_.WallNow();
  for (const std::string agent : {"a1", "blocker"}) {
    Enroll(store, agent, now);
    protocol::HelloRequest hello;
    hello.agent_version = "1.0.0";
    hello.job_types = {"VERIFY_BACKUP"};
    hello.max_parallel = 1;
    ASSERT_THAT(store.RecordHello(agent, hello, now), IsOk());
  }
  std::vector<std::string> jobs;
  for (const std::string instance : {"mc-1", "mc-2", "mc-3"}) {
    auto created = store.CreateJobs(OneJob("a1", instance), now);
    ASSERT_THAT(created, IsOk());
    jobs.push_back(created->value.jobs.at(0).id);
  }
  auto first = store.DispatchNext("a1", now, kLease);
  ASSERT_THAT(first, IsOk());
  ASSERT_TRUE(first->value.has_value());
  ASSERT_EQ(first->value->execution.job_id, jobs[0]);

  // The writer's next batch waits for the blocker's row, locked by this session.
  PgConnection holder(db->url(), /*pipeline=*/false);
  holder.ExecScript("BEGIN; SELECT * FROM agents WHERE id = 'blocker' FOR UPDATE");
  std::promise<void> blocked_done;
  store.DispatchNextAsync("blocker", now, kLease, [&](auto) { blocked_done.set_value(); });
  ASSERT_TRUE(::orb::testing::WaitFor(
      [&] {
        auto waiting = ::orb::testing::PgQuery(
            db->url(),
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'tuple' "
            "OR (NOT granted AND locktype = 'transactionid')");
        return waiting && *waiting != "0";
      },
      10s));
  const PostgresStoreStats before = store.stats();

  using DispatchResult = Expected<Mutation<std::optional<Dispatched>>>;
  std::promise<Expected<Mutation<protocol::UpdatesResponse>>> ended;
  std::promise<DispatchResult> second;
  std::promise<DispatchResult> third;
  protocol::UpdatesRequest request;
  request.final_update = protocol::FinalUpdate{};
  request.final_update->seq = 1;
  request.final_update->status = RunStatus::kCompleted;
  request.final_update->timestamp = now;
  store.ApplyUpdatesAsync("a1", first->value->run.id, request, now, kLease,
                          [&](auto result) { ended.set_value(std::move(result)); });
  store.DispatchNextAsync("a1", now, kLease,
                          [&](auto result) { second.set_value(std::move(result)); });
  store.DispatchNextAsync("a1", now, kLease,
                          [&](auto result) { third.set_value(std::move(result)); });
  holder.ExecScript("COMMIT");

  auto ended_future = ended.get_future();
  auto second_future = second.get_future();
  auto third_future = third.get_future();
  ASSERT_EQ(third_future.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(blocked_done.get_future().wait_for(10s), std::future_status::ready);
  ASSERT_THAT(ended_future.get(), IsOk());
  const DispatchResult second_result = second_future.get();
  const DispatchResult third_result = third_future.get();
  ASSERT_THAT(second_result, IsOk());
  ASSERT_THAT(third_result, IsOk());
  // The first dispatch saw the run ended, so the agent's one slot free, and took the head (read
  // ahead of the update, the agent was full); the second saw that job running: nothing.
  ASSERT_TRUE(second_result->value.has_value());
  EXPECT_EQ(second_result->value->execution.job_id, jobs[1]);
  EXPECT_FALSE(third_result->value.has_value());
  // The three ran as one batch (else this test would not test reading ahead).
  const PostgresStoreStats after = store.stats();
  EXPECT_EQ(after.batches - before.batches, 2u);  // the blocker's and theirs
  EXPECT_EQ(after.operations - before.operations, 4u);
}

// Two writers of one instance, and a row lock between them (fixed in 9c77ee1, found by W1 with 8
// store writers): a batch whose operations only defer their writes reaches its commit while its
// agents' row locks are still in flight. Had it taken the instance's commit order there, and one
// of those locks waited for a row another writer held, that writer could not commit and release
// the row without the order: neither went on, and PostgreSQL, which sees only the row lock, found
// no deadlock, so both hung until idle_in_transaction_session_timeout
// (PgConnection::kIdleInTransactionTimeout, 5 s) ended one session and failed its batch. The batch
// waits for its locks first. Here writer 1 runs a create for agents x and y and holds x while it
// waits for y, which this test holds; writer 2 runs a presence flush of w and x (deferred writes
// only) and waits for x. When y is let go, both must succeed. (With the wait removed this test
// fails: the create ends with "server closed the connection unexpectedly" after 5 s.)
TEST_F(PostgresStoreTest, TwoWritersWaitingForEachOthersRowsBothCommit) {
  auto opened = OpenStore(2);
  ASSERT_NE(opened, nullptr);
  PostgresStore& store = *opened;
  const TestDatabase* db = db_.get();
  // The create (an operator's: the interactive writer's) and the flush (the presence timer's: a
  // writer the fleet's calls share) run on different connections; w < x < y in id order.
  const std::string w = "agent-w";
  const std::string x = "agent-x";
  const std::string y = "agent-y";
  const WallTime now = clock_.WallNow();
  for (const std::string& agent : {w, x, y})
    Enroll(store, agent, now);

  PgConnection holder(db->url(), /*pipeline=*/false);
  holder.ExecScript("BEGIN; SELECT * FROM agents WHERE id = 'agent-y' FOR UPDATE");
  // Writer 1: locks x, then waits for y; the create reads (whether its agents exist) before it
  // can go on, so it does not reach its commit.
  auto created = std::async(std::launch::async, [&] {
    CreateJobsCommand command;
    command.batch = true;  // two jobs: a selector's batch
    for (const std::string& agent : {x, y}) {
      JobSpec spec;
      spec.agent_id = agent;
      spec.type = "VERIFY_BACKUP";
      spec.instance_id = "mc-1";
      spec.payload_json = "{}";
      command.jobs.push_back(spec);
    }
    return store.CreateJobs(command, now);
  });
  ASSERT_TRUE(::orb::testing::WaitFor([&] { return WaitingLocks() >= 1; }, 10s));
  // Writer 2: locks w, then waits for x; its writes are all deferred, so it reaches its commit.
  auto flushed = std::async(std::launch::async, [&] {
    const std::vector<AgentSeen> seen{{w, now}, {x, now}};
    return store.TouchAgents(seen);
  });
  ASSERT_TRUE(::orb::testing::WaitFor([&] { return WaitingLocks() >= 2; }, 10s));
  holder.ExecScript("COMMIT");
  // 15 s: far more than the few milliseconds both need once y is free; a hang ends after 5 s
  // with a failed batch, which the checks below see.
  ASSERT_EQ(created.wait_for(15s), std::future_status::ready);
  ASSERT_EQ(flushed.wait_for(15s), std::future_status::ready);
  EXPECT_THAT(created.get(), IsOk());
  EXPECT_THAT(flushed.get(), IsOk());
}

// An operator's create has a writer of its own (PostgresStoreOptions::interactive_writer): it
// does not wait while every writer the fleet's calls share is stuck behind a row lock (here held
// by another session; in production, a busy batch).
TEST_F(PostgresStoreTest, AnOperatorsCreateDoesNotWaitBehindTheFleetsWriters) {
  auto opened = OpenStore(2);
  ASSERT_NE(opened, nullptr);
  PostgresStore& store = *opened;
  const TestDatabase* db = db_.get();
  const WallTime now = clock_.WallNow();
  std::vector<std::string> fleet;
  for (int i = 0; i < 32; ++i) {
    fleet.push_back((i < 10 ? "fleet-0" : "fleet-") + std::to_string(i));
    Enroll(store, fleet.back(), now);
  }
  Enroll(store, "operators-host", now);
  PgConnection holder(db->url(), /*pipeline=*/false);
  holder.ExecScript("BEGIN; SELECT * FROM agents WHERE id LIKE 'fleet-%' FOR UPDATE");
  // One presence flush per fleet agent: each writer the fleet shares takes one and waits for the
  // lock; both waiting is two ungranted locks (a writer runs one batch at a time).
  std::vector<std::future<Status>> flushes;
  for (const std::string& agent : fleet) {
    flushes.push_back(std::async(std::launch::async, [&store, agent, now] {
      return store.TouchAgents(std::vector<AgentSeen>{{agent, now}});
    }));
  }
  ASSERT_TRUE(::orb::testing::WaitFor([&] { return WaitingLocks() >= 2; }, 10s));

  // 10 s: the create needs milliseconds on a free connection; behind a stuck writer it would
  // wait for the holder, which commits only after this check.
  auto created = std::async(std::launch::async,
                            [&] { return store.CreateJobs(OneJob("operators-host"), now); });
  ASSERT_EQ(created.wait_for(10s), std::future_status::ready);
  EXPECT_THAT(created.get(), IsOk());
  for (auto& flush : flushes)
    EXPECT_NE(flush.wait_for(0s), std::future_status::ready);

  holder.ExecScript("COMMIT");
  for (auto& flush : flushes) {
    ASSERT_EQ(flush.wait_for(15s), std::future_status::ready);
    EXPECT_THAT(flush.get(), IsOk());
  }
}

// During a rolling upgrade, replicas of the previous version write jobs and agents without
// knowing rollout_hosts.job_status and .unenrolled (migration 10). The database keeps them by
// triggers, so an advance on a new replica sees what those writers did: here plain SQL stands
// for them.
TEST_F(PostgresStoreTest, AHostsStateFollowsWritersThatDoNotKnowTheColumnsThatHoldIt) {
  auto opened = OpenStore(1);
  ASSERT_NE(opened, nullptr);
  PostgresStore& store = *opened;
  const WallTime now = clock_.WallNow();
  for (const std::string agent : {"v1", "v2", "v3"})
    Enroll(store, agent, now);
  CreateRolloutCommand command;
  command.request.name = "upgrade";
  command.request.target.agent_ids = {"v1", "v2", "v3"};
  command.request.job.type = "VERIFY_BACKUP";
  command.request.job.instance_id = "main";
  command.request.policy.max_in_flight = 2;
  auto created = store.CreateRollout(command, now);
  ASSERT_THAT(created, IsOk());
  const std::string id = created->value.rollout.id;
  ASSERT_THAT(store.AdvanceRollout(id, now), IsOk());
  const auto hosts = [&] {
    auto listed = PgQuery(db_->url(),
                          "SELECT string_agg(agent_id || ':' || COALESCE(job_status, '-'), ' ' "
                          "ORDER BY position) FROM rollout_hosts WHERE rollout_id = '" +
                              id + "'");
    return listed ? *listed : listed.error().message;
  };
  EXPECT_EQ(hosts(), "v1:QUEUED v2:QUEUED v3:-");

  // v1's job completes and v2's agent is revoked, as the old code writes them.
  ASSERT_THAT(PgQuery(db_->url(),
                      "UPDATE jobs SET status = 'COMPLETED' WHERE agent_id = 'v1'; UPDATE agents "
                      "SET revoked_at_ms = 1 WHERE id = 'v2'"),
              IsOk());
  EXPECT_EQ(hosts(), "v1:COMPLETED v2:QUEUED v3:-");
  auto advanced = store.AdvanceRollout(id, now);
  ASSERT_THAT(advanced, IsOk());
  const protocol::RolloutCounts& counts = advanced->value.rollout.counts;
  EXPECT_EQ(counts.completed, 1);
  EXPECT_EQ(counts.skipped, 1);  // v2, unenrolled
  EXPECT_EQ(counts.queued, 1);   // v3, started in the freed slots
  EXPECT_EQ(hosts(), "v1:COMPLETED v2:CANCELLED v3:QUEUED");
}

}  // namespace
}  // namespace orb::store
