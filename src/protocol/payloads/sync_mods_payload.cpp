// SYNC_MODS payload (job-types.md §3): schema and the uniqueness checks of names and paths.

#include <map>

#include "protocol/payloads/checker.hpp"
#include "protocol/payloads/field_table.hpp"

namespace orb::protocol::payloads {
namespace {

constexpr std::size_t kMaxMods = 1000;
constexpr std::string_view kRestartPolicies[] = {"never", "ifRunning"};

constexpr std::array kSyncModsFields{
    PayloadField{.name = "mods",
                 .kind = FieldKind::kArray,
                 .required = true,
                 .min = 0,
                 .max = kMaxMods,
                 .description = "the desired set of mods (empty with removeUnlisted: remove all)"},
    PayloadField{.name = "mods[].name",
                 .kind = FieldKind::kName,
                 .required = true,
                 .description = "unique name of the mod"},
    PayloadField{
        .name = "mods[].url",
        .kind = FieldKind::kUrl,
        .required = true,
        .min = 1,
        .max = kMaxUrlLength,
        .description = "http://, https:// or file:// URL of the file, without credentials"},
    PayloadField{.name = "mods[].sha256",
                 .kind = FieldKind::kSha256,
                 .required = true,
                 .description = "sha256 of the file; checked before use"},
    PayloadField{.name = "mods[].size",
                 .kind = FieldKind::kInteger,
                 .required = true,
                 .min = 0,
                 .description = "size of the file in bytes"},
    PayloadField{.name = "mods[].path",
                 .kind = FieldKind::kPath,
                 .required = true,
                 .description = "where the file goes, relative to the instance's data/; unique"},
    PayloadField{.name = "removeUnlisted",
                 .kind = FieldKind::kBoolean,
                 .default_value = "false",
                 .description = "remove the files of installed mods that are not listed (files no "
                                "mod owns are never touched)"},
    PayloadField{.name = "restart",
                 .kind = FieldKind::kEnum,
                 .default_value = R"("never")",
                 .enum_values = kRestartPolicies,
                 .description = "ifRunning: restart the instance after a change if it runs"},
};

// True when one path is the other or lies under it ("plugins/a" and "plugins/a/b.jar"): the two
// mods could not both be installed.
bool PathsCollide(std::string_view a, std::string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  return b.substr(0, a.size()) == a && (b.size() == a.size() || b[a.size()] == '/');
}

void CheckModsUnique(const boost::json::object& payload, Problems& problems) {
  const auto* mods = payload.if_contains("mods");
  if (mods == nullptr || !mods->is_array()) return;
  const boost::json::array& list = mods->get_array();
  if (list.size() > kMaxMods) return;  // reported by the schema check; keeps this O(n^2) bounded
  std::map<std::string_view, std::size_t> names;
  std::vector<std::pair<std::string_view, std::size_t>> paths;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_object()) continue;
    const boost::json::object& mod = list[i].get_object();
    if (const auto* name = mod.if_contains("name"); name != nullptr && name->is_string()) {
      const auto [it, inserted] = names.emplace(name->get_string(), i);
      if (!inserted) {
        problems.push_back({IndexPath("payload.mods", i) + ".name",
                            "duplicates mods[" + std::to_string(it->second) + "].name"});
      }
    }
    if (const auto* path = mod.if_contains("path"); path != nullptr && path->is_string()) {
      const std::string_view text = path->get_string();
      for (const auto& [other, index] : paths) {
        if (PathsCollide(text, other)) {
          problems.push_back({IndexPath("payload.mods", i) + ".path",
                              "conflicts with mods[" + std::to_string(index) + "].path"});
          break;
        }
      }
      paths.emplace_back(text, i);
    }
  }
}

}  // namespace

const PayloadSpec& SyncModsSpec() {
  static const PayloadSpec spec{
      kSyncModsFields, &CheckModsUnique,
      R"({"mods": [{"name": "worldedit", "url": "https://dl.example.com/worldedit-7.3.jar", )"
      R"("sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", )"
      R"("size": 123, "path": "plugins/worldedit.jar"}], "removeUnlisted": true, )"
      R"("restart": "ifRunning"})"};
  return spec;
}

}  // namespace orb::protocol::payloads
