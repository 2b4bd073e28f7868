#include "store/sqlite/sqlite_store.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include "common/log.hpp"
#include "store/migrations/sqlite_migrations.hpp"
#include "store/ops/events.hpp"
#include "store/ops/rows.hpp"
#include "store/sqlite/file_artifacts.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace orb::store {
namespace {

using sql::Query;
using sql::SqlError;
using sqlite::Connection;

// The highest event seq handed out so far: the newest event's, or the floor that pruning and
// migration 4 left (store_meta 'events_seq_floor') when that is higher.
std::int64_t ReadLastSeq(sql::Connection& db) {
  Query q(db,
          "SELECT MAX(COALESCE((SELECT MAX(seq) FROM events), 0), "
          "COALESCE((SELECT value FROM store_meta WHERE key = 'events_seq_floor'), 0))");
  return q.Step() ? q.Int64(0) : 0;
}

Status Migrate(Connection& db) {
  const auto migrations = SqliteMigrations();
  const int known = migrations.empty() ? 0 : migrations.back().version;
  db.Exec("BEGIN IMMEDIATE");
  try {
    db.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
    int current = 0;
    {
      Query q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (q.Step()) current = q.Int(0);
    }
    if (current > known) {
      db.Exec("ROLLBACK");
      return Fail(Errc::kStore, "store: the database has schema version " +
                                    std::to_string(current) + ", newer than the " +
                                    std::to_string(known) +
                                    " this fleet-cmdr knows; upgrade fleet-cmdr");
    }
    for (const Migration& migration : migrations) {
      if (migration.version <= current) continue;
      db.Exec(migration.sql);
      Query q(db, "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)");
      q.Bind(1, migration.version)
          .Bind(2, migration.name)
          .Bind(3, ops::Millis(std::chrono::system_clock::now()));
      q.Run();
    }
    db.Exec("COMMIT");
  } catch (const SqlError&) {
    if (!db.InAutocommit()) db.Exec("ROLLBACK");
    throw;
  }
  return Ok();
}

// The SQLite side of a batch: BEGIN IMMEDIATE (the one writer needs no row locks), events
// numbered from the writer's counter, COMMIT without waiting for the disk (the syncer does).
class SqliteBatchDriver final : public engine::BatchDriver {
 public:
  explicit SqliteBatchDriver(std::int64_t last_seq) : next_event_seq_(last_seq + 1) {}

  void Begin(sql::Connection& db, std::span<const std::string> agents) override {
    (void)agents;
    db.Exec("BEGIN IMMEDIATE");
  }

  // Seqs are taken only when the COMMIT succeeded, so committed seqs stay dense.
  std::vector<AgentQueue> Commit(sql::Connection& db, std::span<protocol::Event* const> events,
                                 std::vector<std::string> touched) override {
    std::vector<AgentQueue> queues;
    if (!touched.empty()) queues = ops::AgentQueuesQuery(db, std::move(touched)).Read();
    std::int64_t seq = next_event_seq_;
    for (protocol::Event* event : events)
      event->seq = seq++;
    ops::InsertEvents(db, events);
    db.Exec("COMMIT");
    next_event_seq_ = seq;
    return queues;
  }

  void Rollback(sql::Connection& db) noexcept override {
    try {
      auto& sqlite_db = static_cast<Connection&>(db);
      if (!sqlite_db.InAutocommit()) sqlite_db.Exec("ROLLBACK");
    } catch (const SqlError&) {
      // The failure being handled is what the callers need to know; SQLite ends the
      // transaction anyway.
    }
  }

 private:
  std::int64_t next_event_seq_;  // writer thread only: the seq of the next event
};

}  // namespace

// ---- Impl: connections, the writer thread, the syncer, the reader pool ----

class SqliteStore::Impl {
 public:
  // `wal_fd`: the WAL file, opened by Open; the syncer makes commits durable with it.
  // `checkpointer`: a second read-write connection, for the checkpoints.
  Impl(std::filesystem::path file, SqliteStoreOptions options, const StoreDeps& deps,
       std::unique_ptr<Connection> writer, int wal_fd, sqlite::FileArtifacts artifacts,
       std::unique_ptr<Connection> checkpointer)
      : file_(std::move(file)),
        options_(std::move(options)),
        deps_(deps),
        writer_db_(std::move(writer)),
        driver_(ReadLastSeq(*writer_db_)),
        artifacts_(std::move(artifacts)),
        wal_fd_(wal_fd),
        checkpointer_db_(std::move(checkpointer)) {
    // The writer's commits no longer checkpoint (a checkpoint copies the WAL into the database
    // and syncs both: milliseconds during which no write could run); they wake the checkpointer
    // instead (docs/decisions/0027).
    ::sqlite3_wal_hook(writer_db_->handle(), &Impl::OnWalCommit, this);
    // Named, so that top -H and perf tell the store's threads apart.
    checkpointer_thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "store-ckpt");
      CheckpointerLoop();
    });
    syncer_thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "store-sync");
      SyncerLoop();
    });
    writer_thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "store-writer");
      WriterLoop();
    });
  }

  ~Impl() {
    {
      const std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    writer_thread_.join();  // it has handed every batch to the syncer
    {
      const std::lock_guard lock(synced_mutex_);
      syncer_stopping_ = true;
    }
    synced_cv_.notify_all();
    syncer_thread_.join();
    {
      const std::lock_guard lock(checkpoint_mutex_);
      checkpointer_stopping_ = true;
    }
    checkpoint_cv_.notify_all();
    checkpointer_thread_.join();
    ::sqlite3_wal_hook(writer_db_->handle(), nullptr, nullptr);
    ::close(wal_fd_);
  }

  void Submit(engine::OpPtr op) {
    {
      const std::lock_guard lock(queue_mutex_);
      if (!stopping_ && !broken_.load()) {
        queue_.Push(std::move(op));
        queue_cv_.notify_one();
        return;
      }
    }
    op->Finish(broken_.load() ? MakeError(Errc::kStore,
                                          "store: a write did not reach the disk; restart "
                                          "fleet-cmdr to recover from disk")
                              : MakeError(Errc::kUnavailable, "store: closing"));
  }

  // Runs `body(connection)` in a read transaction on a pooled read-only connection.
  Status Read(const std::function<void(sql::Connection&)>& body) {
    std::unique_ptr<Connection> db;
    try {
      db = AcquireReader();
      db->Exec("BEGIN");
      body(*db);
      db->Exec("COMMIT");
      ReleaseReader(std::move(db));
      return Ok();
    } catch (const SqlError& error) {
      return Fail(sql::ToError(error));
    } catch (const std::exception& error) {
      return Fail(Errc::kInternal, std::string("store: ") + error.what());
    }
    // A connection that failed mid-read is dropped (closing it ends its transaction).
  }

  sqlite::FileArtifacts& artifacts() { return artifacts_; }

 private:
  std::unique_ptr<Connection> AcquireReader() {
    {
      const std::lock_guard lock(readers_mutex_);
      if (!readers_.empty()) {
        auto db = std::move(readers_.back());
        readers_.pop_back();
        return db;
      }
    }
    return std::make_unique<Connection>(file_, false, true);
  }

  void ReleaseReader(std::unique_ptr<Connection> db) {
    constexpr std::size_t kMaxIdleReaders = 8;
    const std::lock_guard lock(readers_mutex_);
    if (readers_.size() < kMaxIdleReaders) readers_.push_back(std::move(db));
  }

  void WriterLoop() {
    for (;;) {
      std::vector<engine::OpPtr> batch;
      {
        std::unique_lock lock(queue_mutex_);
        queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        batch = queue_.TakeBatch(static_cast<std::size_t>(std::max(1, options_.max_batch)));
      }
      // One transaction for the whole batch. The COMMIT does not wait for the disk (the writer
      // connection runs with synchronous=NORMAL): the batch goes to the syncer, which makes it
      // durable while this thread runs the next batch.
      engine::BatchOutcome outcome = engine::RunBatch(*writer_db_, driver_, deps_, batch,
                                                      static_cast<bool>(deps_.on_queues_committed));
      Committed committed{std::move(batch), std::move(outcome.queues), std::move(outcome.failure)};
      {
        const std::lock_guard lock(synced_mutex_);
        committed_.push_back(std::move(committed));
      }
      synced_cv_.notify_one();
      if (finish_checkpoint_) FinishCheckpoint();
    }
  }

  // Group commit's second half: one fdatasync of the WAL for every batch committed since the
  // last one, then the batches' listeners and callers, in commit order. A commit that SQLite made
  // but that did not reach the disk is not acknowledged: a failed fdatasync fails its batches
  // and every later write, since what the disk holds is no longer known (the page cache may
  // have dropped the dirty pages; retrying the fsync would report success for lost data).
  void SyncerLoop() {
    for (;;) {
      std::vector<Committed> ready;
      {
        std::unique_lock lock(synced_mutex_);
        synced_cv_.wait(lock, [this] { return syncer_stopping_ || !committed_.empty(); });
        if (committed_.empty()) return;  // stopping, nothing left
        ready.assign(std::make_move_iterator(committed_.begin()),
                     std::make_move_iterator(committed_.end()));
        committed_.clear();
      }
      const bool any_commit =
          std::any_of(ready.begin(), ready.end(), [](const Committed& c) { return !c.failure; });
      if (any_commit && !sync_failure_) {
        const int rc = options_.sync_wal ? options_.sync_wal(wal_fd_) : ::fdatasync(wal_fd_);
        if (rc != 0) {
          const int err = errno;
          sync_failure_ = MakeError(
              Errc::kStore, std::string("store: fdatasync of the WAL failed (") +
                                std::strerror(err) + "); restart fleet-cmdr to recover from disk");
          broken_.store(true);
        }
      }
      for (Committed& batch : ready) {
        if (!batch.failure && sync_failure_) batch.failure = *sync_failure_;
        if (!batch.failure && !batch.queues.empty()) {
          deps_.on_queues_committed(std::move(batch.queues));
        }
        for (const auto& op : batch.ops)
          op->Finish(batch.failure);
      }
    }
  }

  // sqlite3_wal_hook, on the writer thread after each commit: `frames` are in the WAL now.
  static int OnWalCommit(void* self, sqlite3* /*db*/, const char* /*schema*/, int frames) {
    auto* impl = static_cast<Impl*>(self);
    impl->wal_frames_.store(frames);
    if (frames >= kFinishCheckpointFrames) {
      impl->finish_checkpoint_ = true;  // the writer's turn: the checkpointer leaves it alone
    } else if (frames >= kCheckpointFrames) {
      {
        const std::lock_guard lock(impl->checkpoint_mutex_);
        impl->checkpoint_wanted_ = true;
      }
      impl->checkpoint_cv_.notify_one();
    }
    return SQLITE_OK;
  }

  // Checkpoints on the writer's own connection, between two batches. The WAL starts over at its
  // head (and the file keeps its size) only at a write transaction that begins when everything
  // in it has been copied: the checkpointer, running beside the writer, can copy all but what
  // the writer commits meanwhile, never the rest. So this copies the rest, a short job once the
  // checkpointer has done the bulk, and the next batch starts the WAL over.
  void FinishCheckpoint() {
    finish_checkpoint_ = false;
    const int rc = ::sqlite3_wal_checkpoint_v2(writer_db_->handle(), nullptr,
                                               SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      GetLogger("store")->warn("checkpoint of the WAL failed: {}", ::sqlite3_errstr(rc));
    }
  }

  // Copies the WAL into the database while the writer goes on, as SQLite's own automatic
  // checkpoint would (PASSIVE: it waits for no reader or writer, and copies what no reader still
  // needs), on its own connection and thread: woken by the writer's commits once the WAL holds
  // kCheckpointFrames. Copying those and syncing the database file takes milliseconds, during
  // which, done by the writer, no write could run (docs/decisions/0027). Failures are logged and
  // tried again at the next wake-up.
  void CheckpointerLoop() {
    for (;;) {
      {
        std::unique_lock lock(checkpoint_mutex_);
        checkpoint_cv_.wait(lock, [this] { return checkpointer_stopping_ || checkpoint_wanted_; });
        if (checkpointer_stopping_) return;
        checkpoint_wanted_ = false;
      }
      if (wal_frames_.load() >= kFinishCheckpointFrames) continue;  // the writer's turn
      const int rc = ::sqlite3_wal_checkpoint_v2(checkpointer_db_->handle(), nullptr,
                                                 SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        GetLogger("store")->warn("checkpoint of the WAL failed: {}", ::sqlite3_errstr(rc));
      }
    }
  }

  // A batch that the writer committed (or failed) and the syncer has yet to deliver.
  struct Committed {
    std::vector<engine::OpPtr> ops;
    std::vector<AgentQueue> queues;
    std::optional<Error> failure;
  };

  std::filesystem::path file_;
  SqliteStoreOptions options_;
  const StoreDeps& deps_;
  std::unique_ptr<Connection> writer_db_;
  SqliteBatchDriver driver_;  // writer thread only
  sqlite::FileArtifacts artifacts_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  engine::OpQueue queue_;
  bool stopping_ = false;
  std::thread writer_thread_;

  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Connection>> readers_;

  // The syncer: batches committed by the writer, waiting for their fdatasync.
  int wal_fd_;
  std::mutex synced_mutex_;
  std::condition_variable synced_cv_;
  std::deque<Committed> committed_;
  bool syncer_stopping_ = false;
  std::optional<Error> sync_failure_;  // syncer thread only
  std::atomic<bool> broken_{false};    // a sync failed: no further writes are accepted
  std::thread syncer_thread_;

  // The checkpointer: woken by the writer's commits once the WAL holds kCheckpointFrames; the
  // writer finishes the checkpoint once it holds kFinishCheckpointFrames (FinishCheckpoint).
  static constexpr int kCheckpointFrames = 1000;  // SQLite's own automatic checkpoint's
  static constexpr int kFinishCheckpointFrames = 2 * kCheckpointFrames;
  bool finish_checkpoint_ = false;  // writer thread only
  std::atomic<int> wal_frames_{0};  // in the WAL after the writer's last commit
  std::unique_ptr<Connection> checkpointer_db_;
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;
  bool checkpointer_stopping_ = false;
  std::thread checkpointer_thread_;
};

// ---- Open ----

SqliteStore::SqliteStore(StoreDeps deps, std::unique_ptr<Impl> impl)
    : SqlStore(std::move(deps)), impl_(std::move(impl)) {}

SqliteStore::~SqliteStore() = default;

Expected<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteStoreOptions& options,
                                                         StoreDeps deps) {
  if (deps.ids == nullptr) return Fail(Errc::kInternal, "store: no id generator");
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return Fail(Errc::kStore,
                "store: cannot create data dir " + options.data_dir.string() + ": " + ec.message());
  }
  auto artifacts = sqlite::FileArtifacts::Open(options.data_dir / "artifacts");
  if (!artifacts) return Fail(artifacts.error());
  const std::filesystem::path file = options.data_dir / kSqliteFileName;
  try {
    auto writer = std::make_unique<Connection>(file, true, false);
    {
      Query q(*writer, "PRAGMA journal_mode = WAL");
      if (!q.Step() || q.Text(0) != "wal") {
        return Fail(Errc::kStore, "store: cannot switch " + file.string() + " to WAL mode");
      }
    }
    if (auto migrated = Migrate(*writer); !migrated) return Fail(migrated.error());
    // From here on the syncer fdatasyncs the WAL before any write is acknowledged, so the
    // writer's COMMIT need not (docs/decisions/0003). In WAL mode NORMAL still syncs the WAL
    // before a checkpoint copies it and the database after, so the file stays consistent.
    writer->Exec("PRAGMA synchronous = NORMAL;");
    auto checkpointer = std::make_unique<Connection>(file, false, false);
    const std::string wal = file.string() + "-wal";
    const int wal_fd = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd < 0) {
      return Fail(Errc::kStore, "store: cannot open " + wal + ": " + std::strerror(errno));
    }
    std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(deps), nullptr));
    store->impl_ = std::make_unique<Impl>(file, options, store->deps(), std::move(writer), wal_fd,
                                          *std::move(artifacts), std::move(checkpointer));
    return store;
  } catch (const SqlError& error) {
    return Fail(sql::ToError(error).WithContext("opening " + file.string()));
  }
}

void SqliteStore::Submit(engine::OpPtr op) {
  impl_->Submit(std::move(op));
}

Status SqliteStore::Read(const std::function<void(sql::Connection&)>& body) {
  return impl_->Read(body);
}

std::int64_t SqliteStore::LastSeq(sql::Connection& db) {
  return ReadLastSeq(db);
}

void SqliteStore::EventsPruned(sql::Connection& db, std::int64_t through) {
  Query floor(db, "UPDATE store_meta SET value = MAX(value, ?) WHERE key = 'events_seq_floor'");
  floor.Bind(1, through);
  floor.Run();
}

// ---- Artifacts ----

Expected<bool> SqliteStore::PutArtifact(std::string_view sha256, std::uint64_t size,
                                        const ArtifactSource& read) {
  return impl_->artifacts().Put(sha256, size, read);
}

Expected<ArtifactStat> SqliteStore::StatArtifact(std::string_view sha256) {
  return impl_->artifacts().Stat(sha256);
}

Status SqliteStore::ReadArtifact(std::string_view sha256, std::uint64_t offset,
                                 std::uint64_t length, const ArtifactSink& write) {
  return impl_->artifacts().Read(sha256, offset, length, write);
}

Expected<std::vector<ArtifactStat>> SqliteStore::StoredArtifacts() {
  return impl_->artifacts().List();
}

Status SqliteStore::RemoveArtifact(const std::string& sha256) {
  return impl_->artifacts().Remove(sha256);
}

}  // namespace orb::store
