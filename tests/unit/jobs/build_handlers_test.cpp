// INSTALL_SERVER, UPDATE_SERVER, ACTIVATE_BUILD (jobs/builds) against real artifacts served over
// HTTP on 127.0.0.1, real files in a TempDir root and real /bin/sh instance processes.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"
#include "protocol/instance_json.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"
#include "unit/jobs/artifact_server.hpp"
#include "unit/jobs/handler_harness.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using harness::Agent;
using harness::FastDeps;
using harness::KillInstances;
using harness::ReadText;
using harness::RunInDyingChild;
using harness::WriteText;
using ::orb::testing::ArtifactServer;
using ::orb::testing::FailsWith;
using ::orb::testing::FaultyRelay;
using ::orb::testing::IsOk;
using ::orb::testing::TempDir;
using ::orb::testing::WaitFor;
using ::testing::HasSubstr;

constexpr char kToken[] = "agent-token-1";

// A game server of build BUILD: records its pid, says it is ready, exits 0 on "stop".
std::string ServerScript(const std::string& build) {
  return "#!/bin/sh\necho $$ >> pids\necho \"Done (build " + build +
         ")\"\nwhile read -r line; do\n  if [ \"$line\" = \"stop\" ]; then exit 0; fi\ndone\nexit "
         "4\n";
}
// A broken build: exits at once.
constexpr const char* kBrokenScript =
    "#!/bin/sh\necho $$ >> pids\necho 'fatal: cannot start'\nexit 1\n";

int Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

// A tar.gz (or tar.zst) of a build tree: bin/start.sh, a data file and a nested config.
fs::path MakeBuildArchive(const fs::path& work, const std::string& build, const char* script,
                          bool zstd = false) {
  const fs::path tree = work / ("tree-" + build);
  WriteText(tree / "bin/start.sh", script != nullptr ? script : ServerScript(build));
  fs::permissions(tree / "bin/start.sh", fs::perms::owner_all | fs::perms::group_read);
  WriteText(tree / "lib/server.jar", std::string(64 * 1024, 'j') + build);
  WriteText(tree / "config/defaults/server.properties", "motd=" + build + "\n");
  const fs::path archive = work / (build + (zstd ? ".tar.zst" : ".tar.gz"));
  EXPECT_EQ(Shell("tar -C '" + tree.string() + "' " + (zstd ? "--zstd" : "-z") + " -cf '" +
                  archive.string() + "' ."),
            0);
  return archive;
}

// One entry of a hand-made (malicious) archive.
struct Item {
  std::string name;
  unsigned type = AE_IFREG;
  std::string content{};
  std::string link{};
  std::string hardlink{};
};

void MakeArchive(const fs::path& path, const std::vector<Item>& items) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& item : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, item.name.c_str());
    archive_entry_set_filetype(e, item.type);
    archive_entry_set_perm(e, 0644);
    if (!item.link.empty()) archive_entry_set_symlink(e, item.link.c_str());
    if (!item.hardlink.empty()) archive_entry_set_hardlink(e, item.hardlink.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(item.content.size()));
    if (item.type == AE_IFCHR) archive_entry_set_rdev(e, 0x0103);
    ASSERT_GE(archive_write_header(a, e), ARCHIVE_WARN) << archive_error_string(a);
    if (!item.content.empty()) archive_write_data(a, item.content.data(), item.content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// Every path under `root` (symlinks not followed), with file contents.
std::map<std::string, std::string> Snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (!fs::exists(root)) return out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const auto rel = fs::relative(it->path(), root).string();
    if (it->is_symlink()) {
      out[rel] = "link:" + fs::read_symlink(it->path()).string();
    } else if (it->is_regular_file()) {
      out[rel] = "file:" + ReadText(it->path());
    } else {
      out[rel] = "dir";
    }
  }
  return out;
}

std::string InstallPayload(const std::string& build, const std::string& url, const std::string& sha,
                           std::uint64_t size, bool activate = false) {
  return R"({"buildId": ")" + build + R"(", "artifact": {"url": ")" + url + R"(", "sha256": ")" +
         sha + R"(", "size": )" + std::to_string(size) +
         "}, \"activate\": " + (activate ? "true" : "false") + "}";
}

std::string UpdatePayload(const std::string& build, const std::string& url, const std::string& sha,
                          std::uint64_t size) {
  return R"({"buildId": ")" + build + R"(", "artifact": {"url": ")" + url + R"(", "sha256": ")" +
         sha + R"(", "size": )" + std::to_string(size) + "}}";
}

constexpr const char* kStartPayload =
    R"({"config": {"serverId": "s1", "command": ["bin/start.sh"], "stopCommand": "stop",
        "stopTimeoutSeconds": 5, "readyPattern": "Done \\(", "readyTimeoutSeconds": 5}})";

// What must hold whenever nothing runs: every build directory is committed, and `current`, if
// there, names a committed build.
void ExpectConsistent(const fs::path& root) {
  const fs::path server = root / "servers/s1";
  std::error_code ec;
  if (fs::exists(server / "builds", ec)) {
    for (const auto& build : fs::directory_iterator(server / "builds")) {
      EXPECT_TRUE(fs::exists(build.path() / ".build.json")) << build.path() << " is half a build";
    }
  }
  if (fs::is_symlink(server / "current", ec)) {
    EXPECT_TRUE(fs::exists(server / "current/.build.json")) << "current is not complete";
    EXPECT_TRUE(fs::exists(server / "current/bin/start.sh"));
  }
}

std::optional<protocol::InstanceRuntime> Runtime(const fs::path& root) {
  auto runtime = protocol::ParseInstanceRuntime(ReadText(root / "instances/i1/runtime.json"));
  if (!runtime) return std::nullopt;
  return *runtime;
}

bool InstanceRuns(const fs::path& root) {
  auto runtime = Runtime(root);
  return runtime && runtime->pid && ::kill(static_cast<pid_t>(*runtime->pid), 0) == 0 &&
         runtime->state == protocol::InstanceState::kRunning;
}

class BuildHandlersTest : public ::testing::Test {
 protected:
  BuildHandlersTest() {
    fs::create_directories(dir_ / "store");
    fs::create_directories(root_);
    WriteText(dir_ / "token", std::string(kToken) + "\n");
    WriteText(dir_ / "outside/precious.txt", "precious");
  }
  ~BuildHandlersTest() override { KillInstances(root_); }

  HandlerDeps Deps() {
    HandlerDeps deps = FastDeps();
    deps.control_plane_urls = {server_.Url("")};
    deps.token_file = dir_ / "token";
    return deps;
  }

  // Serves a build archive; returns the payload for it at /v1/artifacts/<sha>.
  std::string Publish(const std::string& build, const char* script = nullptr, bool activate = false,
                      bool update = false) {
    const fs::path archive = MakeBuildArchive(dir_.path(), build, script);
    const std::string sha = server_.AddFile(archive);
    const auto size = fs::file_size(archive);
    const std::string url = server_.Url("/v1/artifacts/" + sha);
    return update ? UpdatePayload(build, url, sha, size)
                  : InstallPayload(build, url, sha, size, activate);
  }

  fs::path Current() const { return fs::read_symlink(root_ / "servers/s1/current"); }

  TempDir dir_;
  fs::path root_ = dir_ / "root";
  ArtifactServer server_{dir_ / "store", kToken};
  Agent agent_{root_, Deps()};
};

TEST_F(BuildHandlersTest, InstallsCommitsAndActivatesTheFirstBuild) {
  auto result = agent_.Run("INSTALL_SERVER", Publish("b1"));
  ASSERT_THAT(result, IsOk());
  const std::uint64_t bytes = ServerScript("b1").size() + 64 * 1024 + 2 + 8;
  EXPECT_EQ(*result, R"({"serverId":"s1","buildId":"b1","files":3,"bytes":)" +
                         std::to_string(bytes) + R"(,"activated":true})");
  EXPECT_EQ(Current(), "builds/b1");
  EXPECT_EQ(ReadText(root_ / "servers/s1/current/config/defaults/server.properties"), "motd=b1\n");
  EXPECT_TRUE((fs::status(root_ / "servers/s1/builds/b1/bin/start.sh").permissions() &
               fs::perms::owner_exec) != fs::perms::none);
  EXPECT_THAT(ReadText(root_ / "servers/s1/builds/b1/.build.json"),
              HasSubstr(R"("jobId":"job-1")"));
  EXPECT_THAT(ReadText(root_ / "servers/s1/activations.log"),
              HasSubstr(R"("buildId":"b1","previousBuildId":null)"));
  EXPECT_EQ(server_.authorizations().at(0), std::string("Bearer ") + kToken);
  EXPECT_EQ(agent_.sink().last_percent(), 100);
  ExpectConsistent(root_);
}

TEST_F(BuildHandlersTest, ARetryIsAlreadyInstalledAndAnotherArtifactUnderTheSameIdIsRefused) {
  const std::string payload = Publish("b1");
  ASSERT_THAT(agent_.Run("INSTALL_SERVER", payload), IsOk());
  auto again = agent_.Run("INSTALL_SERVER", payload);
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(*again, HasSubstr(R"("alreadyInstalled":true)"));
  EXPECT_EQ(server_.requests(), 1);

  fs::remove_all(dir_ / "tree-b1");
  auto other = agent_.Run("INSTALL_SERVER", Publish("b1", kBrokenScript));
  ASSERT_THAT(other, FailsWith(Errc::kAlreadyExists));
  EXPECT_FALSE(other.error().retryable);
}

TEST_F(BuildHandlersTest, ALaterInstallActivatesOnlyWhenAskedAndActivateBuildSwitches) {
  ASSERT_THAT(agent_.Run("INSTALL_SERVER", Publish("b1")), IsOk());
  auto second = agent_.Run("INSTALL_SERVER", Publish("b2"));
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(*second, HasSubstr(R"("activated":false)"));
  EXPECT_EQ(Current(), "builds/b1");

  auto activated = agent_.Run("ACTIVATE_BUILD", R"({"buildId": "b2"})");
  ASSERT_THAT(activated, IsOk());
  EXPECT_EQ(*activated, R"({"serverId":"s1","buildId":"b2","previousBuildId":"b1"})");
  EXPECT_EQ(Current(), "builds/b2");
  auto again = agent_.Run("ACTIVATE_BUILD", R"({"buildId": "b2"})");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again,
            R"({"serverId":"s1","buildId":"b2","previousBuildId":"b1","alreadyActive":true})");
  EXPECT_THAT(agent_.Run("ACTIVATE_BUILD", R"({"buildId": "b9"})"), FailsWith(Errc::kNotInstalled));
  EXPECT_THAT(agent_.Run("ACTIVATE_BUILD", R"({"buildId": "../b1"})"),
              FailsWith(Errc::kInvalidPayload));
  for (const auto& entry : fs::directory_iterator(root_ / "servers/s1")) {
    EXPECT_EQ(entry.path().filename().string().find("current.tmp-"), std::string::npos);
  }
  // Two switches, two lines.
  const std::string log = ReadText(root_ / "servers/s1/activations.log");
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2);
}

TEST_F(BuildHandlersTest, InstallsATarZstArtifactFromAFileUrl) {
  const fs::path archive = MakeBuildArchive(dir_.path(), "z1", nullptr, true);
  auto result =
      agent_.Run("INSTALL_SERVER", InstallPayload("z1", "file://" + archive.string(),
                                                  *Sha256FileHex(archive), fs::file_size(archive)));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(ReadText(root_ / "servers/s1/current/config/defaults/server.properties"), "motd=z1\n");
}

TEST_F(BuildHandlersTest, AWrongChecksumFailsWithoutRetryAndInstallsNothing) {
  const fs::path archive = MakeBuildArchive(dir_.path(), "b1", nullptr);
  const std::string sha = server_.AddFile(archive);
  fs::rename(dir_ / "store" / sha, dir_ / "store/renamed");
  WriteText(dir_ / "store/renamed", "not the archive");
  auto result =
      agent_.Run("INSTALL_SERVER", InstallPayload("b1", server_.Url("/public/renamed"), sha, 15));
  ASSERT_THAT(result, FailsWith(Errc::kChecksumMismatch));
  EXPECT_FALSE(result.error().retryable);
  EXPECT_FALSE(fs::exists(root_ / "servers/s1/builds/b1"));
}

TEST_F(BuildHandlersTest, EveryKindOfMaliciousArchiveIsRefusedAndNothingLeavesStaging) {
  const std::vector<std::pair<std::string, std::vector<Item>>> cases = {
      {"absolute", {{"/tmp/orb-evil-abs.txt", AE_IFREG, "x"}}},
      {"dotdot", {{"bin/../../../outside/precious.txt", AE_IFREG, "overwritten"}}},
      {"symlink",
       {{"escape", AE_IFLNK, "", "../../outside"}, {"escape/precious.txt", AE_IFREG, "x"}}},
      {"abs-symlink", {{"etc", AE_IFLNK, "", "/etc"}}},
      {"hardlink", {{"stolen", AE_IFREG, "", "", (dir_ / "outside/precious.txt").string()}}},
      {"device", {{"dev/null", AE_IFCHR}}},
      {"fifo", {{"pipe", AE_IFIFO}}},
  };
  const auto outside_before = Snapshot(dir_ / "outside");
  int index = 0;
  for (const auto& [kind, items] : cases) {
    SCOPED_TRACE(kind);
    const std::string build = "evil" + std::to_string(index++);
    const fs::path archive = dir_ / (build + ".tar.gz");
    MakeArchive(archive, items);
    const std::string sha = server_.AddFile(archive);
    auto result = agent_.Run(
        "INSTALL_SERVER",
        InstallPayload(build, server_.Url("/v1/artifacts/" + sha), sha, fs::file_size(archive)));
    ASSERT_THAT(result, FailsWith(Errc::kUnsafeArchive));
    EXPECT_FALSE(result.error().retryable);
    EXPECT_FALSE(fs::exists(root_ / "servers/s1/builds" / build));
    EXPECT_FALSE(fs::exists("/tmp/orb-evil-abs.txt"));
  }
  EXPECT_EQ(Snapshot(dir_ / "outside"), outside_before);
  // Only the artifact cache is left in the root: no server, no staging.
  for (const auto& entry : fs::directory_iterator(root_)) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::AnyOf(".staging", "cache"));
  }
  EXPECT_TRUE(fs::is_empty(root_ / ".staging"));
  EXPECT_FALSE(fs::exists(root_ / "servers/s1/current"));
}

TEST_F(BuildHandlersTest, CancelMidDownloadLeavesNoBuildAndARetryGetsAVerifiedOne) {
  const fs::path archive = dir_ / "big.tar.gz";
  {
    const fs::path tree = dir_ / "big-tree";
    WriteText(tree / "bin/start.sh", ServerScript("big"));
    std::string noise(3 << 20, '\0');
    std::uint64_t x = 88172645463325252ULL;
    for (auto& c : noise) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = static_cast<char>(x);
    }
    WriteText(tree / "lib/noise.bin", noise);
    ASSERT_EQ(Shell("tar -C '" + tree.string() + "' -czf '" + archive.string() + "' ."), 0);
  }
  const std::string sha = server_.AddFile(archive);
  const auto size = fs::file_size(archive);
  FaultyRelay slow({.upstream_port = server_.port(), .bytes_per_second = 512 * 1024});
  CancelToken cancel;
  auto running = std::async(std::launch::async, [&] {
    return agent_.Run("INSTALL_SERVER",
                      InstallPayload("big", slow.Url("/public/" + sha), sha, size), &cancel);
  });
  ASSERT_TRUE(WaitFor(
      [&] {
        std::error_code ec;
        return fs::file_size(root_ / "cache/artifacts" / (sha + ".part"), ec) > 200'000 && !ec;
      },
      20s));
  cancel.Cancel(CancelCause::kRequested, "operator");
  ASSERT_EQ(running.wait_for(10s), std::future_status::ready);
  EXPECT_THAT(running.get(), FailsWith(Errc::kCancelled));
  EXPECT_FALSE(fs::exists(root_ / "servers/s1/builds/big"));
  EXPECT_FALSE(fs::exists(root_ / "cache/artifacts" / sha)) << "only verified bytes get the name";
  EXPECT_LT(fs::file_size(root_ / "cache/artifacts" / (sha + ".part")), size);

  // A .part whose bytes went bad is never trusted: the retry notices and starts over.
  {
    std::fstream part(root_ / "cache/artifacts" / (sha + ".part"),
                      std::ios::in | std::ios::out | std::ios::binary);
    part.seekp(100);
    part.write("CORRUPT", 7);
  }
  auto retried =
      agent_.Run("INSTALL_SERVER", InstallPayload("big", server_.Url("/public/" + sha), sha, size));
  EXPECT_THAT(retried, FailsWith(Errc::kChecksumMismatch));
  EXPECT_FALSE(fs::exists(root_ / "cache/artifacts" / (sha + ".part")));
  EXPECT_FALSE(fs::exists(root_ / "servers/s1/builds/big"));
  auto fresh =
      agent_.Run("INSTALL_SERVER", InstallPayload("big", server_.Url("/public/" + sha), sha, size));
  ASSERT_THAT(fresh, IsOk());
  EXPECT_EQ(*Sha256FileHex(root_ / "cache/artifacts" / sha), sha);
  ExpectConsistent(root_);
}

TEST_F(BuildHandlersTest, UpdateRestartsRunningInstancesOnTheNewBuildUnderTheirLocks) {
  ASSERT_THAT(agent_.Run("INSTALL_SERVER", Publish("b1")), IsOk());
  ASSERT_THAT(agent_.Run("START_INSTANCE", kStartPayload), IsOk());
  ASSERT_EQ(Runtime(root_)->build_id, "b1");
  const auto old_pid = Runtime(root_)->pid;

  std::vector<std::string> locks;
  const std::string update = Publish("b2", nullptr, false, true);
  auto result = agent_.Run("UPDATE_SERVER", update, nullptr, &locks);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(*result,
            R"({"serverId":"s1","buildId":"b2","previousBuildId":"b1","restarted":["i1"]})");
  EXPECT_EQ(locks, std::vector<std::string>{"instance:i1"});
  EXPECT_EQ(Current(), "builds/b2");
  EXPECT_TRUE(InstanceRuns(root_));
  EXPECT_EQ(Runtime(root_)->build_id, "b2");
  EXPECT_NE(Runtime(root_)->pid, old_pid);
  EXPECT_FALSE(fs::exists(root_ / "servers/s1/restart-plan.json"));

  // A retry finds everything done and restarts nothing.
  auto again = agent_.Run("UPDATE_SERVER", update);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, R"({"serverId":"s1","buildId":"b2","previousBuildId":"b1","restarted":[],)"
                    R"("alreadyInstalled":true,"alreadyActive":true})");
}

TEST_F(BuildHandlersTest, UpdateToABuildWhoseServerExitsAtOnceRollsBack) {
  ASSERT_THAT(agent_.Run("INSTALL_SERVER", Publish("b1")), IsOk());
  ASSERT_THAT(agent_.Run("START_INSTANCE", kStartPayload), IsOk());

  auto result = agent_.Run("UPDATE_SERVER", Publish("bad", kBrokenScript, false, true));
  ASSERT_THAT(result, FailsWith(Errc::kUpdateRolledBack));
  EXPECT_FALSE(result.error().retryable);
  EXPECT_THAT(result.error().message, HasSubstr("rolled back to build b1"));
  EXPECT_EQ(Current(), "builds/b1");
  EXPECT_TRUE(InstanceRuns(root_));
  EXPECT_EQ(Runtime(root_)->build_id, "b1");
  EXPECT_THAT(ReadText(root_ / "servers/s1/activations.log"), HasSubstr(R"("reason":"rollback")"));
  ExpectConsistent(root_);
}

TEST_F(BuildHandlersTest, ActivateWithRestartMovesTheInstanceAndReportsIt) {
  ASSERT_THAT(agent_.Run("INSTALL_SERVER", Publish("b1")), IsOk());
  ASSERT_THAT(agent_.Run("INSTALL_SERVER", Publish("b2")), IsOk());
  ASSERT_THAT(agent_.Run("START_INSTANCE", kStartPayload), IsOk());
  auto result = agent_.Run("ACTIVATE_BUILD", R"({"buildId": "b2", "restartInstances": true})");
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(*result, HasSubstr(R"("restarted":["i1"])"));
  EXPECT_EQ(Runtime(root_)->build_id, "b2");
  EXPECT_TRUE(InstanceRuns(root_));
}

// ---- Kill at every step: the handler runs in a fork()ed child whose Fs _exit(9)s at call N ----

class KillTest : public ::testing::Test {
 protected:
  KillTest() {
    b1_ = MakeBuildArchive(dir_.path(), "b1", nullptr);
    b2_ = MakeBuildArchive(dir_.path(), "b2", nullptr);
  }
  std::string Payload(const fs::path& archive, const std::string& build, bool update) const {
    const std::string url = "file://" + archive.string();
    const std::string sha = *Sha256FileHex(archive);
    return update ? UpdatePayload(build, url, sha, fs::file_size(archive))
                  : InstallPayload(build, url, sha, fs::file_size(archive));
  }

  TempDir dir_;
  fs::path b1_;
  fs::path b2_;
};

TEST_F(KillTest, InstallKilledAtEveryStepNeverShowsAHalfBuildAndARetryFinishes) {
  const std::string payload = Payload(b1_, "b1", false);
  int completed_at = 0;
  for (int n = 1; n < 400 && completed_at == 0; ++n) {
    SCOPED_TRACE("killed at Fs call " + std::to_string(n));
    const fs::path root = dir_ / ("install-" + std::to_string(n));
    const int code = RunInDyingChild(root, n, "INSTALL_SERVER", payload);
    ASSERT_TRUE(code == 9 || code == 0) << "child exit " << code;
    if (code == 0) completed_at = n;
    ExpectConsistent(root);
    Agent retry(root, FastDeps());
    auto result = retry.Run("INSTALL_SERVER", payload);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(fs::read_symlink(root / "servers/s1/current"), "builds/b1");
    ExpectConsistent(root);
    fs::remove_all(root);
  }
  EXPECT_GT(completed_at, 10) << "the loop must have killed the install at many steps";
}

TEST_F(KillTest, UpdateKilledAtEveryStepKeepsACompleteCurrentAndTheInstanceRuns) {
  const std::string install = Payload(b1_, "b1", false);
  const std::string update = Payload(b2_, "b2", true);
  int completed_at = 0;
  for (int n = 1; n < 600 && completed_at == 0; ++n) {
    SCOPED_TRACE("killed at Fs call " + std::to_string(n));
    const fs::path root = dir_ / ("update-" + std::to_string(n));
    {
      Agent setup(root, FastDeps());
      ASSERT_THAT(setup.Run("INSTALL_SERVER", install), IsOk());
      ASSERT_THAT(setup.Run("START_INSTANCE", kStartPayload), IsOk());
    }
    const int code = RunInDyingChild(root, n, "UPDATE_SERVER", update);
    EXPECT_TRUE(code == 9 || code == 0) << "child exit " << code;
    if (code == 0) completed_at = n;
    ExpectConsistent(root);
    Agent retry(root, FastDeps());
    auto result = retry.Run("UPDATE_SERVER", update);
    EXPECT_THAT(result, IsOk());
    EXPECT_EQ(fs::read_symlink(root / "servers/s1/current"), "builds/b2");
    EXPECT_TRUE(InstanceRuns(root));
    EXPECT_EQ(Runtime(root)->build_id, "b2");
    ExpectConsistent(root);
    KillInstances(root);
    fs::remove_all(root);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(completed_at, 20) << "the loop must have killed the update at many steps";
}

}  // namespace
}  // namespace orb::jobs
