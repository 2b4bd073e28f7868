#include "protocol/backup_json.hpp"

#include <cctype>
#include <exception>
#include <set>
#include <utility>

#include "common/hex.hpp"
#include "common/ids.hpp"
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

constexpr std::uint32_t kMaxMode = 07777;

bool IsSha256Hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

// A manifest path: relative, '/'-separated, no empty, "." or ".." component, no NUL.
bool IsSafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::optional<BackupEntryType> EntryTypeFrom(std::string_view text) {
  if (text == "file") return BackupEntryType::kFile;
  if (text == "directory") return BackupEntryType::kDirectory;
  if (text == "symlink") return BackupEntryType::kSymlink;
  return std::nullopt;
}

std::optional<VerifyLevel> LevelFrom(std::string_view text) {
  if (text == "quick") return VerifyLevel::kQuick;
  if (text == "full") return VerifyLevel::kFull;
  return std::nullopt;
}

// File names are bytes (anything but '/' and NUL); JSON strings are UTF-8. A name that is not
// valid UTF-8 goes in as the hex of its bytes under `<key>Hex` instead of `<key>`, so that the
// manifest names exactly what the archive holds (with U+FFFD in its place, such a backup could
// never be verified or restored).
void PutName(json::object& object, std::string_view key, const std::string& name) {
  if (codec_detail::IsValidUtf8(name)) {
    object[key] = Str(name);
    return;
  }
  object[std::string(key) + "Hex"] = Str(HexEncode(name));
}

// Reads what PutName wrote: `<key>` or `<key>Hex` (not both). False, with a problem recorded,
// when neither is there or the hex is not hex.
bool ReadName(Decoder& d, ObjectReader& r, const json::object& object, const std::string& key,
              std::string& out) {
  const std::string hex_key = key + "Hex";
  if (!object.contains(hex_key)) return r.Required(key, out);
  if (object.contains(key)) {
    d.Problem(r.Path(hex_key), "must not be given together with " + key);
    return false;
  }
  std::string hex;
  if (!r.Required(hex_key, hex)) return false;
  auto bytes = HexDecode(hex);
  if (hex.empty() || !bytes) {
    d.Problem(r.Path(hex_key), "must be the lower-case hex of the name's bytes");
    return false;
  }
  out = std::move(*bytes);
  return true;
}

json::object EncodeFile(const BackupFileRecord& file) {
  json::object object;
  PutName(object, "path", file.path);
  if (file.type != BackupEntryType::kFile) object["type"] = Str(ToString(file.type));
  object["size"] = file.size;
  if (file.type == BackupEntryType::kFile) object["sha256"] = Str(file.sha256);
  object["mode"] = file.mode;
  object["mtime"] = file.mtime;
  if (file.type == BackupEntryType::kSymlink) PutName(object, "linkTarget", file.link_target);
  return object;
}

void ReadFile(Decoder& d, const std::string& path, const json::value& value,
              BackupFileRecord& out) {
  const json::object* object = codec_detail::AsObject(d, path, value);
  if (object == nullptr) return;
  ObjectReader r(d, path, *object);
  if (ReadName(d, r, *object, "path", out.path) && !IsSafeRelativePath(out.path)) {
    d.Problem(r.Path("path"), "must be a relative path without empty, '.' or '..' components");
  }
  std::string type = "file";
  r.Optional("type", type);
  if (auto parsed = EntryTypeFrom(type)) {
    out.type = *parsed;
  } else {
    d.Problem(r.Path("type"), "must be one of file, directory, symlink");
  }
  r.Optional("size", out.size);
  std::int64_t mode = 0;
  if (r.Required("mode", mode)) {
    if (mode < 0 || mode > kMaxMode) {
      d.Problem(r.Path("mode"), "must be permission bits between 0 and 4095 (07777)");
    } else {
      out.mode = static_cast<std::uint32_t>(mode);
    }
  }
  r.Required("mtime", out.mtime);
  if (out.type == BackupEntryType::kFile) {
    if (r.Required("sha256", out.sha256) && !IsSha256Hex(out.sha256)) {
      d.Problem(r.Path("sha256"), "must be 64 lower-case hex digits");
    }
  } else if (out.size != 0) {
    d.Problem(r.Path("size"), "must be 0 for a " + std::string(ToString(out.type)));
  }
  if (out.type == BackupEntryType::kSymlink) {
    if (ReadName(d, r, *object, "linkTarget", out.link_target) && out.link_target.empty()) {
      d.Problem(r.Path("linkTarget"), "must not be empty");
    }
  }
}

// Records a problem when a non-empty id is not a protocol.md §1 name.
void CheckIdName(Decoder& d, const std::string& field, const std::string& value) {
  if (!value.empty() && !IsValidName(value)) {
    d.Problem(field, "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
  }
}

json::object EncodeProblem(const FieldProblem& problem) {
  json::object object;
  object["field"] = Str(problem.field);
  object["problem"] = Str(problem.problem);
  return object;
}

}  // namespace

std::string_view ToString(BackupMode mode) {
  return mode == BackupMode::kStopped ? "stopped" : "live";
}

std::string_view ToString(VerifyLevel level) {
  return level == VerifyLevel::kQuick ? "quick" : "full";
}

std::string_view ToString(BackupEntryType type) {
  switch (type) {
    case BackupEntryType::kFile: return "file";
    case BackupEntryType::kDirectory: return "directory";
    case BackupEntryType::kSymlink: return "symlink";
  }
  return "file";
}

Expected<BackupInstancePayload> ParseBackupInstancePayload(std::string_view payload_json) {
  return DecodePayload<BackupInstancePayload>(
      "BACKUP_INSTANCE", payload_json, [](ObjectReader& r, BackupInstancePayload& payload) {
        r.Optional("backupId", payload.backup_id);
        std::string mode = "live";
        r.Optional("mode", mode);
        payload.mode = mode == "stopped" ? BackupMode::kStopped : BackupMode::kLive;
      });
}

Expected<VerifyBackupPayload> ParseVerifyBackupPayload(std::string_view payload_json) {
  return DecodePayload<VerifyBackupPayload>(
      "VERIFY_BACKUP", payload_json, [](ObjectReader& r, VerifyBackupPayload& payload) {
        r.Required("backupId", payload.backup_id);
        std::string level = "full";
        r.Optional("level", level);
        payload.level = LevelFrom(level).value_or(VerifyLevel::kFull);
      });
}

Expected<RestoreBackupPayload> ParseRestoreBackupPayload(std::string_view payload_json) {
  return DecodePayload<RestoreBackupPayload>("RESTORE_BACKUP", payload_json,
                                             [](ObjectReader& r, RestoreBackupPayload& payload) {
                                               r.Required("backupId", payload.backup_id);
                                               r.Optional("startAfter", payload.start_after);
                                             });
}

Expected<PruneBackupsPayload> ParsePruneBackupsPayload(std::string_view payload_json) {
  return DecodePayload<PruneBackupsPayload>("PRUNE_BACKUPS", payload_json,
                                            [](ObjectReader& r, PruneBackupsPayload& payload) {
                                              r.Optional("keepLast", payload.keep_last);
                                              r.Optional("keepHourly", payload.keep_hourly);
                                              r.Optional("keepDaily", payload.keep_daily);
                                              r.Optional("keepWeekly", payload.keep_weekly);
                                              r.Optional("keepMonthly", payload.keep_monthly);
                                              r.Optional("keepYearly", payload.keep_yearly);
                                              r.Optional("dryRun", payload.dry_run);
                                            });
}

std::string BackupManifestJson(const BackupManifestRecord& manifest) {
  json::object object;
  object["backupId"] = Str(manifest.backup_id);
  object["instanceId"] = Str(manifest.instance_id);
  object["createdAt"] = codec_detail::Time(manifest.created_at);
  object["jobId"] = Str(manifest.job_id);
  object["archiveSha256"] = Str(manifest.archive_sha256);
  object["archiveBytes"] = manifest.archive_bytes;
  object["bytes"] = manifest.bytes;
  json::array files;
  files.reserve(manifest.files.size());
  for (const auto& file : manifest.files)
    files.push_back(EncodeFile(file));
  object["files"] = std::move(files);
  object["changedDuringBackup"] = Strings(manifest.changed_during_backup);
  object["skipped"] = Strings(manifest.skipped);
  return json::serialize(object);
}

Expected<BackupManifestRecord> ParseBackupManifest(std::string_view text) {
  auto parsed = DecodeFile<BackupManifestRecord>(
      "manifest", text, [](ObjectReader& r, BackupManifestRecord& out) {
        Decoder& d = r.decoder();
        if (r.Required("backupId", out.backup_id)) CheckIdName(d, "backupId", out.backup_id);
        if (r.Required("instanceId", out.instance_id)) {
          CheckIdName(d, "instanceId", out.instance_id);
        }
        r.Required("createdAt", out.created_at);
        r.Optional("jobId", out.job_id);
        if (r.Required("archiveSha256", out.archive_sha256) && !IsSha256Hex(out.archive_sha256)) {
          d.Problem("archiveSha256", "must be 64 lower-case hex digits");
        }
        r.Required("archiveBytes", out.archive_bytes);
        r.Optional("bytes", out.bytes);
        if (const json::value* files = r.Find("files")) {
          if (const json::array* array = files->if_array()) {
            std::set<std::string> seen;
            out.files.resize(array->size());
            for (std::size_t i = 0; i < array->size(); ++i) {
              const std::string path = codec_detail::ElementPath("files", i);
              ReadFile(d, path, (*array)[i], out.files[i]);
              if (!out.files[i].path.empty() && !seen.insert(out.files[i].path).second) {
                d.Problem(path + ".path", "duplicate path " + out.files[i].path);
              }
            }
          } else {
            d.Problem("files", "must be an array");
          }
        } else {
          d.Problem("files", "is required");
        }
        r.Optional("changedDuringBackup", out.changed_during_backup);
        r.Optional("skipped", out.skipped);
      });
  if (!parsed) {
    Error error = std::move(parsed.error());
    if (error.code != Errc::kInternal) {
      error.code = Errc::kBackupCorrupt;
      error.retryable = false;
      error.message = "damaged manifest: " + error.message;
    }
    return Fail(std::move(error));
  }
  return parsed;
}

std::string BackupVerifyJson(const BackupVerifyRecord& record) {
  json::object object;
  object["backupId"] = Str(record.backup_id);
  object["level"] = Str(ToString(record.level));
  object["ok"] = record.ok;
  object["checkedAt"] = codec_detail::Time(record.checked_at);
  object["jobId"] = Str(record.job_id);
  object["runId"] = Str(record.run_id);
  object["files"] = record.files;
  object["bytes"] = record.bytes;
  json::array problems;
  for (const auto& problem : record.problems)
    problems.push_back(EncodeProblem(problem));
  object["problems"] = std::move(problems);
  return json::serialize(object);
}

Expected<BackupVerifyRecord> ParseBackupVerify(std::string_view text) {
  return DecodeFile<BackupVerifyRecord>(
      "verify record", text, [](ObjectReader& r, BackupVerifyRecord& out) {
        Decoder& d = r.decoder();
        if (r.Required("backupId", out.backup_id)) CheckIdName(d, "backupId", out.backup_id);
        std::string level;
        if (r.Required("level", level)) {
          if (auto parsed = LevelFrom(level)) {
            out.level = *parsed;
          } else {
            d.Problem("level", "must be quick or full");
          }
        }
        r.Required("ok", out.ok);
        r.Required("checkedAt", out.checked_at);
        r.Optional("jobId", out.job_id);
        r.Optional("runId", out.run_id);
        r.Optional("files", out.files);
        r.Optional("bytes", out.bytes);
        if (const json::value* problems = r.Find("problems")) {
          if (const json::array* array = problems->if_array()) {
            for (std::size_t i = 0; i < array->size(); ++i) {
              const std::string path = codec_detail::ElementPath("problems", i);
              const json::object* item = codec_detail::AsObject(d, path, (*array)[i]);
              if (item == nullptr) continue;
              ObjectReader ir(d, path, *item);
              FieldProblem problem;
              ir.Required("field", problem.field);
              ir.Required("problem", problem.problem);
              out.problems.push_back(std::move(problem));
            }
          } else {
            d.Problem("problems", "must be an array");
          }
        }
      });
}

std::string RestoreMarkerJson(const RestoreMarker& marker) {
  json::object object;
  object["backupId"] = Str(marker.backup_id);
  object["jobId"] = Str(marker.job_id);
  object["runId"] = Str(marker.run_id);
  object["wasRunning"] = marker.was_running;
  object["restoredFiles"] = marker.restored_files;
  object["previousDataKeptAs"] = codec_detail::Nullable(marker.previous_data_kept_as);
  object["restoredAt"] = codec_detail::Time(marker.restored_at);
  return json::serialize(object);
}

Expected<RestoreMarker> ParseRestoreMarker(std::string_view text) {
  return DecodeFile<RestoreMarker>("restore marker", text, [](ObjectReader& r, RestoreMarker& out) {
    Decoder& d = r.decoder();
    if (r.Required("backupId", out.backup_id)) CheckIdName(d, "backupId", out.backup_id);
    r.Required("jobId", out.job_id);
    if (r.Required("runId", out.run_id) && !IsValidName(out.run_id)) {
      d.Problem("runId", "must be a valid name (it names a directory)");
    }
    r.Optional("wasRunning", out.was_running);
    r.Optional("restoredFiles", out.restored_files);
    r.Optional("previousDataKeptAs", out.previous_data_kept_as);
    r.Required("restoredAt", out.restored_at);
  });
}

std::string BackupInstanceResultJson(const BackupInstanceResult& result) {
  json::object object;
  object["backupId"] = Str(result.backup_id);
  object["archiveSha256"] = Str(result.archive_sha256);
  object["archiveBytes"] = result.archive_bytes;
  object["files"] = result.files;
  object["bytes"] = result.bytes;
  object["changedDuringBackup"] = Strings(result.changed_during_backup);
  if (result.already_exists) object["alreadyExists"] = true;
  return json::serialize(object);
}

std::string VerifyBackupResultJson(const VerifyBackupResult& result) {
  json::object object;
  object["backupId"] = Str(result.backup_id);
  object["level"] = Str(ToString(result.level));
  object["ok"] = result.ok;
  object["files"] = result.files;
  object["bytes"] = result.bytes;
  return json::serialize(object);
}

std::string RestoreBackupResultJson(const RestoreBackupResult& result) {
  json::object object;
  object["backupId"] = Str(result.backup_id);
  object["restoredFiles"] = result.restored_files;
  object["previousDataKeptAs"] = codec_detail::Nullable(result.previous_data_kept_as);
  object["started"] = result.started;
  return json::serialize(object);
}

std::string PruneBackupsResultJson(const PruneBackupsResult& result) {
  json::object object;
  json::array kept;
  for (const auto& item : result.kept) {
    json::object entry;
    entry["backupId"] = Str(item.backup_id);
    entry["reasons"] = Strings(item.reasons);
    kept.push_back(std::move(entry));
  }
  object["kept"] = std::move(kept);
  object["removed"] = Strings(result.removed);
  object["dryRun"] = result.dry_run;
  object["garbage"] = Strings(result.garbage);
  return json::serialize(object);
}

}  // namespace orb::protocol
