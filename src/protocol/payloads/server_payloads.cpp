// INSTALL_SERVER, UPDATE_SERVER, ACTIVATE_BUILD payloads (job-types.md §3): schema and checks.

#include "protocol/payloads/checker.hpp"
#include "protocol/payloads/field_table.hpp"

namespace orb::protocol::payloads {
namespace {

constexpr std::string_view kArchiveFormats[] = {"tar.gz", "tar.zst", "tar", "zip"};

constexpr std::array kBuildId{
    PayloadField{.name = "buildId",
                 .kind = FieldKind::kName,
                 .required = true,
                 .description = "id of the build; builds/<buildId> is immutable once committed"},
};

constexpr std::array kArtifact{
    PayloadField{.name = "artifact",
                 .kind = FieldKind::kObject,
                 .required = true,
                 .description = "the archive to install"},
    PayloadField{.name = "artifact.url",
                 .kind = FieldKind::kUrl,
                 .required = true,
                 .min = 1,
                 .max = kMaxUrlLength,
                 .description = "http://, https:// (fleet-cmdr's /v1/artifacts/{sha256} included) "
                                "or file:// URL, without credentials"},
    PayloadField{.name = "artifact.sha256",
                 .kind = FieldKind::kSha256,
                 .required = true,
                 .description = "sha256 of the archive; checked before use"},
    PayloadField{.name = "artifact.size",
                 .kind = FieldKind::kInteger,
                 .required = true,
                 .min = 1,
                 .description = "size of the archive in bytes"},
    PayloadField{.name = "artifact.format",
                 .kind = FieldKind::kEnum,
                 .enum_values = kArchiveFormats,
                 .description = "archive format; detected from the content when absent"},
};

constexpr auto kInstallServerFields = Concat(
    kBuildId, kArtifact,
    std::array{PayloadField{.name = "activate",
                            .kind = FieldKind::kBoolean,
                            .default_value = "false",
                            .description = "make it the current build (always done for a server's "
                                           "first build)"}});

constexpr auto kUpdateServerFields = Concat(
    kBuildId, kArtifact,
    std::array{PayloadField{.name = "restartInstances",
                            .kind = FieldKind::kBoolean,
                            .default_value = "true",
                            .description = "restart this server's running instances one by one "
                                           "on the new build; roll back if one is not ready"}});

constexpr auto kActivateBuildFields =
    Concat(kBuildId,
           std::array{PayloadField{.name = "restartInstances",
                                   .kind = FieldKind::kBoolean,
                                   .default_value = "false",
                                   .description = "restart this server's running instances so they "
                                                  "use the activated build"}});

}  // namespace

const PayloadSpec& InstallServerSpec() {
  static const PayloadSpec spec{
      kInstallServerFields, nullptr,
      R"({"buildId": "1.21.4-b87", "artifact": {)"
      R"("url": "https://dl.example.com/paper-1.21.4-b87.tar.gz", )"
      R"("sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", )"
      R"("size": 123, "format": "tar.gz"}, "activate": false})"};
  return spec;
}

const PayloadSpec& UpdateServerSpec() {
  static const PayloadSpec spec{
      kUpdateServerFields, nullptr,
      R"({"buildId": "1.21.5-b12", "artifact": {"url": "https://fleet.example.com/v1/artifacts/)"
      R"(9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", )"
      R"("sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", )"
      R"("size": 4096, "format": "tar.zst"}, "restartInstances": true})"};
  return spec;
}

const PayloadSpec& ActivateBuildSpec() {
  static const PayloadSpec spec{kActivateBuildFields, nullptr,
                                R"({"buildId": "1.21.4-b87", "restartInstances": false})"};
  return spec;
}

}  // namespace orb::protocol::payloads
