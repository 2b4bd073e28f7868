#include "protocol/build_json.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <utility>

#include "common/sha256.hpp"
#include "protocol/codec_detail.hpp"
#include "protocol/host_file_codec.hpp"
#include "protocol/payloads/payloads.hpp"

namespace orb::protocol {
namespace {

namespace json = boost::json;
using codec_detail::DecodeFile;
using codec_detail::DecodePayload;
using codec_detail::Decoder;
using codec_detail::ObjectReader;
using codec_detail::Str;
using codec_detail::Strings;

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

void ReadArtifact(ObjectReader& r, ArtifactRef& out) {
  const json::value* value = r.Find("artifact");
  if (value == nullptr) {
    r.decoder().Problem(r.Path("artifact"), "is required");
    return;
  }
  const json::object* object = codec_detail::AsObject(r.decoder(), r.Path("artifact"), *value);
  if (object == nullptr) return;
  ObjectReader a(r.decoder(), r.Path("artifact"), *object);
  a.Required("url", out.url);
  a.Required("sha256", out.sha256);
  a.Required("size", out.size);
  a.Optional("format", out.format);
  out.sha256 = Lower(std::move(out.sha256));
}

bool ReadMod(Decoder& d, const std::string& path, const json::value& v, ModRef& out) {
  const json::object* object = codec_detail::AsObject(d, path, v);
  if (object == nullptr) return false;
  ObjectReader r(d, path, *object);
  r.Required("name", out.name);
  r.Required("url", out.url);
  r.Required("sha256", out.sha256);
  r.Required("size", out.size);
  r.Required("path", out.path);
  out.sha256 = Lower(std::move(out.sha256));
  return r.Finish();
}

}  // namespace

Expected<InstallServerPayload> ParseInstallServerPayload(std::string_view payload_json) {
  return DecodePayload<InstallServerPayload>("INSTALL_SERVER", payload_json,
                                             [](ObjectReader& r, InstallServerPayload& p) {
                                               r.Required("buildId", p.build_id);
                                               ReadArtifact(r, p.artifact);
                                               r.Optional("activate", p.activate);
                                             });
}

Expected<UpdateServerPayload> ParseUpdateServerPayload(std::string_view payload_json) {
  return DecodePayload<UpdateServerPayload>("UPDATE_SERVER", payload_json,
                                            [](ObjectReader& r, UpdateServerPayload& p) {
                                              r.Required("buildId", p.build_id);
                                              ReadArtifact(r, p.artifact);
                                              r.Optional("restartInstances", p.restart_instances);
                                            });
}

Expected<ActivateBuildPayload> ParseActivateBuildPayload(std::string_view payload_json) {
  return DecodePayload<ActivateBuildPayload>("ACTIVATE_BUILD", payload_json,
                                             [](ObjectReader& r, ActivateBuildPayload& p) {
                                               r.Required("buildId", p.build_id);
                                               r.Optional("restartInstances", p.restart_instances);
                                             });
}

Expected<SyncModsPayload> ParseSyncModsPayload(std::string_view payload_json) {
  return DecodePayload<SyncModsPayload>(
      "SYNC_MODS", payload_json, [](ObjectReader& r, SyncModsPayload& p) {
        if (const json::value* mods = r.Find("mods")) {
          if (const json::array* list = mods->if_array()) {
            for (std::size_t i = 0; i < list->size(); ++i) {
              ModRef mod;
              if (ReadMod(r.decoder(), codec_detail::ElementPath(r.Path("mods"), i), (*list)[i],
                          mod)) {
                p.mods.push_back(std::move(mod));
              }
            }
          } else {
            r.decoder().Problem(r.Path("mods"), "must be an array");
          }
        } else {
          r.decoder().Problem(r.Path("mods"), "is required");
        }
        r.Optional("removeUnlisted", p.remove_unlisted);
        std::string restart = "never";
        r.Optional("restart", restart);
        p.restart = restart == "ifRunning" ? ModsRestart::kIfRunning : ModsRestart::kNever;
      });
}

std::string BuildRecordJson(const BuildRecord& record) {
  json::object object;
  object["buildId"] = Str(record.build_id);
  object["artifactSha256"] = Str(record.artifact_sha256);
  object["files"] = record.files;
  object["bytes"] = record.bytes;
  object["committedAt"] = codec_detail::Time(record.committed_at);
  object["jobId"] = Str(record.job_id);
  return json::serialize(object);
}

Expected<BuildRecord> ParseBuildRecord(std::string_view text) {
  return DecodeFile<BuildRecord>(".build.json", text, [](ObjectReader& r, BuildRecord& out) {
    r.Required("buildId", out.build_id);
    r.Required("artifactSha256", out.artifact_sha256);
    r.Required("files", out.files);
    r.Required("bytes", out.bytes);
    r.Required("committedAt", out.committed_at);
    r.Optional("jobId", out.job_id);
  });
}

std::string ActivationLine(const Activation& activation) {
  json::object object;
  object["at"] = codec_detail::Time(activation.at);
  object["buildId"] = Str(activation.build_id);
  object["previousBuildId"] = codec_detail::Nullable(activation.previous_build_id);
  object["jobId"] = Str(activation.job_id);
  object["runId"] = Str(activation.run_id);
  object["reason"] = Str(activation.reason);
  return json::serialize(object);
}

Expected<Activation> ParseActivationLine(std::string_view line) {
  return DecodeFile<Activation>("activations.log line", line, [](ObjectReader& r, Activation& out) {
    r.Required("at", out.at);
    r.Required("buildId", out.build_id);
    r.Optional("previousBuildId", out.previous_build_id);
    r.Optional("jobId", out.job_id);
    r.Optional("runId", out.run_id);
    r.Optional("reason", out.reason);
  });
}

std::string ModsLockJson(const ModsLock& lock) {
  json::object object;
  object["setHash"] = Str(lock.set_hash);
  json::array mods;
  for (const auto& mod : lock.mods) {
    json::object item;
    item["name"] = Str(mod.name);
    item["sha256"] = Str(mod.sha256);
    item["size"] = mod.size;
    item["path"] = Str(mod.path);
    item["files"] = Strings(mod.files);
    mods.push_back(std::move(item));
  }
  object["mods"] = std::move(mods);
  object["updatedAt"] = codec_detail::Time(lock.updated_at);
  object["jobId"] = Str(lock.job_id);
  return json::serialize(object);
}

Expected<ModsLock> ParseModsLock(std::string_view text) {
  return DecodeFile<ModsLock>("mods.lock.json", text, [](ObjectReader& r, ModsLock& out) {
    r.Required("setHash", out.set_hash);
    r.Optional("updatedAt", out.updated_at);
    r.Optional("jobId", out.job_id);
    const json::value* mods = r.Find("mods");
    if (mods == nullptr) {
      r.decoder().Problem("mods", "is required");
      return;
    }
    const json::array* list = mods->if_array();
    if (list == nullptr) {
      r.decoder().Problem("mods", "must be an array");
      return;
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string path = codec_detail::ElementPath("mods", i);
      const json::object* object = codec_detail::AsObject(r.decoder(), path, (*list)[i]);
      if (object == nullptr) continue;
      ObjectReader m(r.decoder(), path, *object);
      LockedMod mod;
      m.Required("name", mod.name);
      m.Required("sha256", mod.sha256);
      m.Required("size", mod.size);
      m.Required("path", mod.path);
      m.Required("files", mod.files);
      out.mods.push_back(std::move(mod));
    }
  });
}

std::string ModSetHash(std::vector<ModRef> mods) {
  std::sort(mods.begin(), mods.end(),
            [](const ModRef& a, const ModRef& b) { return a.name < b.name; });
  Sha256 hash;
  for (const auto& mod : mods) {
    // NUL-separated: names, hashes and paths cannot contain NUL, so the encoding is unambiguous.
    const std::string line = mod.name + '\0' + Lower(mod.sha256) + '\0' + std::to_string(mod.size) +
                             '\0' + mod.path + '\n';
    hash.Update(line);
  }
  return hash.FinishHex();
}

std::string RestartPlanJson(const RestartPlan& plan) {
  json::object object;
  object["buildId"] = Str(plan.build_id);
  object["jobId"] = Str(plan.job_id);
  object["instances"] = Strings(plan.instances);
  return json::serialize(object);
}

Expected<RestartPlan> ParseRestartPlan(std::string_view text) {
  return DecodeFile<RestartPlan>("restart-plan.json", text, [](ObjectReader& r, RestartPlan& out) {
    r.Required("buildId", out.build_id);
    r.Optional("jobId", out.job_id);
    r.Required("instances", out.instances);
  });
}

std::string InstallServerResultJson(const InstallServerResult& result) {
  json::object object;
  object["serverId"] = Str(result.server_id);
  object["buildId"] = Str(result.build_id);
  object["files"] = result.files;
  object["bytes"] = result.bytes;
  object["activated"] = result.activated;
  if (result.already_installed) object["alreadyInstalled"] = true;
  return json::serialize(object);
}

std::string UpdateServerResultJson(const UpdateServerResult& result) {
  json::object object;
  object["serverId"] = Str(result.server_id);
  object["buildId"] = Str(result.build_id);
  object["previousBuildId"] = codec_detail::Nullable(result.previous_build_id);
  object["restarted"] = Strings(result.restarted);
  if (result.already_installed) object["alreadyInstalled"] = true;
  if (result.already_active) object["alreadyActive"] = true;
  return json::serialize(object);
}

std::string ActivateBuildResultJson(const ActivateBuildResult& result) {
  json::object object;
  object["serverId"] = Str(result.server_id);
  object["buildId"] = Str(result.build_id);
  object["previousBuildId"] = codec_detail::Nullable(result.previous_build_id);
  if (result.restart_instances) object["restarted"] = Strings(result.restarted);
  if (result.already_active) object["alreadyActive"] = true;
  return json::serialize(object);
}

std::string SyncModsResultJson(const SyncModsResult& result) {
  json::object object;
  object["added"] = Strings(result.added);
  object["updated"] = Strings(result.updated);
  object["removed"] = Strings(result.removed);
  object["unchanged"] = Strings(result.unchanged);
  if (result.already_synced) object["alreadySynced"] = true;
  if (result.restarted) object["restarted"] = true;
  return json::serialize(object);
}

}  // namespace orb::protocol
