// Codec of a host's inventory (protocol/inventory.hpp, docs/protocol.md "Host inventory") and the
// pure rule of when a report deserves an agent.inventory event.

#include <algorithm>
#include <array>
#include <utility>

#include "protocol/codec_detail.hpp"
#include "protocol/inventory.hpp"

namespace orb::protocol {
namespace {

constexpr std::array<std::pair<InstanceRunState, std::string_view>, 3> kRunStates{{
    {InstanceRunState::kRunning, "running"},
    {InstanceRunState::kStopped, "stopped"},
    {InstanceRunState::kCrashed, "crashed"},
}};

bool IsSupervisor(std::string_view text) {
  return text == "process" || text == "systemd";
}

}  // namespace

std::string_view ToString(InstanceRunState state) {
  for (const auto& [value, name] : kRunStates) {
    if (value == state) return name;
  }
  return "stopped";
}

std::optional<InstanceRunState> InstanceRunStateFromString(std::string_view text) {
  for (const auto& [value, name] : kRunStates) {
    if (name == text) return value;
  }
  return std::nullopt;
}

namespace codec_detail {
namespace {

// Records a problem when `items` is longer than kMaxInventoryItems.
template <class T>
void CheckCount(Decoder& d, const std::string& path, const std::vector<T>& items) {
  if (items.size() > kMaxInventoryItems) {
    d.Problem(path, "must hold at most " + std::to_string(kMaxInventoryItems) + " items");
  }
}

}  // namespace

// Found through the Decoder's namespace by the ObjectReader's templates, so not in an unnamed one.

bool Read(Decoder& d, const std::string& path, const json::value& v, InstanceRunState& out) {
  const json::string* text = v.if_string();
  std::optional<InstanceRunState> parsed;
  if (text != nullptr) parsed = InstanceRunStateFromString(std::string_view(*text));
  if (!parsed) {
    d.Problem(path, "must be one of running, stopped, crashed");
    return false;
  }
  out = *parsed;
  return true;
}

bool Read(Decoder& d, const std::string& path, const json::value& v, InventoryBuild& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("buildId", out.build_id)) CheckName(d, r.Path("buildId"), out.build_id);
  r.Optional("installedAt", out.installed_at);
  r.Required("sizeBytes", out.size_bytes);
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, InventoryServer& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("serverId", out.server_id)) CheckName(d, r.Path("serverId"), out.server_id);
  if (r.Optional("currentBuild", out.current_build)) {
    CheckName(d, r.Path("currentBuild"), *out.current_build);
  }
  if (r.Required("builds", out.builds)) CheckCount(d, r.Path("builds"), out.builds);
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, InventoryInstance& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("instanceId", out.instance_id)) {
    CheckName(d, r.Path("instanceId"), out.instance_id);
  }
  if (r.Required("serverId", out.server_id)) CheckName(d, r.Path("serverId"), out.server_id);
  if (r.Optional("buildId", out.build_id)) CheckName(d, r.Path("buildId"), *out.build_id);
  r.Required("state", out.state);
  if (r.Optional("pid", out.pid) && *out.pid <= 0) d.Problem(r.Path("pid"), "must be positive");
  r.Optional("startedAt", out.started_at);
  if (r.Required("supervisor", out.supervisor) && !IsSupervisor(out.supervisor)) {
    d.Problem(r.Path("supervisor"), "must be one of process, systemd");
  }
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, InventoryBackup& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("instanceId", out.instance_id)) {
    CheckName(d, r.Path("instanceId"), out.instance_id);
  }
  if (r.Required("backupId", out.backup_id)) CheckName(d, r.Path("backupId"), out.backup_id);
  r.Required("createdAt", out.created_at);
  r.Required("sizeBytes", out.size_bytes);
  r.Optional("verifiedAt", out.verified_at);
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, InventoryDisk& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  const bool free_read = r.Required("rootFreeBytes", out.root_free_bytes);
  const bool total_read = r.Required("rootTotalBytes", out.root_total_bytes);
  if (free_read && total_read && out.root_free_bytes > out.root_total_bytes) {
    d.Problem(r.Path("rootFreeBytes"), "must not exceed rootTotalBytes");
  }
  return r.Finish();
}

bool Read(Decoder& d, const std::string& path, const json::value& v, HostInventory& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  if (r.Required("servers", out.servers)) CheckCount(d, r.Path("servers"), out.servers);
  if (r.Required("instances", out.instances)) CheckCount(d, r.Path("instances"), out.instances);
  if (r.Required("backups", out.backups)) CheckCount(d, r.Path("backups"), out.backups);
  r.Required("disk", out.disk);
  r.Required("reportedAt", out.reported_at);
  return r.Finish();
}

namespace {

json::value NullableInt64(const std::optional<std::int64_t>& number) {
  return number ? json::value(*number) : json::value(nullptr);
}

json::value EncodeInventory(const HostInventory& inventory) {
  json::array servers;
  for (const InventoryServer& server : inventory.servers) {
    json::array builds;
    for (const InventoryBuild& build : server.builds) {
      builds.push_back(json::object{{"buildId", Str(build.build_id)},
                                    {"installedAt", NullableTime(build.installed_at)},
                                    {"sizeBytes", build.size_bytes}});
    }
    servers.push_back(json::object{{"serverId", Str(server.server_id)},
                                   {"currentBuild", Nullable(server.current_build)},
                                   {"builds", std::move(builds)}});
  }
  json::array instances;
  for (const InventoryInstance& instance : inventory.instances) {
    instances.push_back(json::object{{"instanceId", Str(instance.instance_id)},
                                     {"serverId", Str(instance.server_id)},
                                     {"buildId", Nullable(instance.build_id)},
                                     {"state", Str(ToString(instance.state))},
                                     {"pid", NullableInt64(instance.pid)},
                                     {"startedAt", NullableTime(instance.started_at)},
                                     {"supervisor", Str(instance.supervisor)}});
  }
  json::array backups;
  for (const InventoryBackup& backup : inventory.backups) {
    backups.push_back(json::object{{"instanceId", Str(backup.instance_id)},
                                   {"backupId", Str(backup.backup_id)},
                                   {"createdAt", Time(backup.created_at)},
                                   {"sizeBytes", backup.size_bytes},
                                   {"verifiedAt", NullableTime(backup.verified_at)}});
  }
  return json::object{{"servers", std::move(servers)},
                      {"instances", std::move(instances)},
                      {"backups", std::move(backups)},
                      {"disk", json::object{{"rootFreeBytes", inventory.disk.root_free_bytes},
                                            {"rootTotalBytes", inventory.disk.root_total_bytes}}},
                      {"reportedAt", Time(inventory.reported_at)}};
}

}  // namespace

bool Read(Decoder& d, const std::string& path, const json::value& v, InventorySummary& out) {
  const json::object* object = AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  const std::string instances_path = r.Path("instances");
  if (const json::value* instances = r.Find("instances")) {
    if (const json::object* counts = AsObject(d, instances_path, *instances)) {
      ObjectReader c(d, instances_path, *counts);
      c.Required("running", out.running);
      c.Required("stopped", out.stopped);
      c.Required("crashed", out.crashed);
      c.Finish();
    }
  } else {
    d.Problem(instances_path, "is required");
  }
  r.Required("reportedAt", out.reported_at);
  return r.Finish();
}

json::value Encode(const InventorySummary& value) {
  return json::object{{"instances", json::object{{"running", value.running},
                                                 {"stopped", value.stopped},
                                                 {"crashed", value.crashed}}},
                      {"reportedAt", Time(value.reported_at)}};
}

}  // namespace codec_detail

using namespace codec_detail;

Expected<HostInventory> ParseHostInventory(std::string_view text) {
  return DecodeText<HostInventory>(text, true);
}

std::string ToJson(const HostInventory& inventory) {
  return json::serialize(EncodeInventory(inventory));
}

InventorySummary Summarize(const HostInventory& inventory) {
  InventorySummary summary;
  for (const InventoryInstance& instance : inventory.instances) {
    switch (instance.state) {
      case InstanceRunState::kRunning: ++summary.running; break;
      case InstanceRunState::kStopped: ++summary.stopped; break;
      case InstanceRunState::kCrashed: ++summary.crashed; break;
    }
  }
  summary.reported_at = inventory.reported_at;
  return summary;
}

bool DeservesInventoryEvent(const std::optional<HostInventory>& before,
                            const HostInventory& after) {
  if (!before) return true;
  if (before->servers != after.servers || before->instances != after.instances ||
      before->backups != after.backups) {
    return true;
  }
  const std::uint64_t old_free = before->disk.root_free_bytes;
  const std::uint64_t new_free = after.disk.root_free_bytes;
  const std::uint64_t moved = old_free > new_free ? old_free - new_free : new_free - old_free;
  // moved > 1 % of total, without overflow: a total near 2^64 / 100 is far beyond any disk.
  const std::uint64_t total = std::max(before->disk.root_total_bytes, after.disk.root_total_bytes);
  return static_cast<long double>(moved) * 100.0L > static_cast<long double>(total);
}

std::string InventoryEventMessage(const InventorySummary& summary) {
  return "instances: " + std::to_string(summary.running) + " running, " +
         std::to_string(summary.stopped) + " stopped, " + std::to_string(summary.crashed) +
         " crashed";
}

}  // namespace orb::protocol
