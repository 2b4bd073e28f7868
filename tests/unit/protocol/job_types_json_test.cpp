#include "protocol/job_types_json.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "protocol/job_types.hpp"
#include "protocol/payloads/payloads.hpp"

namespace orb::protocol {
namespace {

namespace json = boost::json;

const json::array& Types() {
  static const json::value parsed = json::parse(JobTypesJson());
  return parsed.as_object().at("jobTypes").as_array();
}

const json::object& Type(std::string_view name) {
  for (const auto& type : Types()) {
    if (type.as_object().at("name").as_string() == name) return type.as_object();
  }
  throw std::out_of_range(std::string(name));
}

TEST(JobTypesJsonTest, ListsEveryTypeOfTheRegistryInItsOrder) {
  const auto& types = Types();
  ASSERT_EQ(types.size(), AllJobTypes().size());
  for (std::size_t i = 0; i < types.size(); ++i) {
    EXPECT_EQ(types[i].as_object().at("name").as_string(), AllJobTypes()[i].name);
  }
}

TEST(JobTypesJsonTest, SaysWhyATypeCannotBeCancelled) {
  const auto& stop = Type("STOP_INSTANCE");
  EXPECT_FALSE(stop.at("cancellable").as_bool());
  EXPECT_FALSE(stop.at("notCancellableReason").as_string().empty());
  EXPECT_TRUE(stop.at("cancellableUntil").is_null());
  const auto& install = Type("INSTALL_SERVER");
  EXPECT_TRUE(install.at("cancellable").as_bool());
  EXPECT_EQ(install.at("cancellableUntil").as_string(), "until the build is committed");
  EXPECT_EQ(install.at("target").as_string(), "server");
  EXPECT_EQ(install.at("defaultTimeoutSeconds").as_int64(), 3600);
}

TEST(JobTypesJsonTest, CarriesTheLocksOfEachType) {
  const auto& locks = Type("BACKUP_INSTANCE").at("locks").as_array();
  ASSERT_EQ(locks.size(), 2U);
  EXPECT_EQ(locks[0].as_object().at("scope").as_string(), "instance");
  EXPECT_EQ(locks[0].as_object().at("mode").as_string(), "exclusive");
  EXPECT_EQ(locks[1].as_object().at("scope").as_string(), "backups");
  EXPECT_EQ(locks[1].as_object().at("mode").as_string(), "shared");
}

TEST(JobTypesJsonTest, FieldsCarryKindsDefaultsAndEnumsAsJsonValues) {
  const auto& fields = Type("BACKUP_INSTANCE").at("fields").as_array();
  const json::object* mode = nullptr;
  for (const auto& field : fields) {
    if (field.as_object().at("name").as_string() == "mode") mode = &field.as_object();
  }
  ASSERT_NE(mode, nullptr);
  EXPECT_EQ(mode->at("kind").as_string(), "enum");
  EXPECT_EQ(mode->at("default").as_string(), "live");  // a JSON value, not the text "\"live\""
  const auto& values = mode->at("enum").as_array();
  ASSERT_EQ(values.size(), 2U);
  EXPECT_FALSE(mode->at("required").as_bool());
}

TEST(JobTypesJsonTest, EveryExamplePayloadIsValidForItsType) {
  for (const auto& type : Types()) {
    const auto& object = type.as_object();
    const auto name = std::string(object.at("name").as_string());
    ASSERT_TRUE(object.at("examplePayload").is_object()) << name;
    EXPECT_TRUE(ValidatePayload(name, json::serialize(object.at("examplePayload")))) << name;
  }
}

}  // namespace
}  // namespace orb::protocol
