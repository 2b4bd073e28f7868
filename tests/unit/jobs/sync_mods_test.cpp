// SYNC_MODS (jobs/mods) against mods served over HTTP on 127.0.0.1 (and file:// for the kill
// loop), real files in a TempDir root and a real /bin/sh instance.

#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sha256.hpp"
#include "protocol/build_json.hpp"
#include "protocol/instance_json.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "unit/jobs/artifact_server.hpp"
#include "unit/jobs/handler_harness.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using harness::Agent;
using harness::FastDeps;
using harness::KillInstances;
using harness::ReadText;
using harness::RunInDyingChild;
using harness::WriteText;
using ::orb::testing::ArtifactServer;
using ::orb::testing::FailsWith;
using ::orb::testing::IsOk;
using ::orb::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Mod {
  std::string name;
  std::string path;
  std::string content;
};

// {"name", "url", "sha256", "size", "path"} of one mod whose bytes are at `url`.
std::string ModJson(const Mod& mod, const std::string& url) {
  return R"({"name": ")" + mod.name + R"(", "url": ")" + url + R"(", "sha256": ")" +
         Sha256Hex(mod.content) + R"(", "size": )" + std::to_string(mod.content.size()) +
         R"(, "path": ")" + mod.path + R"("})";
}

constexpr const char* kServer =
    "#!/bin/sh\necho $$ >> pids\necho 'Done (mods)'\nwhile read -r line; do\n"
    "  if [ \"$line\" = \"stop\" ]; then exit 0; fi\ndone\n";

class SyncModsTest : public ::testing::Test {
 protected:
  SyncModsTest() {
    fs::create_directories(dir_ / "store");
    fs::create_directories(data());
  }
  ~SyncModsTest() override { KillInstances(root_); }

  // The payload for `mods`, served over HTTP.
  std::string Payload(const std::vector<Mod>& mods, bool remove_unlisted,
                      const std::string& restart = "never") {
    std::string list;
    for (const auto& mod : mods) {
      const std::string sha = server_.Add(mod.content);
      if (!list.empty()) list += ", ";
      list += ModJson(mod, server_.Url("/public/" + sha));
    }
    return R"({"mods": [)" + list + R"(], "removeUnlisted": )" +
           (remove_unlisted ? "true" : "false") + R"(, "restart": ")" + restart + R"("})";
  }

  fs::path data() const { return root_ / "instances/i1/data"; }

  protocol::ModsLock Lock() const {
    auto lock = protocol::ParseModsLock(ReadText(root_ / "instances/i1/mods.lock.json"));
    EXPECT_THAT(lock, IsOk());
    return lock ? *lock : protocol::ModsLock{};
  }

  TempDir dir_;
  fs::path root_ = dir_ / "root";
  ArtifactServer server_{dir_ / "store"};
  Agent agent_{root_, FastDeps()};
  const Mod a_{"a", "plugins/a.jar", "mod a v1"};
  const Mod a2_{"a", "plugins/a.jar", "mod a v2, longer"};
  const Mod b_{"b", "b.jar", "mod b"};
  const Mod c_{"c", "plugins/deep/c.jar", "mod c"};
};

TEST_F(SyncModsTest, AddsModsWritesTheLockAndASecondRunIsAlreadySynced) {
  const std::string payload = Payload({a_, b_}, true);
  auto result = agent_.Run("SYNC_MODS", payload);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(*result, R"({"added":["a","b"],"updated":[],"removed":[],"unchanged":[]})");
  EXPECT_EQ(ReadText(data() / "plugins/a.jar"), a_.content);
  EXPECT_EQ(ReadText(data() / "b.jar"), b_.content);
  const auto lock = Lock();
  ASSERT_EQ(lock.mods.size(), 2U);
  EXPECT_EQ(lock.mods[0].files, std::vector<std::string>{"plugins/a.jar"});
  EXPECT_EQ(lock.mods[1].sha256, Sha256Hex(b_.content));
  EXPECT_FALSE(fs::exists(root_ / "instances/i1/mods.pending.json"));

  const int requests = server_.requests();
  auto again = agent_.Run("SYNC_MODS", payload);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again,
            R"({"added":[],"updated":[],"removed":[],"unchanged":["a","b"],"alreadySynced":true})");
  EXPECT_EQ(server_.requests(), requests);
}

TEST_F(SyncModsTest, UpdatesChangedModsRemovesUnlistedOnlyWhenAskedAndNeverTouchesOtherFiles) {
  WriteText(data() / "plugins/user.jar", "the user's own plugin");
  WriteText(data() / "world/level.dat", "world");
  ASSERT_THAT(agent_.Run("SYNC_MODS", Payload({a_, b_}, true)), IsOk());

  auto kept = agent_.Run("SYNC_MODS", Payload({a2_, c_}, false));
  ASSERT_THAT(kept, IsOk());
  EXPECT_EQ(*kept, R"({"added":["c"],"updated":["a"],"removed":[],"unchanged":[]})");
  EXPECT_EQ(ReadText(data() / "plugins/a.jar"), a2_.content);
  EXPECT_EQ(ReadText(data() / "plugins/deep/c.jar"), c_.content);
  EXPECT_EQ(ReadText(data() / "b.jar"), b_.content) << "unlisted, but removeUnlisted is false";
  EXPECT_EQ(Lock().mods.size(), 3U);

  auto removed = agent_.Run("SYNC_MODS", Payload({a2_, c_}, true));
  ASSERT_THAT(removed, IsOk());
  EXPECT_EQ(*removed, R"({"added":[],"updated":[],"removed":["b"],"unchanged":["a","c"]})");
  EXPECT_FALSE(fs::exists(data() / "b.jar"));
  EXPECT_EQ(ReadText(data() / "plugins/user.jar"), "the user's own plugin");
  EXPECT_EQ(ReadText(data() / "world/level.dat"), "world");

  auto none = agent_.Run("SYNC_MODS", Payload({}, true));
  ASSERT_THAT(none, IsOk());
  EXPECT_EQ(*none, R"({"added":[],"updated":[],"removed":["a","c"],"unchanged":[]})");
  EXPECT_FALSE(fs::exists(data() / "plugins/a.jar"));
  EXPECT_TRUE(fs::exists(data() / "plugins/user.jar"));
  EXPECT_TRUE(Lock().mods.empty());
}

TEST_F(SyncModsTest, NeverOverwritesAFileNoModOwnsUnlessItAlreadyHoldsTheRightBytes) {
  WriteText(data() / "plugins/a.jar", "someone else's a.jar");
  auto refused = agent_.Run("SYNC_MODS", Payload({a_}, true));
  ASSERT_THAT(refused, FailsWith(Errc::kAlreadyExists));
  EXPECT_EQ(ReadText(data() / "plugins/a.jar"), "someone else's a.jar");
  EXPECT_FALSE(fs::exists(root_ / "instances/i1/mods.lock.json"));

  WriteText(data() / "plugins/a.jar", a_.content);
  auto adopted = agent_.Run("SYNC_MODS", Payload({a_}, true));
  ASSERT_THAT(adopted, IsOk());
  EXPECT_THAT(*adopted, HasSubstr(R"("added":["a"])"));
  EXPECT_EQ(Lock().mods.at(0).files, std::vector<std::string>{"plugins/a.jar"});
}

TEST_F(SyncModsTest, RefusesAPathThroughASymlinkAndAWrongChecksum) {
  WriteText(dir_ / "outside/keep.txt", "keep");
  fs::create_symlink(dir_ / "outside", data() / "plugins");
  EXPECT_THAT(agent_.Run("SYNC_MODS", Payload({a_}, true)), FailsWith(Errc::kInvalidPayload));
  EXPECT_EQ(fs::directory_iterator(dir_ / "outside")->path().filename(), "keep.txt");
  fs::remove(data() / "plugins");

  const std::string sha = server_.Add("other bytes");
  const std::string payload = R"({"mods": [{"name": "b", "url": ")" +
                              server_.Url("/public/" + sha) + R"(", "sha256": ")" +
                              Sha256Hex(b_.content) + R"(", "size": 11, "path": "b.jar"}]})";
  auto mismatch = agent_.Run("SYNC_MODS", payload);
  ASSERT_THAT(mismatch, FailsWith(Errc::kChecksumMismatch));
  EXPECT_FALSE(fs::exists(data() / "b.jar"));
  EXPECT_FALSE(fs::exists(root_ / "instances/i1/mods.lock.json"));
}

TEST_F(SyncModsTest, RestartsARunningInstanceOnlyWhenAskedAndSomethingChanged) {
  const fs::path build = root_ / "servers/s1/builds/b1";
  WriteText(build / "bin/start.sh", kServer);
  fs::permissions(build / "bin/start.sh", fs::perms::owner_all);
  WriteText(build / ".build.json", R"({"buildId": "b1"})");
  fs::create_symlink("builds/b1", root_ / "servers/s1/current");
  ASSERT_THAT(agent_.Run("START_INSTANCE",
                         R"({"config": {"serverId": "s1", "command": ["bin/start.sh"],
                             "stopCommand": "stop", "readyPattern": "Done"}})"),
              IsOk());
  const auto pid = [&] {
    return protocol::ParseInstanceRuntime(ReadText(root_ / "instances/i1/runtime.json"))->pid;
  };
  const auto first = pid();

  ASSERT_THAT(agent_.Run("SYNC_MODS", Payload({a_}, true, "never")), IsOk());
  EXPECT_EQ(pid(), first);
  auto restarted = agent_.Run("SYNC_MODS", Payload({a_, b_}, true, "ifRunning"));
  ASSERT_THAT(restarted, IsOk());
  EXPECT_THAT(*restarted, HasSubstr(R"("restarted":true)"));
  EXPECT_NE(pid(), first);
  EXPECT_TRUE(pid().has_value());
  const auto second = pid();
  auto unchanged = agent_.Run("SYNC_MODS", Payload({a_, b_}, true, "ifRunning"));
  ASSERT_THAT(unchanged, IsOk());
  EXPECT_EQ(pid(), second);
}

TEST_F(SyncModsTest, KilledAtEveryStepARetryEndsWithExactlyTheNewSet) {
  std::vector<std::string> urls;
  const auto file_url = [&](const Mod& mod) {
    const fs::path file = dir_ / ("mod-" + Sha256Hex(mod.content));
    WriteText(file, mod.content);
    return "file://" + file.string();
  };
  const std::string old_set = R"({"mods": [)" + ModJson(a_, file_url(a_)) + ", " +
                              ModJson(b_, file_url(b_)) + R"(], "removeUnlisted": true})";
  const std::string new_set = R"({"mods": [)" + ModJson(a2_, file_url(a2_)) + ", " +
                              ModJson(c_, file_url(c_)) + R"(], "removeUnlisted": true})";
  int completed_at = 0;
  for (int n = 1; n < 300 && completed_at == 0; ++n) {
    SCOPED_TRACE("killed at Fs call " + std::to_string(n));
    const fs::path root = dir_ / ("sync-" + std::to_string(n));
    const fs::path mods = root / "instances/i1/data";
    {
      Agent setup(root, FastDeps());
      ASSERT_THAT(setup.Run("SYNC_MODS", old_set), IsOk());
      WriteText(mods / "plugins/user.jar", "mine");
    }
    const int code = RunInDyingChild(root, n, "SYNC_MODS", new_set);
    ASSERT_TRUE(code == 9 || code == 0) << "child exit " << code;
    if (code == 0) completed_at = n;
    // The lock is always a whole file: the old set or the new one.
    auto lock = protocol::ParseModsLock(ReadText(root / "instances/i1/mods.lock.json"));
    ASSERT_THAT(lock, IsOk());

    Agent retry(root, FastDeps());
    ASSERT_THAT(retry.Run("SYNC_MODS", new_set), IsOk());
    EXPECT_EQ(ReadText(mods / "plugins/a.jar"), a2_.content);
    EXPECT_EQ(ReadText(mods / "plugins/deep/c.jar"), c_.content);
    EXPECT_FALSE(fs::exists(mods / "b.jar"));
    EXPECT_EQ(ReadText(mods / "plugins/user.jar"), "mine");
    EXPECT_FALSE(fs::exists(root / "instances/i1/mods.pending.json"));
    auto final_lock = protocol::ParseModsLock(ReadText(root / "instances/i1/mods.lock.json"));
    ASSERT_THAT(final_lock, IsOk());
    ASSERT_EQ(final_lock->mods.size(), 2U);
    EXPECT_EQ(final_lock->mods[0].sha256, Sha256Hex(a2_.content));
    EXPECT_EQ(final_lock->mods[1].name, "c");
    auto fast = retry.Run("SYNC_MODS", new_set);
    ASSERT_THAT(fast, IsOk());
    EXPECT_THAT(*fast, HasSubstr(R"("alreadySynced":true)"));
    fs::remove_all(root);
  }
  EXPECT_GT(completed_at, 10) << "the loop must have killed the sync at many steps";
}

}  // namespace
}  // namespace orb::jobs
