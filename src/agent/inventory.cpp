#include "agent/inventory.hpp"

#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/ids.hpp"
#include "common/log.hpp"
#include "jobs/backups/backup_store.hpp"
#include "jobs/builds/build_store.hpp"
#include "jobs/instances/instance_store.hpp"
#include "protocol/backup_json.hpp"

namespace orb::agent {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kManifestSuffix = ".manifest.json";  // jobs/backups' layout

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The sub-directories of `dir` whose names are protocol.md §1 names (ids), sorted; none when
// `dir` is missing.
std::vector<std::string> Ids(os::Fs& fs, const fs::path& dir) {
  std::vector<std::string> ids;
  auto entries = fs.ReadDir(dir);
  if (!entries) {
    if (entries.error().code != Errc::kNotFound) {
      GetLogger("agent")->debug("inventory: cannot list {}: {}", dir.string(),
                                entries.error().Describe());
    }
    return ids;
  }
  for (const auto& entry : *entries) {
    if (entry.kind == os::FileKind::kDirectory && IsValidName(entry.name)) {
      ids.push_back(entry.name);
    }
  }
  return ids;
}

void CollectServers(os::Fs& fs, const fs::path& root, protocol::HostInventory& inventory) {
  jobs::BuildStore builds(fs);
  for (const std::string& server_id : Ids(fs, root / "servers")) {
    const jobs::ServerPaths paths(root, server_id);
    protocol::InventoryServer server;
    server.server_id = server_id;
    if (auto current = builds.Current(paths); current) server.current_build = *current;
    for (const std::string& build_id : Ids(fs, paths.builds)) {
      auto record = builds.FindCommitted(paths, build_id);
      if (!record) {
        GetLogger("agent")->debug("inventory: build {} of {}: {}", build_id, server_id,
                                  record.error().Describe());
        continue;
      }
      if (!*record) continue;  // not committed: an install under way or its leftover
      server.builds.push_back({build_id, (*record)->committed_at, (*record)->bytes});
    }
    inventory.servers.push_back(std::move(server));
  }
}

void CollectInstances(os::Fs& fs, const fs::path& root, protocol::HostInventory& inventory) {
  jobs::InstanceStore instances(fs, jobs::InstanceOptions{});
  for (const std::string& instance_id : Ids(fs, root / "instances")) {
    const jobs::InstancePaths paths(root, instance_id);
    auto config = instances.LoadConfig(paths);
    if (!config || !*config) continue;  // never started: no instance yet
    auto runtime = instances.LoadRuntime(paths);
    if (!runtime) {
      GetLogger("agent")->debug("inventory: instance {}: {}", instance_id,
                                runtime.error().Describe());
      continue;
    }
    protocol::InventoryInstance instance;
    instance.instance_id = instance_id;
    instance.server_id = (*config)->server_id;
    instance.build_id = runtime->build_id;
    instance.supervisor = runtime->unit ? "systemd" : "process";
    using protocol::InstanceState;
    switch (runtime->state) {
      case InstanceState::kStopped: instance.state = protocol::InstanceRunState::kStopped; break;
      case InstanceState::kStarting:
      case InstanceState::kRunning:
      case InstanceState::kStopping: {
        const bool alive = jobs::InstanceStore::FindRunning(paths, *runtime).has_value();
        if (alive) {
          instance.state = protocol::InstanceRunState::kRunning;
        } else if (runtime->state == InstanceState::kStarting) {
          // A start under way has no process yet, or its spawn failed: not (yet) running.
          instance.state = protocol::InstanceRunState::kStopped;
        } else {
          instance.state = protocol::InstanceRunState::kCrashed;
        }
        if (instance.state != protocol::InstanceRunState::kStopped) {
          instance.pid = runtime->pid;
          instance.started_at = runtime->started_at;
        }
        break;
      }
    }
    inventory.instances.push_back(std::move(instance));
  }
}

void CollectBackups(os::Fs& fs, const fs::path& root, protocol::HostInventory& inventory) {
  jobs::BackupStore backups(fs);
  for (const std::string& instance_id : Ids(fs, root / "backups")) {
    const jobs::BackupPaths paths(root, instance_id);
    auto entries = fs.ReadDir(paths.dir);
    if (!entries) continue;
    for (const auto& entry : *entries) {
      if (entry.kind != os::FileKind::kRegular || entry.name.front() == '.' ||
          !EndsWith(entry.name, kManifestSuffix)) {
        continue;
      }
      const std::string backup_id =
          entry.name.substr(0, entry.name.size() - kManifestSuffix.size());
      if (!IsValidName(backup_id)) continue;
      auto manifest = backups.LoadManifest(paths, backup_id);
      if (!manifest || !*manifest) {
        if (!manifest) {
          GetLogger("agent")->debug("inventory: backup {} of {}: {}", backup_id, instance_id,
                                    manifest.error().Describe());
        }
        continue;
      }
      protocol::InventoryBackup backup;
      backup.instance_id = instance_id;
      backup.backup_id = backup_id;
      backup.created_at = (*manifest)->created_at;
      backup.size_bytes = (*manifest)->archive_bytes;
      if (auto text = fs.ReadFile(paths.Verify(backup_id))) {
        auto verify = protocol::ParseBackupVerify(*text);
        if (verify && verify->ok) backup.verified_at = verify->checked_at;
      }
      inventory.backups.push_back(std::move(backup));
    }
  }
}

}  // namespace

protocol::HostInventory CollectInventory(os::Fs& fs, const fs::path& root, WallTime now) {
  protocol::HostInventory inventory;
  CollectServers(fs, root, inventory);
  CollectInstances(fs, root, inventory);
  CollectBackups(fs, root, inventory);
  std::error_code ec;
  const auto space = fs::space(root, ec);
  if (!ec) {
    inventory.disk.root_free_bytes = space.available;
    inventory.disk.root_total_bytes = space.capacity;
  }
  inventory.reported_at = now;
  return inventory;
}

Clock::MonoTime InventorySchedule::NextCheck() const {
  if (wanted_ || !last_check_) return Clock::MonoTime{};  // the clock's epoch: already past
  return *last_check_ + interval_;
}

bool InventorySchedule::ShouldSend(const protocol::HostInventory& current) const {
  if (unsupported_) return false;
  return protocol::DeservesInventoryEvent(delivered_, current);
}

}  // namespace orb::agent
