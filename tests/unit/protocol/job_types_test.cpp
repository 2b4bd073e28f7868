#include "protocol/job_types.hpp"

#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "protocol/payloads/payloads.hpp"
#include "protocol/types.hpp"
#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// job-types.md §3's table, copied row by row.
struct TableRow {
  std::string_view name;
  TargetKind target;
  std::string_view locks;  // "server X", "instance X, backups S", ...
  bool cancellable;
  int timeout;
  int attempts;
};

constexpr TableRow kTable[] = {
    {"INSTALL_SERVER", TargetKind::kServer, "server X", true, 3600, 3},
    {"UPDATE_SERVER", TargetKind::kServer, "server X", true, 3600, 3},
    {"ACTIVATE_BUILD", TargetKind::kServer, "server X", false, 600, 3},
    {"START_INSTANCE", TargetKind::kInstance, "instance X", true, 300, 2},
    {"STOP_INSTANCE", TargetKind::kInstance, "instance X", false, 300, 2},
    {"RESTART_INSTANCE", TargetKind::kInstance, "instance X", true, 600, 2},
    {"BACKUP_INSTANCE", TargetKind::kInstance, "instance X, backups S", true, 7200, 3},
    {"VERIFY_BACKUP", TargetKind::kInstance, "backups S", true, 3600, 3},
    {"RESTORE_BACKUP", TargetKind::kInstance, "instance X, backups S", true, 7200, 2},
    {"PRUNE_BACKUPS", TargetKind::kInstance, "backups X", true, 600, 3},
    {"SYNC_MODS", TargetKind::kInstance, "instance X", true, 1800, 3},
};

std::string Describe(const std::span<const LockRule> rules) {
  std::string out;
  for (const auto& rule : rules) {
    if (!out.empty()) out += ", ";
    out += rule.scope == LockScope::kServer     ? "server"
           : rule.scope == LockScope::kInstance ? "instance"
                                                : "backups";
    out += rule.mode == LockMode::kExclusive ? " X" : " S";
  }
  return out;
}

TEST(JobTypesTest, RegistryMatchesTheTableOfJobTypesMdRowByRow) {
  const auto types = AllJobTypes();
  ASSERT_EQ(types.size(), std::size(kTable));
  for (std::size_t i = 0; i < types.size(); ++i) {
    SCOPED_TRACE(kTable[i].name);
    const JobTypeInfo& info = types[i];
    EXPECT_EQ(info.name, kTable[i].name);
    EXPECT_EQ(info.target, kTable[i].target);
    EXPECT_EQ(Describe(info.locks), kTable[i].locks);
    EXPECT_EQ(info.cancellable, kTable[i].cancellable);
    EXPECT_EQ(info.default_timeout_seconds, kTable[i].timeout);
    EXPECT_EQ(info.default_max_attempts, kTable[i].attempts);
    EXPECT_EQ(DefaultTimeoutSeconds(info.name), kTable[i].timeout);
    EXPECT_EQ(DefaultMaxAttempts(info.name), kTable[i].attempts);
    EXPECT_FALSE(info.description.empty());
    EXPECT_FALSE(info.example_payload.empty());
  }
}

TEST(JobTypesTest, EveryTypeSaysWhenItCanBeCancelledOrWhyNot) {
  for (const auto& info : AllJobTypes()) {
    SCOPED_TRACE(info.name);
    if (info.cancellable) {
      EXPECT_FALSE(info.cancellable_until.empty());
      EXPECT_TRUE(info.not_cancellable_reason.empty());
    } else {
      EXPECT_FALSE(info.not_cancellable_reason.empty());
      EXPECT_TRUE(info.cancellable_until.empty());
    }
  }
  EXPECT_EQ(FindJobType("INSTALL_SERVER")->cancellable_until, "until the build is committed");
  EXPECT_EQ(FindJobType("STOP_INSTANCE")->not_cancellable_reason,
            "a stop that has begun cannot be taken back safely; start the instance again instead");
}

TEST(JobTypesTest, FindJobTypeIsExactAndCaseSensitive) {
  ASSERT_NE(FindJobType("SYNC_MODS"), nullptr);
  EXPECT_EQ(FindJobType("SYNC_MODS")->name, "SYNC_MODS");
  EXPECT_EQ(FindJobType("sync_mods"), nullptr);
  EXPECT_EQ(FindJobType("SYNC_MODS "), nullptr);
  EXPECT_EQ(FindJobType(""), nullptr);
  EXPECT_EQ(FindJobType("RUN_COMMAND"), nullptr);
}

TEST(JobTypesTest, UnknownTypesGetTheJobDefaults) {
  EXPECT_EQ(DefaultTimeoutSeconds("NOPE"), Job{}.timeout_seconds);
  EXPECT_EQ(DefaultMaxAttempts("NOPE"), Job{}.max_attempts);
}

TEST(JobTypesTest, LocksForBuildsKeysInServerInstanceBackupsOrder) {
  EXPECT_THAT(LocksFor("INSTALL_SERVER", "paper", std::nullopt),
              ElementsAre(Lock{"server:paper", LockMode::kExclusive}));
  EXPECT_THAT(LocksFor("BACKUP_INSTANCE", std::nullopt, "mc-1"),
              ElementsAre(Lock{"instance:mc-1", LockMode::kExclusive},
                          Lock{"backups:mc-1", LockMode::kShared}));
  EXPECT_THAT(LocksFor("RESTORE_BACKUP", std::nullopt, "mc-1"),
              ElementsAre(Lock{"instance:mc-1", LockMode::kExclusive},
                          Lock{"backups:mc-1", LockMode::kShared}));
  EXPECT_THAT(LocksFor("VERIFY_BACKUP", std::nullopt, "mc-1"),
              ElementsAre(Lock{"backups:mc-1", LockMode::kShared}));
  EXPECT_THAT(LocksFor("PRUNE_BACKUPS", std::nullopt, "mc-1"),
              ElementsAre(Lock{"backups:mc-1", LockMode::kExclusive}));
  EXPECT_THAT(LocksFor("SYNC_MODS", "paper", "mc-1"),
              ElementsAre(Lock{"instance:mc-1", LockMode::kExclusive}));
}

TEST(JobTypesTest, LocksForLeavesOutMissingIdsAndUnknownTypes) {
  EXPECT_THAT(LocksFor("START_INSTANCE", "paper", std::nullopt), IsEmpty());
  EXPECT_THAT(LocksFor("NOPE", "paper", "mc-1"), IsEmpty());
}

TEST(JobTypesTest, LocksOfTheTableConflictAsTheDispatchRuleExpects) {
  const auto backup = LocksFor("BACKUP_INSTANCE", std::nullopt, "mc-1");
  const auto verify = LocksFor("VERIFY_BACKUP", std::nullopt, "mc-1");
  const auto prune = LocksFor("PRUNE_BACKUPS", std::nullopt, "mc-1");
  const auto other = LocksFor("BACKUP_INSTANCE", std::nullopt, "mc-2");
  EXPECT_FALSE(Conflicts(backup, verify));  // both only read the backups
  EXPECT_TRUE(Conflicts(prune, verify));
  EXPECT_TRUE(Conflicts(backup, LocksFor("STOP_INSTANCE", std::nullopt, "mc-1")));
  EXPECT_FALSE(Conflicts(backup, other));
}

// ---- the schemas ----

bool IsObjectKind(FieldKind kind) {
  return kind == FieldKind::kObject;
}

const PayloadField* Find(std::span<const PayloadField> fields, std::string_view name) {
  for (const auto& field : fields) {
    if (field.name == name) return &field;
  }
  return nullptr;
}

TEST(JobTypesTest, EverySchemaFieldHasAParentOfTheRightKindAndADescription) {
  for (const auto& info : AllJobTypes()) {
    std::set<std::string_view> names;
    for (const auto& field : info.fields) {
      SCOPED_TRACE(std::string(info.name) + " " + std::string(field.name));
      EXPECT_TRUE(names.insert(field.name).second) << "duplicate field";
      EXPECT_FALSE(field.description.empty());
      EXPECT_EQ(field.kind == FieldKind::kEnum, !field.enum_values.empty());
      const std::string_view name = field.name;
      const auto dot = name.rfind('.');
      if (name.ends_with("[]")) {
        const auto* parent = Find(info.fields, name.substr(0, name.size() - 2));
        ASSERT_NE(parent, nullptr);
        EXPECT_EQ(parent->kind, FieldKind::kArray);
      } else if (dot != std::string_view::npos) {
        std::string_view parent_name = name.substr(0, dot);
        const bool in_array = parent_name.ends_with("[]");
        if (in_array) parent_name.remove_suffix(2);
        const auto* parent = Find(info.fields, parent_name);
        ASSERT_NE(parent, nullptr);
        EXPECT_EQ(parent->kind, in_array ? FieldKind::kArray : FieldKind::kObject);
      }
      if (!field.default_value.empty()) {
        EXPECT_FALSE(field.required) << "a required field has no default";
        EXPECT_NO_THROW((void)boost::json::parse(field.default_value));
      }
    }
  }
}

// The schema paths a payload uses: "artifact.url", "mods[].path", "config.command[]".
void CollectPaths(const boost::json::value& value, const std::string& path,
                  std::span<const PayloadField> fields, std::set<std::string>& out) {
  if (!path.empty()) out.insert(path);
  const PayloadField* field = path.empty() ? nullptr : Find(fields, path);
  if (field != nullptr && field->kind == FieldKind::kStringMap) return;  // keys are data
  if (value.is_object()) {
    for (const auto& entry : value.get_object()) {
      CollectPaths(entry.value(),
                   path.empty() ? std::string(entry.key()) : path + "." + std::string(entry.key()),
                   fields, out);
    }
  } else if (value.is_array()) {
    for (const auto& item : value.get_array()) {
      if (item.is_object()) {
        for (const auto& entry : item.get_object()) {
          CollectPaths(entry.value(), path + "[]." + std::string(entry.key()), fields, out);
        }
      } else {
        out.insert(path + "[]");
      }
    }
  }
}

TEST(JobTypesTest, EachExampleUsesExactlyTheFieldsOfItsSchema) {
  for (const auto& info : AllJobTypes()) {
    SCOPED_TRACE(info.name);
    std::set<std::string> used;
    CollectPaths(boost::json::parse(info.example_payload), "", info.fields, used);
    std::set<std::string> schema;
    for (const auto& field : info.fields)
      schema.insert(std::string(field.name));
    EXPECT_EQ(used, schema);
  }
}

TEST(JobTypesTest, TheValidatorRefusesAFieldOutsideTheSchemaAtEveryLevel) {
  for (const auto& info : AllJobTypes()) {
    std::vector<std::string> objects = {""};  // the payload itself
    for (const auto& field : info.fields) {
      if (IsObjectKind(field.kind)) objects.emplace_back(field.name);
    }
    for (const auto& object : objects) {
      SCOPED_TRACE(std::string(info.name) + " in '" + object + "'");
      boost::json::value payload = boost::json::parse(info.example_payload);
      boost::json::object* target = &payload.as_object();
      if (!object.empty()) target = &target->at(object).as_object();
      (*target)["notInSchema"] = 1;
      const Status status = ValidatePayload(info.name, boost::json::serialize(payload));
      ASSERT_THAT(status, FailsWith(Errc::kInvalidPayload));
      ASSERT_EQ(status.error().details.size(), 1u);
      EXPECT_EQ(status.error().details[0].field,
                object.empty() ? "payload.notInSchema" : "payload." + object + ".notInSchema");
    }
  }
}

TEST(JobTypesTest, TheValidatorRequiresExactlyTheRequiredFields) {
  for (const auto& info : AllJobTypes()) {
    for (const auto& field : info.fields) {
      const std::string_view name = field.name;
      if (name.find('.') != std::string_view::npos || name.find('[') != std::string_view::npos) {
        continue;  // top-level fields here; nested ones are covered in payloads_test
      }
      SCOPED_TRACE(std::string(info.name) + " without " + std::string(name));
      boost::json::value payload = boost::json::parse(info.example_payload);
      payload.as_object().erase(name);
      const Status status = ValidatePayload(info.name, boost::json::serialize(payload));
      if (field.required) {
        ASSERT_THAT(status, FailsWith(Errc::kInvalidPayload));
        EXPECT_EQ(status.error().details[0].field, "payload." + std::string(name));
      } else {
        EXPECT_TRUE(status.has_value()) << status.error().message;
      }
    }
  }
}

TEST(JobTypesTest, FieldKindsHaveTheirSchemaNames) {
  EXPECT_EQ(ToString(FieldKind::kSha256), "sha256");
  EXPECT_EQ(ToString(FieldKind::kStringMap), "stringMap");
  EXPECT_EQ(ToString(TargetKind::kServer), "server");
  EXPECT_EQ(ToString(TargetKind::kInstance), "instance");
}

}  // namespace
}  // namespace orb::protocol
