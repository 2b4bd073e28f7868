// BACKUP_INSTANCE, VERIFY_BACKUP, RESTORE_BACKUP, PRUNE_BACKUPS payloads (job-types.md §3).

#include "protocol/payloads/checker.hpp"
#include "protocol/payloads/field_table.hpp"

namespace orb::protocol::payloads {
namespace {

constexpr std::string_view kBackupModes[] = {"live", "stopped"};
constexpr std::string_view kVerifyLevels[] = {"quick", "full"};

constexpr std::array kBackupInstanceFields{
    PayloadField{.name = "backupId",
                 .kind = FieldKind::kName,
                 .description = "id of the new backup; defaults to one derived from the jobId, so "
                                "a retry of the same job never makes a second backup"},
    PayloadField{.name = "mode",
                 .kind = FieldKind::kEnum,
                 .default_value = R"("live")",
                 .enum_values = kBackupModes,
                 .description = "live: archive while running; stopped: stop the instance first "
                                "and start it again afterwards"},
};

constexpr std::array kVerifyBackupFields{
    PayloadField{.name = "backupId",
                 .kind = FieldKind::kName,
                 .required = true,
                 .description = "the committed backup to verify"},
    PayloadField{.name = "level",
                 .kind = FieldKind::kEnum,
                 .default_value = R"("full")",
                 .enum_values = kVerifyLevels,
                 .description = "quick: manifest, archive size and sha256; full: also every entry"},
};

constexpr std::array kRestoreBackupFields{
    PayloadField{.name = "backupId",
                 .kind = FieldKind::kName,
                 .required = true,
                 .description = "the committed backup to restore; verified fully first"},
    PayloadField{.name = "startAfter",
                 .kind = FieldKind::kBoolean,
                 .nullable = true,
                 .default_value = "null",
                 .description = "start the instance afterwards; null: only if it was running"},
};

constexpr std::int64_t kMaxKeep = 1'000'000;

constexpr std::string_view kKeepNames[] = {"keepLast",   "keepHourly",  "keepDaily",
                                           "keepWeekly", "keepMonthly", "keepYearly"};

constexpr PayloadField Keep(std::string_view name, std::string_view description) {
  return PayloadField{.name = name,
                      .kind = FieldKind::kInteger,
                      .default_value = "0",
                      .min = 0,
                      .max = kMaxKeep,
                      .description = description};
}

constexpr std::array kPruneBackupsFields{
    Keep("keepLast", "keep the N newest backups"),
    Keep("keepHourly", "keep the newest backup of each of the last N hours that have one"),
    Keep("keepDaily", "keep the newest backup of each of the last N days that have one"),
    Keep("keepWeekly", "keep the newest backup of each of the last N weeks that have one"),
    Keep("keepMonthly", "keep the newest backup of each of the last N months that have one"),
    Keep("keepYearly", "keep the newest backup of each of the last N years that have one"),
    PayloadField{.name = "dryRun",
                 .kind = FieldKind::kBoolean,
                 .default_value = "false",
                 .description = "report what would be removed without removing anything"},
};

// An all-zero policy would delete everything: refused (job-types.md §3 PRUNE_BACKUPS).
void CheckPrunePolicy(const boost::json::object& payload, Problems& problems) {
  for (const auto name : kKeepNames) {
    const auto* value = payload.if_contains(name);
    if (value == nullptr) continue;
    const auto number = AsInt64(*value);
    if (!number || *number < 0) return;  // already reported as a field problem
    if (*number > 0) return;
  }
  problems.push_back({"payload",
                      "must keep something: at least one of keepLast, keepHourly, keepDaily, "
                      "keepWeekly, keepMonthly, keepYearly must be >= 1 (prune never deletes "
                      "everything by accident)"});
}

}  // namespace

const PayloadSpec& BackupInstanceSpec() {
  static const PayloadSpec spec{kBackupInstanceFields, nullptr,
                                R"({"backupId": "mc-1-2026-11-22", "mode": "live"})"};
  return spec;
}

const PayloadSpec& VerifyBackupSpec() {
  static const PayloadSpec spec{kVerifyBackupFields, nullptr,
                                R"({"backupId": "mc-1-2026-11-22", "level": "full"})"};
  return spec;
}

const PayloadSpec& RestoreBackupSpec() {
  static const PayloadSpec spec{kRestoreBackupFields, nullptr,
                                R"({"backupId": "mc-1-2026-11-22", "startAfter": null})"};
  return spec;
}

const PayloadSpec& PruneBackupsSpec() {
  static const PayloadSpec spec{
      kPruneBackupsFields, &CheckPrunePolicy,
      R"({"keepLast": 3, "keepHourly": 0, "keepDaily": 7, "keepWeekly": 4, "keepMonthly": 6, )"
      R"("keepYearly": 0, "dryRun": false})"};
  return spec;
}

}  // namespace orb::protocol::payloads
