#pragma once

// A host's inventory on the wire (docs/protocol.md "Host inventory", docs/decisions/0024): what
// the agent last reported it holds (servers and their builds, instances and their state, backups,
// the root's disk). The agent sends it with POST /v1/agents/{id}/inventory; fleet-cmdr keeps the
// latest per agent, answers it on GET and summarizes it in GET /v1/agents. Decoding follows
// codec.hpp's rules and is strict (the body is a request): an unknown field is invalid_request
// naming it. Pure; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/time.hpp"
#include "protocol/types.hpp"

namespace orb::protocol {

// At most this many servers, builds per server, instances and backups in one inventory (the
// request body's 1 MiB limit comes first in practice).
inline constexpr std::size_t kMaxInventoryItems = 10'000;

struct InventoryBuild {
  std::string build_id;
  std::optional<WallTime> installed_at;  // the build's commit time (.build.json committedAt)
  std::uint64_t size_bytes = 0;          // the files' bytes
  bool operator==(const InventoryBuild&) const = default;
};

struct InventoryServer {
  std::string server_id;
  std::optional<std::string> current_build;  // the build `current` names; none before one
  std::vector<InventoryBuild> builds;
  bool operator==(const InventoryServer&) const = default;
};

// An instance as its supervisor sees it: running (its process lives), stopped (runtime.json says
// so), crashed (runtime.json says it runs, its process is gone).
enum class InstanceRunState { kRunning, kStopped, kCrashed };
std::string_view ToString(InstanceRunState state);  // "running" | "stopped" | "crashed"
std::optional<InstanceRunState> InstanceRunStateFromString(std::string_view text);

struct InventoryInstance {
  std::string instance_id;
  std::string server_id;
  std::optional<std::string> build_id;  // the build it (last) started on
  InstanceRunState state = InstanceRunState::kStopped;
  std::optional<std::int64_t> pid;  // while running (and the pid that was, when crashed)
  std::optional<WallTime> started_at;
  std::string supervisor = "process";  // "process" | "systemd"
  bool operator==(const InventoryInstance&) const = default;
};

struct InventoryBackup {
  std::string instance_id;
  std::string backup_id;
  WallTime created_at{};
  std::uint64_t size_bytes = 0;         // the archive's bytes
  std::optional<WallTime> verified_at;  // the last verification that passed
  bool operator==(const InventoryBackup&) const = default;
};

struct InventoryDisk {
  std::uint64_t root_free_bytes = 0;
  std::uint64_t root_total_bytes = 0;
  bool operator==(const InventoryDisk&) const = default;
};

struct HostInventory {
  std::vector<InventoryServer> servers;
  std::vector<InventoryInstance> instances;
  std::vector<InventoryBackup> backups;
  InventoryDisk disk;
  WallTime reported_at{};
  bool operator==(const HostInventory&) const = default;
};

// Strict: unknown fields, bad ids (protocol.md §1 names), an unknown state or supervisor, free
// bytes above total bytes are invalid_request naming the field ("instances[2].state").
Expected<HostInventory> ParseHostInventory(std::string_view text);
std::string ToJson(const HostInventory& inventory);

// The instances by state, for GET /v1/agents (AgentInfo::inventory).
InventorySummary Summarize(const HostInventory& inventory);

// Whether a new report deserves an agent.inventory event: the first report; anything but the
// disk figures changed (reportedAt never counts); or free disk space moved by more than 1 % of
// the total.
bool DeservesInventoryEvent(const std::optional<HostInventory>& before, const HostInventory& after);

// The event's message: "instances: 2 running, 0 stopped, 1 crashed".
std::string InventoryEventMessage(const InventorySummary& summary);

}  // namespace orb::protocol
