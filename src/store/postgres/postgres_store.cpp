#include "store/postgres/postgres_store.hpp"

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/random.hpp"
#include "store/engine/artifacts.hpp"
#include "store/migrations/postgres_migrations.hpp"
#include "store/ops/events.hpp"
#include "store/ops/rows.hpp"
#include "store/postgres/pg_connection.hpp"

namespace orb::store {
namespace {

using postgres::PgConnection;
using postgres::PgParam;
using postgres::PgStatement;
using sql::Query;
using sql::SqlError;
using Steady = std::chrono::steady_clock;

// A PostgreSQL array literal whose elements may be NULL: {"a",NULL,"b\"c"} (also for int[]).
std::string ArrayLiteral(const std::vector<std::optional<std::string>>& values) {
  std::string literal = "{";
  for (const auto& value : values) {
    if (literal.size() > 1) literal += ',';
    if (!value) {
      literal += "NULL";
      continue;
    }
    literal += '"';
    for (const char c : *value) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  return literal;
}

std::optional<std::string> OptInt(const std::optional<int>& value) {
  if (!value) return std::nullopt;
  return std::to_string(*value);
}

// The last statement of every commit that carries events: takes the event counter row (held
// until the COMMIT that follows in the same round trip, so commits with events are numbered in
// commit order), stores the events under the seqs it took and notifies the other instances.
constexpr std::string_view kCommitEventsSql =
    "WITH counter AS ("
    "  UPDATE store_meta SET value = value + ?1::bigint WHERE key = 'events_last' RETURNING value),"
    " stored AS ("
    "  INSERT INTO events (seq, type, ts_ms, job_id, run_id, agent_id, instance_id, job_type,"
    "    status, percent, message, attempt, error_json)"
    "  SELECT counter.value - ?1::bigint + e.n, e.type, e.ts_ms, e.job_id, e.run_id, e.agent_id,"
    "    e.instance_id, e.job_type, e.status, e.percent, e.message, e.attempt, e.error_json"
    "  FROM counter, unnest(?2::text[], ?3::bigint[], ?4::text[], ?5::text[], ?6::text[],"
    "    ?7::text[], ?8::text[], ?9::text[], ?10::int[], ?11::text[], ?12::int[], ?13::text[])"
    "    WITH ORDINALITY AS e(type, ts_ms, job_id, run_id, agent_id, instance_id, job_type,"
    "    status, percent, message, attempt, error_json, n))"
    " SELECT value, pg_notify('orb_events', value::text || ' ' || ?14::text) FROM counter";

// The PostgreSQL side of a batch (engine/batch.hpp).
class PgBatchDriver final : public engine::BatchDriver {
 public:
  PgBatchDriver(std::mutex& commit_mutex, std::string instance_id)
      : commit_mutex_(commit_mutex), instance_id_(std::move(instance_id)) {}

  // BEGIN and the agents' row locks in id order (COLLATE "C": byte order, as sorted here),
  // pipelined with the first operation's statements. The lock statement's rows (the agents that
  // exist) are read when an operation first asks (LockedRows), in a round trip it makes anyway.
  void Begin(sql::Connection& db, std::span<const std::string> agents) override {
    auto& pg = static_cast<PgConnection&>(db);
    ForgetLock();
    pg.ExecDeferred("BEGIN");
    if (agents.empty()) return;
    lock_ = &pg.PrepareStatement(
        "SELECT id FROM agents WHERE id = ANY(?1::text[]) ORDER BY id FOR UPDATE");
    lock_->BindTextList(1, std::vector<std::string>(agents.begin(), agents.end()));
    lock_->Send();
  }

  ops::LockedRows* locked_rows() override { return &rows_; }

  // Takes this instance's commit order (held until ReleaseCommitOrder, after the listener), then
  // sends the notify-state reads, the event statement and the COMMIT: one round trip.
  std::vector<AgentQueue> Commit(sql::Connection& db, std::span<protocol::Event* const> events,
                                 std::vector<std::string> touched) override {
    auto& pg = static_cast<PgConnection&>(db);
    ForgetLock();
    commit_lock_ = std::unique_lock(commit_mutex_);
    try {
      std::optional<ops::AgentQueuesQuery> queues;
      if (!touched.empty()) queues.emplace(pg, std::move(touched));
      if (events.empty()) {
        pg.Exec("COMMIT");
        return queues ? queues->Read() : std::vector<AgentQueue>{};
      }
      PgStatement& statement = pg.PrepareStatement(kCommitEventsSql);
      struct ResetOnExit {
        PgStatement& statement;
        ~ResetOnExit() { statement.Reset(); }
      } reset{statement};
      BindEvents(statement, events);
      statement.BindText(14, instance_id_);
      statement.Send();
      pg.ExecDeferred("COMMIT");
      if (!statement.Step()) sql::Corrupt("store_meta has no events_last");
      const std::int64_t last = statement.Int64(0);
      std::int64_t seq = last - static_cast<std::int64_t>(events.size());
      for (protocol::Event* event : events)
        event->seq = ++seq;
      return queues ? queues->Read() : std::vector<AgentQueue>{};
    } catch (...) {
      commit_lock_ = {};
      throw;
    }
  }

  void Rollback(sql::Connection& db) noexcept override {
    ForgetLock();
    commit_lock_ = {};
    auto& pg = static_cast<PgConnection&>(db);
    if (pg.broken()) return;
    try {
      pg.Sync();
    } catch (const SqlError&) {
      // Whatever failed is being reported already; the ROLLBACK below ends the transaction.
    }
    try {
      if (!pg.broken() && pg.InTransaction()) pg.Exec("ROLLBACK");
    } catch (const SqlError&) {
      // The connection is unusable if even ROLLBACK fails: the writer replaces broken ones, and
      // a failed ROLLBACK leaves the session in a transaction, which the next BEGIN reports.
    }
  }

  void ReleaseCommitOrder() { commit_lock_ = {}; }

 private:
  static void BindEvents(PgStatement& statement, std::span<protocol::Event* const> events) {
    std::vector<std::vector<std::optional<std::string>>> columns(12);
    for (auto& column : columns)
      column.reserve(events.size());
    for (const protocol::Event* event : events) {
      columns[0].emplace_back(std::string(protocol::ToString(event->type)));
      columns[1].emplace_back(std::to_string(ops::Millis(event->timestamp)));
      columns[2].push_back(event->job_id);
      columns[3].push_back(event->run_id);
      columns[4].push_back(event->agent_id);
      columns[5].push_back(event->instance_id);
      columns[6].push_back(event->job_type);
      columns[7].push_back(event->status);
      columns[8].push_back(OptInt(event->percent));
      columns[9].push_back(event->message);
      columns[10].push_back(OptInt(event->attempt));
      columns[11].push_back(ops::RunErrorJson(event->error));
    }
    statement.BindInt64(1, static_cast<std::int64_t>(events.size()));
    for (std::size_t i = 0; i < columns.size(); ++i)
      statement.BindText(static_cast<int>(i) + 2, ArrayLiteral(columns[i]));
  }

  // The agents the lock statement found, read from its rows when first asked.
  class Rows final : public ops::LockedRows {
   public:
    explicit Rows(PgBatchDriver& driver) : driver_(driver) {}
    bool AgentExisted(std::string_view agent_id) override {
      if (driver_.lock_ != nullptr && !driver_.lock_read_) {
        while (driver_.lock_->Step())
          driver_.locked_.insert(driver_.lock_->Text(0));
        driver_.lock_read_ = true;
      }
      return driver_.locked_.contains(agent_id);
    }

   private:
    PgBatchDriver& driver_;
  };

  void ForgetLock() {
    if (lock_ != nullptr) lock_->Reset();
    lock_ = nullptr;
    lock_read_ = false;
    locked_.clear();
  }

  std::mutex& commit_mutex_;
  std::unique_lock<std::mutex> commit_lock_;
  std::string instance_id_;
  PgStatement* lock_ = nullptr;
  bool lock_read_ = false;
  std::set<std::string, std::less<>> locked_;
  Rows rows_{*this};
};

std::int64_t ReadCounterSeq(sql::Connection& db) {
  Query q(db, "SELECT value FROM store_meta WHERE key = 'events_last'");
  if (!q.Step()) sql::Corrupt("store_meta has no events_last");
  return q.Int64(0);
}

Status MigratePostgres(PgConnection& db) {
  const auto migrations = PostgresMigrations();
  const int known = migrations.empty() ? 0 : migrations.back().version;
  db.ExecScript(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)");
  const std::int64_t current =
      db.ExecBinary("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {}, false)
          .Int64(0, 0);
  if (current > known) {
    return Fail(Errc::kStore, "store: the database has schema version " + std::to_string(current) +
                                  ", newer than the " + std::to_string(known) +
                                  " this fleet-cmdr knows; upgrade fleet-cmdr");
  }
  for (const Migration& migration : migrations) {
    if (migration.version <= current) continue;
    db.ExecScript("BEGIN");
    try {
      db.ExecScript(migration.sql);
      const std::string version = std::to_string(migration.version);
      const std::string now = std::to_string(ops::Millis(std::chrono::system_clock::now()));
      const PgParam params[] = {{version}, {migration.name}, {now}};
      (void)db.ExecBinary(
          "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)", params,
          false);
      db.ExecScript("COMMIT");
    } catch (const SqlError& error) {
      if (!db.broken()) db.ExecScript("ROLLBACK");
      return Fail(Errc::kStore, "store: migration " + std::to_string(migration.version) + " (" +
                                    std::string(migration.name) + ") failed: " + error.what());
    }
  }
  return Ok();
}

}  // namespace

// ---- Impl: writers, readers, the listener ----

class PostgresStore::Impl {
 public:
  Impl(std::string url, PostgresStoreOptions options, const StoreDeps& deps)
      : url_(std::move(url)), options_(std::move(options)), deps_(deps) {
    if (options_.instance_id.empty()) options_.instance_id = RandomHex(8);
    const int writers = std::max(1, options_.writers);
    for (int i = 0; i < writers; ++i) {
      auto writer = std::make_unique<Writer>();
      writer->driver = std::make_unique<PgBatchDriver>(commit_mutex_, options_.instance_id);
      writers_.push_back(std::move(writer));
    }
    for (std::size_t i = 0; i < writers_.size(); ++i) {
      Writer* writer = writers_[i].get();
      writer->thread = std::thread([this, writer, i] {
        const std::string name = "store-pg-w" + std::to_string(i);
        ::pthread_setname_np(::pthread_self(), name.c_str());
        WriterLoop(*writer);
      });
    }
    if (deps_.on_foreign_commit) {
      wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      listener_ = std::thread([this] {
        ::pthread_setname_np(::pthread_self(), "store-pg-listen");
        ListenerLoop();
      });
    }
  }

  ~Impl() {
    for (auto& writer : writers_) {
      {
        const std::lock_guard lock(writer->mutex);
        writer->stopping = true;
      }
      writer->cv.notify_all();
    }
    for (auto& writer : writers_)
      writer->thread.join();  // each finished its queue first
    if (listener_.joinable()) {
      stopping_listener_ = true;
      const std::uint64_t one = 1;
      (void)!::write(wake_fd_, &one, sizeof one);
      listener_.join();
    }
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  const std::string& instance_id() const { return options_.instance_id; }

  PostgresStoreStats stats() const {
    PostgresStoreStats stats;
    stats.operations = operations_.load();
    stats.batches = batches_.load();
    stats.transactions = transactions_.load();
    stats.write_statements = write_counters_.statements.load();
    stats.write_round_trips = write_counters_.round_trips.load();
    stats.read_statements = read_counters_.statements.load();
    stats.read_round_trips = read_counters_.round_trips.load();
    return stats;
  }

  void Submit(engine::OpPtr op) {
    std::size_t index = 0;
    if (!op->agents().empty()) {
      index = std::hash<std::string>{}(op->agents().front()) % writers_.size();
    } else {
      index = next_writer_.fetch_add(1) % writers_.size();
    }
    Writer& writer = *writers_[index];
    {
      const std::lock_guard lock(writer.mutex);
      if (!writer.stopping) {
        writer.queue.push_back(std::move(op));
        writer.cv.notify_one();
        return;
      }
    }
    op->Finish(MakeError(Errc::kUnavailable, "store: closing"));
  }

  Status Read(const std::function<void(sql::Connection&)>& body) {
    for (int attempt = 0;; ++attempt) {
      bool fresh = false;
      auto db = AcquireReader(fresh);
      if (!db) return Fail(db.error());
      try {
        (*db)->ExecDeferred("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        body(**db);
        (*db)->Exec("COMMIT");
        ReleaseReader(*std::move(db));
        return Ok();
      } catch (const SqlError& error) {
        if ((*db)->broken()) {
          // A pooled connection that died while idle (the server restarted): once more on a new
          // one; a new one that fails is the answer.
          if (!fresh && attempt == 0) continue;
          return Fail(sql::ToError(error));
        }
        EndFailedRead(*std::move(db));
        return Fail(sql::ToError(error));
      } catch (const std::exception& error) {
        EndFailedRead(*std::move(db));
        return Fail(Errc::kInternal, std::string("store: ") + error.what());
      }
    }
  }

  // A pooled connection for a call outside the batches (artifacts), returned with Release.
  Expected<std::unique_ptr<PgConnection>> AcquireReader(bool& fresh) {
    {
      const std::lock_guard lock(readers_mutex_);
      if (!readers_.empty()) {
        auto db = std::move(readers_.back());
        readers_.pop_back();
        fresh = false;
        return db;
      }
    }
    fresh = true;
    return Connect(true, &read_counters_);
  }

  void ReleaseReader(std::unique_ptr<PgConnection> db) {
    if (db->broken()) return;
    const std::lock_guard lock(readers_mutex_);
    if (readers_.size() < static_cast<std::size_t>(std::max(0, options_.idle_readers))) {
      readers_.push_back(std::move(db));
    }
  }

  // Ends the transaction of a read that failed; keeps the connection if that works.
  void EndFailedRead(std::unique_ptr<PgConnection> db) {
    try {
      db->Sync();
    } catch (const SqlError&) {
      // Reported by the caller already.
    }
    try {
      if (!db->broken() && db->InTransaction()) db->Exec("ROLLBACK");
      ReleaseReader(std::move(db));
    } catch (const SqlError&) {
      // Dropped: closing it ends whatever it was doing.
    }
  }

  // A new connection, unless the last attempt failed less than reconnect_pause ago.
  Expected<std::unique_ptr<PgConnection>> Connect(bool pipeline,
                                                  postgres::PgCounters* counters = nullptr) {
    const auto now = Steady::now();
    {
      const std::lock_guard lock(down_mutex_);
      if (now < down_until_) {
        return Fail(Errc::kStore, "store: PostgreSQL is unreachable: " + down_reason_, true);
      }
    }
    try {
      auto db = std::make_unique<PgConnection>(url_, pipeline, counters);
      return db;
    } catch (const SqlError& error) {
      const std::lock_guard lock(down_mutex_);
      down_until_ = Steady::now() + options_.reconnect_pause;
      down_reason_ = error.what();
      return Fail(sql::ToError(error));
    }
  }

 private:
  struct Writer {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<engine::OpPtr> queue;
    bool stopping = false;
    std::unique_ptr<PgConnection> db;
    std::unique_ptr<PgBatchDriver> driver;
    std::thread thread;
  };

  void WriterLoop(Writer& writer) {
    for (;;) {
      std::vector<engine::OpPtr> batch;
      {
        std::unique_lock lock(writer.mutex);
        writer.cv.wait(lock, [&] { return writer.stopping || !writer.queue.empty(); });
        if (writer.queue.empty()) return;  // stopping, nothing left
        const std::size_t take = std::min(
            writer.queue.size(), static_cast<std::size_t>(std::max(1, options_.max_batch)));
        batch.assign(
            std::make_move_iterator(writer.queue.begin()),
            std::make_move_iterator(writer.queue.begin() + static_cast<std::ptrdiff_t>(take)));
        writer.queue.erase(writer.queue.begin(),
                           writer.queue.begin() + static_cast<std::ptrdiff_t>(take));
      }
      if (!writer.db || writer.db->broken()) {
        writer.db.reset();
        auto db = Connect(true, &write_counters_);
        if (!db) {
          for (const auto& op : batch)
            op->Finish(db.error());
          continue;
        }
        writer.db = *std::move(db);
      }
      engine::BatchOutcome outcome = engine::RunBatch(*writer.db, *writer.driver, deps_, batch,
                                                      static_cast<bool>(deps_.on_queues_committed));
      operations_.fetch_add(batch.size(), std::memory_order_relaxed);
      batches_.fetch_add(1, std::memory_order_relaxed);
      transactions_.fetch_add(static_cast<std::uint64_t>(outcome.attempts),
                              std::memory_order_relaxed);
      // Still in this instance's commit order (PgBatchDriver::Commit): the listener hears of
      // commits in the order they happened.
      if (!outcome.failure && !outcome.queues.empty()) {
        deps_.on_queues_committed(std::move(outcome.queues));
      }
      writer.driver->ReleaseCommitOrder();
      for (const auto& op : batch)
        op->Finish(outcome.failure);
    }
  }

  // Hands other instances' commits to on_foreign_commit until the store closes; reconnects after
  // a lost connection and then reports the current last seq, since notifications were missed.
  void ListenerLoop() {
    while (!stopping_listener_) {
      std::unique_ptr<PgConnection> db;
      try {
        auto connected = Connect(false);
        if (connected) {
          db = *std::move(connected);
          db->ExecScript("LISTEN " + std::string(kEventsChannel));
          const std::int64_t last =
              db->ExecBinary("SELECT value FROM store_meta WHERE key = 'events_last'", {}, false)
                  .Int64(0, 0);
          deps_.on_foreign_commit(last);
          Listen(*db);
        }
      } catch (const SqlError&) {
        // Lost: connect again after a pause.
      }
      if (stopping_listener_) return;
      pollfd wake{wake_fd_, POLLIN, 0};
      ::poll(&wake, 1, static_cast<int>(options_.reconnect_pause.count()));
    }
  }

  void Listen(PgConnection& db) {
    const std::string own = " " + options_.instance_id;
    while (!stopping_listener_) {
      pollfd fds[2] = {{db.socket(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      for (const std::string& payload : db.TakeNotifications(kEventsChannel)) {
        // "<last seq> <instance id>": this instance's own commits are told by the writers.
        if (payload.ends_with(own)) continue;
        std::int64_t seq = 0;
        const auto [end, ec] =
            std::from_chars(payload.data(), payload.data() + payload.size(), seq);
        if (ec == std::errc()) deps_.on_foreign_commit(seq);
      }
    }
  }

  std::string url_;
  PostgresStoreOptions options_;
  const StoreDeps& deps_;

  std::vector<std::unique_ptr<Writer>> writers_;
  std::atomic<std::size_t> next_writer_{0};
  std::mutex commit_mutex_;  // this instance's commit order

  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<PgConnection>> readers_;

  postgres::PgCounters write_counters_;
  postgres::PgCounters read_counters_;
  std::atomic<std::uint64_t> operations_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> transactions_{0};

  std::mutex down_mutex_;
  Steady::time_point down_until_{};
  std::string down_reason_;

  int wake_fd_ = -1;
  std::atomic<bool> stopping_listener_{false};
  std::thread listener_;
};

// ---- Open ----

PostgresStore::PostgresStore(StoreDeps deps) : SqlStore(std::move(deps)) {}
PostgresStore::~PostgresStore() = default;

Expected<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& url,
                                                             const PostgresStoreOptions& options,
                                                             StoreDeps deps) {
  if (deps.ids == nullptr) return Fail(Errc::kInternal, "store: no id generator");
  try {
    PgConnection admin(url, false);
    // Replicas that start together migrate once: the others wait here, then find nothing to do.
    admin.ExecScript("SELECT pg_advisory_lock(" + std::to_string(kMigrationLock) + ")");
    Status migrated = MigratePostgres(admin);
    admin.ExecScript("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")");
    if (!migrated) return Fail(migrated.error());
  } catch (const SqlError& error) {
    return Fail(sql::ToError(error).WithContext("opening the PostgreSQL store"));
  }
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(deps)));
  store->impl_ = std::make_unique<Impl>(url, options, store->deps());
  return store;
}

const std::string& PostgresStore::instance_id() const {
  return impl_->instance_id();
}

PostgresStoreStats PostgresStore::stats() const {
  return impl_->stats();
}

void PostgresStore::Submit(engine::OpPtr op) {
  impl_->Submit(std::move(op));
}

Status PostgresStore::Read(const std::function<void(sql::Connection&)>& body) {
  return impl_->Read(body);
}

std::int64_t PostgresStore::LastSeq(sql::Connection& db) {
  return ReadCounterSeq(db);
}

// ---- Artifacts: 1 MiB chunks (docs/decisions/0006) ----

Expected<bool> PostgresStore::PutArtifact(std::string_view sha256, std::uint64_t size,
                                          const ArtifactSource& read) {
  if (auto valid = engine::CheckArtifactPut(sha256, size); !valid) return Fail(valid.error());
  bool fresh = false;
  auto db = impl_->AcquireReader(fresh);
  if (!db) return Fail(db.error());
  PgConnection& pg = **db;
  const std::string sha(sha256);
  try {
    pg.Exec("BEGIN");
    // A concurrent upload of the same artifact (another replica) waits here for the first one.
    const std::string size_text = std::to_string(size);
    const std::string chunk_text = std::to_string(engine::kArtifactPiece);
    const std::string now = std::to_string(ops::Millis(std::chrono::system_clock::now()));
    const PgParam row[] = {{sha}, {size_text}, {chunk_text}, {now}};
    if (pg.ExecBinary("INSERT INTO artifacts (sha256, size, chunk_bytes, created_at_ms) "
                      "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                      row, false)
            .Changes() == 0) {
      pg.Exec("ROLLBACK");
      impl_->ReleaseReader(*std::move(db));
      return false;
    }
    int index = 0;
    Status streamed = engine::StreamArtifact(sha256, size, read, [&](std::span<const char> piece) {
      const std::string idx = std::to_string(index++);
      const PgParam chunk[] = {{sha}, {idx}, {std::string_view(piece.data(), piece.size()), true}};
      (void)pg.ExecBinary("INSERT INTO artifact_chunks (sha256, idx, data) VALUES (?, ?, ?)", chunk,
                          false);
      return Ok();
    });
    if (!streamed) {
      pg.Exec("ROLLBACK");
      impl_->ReleaseReader(*std::move(db));
      return Fail(streamed.error());
    }
    pg.Exec("COMMIT");
    impl_->ReleaseReader(*std::move(db));
    return true;
  } catch (const SqlError& error) {
    impl_->EndFailedRead(*std::move(db));
    return Fail(sql::ToError(error));
  }
}

Expected<ArtifactStat> PostgresStore::StatArtifact(std::string_view sha256) {
  if (auto valid = engine::CheckArtifactName(sha256); !valid) return Fail(valid.error());
  std::optional<ArtifactStat> stat;
  Status read = Read([&](sql::Connection& db) {
    Query q(db, "SELECT size, created_at_ms FROM artifacts WHERE sha256 = ?");
    q.Bind(1, sha256);
    if (!q.Step()) return;
    stat = ArtifactStat{std::string(sha256), static_cast<std::uint64_t>(q.Int64(0)),
                        ops::Wall(q.Int64(1))};
  });
  if (!read) return Fail(read.error());
  if (!stat) return Fail(Errc::kNotFound, "no artifact " + std::string(sha256));
  return *std::move(stat);
}

Status PostgresStore::ReadArtifact(std::string_view sha256, std::uint64_t offset,
                                   std::uint64_t length, const ArtifactSink& write) {
  if (auto valid = engine::CheckArtifactName(sha256); !valid) return valid;
  std::uint64_t size = 0;
  std::uint64_t chunk_bytes = 0;
  {
    bool found = false;
    Status read = Read([&](sql::Connection& db) {
      Query q(db, "SELECT size, chunk_bytes FROM artifacts WHERE sha256 = ?");
      q.Bind(1, sha256);
      if (!q.Step()) return;
      found = true;
      size = static_cast<std::uint64_t>(q.Int64(0));
      chunk_bytes = static_cast<std::uint64_t>(q.Int64(1));
    });
    if (!read) return read;
    if (!found || chunk_bytes == 0) {
      return Fail(Errc::kNotFound, "no artifact " + std::string(sha256));
    }
  }
  if (auto range = engine::CheckArtifactRange(size, offset, length); !range) return range;
  // Chunks never change once committed: each is read by a statement of its own, so a slow
  // reader holds no transaction open.
  const std::string sha(sha256);
  while (length > 0) {
    const std::uint64_t index = offset / chunk_bytes;
    const std::uint64_t from = offset % chunk_bytes;
    const std::uint64_t take = std::min(length, chunk_bytes - from);
    bool fresh = false;
    auto db = impl_->AcquireReader(fresh);
    if (!db) return Fail(db.error());
    std::string bytes;
    try {
      const std::string idx = std::to_string(index);
      const std::string start = std::to_string(from + 1);  // substring counts from 1
      const std::string count = std::to_string(take);
      const PgParam params[] = {{sha}, {idx}, {start}, {count}};
      postgres::PgResult result = (*db)->ExecBinary(
          "SELECT substring(data FROM ?3::int FOR ?4::int) FROM artifact_chunks "
          "WHERE sha256 = ?1 AND idx = ?2::int",
          params, true);
      if (result.rows() != 1 || result.Value(0, 0).size() != take) {
        impl_->ReleaseReader(*std::move(db));
        return Fail(Errc::kStore, "store: artifact " + sha + " lacks chunk " + idx);
      }
      bytes.assign(result.Value(0, 0));
      impl_->ReleaseReader(*std::move(db));
    } catch (const SqlError& error) {
      impl_->EndFailedRead(*std::move(db));
      return Fail(sql::ToError(error));
    }
    if (auto sent = write(std::span<const char>(bytes.data(), bytes.size())); !sent) return sent;
    offset += take;
    length -= take;
  }
  return Ok();
}

}  // namespace orb::store
