#pragma once

// What the journal could not take (docs/reliability.md "The agent"): while the journal cannot be
// written (a full or failing disk), the reporter keeps the runs it starts, their progress updates,
// log lines and final results here, in memory, in seq order. They are delivered to fleet-cmdr from
// here (after whatever of the run the journal does hold, which is always older), written to the
// journal once it works again, and dropped as soon as fleet-cmdr acknowledged them: a final result
// fleet-cmdr has no longer needs the journal. Acknowledgements and removals the journal could not
// record wait here too, and batches read from the journal are filtered by them.
//
// Memory is bounded by `max_bytes` (an estimate of what the items take): beyond it log lines and
// progress updates are refused (the reporter counts them and says so in a later line); a run's
// start and its final result are always kept.
//
// Thread-safety: none; the reporter guards it with its mutex.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/journal.hpp"
#include "common/expected.hpp"
#include "protocol/types.hpp"

namespace orb::agent {

class HeldOutbox {
 public:
  explicit HeldOutbox(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // A run the journal does not know yet (its AddRun failed or was not tried).
  void HoldRun(const protocol::JobExecution& execution);
  // Items with their seq already assigned, appended after what the run holds. HoldUpdate and
  // HoldLog refuse (false) when the bytes they take would pass max_bytes, unless `force` (the
  // line that says how many were dropped); HoldFinal never refuses.
  bool HoldUpdate(const std::string& run_id, protocol::ProgressUpdate update);
  bool HoldLog(const std::string& run_id, protocol::LogLine line, bool force = false);
  void HoldFinal(const std::string& run_id, protocol::FinalUpdate final_update);
  // Whether an item of `bytes` would still fit.
  [[nodiscard]] bool HasRoomFor(std::size_t bytes) const { return bytes_ + bytes <= max_bytes_; }

  // True when the run has anything here (its start or any item): later items of that run must be
  // held too, so that the journal receives them in order.
  [[nodiscard]] bool Holds(const std::string& run_id) const;
  // Runs with items to deliver, oldest held first.
  [[nodiscard]] std::vector<std::string> RunsWithItems() const;
  // Nothing held and nothing left to record.
  [[nodiscard]] bool empty() const { return runs_.empty() && debts_.empty(); }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  [[nodiscard]] std::size_t items() const;
  [[nodiscard]] bool HoldsFinal(const std::string& run_id) const;

  // Removes from `batch` (read from the journal) what fleet-cmdr already acknowledged but the
  // journal could not record.
  void DropAcknowledged(const std::string& run_id, protocol::UpdatesRequest& batch) const;
  // Appends the run's held items to `batch` (the journal's part, complete), at most `max_items`
  // updates and as many log lines in all; the final only when every item before it is in.
  void AppendTo(const std::string& run_id, protocol::UpdatesRequest& batch,
                std::size_t max_items) const;

  // Forgets the items fleet-cmdr acknowledged. When the run's held final was among them the run
  // is forgotten here entirely, and the answer says whether the journal knows it (it must then be
  // removed from the journal too).
  enum class Acked { kMore, kDoneOutsideTheJournal, kDoneInTheJournal };
  Acked Acknowledge(const std::string& run_id, std::int64_t acked_update_seq,
                    std::int64_t acked_log_seq);
  // Journal bookkeeping to do once it can be written: an acknowledgement, or forgetting a run.
  void OweAcknowledgement(const std::string& run_id, std::int64_t acked_update_seq,
                          std::int64_t acked_log_seq);
  void OweRemoval(const std::string& run_id);
  // Forgets the run's held items (abandoned, or its final acknowledged).
  void Forget(const std::string& run_id);

  // Writes everything into the journal, oldest first per run (its start, updates, log lines, then
  // the final), removing each item once written, then the owed acknowledgements and removals.
  // Stops at the first failure and returns it; what was not written stays.
  Status FlushTo(Journal& journal);

 private:
  struct Run {
    std::optional<protocol::JobExecution> execution;  // set: the journal does not know the run
    std::deque<protocol::ProgressUpdate> updates;
    std::deque<protocol::LogLine> logs;
    std::optional<protocol::FinalUpdate> final_update;
    std::uint64_t order = 0;  // when it was first held, for RunsWithItems
    [[nodiscard]] bool empty() const {
      return !execution && updates.empty() && logs.empty() && !final_update;
    }
  };
  struct Debt {
    std::int64_t acked_update_seq = 0;
    std::int64_t acked_log_seq = 0;
    bool remove = false;
  };
  Run& RunOf(const std::string& run_id);
  void Erase(const std::string& run_id);

  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::uint64_t next_order_ = 0;
  std::map<std::string, Run> runs_;
  std::map<std::string, Debt> debts_;
};

// What an item takes in memory, roughly (for max_bytes).
std::size_t HeldBytes(const protocol::ProgressUpdate& update);
std::size_t HeldBytes(const protocol::LogLine& line);
std::size_t HeldBytes(const protocol::FinalUpdate& final_update);

}  // namespace orb::agent
