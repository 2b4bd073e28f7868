#pragma once

// The agent's durable journal: the runs in flight with their JobExecution, and an outbox
// of the updates, log lines and final result of each run, with their per-run seq (protocol.md §4).
// Everything is written here BEFORE it is sent, delivered oldest first, and deleted only once
// fleet-cmdr acknowledged it, so nothing is lost when the network is down, fleet-cmdr restarts or
// the agent is killed. SQLite (WAL) in stateDir.
//
// Durability: a run's final result (AppendFinal) is fsync-ed (synchronous=FULL) before the call
// returns. A run's start, its progress, log lines and acknowledgements are committed without an
// fsync of their own (synchronous=NORMAL): in WAL mode they survive a kill -9 of the agent, and
// the next fsync-ed commit (at the latest the run's final) makes them durable against a power cut
// too, in order, since the WAL is one sequential file. A power cut can therefore lose only the
// start, progress and log lines of a run that had no final yet; fleet-cmdr then fails that run by
// lease expiry (agent_lost, retryable) instead of through hello's interrupted runs, and the retry
// is safe because every handler is idempotent (job-types.md). Handlers never wait on an fsync
// per log line.
//
// A journal that cannot be written (a full or failing disk) answers kIo; the reporter then keeps
// what it could not write in memory (held_outbox.hpp) and the agent stops taking jobs until a
// write succeeds again (docs/reliability.md "The agent").
//
// Thread-safety: every member is safe to call from any thread (one connection behind a mutex).
// Errors: kIo when the database cannot be opened, read or written; kInvalidRequest for an unknown
// run id.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "protocol/types.hpp"

struct sqlite3;

namespace orb::agent {

// A run the journal knows: in flight, or finished but not fully acknowledged.
struct JournalRun {
  protocol::JobExecution execution;
  std::int64_t last_update_seq = 0;  // highest update seq written (the final's included)
  std::int64_t last_log_seq = 0;     // highest log seq written
  bool has_final = false;            // the handler finished: only delivery is left
};

struct JournalOptions {
  // The SQLite VFS to open the file with; empty: the default one. Tests name one that fails
  // writes like a full disk (tests/support/faulty_sqlite_vfs.hpp).
  std::string vfs{};
};

class Journal {
 public:
  // Opens (creating if needed) the journal file; its directory must exist.
  static Expected<std::unique_ptr<Journal>> Open(const std::filesystem::path& file,
                                                 const JournalOptions& options = {});
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Records a run as in flight. Adding a run that is already there changes nothing.
  Status AddRun(const protocol::JobExecution& execution);

  // Appends to the run's outbox with the next seq of its kind (updates and the final share one
  // sequence, logs have their own), and returns that seq. An item whose seq is set (> 0) keeps it
  // (the reporter numbers its items itself); a seq not after the last one of its kind is refused
  // (kInvalidState), and so is appending after the final.
  Expected<std::int64_t> AppendUpdate(const std::string& run_id, protocol::ProgressUpdate update);
  Expected<std::int64_t> AppendLog(const std::string& run_id, protocol::LogLine line);
  Expected<std::int64_t> AppendFinal(const std::string& run_id, protocol::FinalUpdate final_update);

  // The oldest unacknowledged items of the run, at most `max_items` updates and as many logs.
  // The final is included only when every update and log line before it is in the batch, so
  // fleet-cmdr never sees a log line after the run ended. Empty batch: nothing pending.
  // `complete` (optional) says whether every item of the outbox is in the batch.
  Expected<protocol::UpdatesRequest> NextBatch(const std::string& run_id,
                                               std::size_t max_items = 100,
                                               bool* complete = nullptr) const;

  // Deletes what fleet-cmdr acknowledged (seq <= the acked ones). When the final is acknowledged
  // the run is removed from the journal and true is returned.
  Expected<bool> Acknowledge(const std::string& run_id, std::int64_t acked_update_seq,
                             std::int64_t acked_log_seq);

  // Forgets a run and its outbox (abandoned on 409, or reported interrupted).
  Status RemoveRun(const std::string& run_id);

  // Every run in the journal, oldest first.
  Expected<std::vector<JournalRun>> Runs() const;

  // Run ids with something in their outbox, oldest run first.
  Expected<std::vector<std::string>> RunsWithPending() const;

  // A write that changes nothing that matters (the database's user_version), to tell whether the
  // journal can be written again. Errors: kIo.
  Status Probe();

 private:
  explicit Journal(sqlite3* db) : db_(db) {}
  Expected<std::int64_t> Append(const std::string& run_id, int kind, std::int64_t requested_seq,
                                const std::function<std::string(std::int64_t)>& body);

  // Switches between synchronous=FULL (fsync) and NORMAL; called with mutex_ held.
  Status SetDurability(bool fsync);

  mutable std::mutex mutex_;
  sqlite3* db_;
  bool fsync_ = true;  // the schema sets synchronous=FULL
  std::int64_t probes_ = 0;
};

}  // namespace orb::agent
