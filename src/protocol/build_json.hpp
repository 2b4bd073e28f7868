#pragma once

// The JSON of builds and mods on the host (job-types.md §1 layout, §3 INSTALL_SERVER,
// UPDATE_SERVER, ACTIVATE_BUILD, SYNC_MODS): the four payloads, builds/<id>/.build.json, one line
// of servers/<id>/activations.log, instances/<id>/mods.lock.json, and the four results, as plain
// structs. Lives in protocol because JSON does (style.md); the handlers in src/jobs/builds and
// src/jobs/mods never see the JSON text itself.
// Pure functions; thread-safe. Never throws (except std::bad_alloc).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/time.hpp"

namespace orb::protocol {

// The payloads' `artifact` object.
struct ArtifactRef {
  std::string url;     // http(s)://, file:// or fleet-cmdr's "/v1/artifacts/<sha256>"
  std::string sha256;  // lower-case hex
  std::uint64_t size = 0;
  std::optional<std::string> format;  // tar.gz|tar.zst|tar|zip; the content decides anyway
  bool operator==(const ArtifactRef&) const = default;
};

struct InstallServerPayload {
  std::string build_id;
  ArtifactRef artifact;
  bool activate = false;
};

struct UpdateServerPayload {
  std::string build_id;
  ArtifactRef artifact;
  bool restart_instances = true;
};

struct ActivateBuildPayload {
  std::string build_id;
  bool restart_instances = false;
};

// One mod of SYNC_MODS' desired set.
struct ModRef {
  std::string name;
  std::string url;
  std::string sha256;  // lower-case hex
  std::uint64_t size = 0;
  std::string path;  // relative to the instance's data/, checked safe by the payload schema
  bool operator==(const ModRef&) const = default;
};

enum class ModsRestart { kNever, kIfRunning };

struct SyncModsPayload {
  std::vector<ModRef> mods;
  bool remove_unlisted = false;
  ModsRestart restart = ModsRestart::kNever;
};

// Validated exactly as fleet-cmdr does (protocol/payloads ValidatePayload), then decoded with the
// defaults filled in; sha256 values are lower-cased. Errc::kInvalidPayload with details rooted at
// "payload." otherwise.
Expected<InstallServerPayload> ParseInstallServerPayload(std::string_view payload_json);
Expected<UpdateServerPayload> ParseUpdateServerPayload(std::string_view payload_json);
Expected<ActivateBuildPayload> ParseActivateBuildPayload(std::string_view payload_json);
Expected<SyncModsPayload> ParseSyncModsPayload(std::string_view payload_json);

// servers/<id>/builds/<buildId>/.build.json, the commit record of a build (job-types.md §1).
struct BuildRecord {
  std::string build_id;
  std::string artifact_sha256;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  WallTime committed_at{};
  std::string job_id;
  bool operator==(const BuildRecord&) const = default;
};

std::string BuildRecordJson(const BuildRecord& record);
// Errc::kInvalidJson / kInvalidRequest (with details) for a damaged record; unknown keys ignored.
Expected<BuildRecord> ParseBuildRecord(std::string_view text);

// One line of servers/<id>/activations.log: a switch of `current`.
struct Activation {
  WallTime at{};
  std::string build_id;
  std::optional<std::string> previous_build_id;  // none for a server's first activation
  std::string job_id;
  std::string run_id;
  std::string reason;  // "INSTALL_SERVER", "UPDATE_SERVER", "ACTIVATE_BUILD", "rollback"
  bool operator==(const Activation&) const = default;
};

// One compact JSON object, without the trailing newline.
std::string ActivationLine(const Activation& activation);
Expected<Activation> ParseActivationLine(std::string_view line);

// One installed mod of mods.lock.json: what was asked for, and the files (relative to data/)
// this mod owns, which SYNC_MODS may replace or remove. Today a mod owns exactly its `path`.
struct LockedMod {
  std::string name;
  std::string sha256;
  std::uint64_t size = 0;
  std::string path;
  std::vector<std::string> files;
  bool operator==(const LockedMod&) const = default;
};

// instances/<id>/mods.lock.json, written last by SYNC_MODS (job-types.md §1).
struct ModsLock {
  std::string set_hash;         // ModSetHash of the installed set
  std::vector<LockedMod> mods;  // sorted by name
  WallTime updated_at{};
  std::string job_id;
  bool operator==(const ModsLock&) const = default;
};

std::string ModsLockJson(const ModsLock& lock);
Expected<ModsLock> ParseModsLock(std::string_view text);

// The hash of a mod set: sha256 over the mods sorted by name, each as name, sha256, size and
// path. Independent of the payload's order, so an equal set always has an equal hash.
std::string ModSetHash(std::vector<ModRef> mods);

// servers/<id>/restart-plan.json: the instances an UPDATE_SERVER or ACTIVATE_BUILD is restarting,
// written before the first stop and removed after the last start, so that a retry after a crash
// starts again what the crashed run had stopped.
struct RestartPlan {
  std::string build_id;  // the build the instances are being moved to
  std::string job_id;
  std::vector<std::string> instances;
  bool operator==(const RestartPlan&) const = default;
};

std::string RestartPlanJson(const RestartPlan& plan);
Expected<RestartPlan> ParseRestartPlan(std::string_view text);

// The results (job-types.md §3). The `already*` flags are written only when true.
struct InstallServerResult {
  std::string server_id;
  std::string build_id;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  bool activated = false;
  bool already_installed = false;
};

struct UpdateServerResult {
  std::string server_id;
  std::string build_id;
  std::optional<std::string> previous_build_id;
  std::vector<std::string> restarted;
  bool already_installed = false;
  bool already_active = false;
};

struct ActivateBuildResult {
  std::string server_id;
  std::string build_id;
  std::optional<std::string> previous_build_id;
  std::vector<std::string> restarted;  // written only when restartInstances was asked for
  bool restart_instances = false;
  bool already_active = false;
};

// SYNC_MODS: mod names. `already_synced`: the installed set hash equals the desired one (the
// "unchanged" fast path of job-types.md, written as "alreadySynced": true so that "unchanged"
// keeps one type, the list of names).
struct SyncModsResult {
  std::vector<std::string> added;
  std::vector<std::string> updated;
  std::vector<std::string> removed;
  std::vector<std::string> unchanged;
  bool already_synced = false;
  bool restarted = false;
};

std::string InstallServerResultJson(const InstallServerResult& result);
std::string UpdateServerResultJson(const UpdateServerResult& result);
std::string ActivateBuildResultJson(const ActivateBuildResult& result);
std::string SyncModsResultJson(const SyncModsResult& result);

}  // namespace orb::protocol
