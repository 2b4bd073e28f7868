#include "protocol/job_types.hpp"

#include <array>

#include "protocol/payloads/checker.hpp"
#include "protocol/types.hpp"

namespace orb::protocol {
namespace {

using payloads::PayloadSpec;

constexpr LockRule kServerX[] = {{LockScope::kServer, LockMode::kExclusive}};
constexpr LockRule kInstanceX[] = {{LockScope::kInstance, LockMode::kExclusive}};
constexpr LockRule kInstanceXBackupsS[] = {{LockScope::kInstance, LockMode::kExclusive},
                                           {LockScope::kBackups, LockMode::kShared}};
constexpr LockRule kBackupsS[] = {{LockScope::kBackups, LockMode::kShared}};
constexpr LockRule kBackupsX[] = {{LockScope::kBackups, LockMode::kExclusive}};

struct Row {
  JobTypeInfo info;
  const PayloadSpec& (*spec)();
};

// job-types.md §3, row by row. `fields` and `example_payload` are filled from the spec.
const std::array<Row, 11> kRows{{
    {{.name = "INSTALL_SERVER",
      .target = TargetKind::kServer,
      .locks = kServerX,
      .cancellable = true,
      .cancellable_until = "until the build is committed",
      .default_timeout_seconds = 3600,
      .default_max_attempts = 3,
      .description = "download, verify and unpack a build of a server; activate it if asked or "
                     "if the server has none yet"},
     &payloads::InstallServerSpec},
    {{.name = "UPDATE_SERVER",
      .target = TargetKind::kServer,
      .locks = kServerX,
      .cancellable = true,
      .cancellable_until = "until the switch",
      .default_timeout_seconds = 3600,
      .default_max_attempts = 3,
      .description = "install a new build, switch to it and restart the server's running "
                     "instances; roll back if one does not become ready"},
     &payloads::UpdateServerSpec},
    {{.name = "ACTIVATE_BUILD",
      .target = TargetKind::kServer,
      .locks = kServerX,
      .cancellable = false,
      .not_cancellable_reason = "the switch is one atomic rename, there is nothing to stop "
                                "half-way; activate the previous build to undo",
      .default_timeout_seconds = 600,
      .default_max_attempts = 3,
      .description = "make a committed build the server's current one"},
     &payloads::ActivateBuildSpec},
    {{.name = "START_INSTANCE",
      .target = TargetKind::kInstance,
      .locks = kInstanceX,
      .cancellable = true,
      .cancellable_until = "until the process is spawned",
      .default_timeout_seconds = 300,
      .default_max_attempts = 2,
      .description = "start an instance (optionally with a new definition) and wait until it is "
                     "ready"},
     &payloads::StartInstanceSpec},
    {{.name = "STOP_INSTANCE",
      .target = TargetKind::kInstance,
      .locks = kInstanceX,
      .cancellable = false,
      .not_cancellable_reason = "a stop that has begun cannot be taken back safely; start the "
                                "instance again instead",
      .default_timeout_seconds = 300,
      .default_max_attempts = 2,
      .description = "stop an instance: stopCommand or stopSignal, then SIGTERM, then SIGKILL"},
     &payloads::StopInstanceSpec},
    {{.name = "RESTART_INSTANCE",
      .target = TargetKind::kInstance,
      .locks = kInstanceX,
      .cancellable = true,
      .cancellable_until = "before the stop and between stop and start",
      .default_timeout_seconds = 600,
      .default_max_attempts = 2,
      .description = "stop then start an instance under one lock; no start if the stop fails"},
     &payloads::RestartInstanceSpec},
    {{.name = "BACKUP_INSTANCE",
      .target = TargetKind::kInstance,
      .locks = kInstanceXBackupsS,
      .cancellable = true,
      .cancellable_until = "until the manifest is committed",
      .default_timeout_seconds = 7200,
      .default_max_attempts = 3,
      .description = "archive an instance's data into a verified, manifest-committed backup"},
     &payloads::BackupInstanceSpec},
    {{.name = "VERIFY_BACKUP",
      .target = TargetKind::kInstance,
      .locks = kBackupsS,
      .cancellable = true,
      .cancellable_until = "any time",
      .default_timeout_seconds = 3600,
      .default_max_attempts = 3,
      .description = "check a backup against its manifest"},
     &payloads::VerifyBackupSpec},
    {{.name = "RESTORE_BACKUP",
      .target = TargetKind::kInstance,
      .locks = kInstanceXBackupsS,
      .cancellable = true,
      .cancellable_until = "until the data swap",
      .default_timeout_seconds = 7200,
      .default_max_attempts = 2,
      .description = "replace an instance's data with a verified backup, keeping the old data"},
     &payloads::RestoreBackupSpec},
    {{.name = "PRUNE_BACKUPS",
      .target = TargetKind::kInstance,
      .locks = kBackupsX,
      .cancellable = true,
      .cancellable_until = "between deletions",
      .default_timeout_seconds = 600,
      .default_max_attempts = 3,
      .description = "delete the backups a keep policy does not keep (restic forget semantics)"},
     &payloads::PruneBackupsSpec},
    {{.name = "SYNC_MODS",
      .target = TargetKind::kInstance,
      .locks = kInstanceX,
      .cancellable = true,
      .cancellable_until = "until the mods swap",
      .default_timeout_seconds = 1800,
      .default_max_attempts = 3,
      .description = "make an instance's mods the listed set"},
     &payloads::SyncModsSpec},
}};

const std::array<JobTypeInfo, kRows.size()>& Infos() {
  static const std::array<JobTypeInfo, kRows.size()> infos = [] {
    std::array<JobTypeInfo, kRows.size()> out{};
    for (std::size_t i = 0; i < kRows.size(); ++i) {
      out[i] = kRows[i].info;
      const PayloadSpec& spec = kRows[i].spec();
      out[i].fields = spec.fields;
      out[i].example_payload = spec.example;
    }
    return out;
  }();
  return infos;
}

}  // namespace

std::string_view ToString(TargetKind kind) {
  return kind == TargetKind::kServer ? "server" : "instance";
}

std::span<const JobTypeInfo> AllJobTypes() {
  return Infos();
}

const JobTypeInfo* FindJobType(std::string_view name) {
  for (const auto& info : Infos()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

LockSet LocksFor(std::string_view type, const std::optional<std::string>& server_id,
                 const std::optional<std::string>& instance_id) {
  LockSet locks;
  const JobTypeInfo* info = FindJobType(type);
  if (info == nullptr) return locks;
  for (const auto& rule : info->locks) {
    const auto& id = rule.scope == LockScope::kServer ? server_id : instance_id;
    if (!id) continue;
    std::string key = rule.scope == LockScope::kServer     ? "server:"
                      : rule.scope == LockScope::kInstance ? "instance:"
                                                           : "backups:";
    key += *id;
    locks.push_back(Lock{std::move(key), rule.mode});
  }
  return locks;
}

int DefaultTimeoutSeconds(std::string_view type) {
  const JobTypeInfo* info = FindJobType(type);
  return info != nullptr ? info->default_timeout_seconds : Job{}.timeout_seconds;
}

int DefaultMaxAttempts(std::string_view type) {
  const JobTypeInfo* info = FindJobType(type);
  return info != nullptr ? info->default_max_attempts : Job{}.max_attempts;
}

namespace payloads {

const PayloadSpec* FindPayloadSpec(std::string_view type) {
  for (const auto& row : kRows) {
    if (row.info.name == type) return &row.spec();
  }
  return nullptr;
}

}  // namespace payloads

}  // namespace orb::protocol
