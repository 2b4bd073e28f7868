// The files the agent keeps on the host and reads back after a crash or from a backup: backup
// manifests, verify records, restore markers, build records, activation log lines, mods locks,
// restart plans, instance configs (protocol/*_json.hpp). The first byte picks the parser, the
// rest is the file. What parses encodes, and the encoding parses to the same encoding.

#include <string>

#include "fuzz/fuzz_target.hpp"
#include "protocol/backup_json.hpp"
#include "protocol/build_json.hpp"
#include "protocol/instance_json.hpp"

namespace {

using namespace orb::protocol;

template <class Parse, class Encode>
void RoundTrip(std::string_view text, Parse parse, Encode encode) {
  auto parsed = parse(text);
  if (!parsed) return;
  const std::string encoded = encode(*parsed);
  auto again = parse(encoded);
  ORB_FUZZ_CHECK(again.has_value());
  ORB_FUZZ_CHECK(encode(*again) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text = orb::fuzz::AsText(data + 1, size - 1);
  switch (data[0] % 9) {
    case 0: RoundTrip(text, ParseBackupManifest, BackupManifestJson); break;
    case 1: RoundTrip(text, ParseBackupVerify, BackupVerifyJson); break;
    case 2: RoundTrip(text, ParseRestoreMarker, RestoreMarkerJson); break;
    case 3: RoundTrip(text, ParseBuildRecord, BuildRecordJson); break;
    case 4: RoundTrip(text, ParseActivationLine, ActivationLine); break;
    case 5: RoundTrip(text, ParseModsLock, ModsLockJson); break;
    case 6: RoundTrip(text, ParseRestartPlan, RestartPlanJson); break;
    case 7: RoundTrip(text, ParseInstanceConfig, InstanceConfigJson); break;
    default: (void)ParseInstanceRuntime(text); break;
  }
  return 0;
}
