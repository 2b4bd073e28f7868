// Payload validation (protocol/payloads) against the agent's parsers of the same payloads: the
// first byte picks the job type (or an unknown one), the rest is the payload JSON. What fleet-cmdr
// accepts and normalizes, the agent must parse; normalizing is idempotent.

#include <array>
#include <string_view>

#include "fuzz/fuzz_target.hpp"
#include "protocol/backup_json.hpp"
#include "protocol/build_json.hpp"
#include "protocol/instance_json.hpp"
#include "protocol/payloads/payloads.hpp"

namespace {

using namespace orb::protocol;

bool AgentParses(std::string_view type, std::string_view payload) {
  if (type == "INSTALL_SERVER") return ParseInstallServerPayload(payload).has_value();
  if (type == "UPDATE_SERVER") return ParseUpdateServerPayload(payload).has_value();
  if (type == "ACTIVATE_BUILD") return ParseActivateBuildPayload(payload).has_value();
  if (type == "SYNC_MODS") return ParseSyncModsPayload(payload).has_value();
  if (type == "BACKUP_INSTANCE") return ParseBackupInstancePayload(payload).has_value();
  if (type == "VERIFY_BACKUP") return ParseVerifyBackupPayload(payload).has_value();
  if (type == "RESTORE_BACKUP") return ParseRestoreBackupPayload(payload).has_value();
  if (type == "PRUNE_BACKUPS") return ParsePruneBackupsPayload(payload).has_value();
  if (type == "START_INSTANCE") return ParseStartInstancePayload(payload).has_value();
  return ParseStopInstancePayload(type, payload).has_value();  // STOP_ and RESTART_INSTANCE
}

constexpr std::array<std::string_view, 12> kTypes = {
    "INSTALL_SERVER",  "UPDATE_SERVER", "ACTIVATE_BUILD",   "SYNC_MODS",
    "BACKUP_INSTANCE", "VERIFY_BACKUP", "RESTORE_BACKUP",   "PRUNE_BACKUPS",
    "START_INSTANCE",  "STOP_INSTANCE", "RESTART_INSTANCE", "NO_SUCH_TYPE"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view type = kTypes[data[0] % kTypes.size()];
  const std::string_view payload = orb::fuzz::AsText(data + 1, size - 1);
  auto normalized = NormalizePayload(type, payload);
  ORB_FUZZ_CHECK(normalized.has_value() == ValidatePayload(type, payload).has_value());
  if (!normalized) return 0;
  ORB_FUZZ_CHECK(type != "NO_SUCH_TYPE");
  ORB_FUZZ_CHECK(AgentParses(type, *normalized));
  auto again = NormalizePayload(type, *normalized);
  ORB_FUZZ_CHECK(again.has_value() && *again == *normalized);
  return 0;
}
