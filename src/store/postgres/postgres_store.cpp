#include "store/postgres/postgres_store.hpp"

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/random.hpp"
#include "store/migrations/postgres_migrations.hpp"
#include "store/ops/rows.hpp"
#include "store/postgres/pg_artifacts.hpp"
#include "store/postgres/pg_batch.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/postgres/pg_pool.hpp"

namespace orb::store {
namespace {

using postgres::PgConnection;
using postgres::PgParam;
using sql::Query;
using sql::SqlError;

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
      : url_(std::move(url)),
        options_(std::move(options)),
        deps_(deps),
        pool_(url_, options_.idle_readers, options_.reconnect_pause, options_.response_timeout) {
    if (options_.instance_id.empty()) options_.instance_id = RandomHex(8);
    const int writers = std::max(1, options_.writers) + (options_.interactive_writer ? 1 : 0);
    for (int i = 0; i < writers; ++i) {
      auto writer = std::make_unique<Writer>();
      const bool interactive = options_.interactive_writer && i + 1 == writers;
      writer->driver = std::make_unique<postgres::PgBatchDriver>(
          commit_order_, interactive, options_.instance_id, commit_counters_);
      writers_.push_back(std::move(writer));
    }
    for (std::size_t i = 0; i < writers_.size(); ++i) {
      Writer* writer = writers_[i].get();
      writer->thread = std::thread([this, writer, i] {
        const bool interactive = options_.interactive_writer && i + 1 == writers_.size();
        const std::string name = interactive ? "store-pg-wi" : "store-pg-w" + std::to_string(i);
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
    stats.read_statements = pool_.counters().statements.load();
    stats.read_round_trips = pool_.counters().round_trips.load();
    stats.event_commits = commit_counters_.commits.load();
    stats.event_commit_micros = commit_counters_.micros.load();
    return stats;
  }

  void Submit(engine::OpPtr op) {
    // The interactive writer is the last one; the others share the rest by agent.
    const std::size_t shared = writers_.size() - (options_.interactive_writer ? 1 : 0);
    std::size_t index = 0;
    if (options_.interactive_writer && op->lane() == engine::Lane::kInteractive) {
      index = shared;
    } else if (!op->agents().empty()) {
      index = std::hash<std::string>{}(op->agents().front()) % shared;
    } else {
      index = next_writer_.fetch_add(1) % shared;
    }
    Writer& writer = *writers_[index];
    {
      const std::lock_guard lock(writer.mutex);
      if (!writer.stopping) {
        writer.queue.Push(std::move(op));
        writer.cv.notify_one();
        return;
      }
    }
    op->Finish(MakeError(Errc::kUnavailable, "store: closing"));
  }

  Status Read(const std::function<void(sql::Connection&)>& body) { return pool_.Read(body); }
  postgres::PgPool& pool() { return pool_; }

 private:
  struct Writer {
    std::mutex mutex;
    std::condition_variable cv;
    engine::OpQueue queue;
    bool stopping = false;
    std::unique_ptr<PgConnection> db;
    std::unique_ptr<postgres::PgBatchDriver> driver;
    std::thread thread;
  };

  void WriterLoop(Writer& writer) {
    for (;;) {
      std::vector<engine::OpPtr> batch;
      {
        std::unique_lock lock(writer.mutex);
        writer.cv.wait(lock, [&] { return writer.stopping || !writer.queue.empty(); });
        if (writer.queue.empty()) return;  // stopping, nothing left
        batch = writer.queue.TakeBatch(static_cast<std::size_t>(std::max(1, options_.max_batch)));
      }
      // A connection whose server went away while it was idle is replaced before the batch,
      // which would otherwise fail on it (as the reader pool retries a read once).
      if (!writer.db || !writer.db->PeerStillThere()) {
        writer.db.reset();
        auto db = pool_.Connect(true, &write_counters_);
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
        auto connected = pool_.Connect(false, nullptr);
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

  postgres::CommitOrder commit_order_;  // this instance's commit order; outlives the writers
  std::vector<std::unique_ptr<Writer>> writers_;
  std::atomic<std::size_t> next_writer_{0};

  postgres::CommitCounters commit_counters_;
  postgres::PgCounters write_counters_;
  std::atomic<std::uint64_t> operations_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> transactions_{0};

  postgres::PgPool pool_;

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

// ---- Artifacts (postgres/pg_artifacts.hpp) ----

Expected<bool> PostgresStore::PutArtifact(std::string_view sha256, std::uint64_t size,
                                          const ArtifactSource& read) {
  return postgres::PutArtifact(impl_->pool(), sha256, size, read);
}

Expected<ArtifactStat> PostgresStore::StatArtifact(std::string_view sha256) {
  return postgres::StatArtifact(impl_->pool(), sha256);
}

Status PostgresStore::ReadArtifact(std::string_view sha256, std::uint64_t offset,
                                   std::uint64_t length, const ArtifactSink& write) {
  return postgres::ReadArtifact(impl_->pool(), sha256, offset, length, write);
}

Expected<std::vector<ArtifactStat>> PostgresStore::StoredArtifacts() {
  return postgres::ListArtifacts(impl_->pool());
}

Status PostgresStore::RemoveArtifact(const std::string& sha256) {
  return postgres::DeleteArtifact(impl_->pool(), sha256);
}

}  // namespace orb::store
