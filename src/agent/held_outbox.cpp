#include "agent/held_outbox.hpp"

#include <algorithm>
#include <utility>

namespace orb::agent {
namespace {

constexpr std::size_t kItemOverhead = 96;  // the struct, timestamps, the deque's share

std::size_t Optional(const std::optional<std::string>& text) {
  return text ? text->size() : 0;
}

}  // namespace

std::size_t HeldBytes(const protocol::ProgressUpdate& update) {
  return kItemOverhead + Optional(update.message) + Optional(update.step);
}

std::size_t HeldBytes(const protocol::LogLine& line) {
  return kItemOverhead + line.level.size() + line.message.size();
}

std::size_t HeldBytes(const protocol::FinalUpdate& final_update) {
  std::size_t bytes = kItemOverhead + Optional(final_update.result_json);
  if (final_update.error) {
    bytes += final_update.error->code.size() + final_update.error->message.size();
    for (const auto& context : final_update.error->stack)
      bytes += context.size();
  }
  return bytes;
}

HeldOutbox::Run& HeldOutbox::RunOf(const std::string& run_id) {
  auto [it, inserted] = runs_.try_emplace(run_id);
  if (inserted) it->second.order = next_order_++;
  return it->second;
}

void HeldOutbox::HoldRun(const protocol::JobExecution& execution) {
  RunOf(execution.run_id).execution = execution;
}

bool HeldOutbox::HoldUpdate(const std::string& run_id, protocol::ProgressUpdate update) {
  const std::size_t size = HeldBytes(update);
  if (!HasRoomFor(size)) return false;
  bytes_ += size;
  RunOf(run_id).updates.push_back(std::move(update));
  return true;
}

bool HeldOutbox::HoldLog(const std::string& run_id, protocol::LogLine line, bool force) {
  const std::size_t size = HeldBytes(line);
  if (!force && !HasRoomFor(size)) return false;
  bytes_ += size;
  RunOf(run_id).logs.push_back(std::move(line));
  return true;
}

void HeldOutbox::HoldFinal(const std::string& run_id, protocol::FinalUpdate final_update) {
  bytes_ += HeldBytes(final_update);
  RunOf(run_id).final_update = std::move(final_update);
}

bool HeldOutbox::Holds(const std::string& run_id) const {
  return runs_.count(run_id) > 0;
}

bool HeldOutbox::HoldsFinal(const std::string& run_id) const {
  const auto found = runs_.find(run_id);
  return found != runs_.end() && found->second.final_update.has_value();
}

std::vector<std::string> HeldOutbox::RunsWithItems() const {
  std::vector<std::pair<std::uint64_t, std::string>> ordered;
  for (const auto& [id, run] : runs_) {
    if (!run.updates.empty() || !run.logs.empty() || run.final_update) {
      ordered.emplace_back(run.order, id);
    }
  }
  std::sort(ordered.begin(), ordered.end());
  std::vector<std::string> ids;
  for (auto& [order, id] : ordered)
    ids.push_back(std::move(id));
  return ids;
}

std::size_t HeldOutbox::items() const {
  std::size_t count = 0;
  for (const auto& [id, run] : runs_)
    count += run.updates.size() + run.logs.size() + (run.final_update ? 1 : 0);
  return count;
}

void HeldOutbox::DropAcknowledged(const std::string& run_id,
                                  protocol::UpdatesRequest& batch) const {
  const auto found = debts_.find(run_id);
  if (found == debts_.end()) return;
  const Debt& debt = found->second;
  std::erase_if(batch.updates,
                [&](const auto& update) { return update.seq <= debt.acked_update_seq; });
  std::erase_if(batch.logs, [&](const auto& line) { return line.seq <= debt.acked_log_seq; });
  if (batch.final_update && batch.final_update->seq <= debt.acked_update_seq) {
    batch.final_update.reset();
  }
}

void HeldOutbox::AppendTo(const std::string& run_id, protocol::UpdatesRequest& batch,
                          std::size_t max_items) const {
  const auto found = runs_.find(run_id);
  if (found == runs_.end()) return;
  const Run& run = found->second;
  bool complete = true;
  for (const auto& update : run.updates) {
    if (batch.updates.size() >= max_items) {
      complete = false;
      break;
    }
    batch.updates.push_back(update);
  }
  for (const auto& line : run.logs) {
    if (batch.logs.size() >= max_items) {
      complete = false;
      break;
    }
    batch.logs.push_back(line);
  }
  if (complete && run.final_update) batch.final_update = run.final_update;
}

HeldOutbox::Acked HeldOutbox::Acknowledge(const std::string& run_id, std::int64_t acked_update_seq,
                                          std::int64_t acked_log_seq) {
  const auto found = runs_.find(run_id);
  if (found == runs_.end()) return Acked::kMore;
  Run& run = found->second;
  if (run.final_update && run.final_update->seq <= acked_update_seq) {
    // Done: nothing of it needs the journal any more.
    const bool journaled = !run.execution.has_value();
    Erase(run_id);
    return journaled ? Acked::kDoneInTheJournal : Acked::kDoneOutsideTheJournal;
  }
  while (!run.updates.empty() && run.updates.front().seq <= acked_update_seq) {
    bytes_ -= HeldBytes(run.updates.front());
    run.updates.pop_front();
  }
  while (!run.logs.empty() && run.logs.front().seq <= acked_log_seq) {
    bytes_ -= HeldBytes(run.logs.front());
    run.logs.pop_front();
  }
  if (run.empty()) runs_.erase(found);
  return Acked::kMore;
}

void HeldOutbox::OweAcknowledgement(const std::string& run_id, std::int64_t acked_update_seq,
                                    std::int64_t acked_log_seq) {
  Debt& debt = debts_[run_id];
  debt.acked_update_seq = std::max(debt.acked_update_seq, acked_update_seq);
  debt.acked_log_seq = std::max(debt.acked_log_seq, acked_log_seq);
}

void HeldOutbox::OweRemoval(const std::string& run_id) {
  debts_[run_id].remove = true;
}

void HeldOutbox::Forget(const std::string& run_id) {
  Erase(run_id);
}

void HeldOutbox::Erase(const std::string& run_id) {
  const auto found = runs_.find(run_id);
  if (found == runs_.end()) return;
  const Run& run = found->second;
  for (const auto& update : run.updates)
    bytes_ -= HeldBytes(update);
  for (const auto& line : run.logs)
    bytes_ -= HeldBytes(line);
  if (run.final_update) bytes_ -= HeldBytes(*run.final_update);
  runs_.erase(found);
}

Status HeldOutbox::FlushTo(Journal& journal) {
  // Oldest held run first, so that the journal's order of runs stays the order they started.
  for (const auto& run_id : [&] {
         std::vector<std::pair<std::uint64_t, std::string>> ordered;
         for (const auto& [id, run] : runs_)
           ordered.emplace_back(run.order, id);
         std::sort(ordered.begin(), ordered.end());
         return ordered;
       }()) {
    Run& run = runs_.at(run_id.second);
    if (run.execution) {
      if (auto added = journal.AddRun(*run.execution); !added) return added;
      run.execution.reset();
    }
    while (!run.updates.empty()) {
      if (auto appended = journal.AppendUpdate(run_id.second, run.updates.front()); !appended) {
        return Fail(std::move(appended.error()));
      }
      bytes_ -= HeldBytes(run.updates.front());
      run.updates.pop_front();
    }
    while (!run.logs.empty()) {
      if (auto appended = journal.AppendLog(run_id.second, run.logs.front()); !appended) {
        return Fail(std::move(appended.error()));
      }
      bytes_ -= HeldBytes(run.logs.front());
      run.logs.pop_front();
    }
    if (run.final_update) {
      if (auto appended = journal.AppendFinal(run_id.second, *run.final_update); !appended) {
        return Fail(std::move(appended.error()));
      }
      bytes_ -= HeldBytes(*run.final_update);
      run.final_update.reset();
    }
    runs_.erase(run_id.second);
  }
  for (auto it = debts_.begin(); it != debts_.end();) {
    if (it->second.remove) {
      if (auto removed = journal.RemoveRun(it->first); !removed) return removed;
    } else {
      auto acknowledged =
          journal.Acknowledge(it->first, it->second.acked_update_seq, it->second.acked_log_seq);
      if (!acknowledged) return Fail(std::move(acknowledged.error()));
    }
    it = debts_.erase(it);
  }
  return Ok();
}

}  // namespace orb::agent
