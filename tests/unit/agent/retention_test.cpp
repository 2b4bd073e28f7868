#include "agent/retention.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sha256.hpp"
#include "jobs/downloader.hpp"
#include "support/manual_clock.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::agent {
namespace retention_test {  // named: the agent tests are built as one unity file

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using testing::IsOk;
using ::testing::UnorderedElementsAre;

const WallTime kNow = FromUnixMillis(1795000000000);  // 2026-11-18

RetentionListing::File File(const std::string& path, std::uint64_t bytes, hours age) {
  return {path, bytes, kNow - age};
}
std::string Sha(char c) {
  return std::string(64, c);
}

// ---------------------------------------------------------------- the decision, without a disk

TEST(PlanRetentionTest, RunLogsOlderThanTheLimitGoExceptALiveRunsAndZeroKeepsAll) {
  RetentionListing listing;
  listing.run_logs = {File("/s/logs/j1/old.log", 10, hours(15 * 24)),
                      File("/s/logs/j1/young.log", 10, hours(13 * 24)),
                      File("/s/logs/j2/live.log", 10, hours(40 * 24))};
  RetentionLimits limits;  // 14 days
  const auto plan = PlanRetention(listing, kNow, limits, {"live"});
  EXPECT_THAT(plan.run_logs, ElementsAre(fs::path("/s/logs/j1/old.log")));
  limits.run_log_age = hours(0);
  EXPECT_TRUE(PlanRetention(listing, kNow, limits, {}).run_logs.empty());
}

TEST(PlanRetentionTest, TheCacheOverItsLimitIsEvictedLeastRecentlyUsedFirst) {
  RetentionListing listing;
  listing.cache = {File("/c/" + Sha('a'), 400, hours(10)),            // used 10 h ago
                   File("/c/" + Sha('b'), 300, hours(30)),            // the oldest use
                   File("/c/" + Sha('c') + ".part", 200, hours(20)),  // a download's part
                   File("/c/" + Sha('c'), 100, hours(40)),            // ...its last use: 20 h
                   File("/c/README", 5000, hours(99))};               // not the cache's
  RetentionLimits limits;
  limits.cache_bytes = 1000;
  EXPECT_EQ(PlanRetention(listing, kNow, limits, {}).cache_excess, 0U);  // 1000 is not over
  limits.cache_bytes = 600;
  const auto plan = PlanRetention(listing, kNow, limits, {});
  EXPECT_EQ(plan.cache_excess, 400U);
  EXPECT_THAT(plan.cache_order, ElementsAre(Sha('b'), Sha('c'), Sha('a')));
}

TEST(PlanRetentionTest, StagingOfRunsThatAreNotLiveGoes) {
  RetentionListing listing;
  listing.staging = {"run-dead", "run-live", ".stray"};
  listing.restore_staging = {{"i1", "run-dead"}, {"i1", "run-dead-2"}, {"i2", "run-live"}};
  listing.cache_locks = {"/c/x.lock"};
  const auto plan = PlanRetention(listing, kNow, RetentionLimits{}, {"run-live"});
  EXPECT_THAT(plan.staging, UnorderedElementsAre("run-dead", ".stray"));
  EXPECT_THAT(plan.restore_instances, ElementsAre("i1"));
  EXPECT_THAT(plan.cache_locks, ElementsAre(fs::path("/c/x.lock")));
}

// ---------------------------------------------------------------- the pass, on real files

void Write(const fs::path& path, const std::string& content, hours age = hours(0)) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
  fs::last_write_time(path, fs::file_time_type::clock::now() - age);
}

class RetentionPassTest : public ::testing::Test {
 protected:
  RetentionPassTest() {
    options_.run_logs = dir_ / "state/logs";
    options_.root = dir_ / "root";
  }
  fs::path cache() const { return dir_ / "root/cache/artifacts"; }
  // An artifact put in the cache the way a run does (a file:// download), last used `age` ago.
  jobs::DownloadResult Cache(char fill, std::size_t bytes, hours age) {
    const fs::path source = dir_ / ("source-" + std::string(1, fill));
    Write(source, std::string(bytes, fill));
    auto result = jobs::Download("file://" + source.string(), *Sha256FileHex(source), cache());
    EXPECT_THAT(result, IsOk());
    fs::last_write_time(result->path, fs::file_time_type::clock::now() - age);
    return *result;
  }
  Retention Make(std::set<std::string> live = {}) {
    return Retention(
        options_, locks_, [live] { return live; }, RealClock());
  }

  testing::TempDir dir_;
  RetentionOptions options_;
  LockTable locks_;
};

TEST_F(RetentionPassTest, RemovesOldRunLogsAndTheJobDirectoriesTheyEmpty) {
  Write(options_.run_logs / "job-1/run-1.log", "old", hours(15 * 24));
  Write(options_.run_logs / "job-2/run-2.log", "old", hours(20 * 24));
  Write(options_.run_logs / "job-2/run-3.log", "new", hours(1));
  Write(options_.run_logs / "job-3/run-live.log", "old but live", hours(30 * 24));
  auto retention = Make({"run-live"});
  const auto report = retention.RunPass();
  EXPECT_EQ(report.run_logs, 2U);
  EXPECT_TRUE(report.complete);
  EXPECT_FALSE(fs::exists(options_.run_logs / "job-1"));
  EXPECT_FALSE(fs::exists(options_.run_logs / "job-2/run-2.log"));
  EXPECT_TRUE(fs::exists(options_.run_logs / "job-2/run-3.log"));
  EXPECT_TRUE(fs::exists(options_.run_logs / "job-3/run-live.log"));
}

TEST_F(RetentionPassTest, KeepsTheCacheUnderItsLimitLeastRecentlyUsedFirstNeverAFileInUse) {
  const std::size_t kSize = 600 << 10;
  auto oldest = Cache('a', kSize, hours(30));
  auto in_use = Cache('b', kSize, hours(20));  // a run holds its lease
  auto newest = Cache('c', kSize, hours(10));
  oldest.lease.reset();
  newest.lease.reset();
  options_.config.artifact_cache_mib = 1;  // 1.8 MiB cached: 0.8 MiB too much
  auto retention = Make();
  const auto report = retention.RunPass();
  // The oldest goes; the next is in use, so the newest goes too; the one in use stays.
  EXPECT_EQ(report.artifacts, 2U);
  EXPECT_EQ(report.in_use, 1U);
  EXPECT_FALSE(fs::exists(oldest.path));
  EXPECT_TRUE(fs::exists(in_use.path));
  EXPECT_FALSE(fs::exists(newest.path));
  {
    // Still verified and usable by the next run.
    auto again = jobs::Download("file:///nonexistent", in_use.path.filename().string(), cache());
    ASSERT_THAT(again, IsOk());
    EXPECT_TRUE(again->reused);
  }
  // Released and under the limit now: kept.
  in_use.lease.reset();
  EXPECT_EQ(retention.RunPass().artifacts, 0U);
  EXPECT_TRUE(fs::exists(in_use.path));
}

TEST_F(RetentionPassTest, RemovesLockFilesNoProcessHolds) {
  auto held = Cache('d', 1000, hours(0));  // its lock is held (shared) by the lease
  Write(cache() / (Sha('e') + ".lock"), "");
  auto retention = Make();
  const auto report = retention.RunPass();
  EXPECT_EQ(report.locks, 1U);
  EXPECT_FALSE(fs::exists(cache() / (Sha('e') + ".lock")));
  const std::string held_lock = held.path.string() + ".lock";
  EXPECT_TRUE(fs::exists(held_lock));
  held.lease.reset();
  EXPECT_EQ(retention.RunPass().locks, 1U);
  EXPECT_FALSE(fs::exists(held_lock));
  EXPECT_TRUE(fs::exists(held.path));  // the artifact itself stays (under its limit)
}

TEST_F(RetentionPassTest, RemovesTheStagingOfRunsNoLongerLiveUnderTheLocksARestoreTakes) {
  Write(options_.root / ".staging/run-dead/build/bin/server", "half");
  Write(options_.root / ".staging/run-live/build/bin/server", "in use");
  Write(options_.root / "instances/i1/.restore-run-dead/world.dat", "staged");
  Write(options_.root / "instances/i1/data/world.dat", "live data");
  Write(options_.root / "instances/i2/.restore-run-dead-2/world.dat", "staged");
  // A run holds instance i2 right now: its restore staging waits for a later pass.
  ASSERT_TRUE(locks_.TryAcquire("run-other", {{"instance:i2", protocol::LockMode::kExclusive}}));
  auto retention = Make({"run-live"});
  const auto report = retention.RunPass();
  EXPECT_GE(report.staging, 2U);
  EXPECT_FALSE(fs::exists(options_.root / ".staging/run-dead"));
  EXPECT_TRUE(fs::exists(options_.root / ".staging/run-live/build/bin/server"));
  EXPECT_FALSE(fs::exists(options_.root / "instances/i1/.restore-run-dead"));
  EXPECT_TRUE(fs::exists(options_.root / "instances/i1/data/world.dat"));
  EXPECT_TRUE(fs::exists(options_.root / "instances/i2/.restore-run-dead-2"));
  EXPECT_EQ(locks_.Holders("instance:i1"), 0);  // released again
  locks_.Release("run-other");
  retention.RunPass();
  EXPECT_FALSE(fs::exists(options_.root / "instances/i2/.restore-run-dead-2"));
}

TEST_F(RetentionPassTest, APassIsBoundedAndTheNextComesSoonUntilAllIsDone) {
  for (int i = 0; i < 5; ++i)
    Write(options_.run_logs / ("job/run-" + std::to_string(i) + ".log"), "old", hours(30 * 24));
  options_.max_removals = 2;
  options_.resume_after = milliseconds(5000);
  options_.config.interval_minutes = 60;
  testing::ManualClock clock;
  clock.SetWall(std::chrono::system_clock::now());  // the files' mtimes are real
  Retention retention(
      options_, locks_, [] { return std::set<std::string>(); }, clock);
  auto first = retention.RunIfDue();  // at start-up: due at once
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->run_logs, 2U);
  EXPECT_FALSE(first->complete);
  EXPECT_FALSE(retention.RunIfDue().has_value());  // not before resume_after
  clock.Advance(milliseconds(5000));
  EXPECT_EQ(retention.RunIfDue()->run_logs, 2U);
  clock.Advance(milliseconds(5000));
  auto last = retention.RunIfDue();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->run_logs, 1U);
  EXPECT_TRUE(last->complete);
  clock.Advance(milliseconds(5000));
  EXPECT_FALSE(retention.RunIfDue().has_value());  // complete: the next in an hour
  clock.Advance(std::chrono::minutes(60));
  EXPECT_TRUE(retention.RunIfDue().has_value());
  retention.MakeDue();  // e.g. the journal just failed
  EXPECT_TRUE(retention.RunIfDue().has_value());
}

}  // namespace retention_test
}  // namespace orb::agent
