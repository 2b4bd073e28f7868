#pragma once

// The agent's host inventory (docs/protocol.md "Host inventory", docs/decisions/0024).
//
// CollectInventory reads what the host holds from the same files the job handlers keep under the
// agent's root, through the same helpers (jobs::BuildStore, InstanceStore, BackupStore): committed
// builds (servers/<id>/builds/<buildId>/.build.json) and `current`; instances
// (instances/<id>/instance.json and runtime.json, the main process looked up in /proc by pid and
// start time as InstanceStore::FindRunning does); committed backups (backups/<instanceId>/
// <backupId>.manifest.json and the last verification's .verify.json); the root's filesystem. It
// keeps nothing between calls, so it never drifts from the disk. An instance whose runtime.json
// says it runs (or is being stopped) but whose process is gone is `crashed`.
//
// InventorySchedule is when the agent looks and what it sends (pure, time as input): a check at
// once, after every finished run, and every heartbeatSeconds; a report when the inventory differs
// from the last one fleet-cmdr took as protocol::DeservesInventoryEvent judges it (anything but
// the disk, or free space moved by more than 1 %), so an idle host sends nothing new. The agent
// checks as the reporter's duty (Reporter::SetDuty), on the thread that already wakes every
// second for the runs' heartbeats, and hands a change to its loop, which sends it over its own
// connection: no thread of its own, and the long-poll is cut only when there is something to send.
//
// Thread-safety: CollectInventory is safe from any thread; InventorySchedule is used by one.

#include <chrono>
#include <filesystem>
#include <optional>

#include "common/clock.hpp"
#include "os/fs.hpp"
#include "protocol/inventory.hpp"

namespace orb::agent {

// Never fails: a piece that cannot be read (a damaged manifest, an unreadable directory) is left
// out and logged at debug level; the rest is reported.
protocol::HostInventory CollectInventory(os::Fs& fs, const std::filesystem::path& root,
                                         WallTime now);

class InventorySchedule {
 public:
  explicit InventorySchedule(std::chrono::milliseconds interval) : interval_(interval) {}

  // A check is due at once (the first, or after a run ended: Wanted()), then every interval.
  [[nodiscard]] Clock::MonoTime NextCheck() const;
  [[nodiscard]] bool CheckDue(Clock::MonoTime now) const { return now >= NextCheck(); }
  void Wanted() { wanted_ = true; }
  void Checked(Clock::MonoTime now) {
    last_check_ = now;
    wanted_ = false;
  }

  // Whether `current` must be sent: nothing was delivered yet, or it differs from what was.
  [[nodiscard]] bool ShouldSend(const protocol::HostInventory& current) const;
  void Delivered(protocol::HostInventory inventory) { delivered_ = std::move(inventory); }
  // fleet-cmdr has no inventory call (404/405): nothing is ever sent again.
  void Unsupported() { unsupported_ = true; }
  [[nodiscard]] bool unsupported() const { return unsupported_; }

 private:
  std::chrono::milliseconds interval_;
  std::optional<Clock::MonoTime> last_check_;
  bool wanted_ = true;
  bool unsupported_ = false;
  std::optional<protocol::HostInventory> delivered_;
};

}  // namespace orb::agent
