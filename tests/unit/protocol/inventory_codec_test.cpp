#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/time.hpp"
#include "protocol/codec.hpp"
#include "protocol/inventory.hpp"
#include "support/matchers.hpp"

namespace orb::protocol {
namespace {

using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::testing::HasSubstr;

std::string InventoryFields(const Error& error) {
  std::string fields;
  for (const auto& detail : error.details)
    fields += detail.field + ";";
  return fields;
}

WallTime InventoryAt(std::int64_t ms) {
  return WallTime(std::chrono::milliseconds(ms));
}

HostInventory SampleInventory() {
  HostInventory inventory;
  inventory.servers.push_back(
      {"valheim",
       "b2",
       {{"b1", InventoryAt(1'000), 1'000'000}, {"b2", InventoryAt(2'000), 2'000'000}}});
  inventory.servers.push_back({"paper", std::nullopt, {}});
  inventory.instances.push_back(
      {"main", "valheim", "b2", InstanceRunState::kRunning, 4242, InventoryAt(3'000), "process"});
  inventory.instances.push_back(
      {"test", "valheim", "b1", InstanceRunState::kCrashed, 4243, InventoryAt(3'500), "systemd"});
  inventory.instances.push_back({"old", "paper", std::nullopt, InstanceRunState::kStopped,
                                 std::nullopt, std::nullopt, "process"});
  inventory.backups.push_back(
      {"main", "backup-1", InventoryAt(4'000), 123'456, InventoryAt(5'000)});
  inventory.backups.push_back({"main", "backup-2", InventoryAt(6'000), 654'321, std::nullopt});
  inventory.disk = {40'000'000'000ULL, 100'000'000'000ULL};
  inventory.reported_at = InventoryAt(7'000);
  return inventory;
}

TEST(InventoryCodecTest, AnInventoryRoundTripsWithEveryField) {
  const HostInventory inventory = SampleInventory();
  const std::string text = ToJson(inventory);
  EXPECT_THAT(text, HasSubstr(R"("state":"crashed")"));
  EXPECT_THAT(text, HasSubstr(R"("currentBuild":null)"));
  EXPECT_THAT(text, HasSubstr(R"("rootFreeBytes":40000000000)"));
  auto parsed = ParseHostInventory(text);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, inventory);
}

TEST(InventoryCodecTest, AnEmptyHostIsAnInventoryToo) {
  auto parsed = ParseHostInventory(
      R"({"servers":[],"instances":[],"backups":[],)"
      R"("disk":{"rootFreeBytes":0,"rootTotalBytes":0},"reportedAt":"2026-12-06T14:00:00.000Z"})");
  ASSERT_THAT(parsed, IsOk());
  EXPECT_TRUE(parsed->instances.empty());
}

TEST(InventoryCodecTest, UnknownFieldsAreRejectedByName) {
  auto bad = ParseHostInventory(
      R"({"servers":[{"serverId":"s","builds":[{"buildId":"b","sizeBytes":1,"color":"red"}]}],)"
      R"("instances":[],"backups":[],"disk":{"rootFreeBytes":0,"rootTotalBytes":0},)"
      R"("reportedAt":"2026-12-06T14:00:00.000Z","extra":1})");
  ASSERT_THAT(bad, FailsWith(Errc::kInvalidRequest));
  const std::string fields = InventoryFields(bad.error());
  EXPECT_THAT(fields, HasSubstr("servers[0].builds[0].color;"));
  EXPECT_THAT(fields, HasSubstr("extra;"));
}

TEST(InventoryCodecTest, EveryBadFieldIsNamed) {
  auto bad = ParseHostInventory(
      R"({"servers":[{"serverId":"no spaces","builds":[]}],)"
      R"("instances":[{"instanceId":"i","serverId":"s","state":"sleeping","pid":-3,)"
      R"("supervisor":"cron"}],)"
      R"("backups":[{"instanceId":"i","backupId":"b","sizeBytes":"big"}],)"
      R"("disk":{"rootFreeBytes":10,"rootTotalBytes":5}})");
  ASSERT_THAT(bad, FailsWith(Errc::kInvalidRequest));
  const std::string fields = InventoryFields(bad.error());
  for (const char* field : {"servers[0].serverId;", "instances[0].state;", "instances[0].pid;",
                            "instances[0].supervisor;", "backups[0].createdAt;",
                            "backups[0].sizeBytes;", "disk.rootFreeBytes;", "reportedAt;"}) {
    EXPECT_THAT(fields, HasSubstr(field)) << fields;
  }
  EXPECT_THAT(ParseHostInventory("[]"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ParseHostInventory("{"), FailsWith(Errc::kInvalidJson));
  EXPECT_THAT(ParseHostInventory(""), FailsWith(Errc::kInvalidJson));
}

TEST(InventoryCodecTest, TheSummaryCountsInstancesByState) {
  const InventorySummary summary = Summarize(SampleInventory());
  EXPECT_EQ(summary.running, 1);
  EXPECT_EQ(summary.stopped, 1);
  EXPECT_EQ(summary.crashed, 1);
  EXPECT_EQ(summary.reported_at, InventoryAt(7'000));
  EXPECT_EQ(InventoryEventMessage(summary), "instances: 1 running, 1 stopped, 1 crashed");
}

TEST(InventoryCodecTest, AgentInfoCarriesTheSummaryAndTheLastJobStatus) {
  AgentInfo info;
  info.agent_id = "h1";
  info.inventory = Summarize(SampleInventory());
  info.last_job_status = JobStatus::kFailed;
  const std::string text = ToJson(info);
  EXPECT_THAT(text, HasSubstr(R"("inventory":{"instances":{"running":1,"stopped":1,"crashed":1})"));
  EXPECT_THAT(text, HasSubstr(R"("lastJobStatus":"FAILED")"));
  auto parsed = FromJson<AgentInfo>(text);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed, info);
  AgentInfo bare;
  bare.agent_id = "h2";
  EXPECT_THAT(ToJson(bare), HasSubstr(R"("inventory":null,"lastJobStatus":null)"));
}

// ---- DeservesInventoryEvent ----

TEST(InventoryEventTest, TheFirstReportDeservesAnEvent) {
  EXPECT_TRUE(DeservesInventoryEvent(std::nullopt, SampleInventory()));
}

TEST(InventoryEventTest, TheSameInventoryLaterDoesNot) {
  HostInventory later = SampleInventory();
  later.reported_at = InventoryAt(99'000);
  EXPECT_FALSE(DeservesInventoryEvent(SampleInventory(), later));
}

TEST(InventoryEventTest, AnInstanceStateChangeDoes) {
  HostInventory later = SampleInventory();
  later.instances[0].state = InstanceRunState::kCrashed;
  EXPECT_TRUE(DeservesInventoryEvent(SampleInventory(), later));
}

TEST(InventoryEventTest, ANewBackupOrBuildDoes) {
  HostInventory backup = SampleInventory();
  backup.backups.push_back({"main", "backup-3", InventoryAt(8'000), 1, std::nullopt});
  EXPECT_TRUE(DeservesInventoryEvent(SampleInventory(), backup));
  HostInventory build = SampleInventory();
  build.servers[0].current_build = "b1";
  EXPECT_TRUE(DeservesInventoryEvent(SampleInventory(), build));
}

TEST(InventoryEventTest, FreeDiskMovingByMoreThanOnePercentOfTotalDoes) {
  // Total 100 GB: 0.9 % is 0.9 GB, 1.1 % is 1.1 GB, either way.
  HostInventory less = SampleInventory();
  less.disk.root_free_bytes -= 900'000'000ULL;
  EXPECT_FALSE(DeservesInventoryEvent(SampleInventory(), less));
  HostInventory more = SampleInventory();
  more.disk.root_free_bytes += 900'000'000ULL;
  EXPECT_FALSE(DeservesInventoryEvent(SampleInventory(), more));
  less.disk.root_free_bytes = SampleInventory().disk.root_free_bytes - 1'100'000'000ULL;
  EXPECT_TRUE(DeservesInventoryEvent(SampleInventory(), less));
  more.disk.root_free_bytes = SampleInventory().disk.root_free_bytes + 1'100'000'000ULL;
  EXPECT_TRUE(DeservesInventoryEvent(SampleInventory(), more));
  // Exactly 1 % is not "more than".
  HostInventory exact = SampleInventory();
  exact.disk.root_free_bytes -= 1'000'000'000ULL;
  EXPECT_FALSE(DeservesInventoryEvent(SampleInventory(), exact));
}

}  // namespace
}  // namespace orb::protocol
