// The shipped orb-jobs-agent killed with SIGKILL at random moments inside each of the eleven job
// types, against a real fleet-cmdr: after the restart the job is retried to its end and the host
// holds exactly what the job asked for (docs/job-types.md §1: committed results only, no second
// instance process, no staging or half-written backup left), never a mix.
//
// Each type gets its own test (they run in parallel under ctest). A round: enqueue the job, wait a
// random delay, kill the agent, start it again, wait until the job is COMPLETED, check the host.
// The delay is drawn uniformly from [0, 1.2 x the type's clean duration] (a first round without a
// kill, enqueue to COMPLETED), so the kills land before, inside and just after the run.
// ORB_AGENT_CHAOS_ROUNDS (default 2) sets the killed rounds per type; ORB_AGENT_CHAOS_SEED the
// random seed (printed, to replay a failure). docs/reliability.md has the figures of long runs.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "common/sha256.hpp"
#include "integration/agent/agent_cluster.hpp"
#include "integration/agent/fake_game_server.hpp"
#include "os/process.hpp"
#include "protocol/instance_json.hpp"
#include "support/build_paths.hpp"
#include "support/files.hpp"

namespace orb::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)
using Clock = std::chrono::steady_clock;

constexpr const char* kInstanceConfig =
    R"({"serverId": "s1", "command": ["bin/start.sh"], "stopCommand": "stop",
        "readyPattern": "Done \\(", "readyTimeoutSeconds": 20, "stopTimeoutSeconds": 5})";

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoi(value) : fallback;
}

std::string RandomBytes(std::mt19937_64& random, std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i + 8 <= size; i += 8) {
    const auto word = random();
    std::memcpy(bytes.data() + i, &word, 8);
  }
  return bytes;
}

// Every regular file under `dir` (relative path -> sha256), skipping the restore marker.
std::map<std::string, std::string> Digest(const fs::path& dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file() || it->path().filename() == ".orb-restore.json") continue;
    files[fs::relative(it->path(), dir).string()] = Sha256Hex(ReadText(it->path()));
  }
  return files;
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The live processes whose working directory is `cwd`: an instance's processes (its data/).
std::vector<pid_t> ProcessesIn(const fs::path& cwd) {
  std::vector<pid_t> pids;
  std::error_code ec;
  const auto wanted = fs::weakly_canonical(cwd, ec);
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code link_ec;
    const auto target = fs::read_symlink(entry.path() / "cwd", link_ec);
    if (link_ec || target != wanted) continue;
    const auto pid = static_cast<pid_t>(std::stol(name));
    auto stat = os::ReadProcStat(pid);
    if (stat && stat->state != 'Z') pids.push_back(pid);
  }
  return pids;
}

enum class Type {
  kInstallServer,
  kUpdateServer,
  kActivateBuild,
  kStartInstance,
  kStopInstance,
  kRestartInstance,
  kBackupInstance,
  kVerifyBackup,
  kRestoreBackup,
  kPruneBackups,
  kSyncMods,
};

std::string Name(Type type) {
  switch (type) {
    case Type::kInstallServer: return "INSTALL_SERVER";
    case Type::kUpdateServer: return "UPDATE_SERVER";
    case Type::kActivateBuild: return "ACTIVATE_BUILD";
    case Type::kStartInstance: return "START_INSTANCE";
    case Type::kStopInstance: return "STOP_INSTANCE";
    case Type::kRestartInstance: return "RESTART_INSTANCE";
    case Type::kBackupInstance: return "BACKUP_INSTANCE";
    case Type::kVerifyBackup: return "VERIFY_BACKUP";
    case Type::kRestoreBackup: return "RESTORE_BACKUP";
    case Type::kPruneBackups: return "PRUNE_BACKUPS";
    case Type::kSyncMods: return "SYNC_MODS";
  }
  return "?";
}

class AgentChaosTest : public ::testing::TestWithParam<Type> {
 protected:
  AgentChaosTest()
      : cluster_([](server::FleetCmdrOptions& options) {
          // A run dispatched just before a kill is failed once its lease runs out (the restarted
          // agent does not know it): 3 s keeps a round short; heartbeats every second keep the
          // lease of a long run alive.
          options.lease_seconds = 3;
          options.heartbeat_seconds = 1;
        }),
        seed_(static_cast<std::uint64_t>(
            EnvInt("ORB_AGENT_CHAOS_SEED", static_cast<int>(std::random_device{}() & 0x7fffffff)))),
        random_(seed_),
        agent_(dir_.path(), cluster_.url(), "host-1", cluster_.TokenOf("host-1"), ORB_AGENT_BIN,
               {"--instance-supervisor", "process"}) {
    std::cout << "ORB_AGENT_CHAOS_SEED=" << seed_ << "\n";
    agent_.CaptureOutput(dir_.path() / "agent.log");
  }

  ~AgentChaosTest() override {
    agent_.Kill(SIGKILL);
    for (const pid_t pid : ProcessesIn(Data()))
      ::kill(pid, SIGKILL);
  }

  fs::path Root() const { return agent_.root(); }
  fs::path Data() const { return Root() / "instances/i1/data"; }
  fs::path Backups() const { return Root() / "backups/i1"; }

  // Uploads `bytes` to fleet-cmdr's artifact store; the url, sha256 and size fields of a payload.
  std::string ArtifactFields(const std::string& bytes) {
    const auto [status, body] = cluster_.Admin("PUT", "/v1/artifacts", bytes);
    EXPECT_TRUE(status == 200 || status == 201) << status << " " << body;
    const auto sha = Sha256Hex(bytes);
    return fmt::format(R"("url": "/v1/artifacts/{}", "sha256": "{}", "size": {})", sha, sha,
                       bytes.size());
  }
  std::string Artifact(const std::string& bytes) { return "{" + ArtifactFields(bytes) + "}"; }

  // A tar.gz build: bin/start.sh and a MiB-sized random blob that makes download and unpacking
  // last long enough to be killed inside.
  std::string BuildArtifact(const std::string& build_id) {
    const fs::path tree = dir_.path() / ("tree-" + build_id);
    WriteText(tree / "bin/start.sh", kFakeGameServerScript);
    fs::permissions(tree / "bin/start.sh", fs::perms::owner_all);
    WriteText(tree / "lib/blob.bin", RandomBytes(random_, 4 << 20));
    WriteText(tree / "VERSION", build_id);
    const fs::path archive = dir_.path() / (build_id + ".tar.gz");
    EXPECT_EQ(Shell("tar -C '" + tree.string() + "' -czf '" + archive.string() + "' ."), 0);
    build_trees_[build_id] = Digest(tree);
    return Artifact(ReadText(archive));
  }

  // Enqueues a job that may be retried after the kills, and returns its id.
  std::string Enqueue(Type type, const std::string& payload) {
    const bool server =
        type == Type::kInstallServer || type == Type::kUpdateServer || type == Type::kActivateBuild;
    protocol::CreateJobRequest request;
    request.agent_id = "host-1";
    request.type = Name(type);
    if (server) {
      request.server_id = "s1";
    } else {
      request.instance_id = "i1";
    }
    request.payload_json = payload;
    request.timeout_seconds = 300;
    request.max_attempts = 10;
    request.retry_backoff_seconds = 1;
    auto [status, body] = cluster_.Admin("POST", "/v1/jobs", protocol::ToJson(request));
    EXPECT_EQ(status, 201) << body;
    auto job = protocol::FromJson<protocol::Job>(body);
    return job ? job->id : "";
  }

  // Waits for the job to complete; its result (the last run's), "" when it did not.
  std::string WaitCompleted(const std::string& job) {
    std::string status;
    const bool done = WaitFor(
        [&] {
          status = cluster_.Status(job);
          return status == "COMPLETED" || status == "FAILED" || status == "CANCELLED";
        },
        120s);
    EXPECT_TRUE(done && status == "COMPLETED")
        << job << " " << status << " " << cluster_.LastError(job) << " (agent log "
        << (dir_.path() / "agent.log") << ")";
    const auto detail = cluster_.Job(job);
    if (status != "COMPLETED" || !detail || detail->runs.empty() ||
        !detail->runs.back().result_json)
      return "";
    return *detail->runs.back().result_json;
  }

  // A job run without a kill (the set-up of a round).
  std::string Run(Type type, const std::string& payload) {
    return WaitCompleted(Enqueue(type, payload));
  }

  // A job whose agent is killed `delay` after the enqueue, then started again.
  std::string RunKilled(Type type, const std::string& payload, std::chrono::microseconds delay) {
    const auto job = Enqueue(type, payload);
    // Not a wait for a condition: the delay is the fault's random moment.
    std::this_thread::sleep_for(delay);
    agent_.Kill(SIGKILL);
    if (cluster_.Status(job) == "RUNNING") ++killed_inside_;
    ++kills_;
    EXPECT_TRUE(agent_.Start());
    return WaitCompleted(job);
  }

  // The round's job: the set-up, then the job itself (killed unless `delay` is nullopt), then the
  // checks of what the host holds. Returns the time from enqueue to COMPLETED.
  Clock::duration Round(int round, std::optional<std::chrono::microseconds> delay);

  // What every completed job leaves: no staging of any run, no temp files. A VERIFY_BACKUP killed
  // while it wrote its .verify.json leaves the temp file: it holds the backups only shared (other
  // verifies may be writing theirs), so the next BACKUP, RESTORE or PRUNE removes it
  // (docs/job-types.md, "Backups on disk"); the VERIFY_BACKUP test checks that at its end.
  void CheckNoGarbage(bool temp_files_allowed = false) {
    EXPECT_EQ(Names(Root() / ".staging"), std::vector<std::string>{}) << "staging left behind";
    for (const auto& name : Names(Backups())) {
      if (!temp_files_allowed) {
        EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
      }
    }
    for (const auto& name : Names(Root() / "instances/i1"))
      EXPECT_NE(name.rfind(".restore-", 0), 0U) << name;
  }
  // The committed backups (ids with a manifest); every archive has one.
  std::set<std::string> CommittedBackups() {
    std::set<std::string> manifests;
    std::set<std::string> archives;
    for (const auto& name : Names(Backups())) {
      if (name.ends_with(".manifest.json"))
        manifests.insert(name.substr(0, name.size() - std::string(".manifest.json").size()));
      if (name.ends_with(".tar.zst"))
        archives.insert(name.substr(0, name.size() - std::string(".tar.zst").size()));
    }
    EXPECT_EQ(archives, manifests) << "an archive without its manifest, or the reverse";
    return manifests;
  }
  std::string CurrentBuild() {
    std::error_code ec;
    return fs::read_symlink(Root() / "servers/s1/current", ec).filename().string();
  }
  // The instance runs exactly once, on `build` when given; its pid.
  pid_t CheckRunningOnce(const std::string& build = "") {
    const auto pids = ProcessesIn(Data());
    EXPECT_EQ(pids.size(), 1U) << "instance processes: " << pids.size();
    const auto runtime =
        protocol::ParseInstanceRuntime(ReadText(Root() / "instances/i1/runtime.json"));
    EXPECT_TRUE(runtime.has_value());
    if (!runtime || pids.size() != 1) return 0;
    EXPECT_EQ(runtime->state, protocol::InstanceState::kRunning);
    EXPECT_EQ(runtime->pid.value_or(0), pids.front());
    if (!build.empty()) {
      EXPECT_EQ(runtime->build_id.value_or(""), build);
    }
    return pids.front();
  }
  void CheckBuild(const std::string& build) {
    EXPECT_TRUE(fs::exists(Root() / "servers/s1/builds" / build / ".build.json")) << build;
    auto installed = Digest(Root() / "servers/s1/builds" / build);
    installed.erase(".build.json");
    EXPECT_EQ(installed, build_trees_[build]) << build << " differs from its archive";
  }
  // Writes fresh random data files into the instance's data/ (the old ones removed; data/ itself
  // stays: it is a running instance's working directory).
  void NewData(int round) {
    fs::create_directories(Data());
    for (const auto& entry : fs::directory_iterator(Data()))
      fs::remove_all(entry.path());
    WriteText(Data() / "world/region.bin", RandomBytes(random_, 3 << 20));
    WriteText(Data() / "world/level.dat", RandomBytes(random_, 512 << 10));
    WriteText(Data() / "server.properties", fmt::format("round={}\n", round));
  }
  // Installs s1's first build and defines and starts i1 on it (without kills).
  void InstallAndStart() {
    Run(Type::kInstallServer,
        fmt::format(R"({{"buildId": "b0", "activate": true, "artifact": {}}})",
                    BuildArtifact("b0")));
    NewData(0);
    Run(Type::kStartInstance, fmt::format(R"({{"config": {}}})", kInstanceConfig));
  }

  AgentCluster cluster_;
  TempDir dir_;
  std::uint64_t seed_;
  std::mt19937_64 random_;
  AgentProcess agent_;
  std::map<std::string, std::map<std::string, std::string>> build_trees_;
  std::map<std::string, std::map<std::string, std::string>> backup_data_;  // backupId -> data
  std::vector<std::string> mods_;  // the payload's mod set of the current round
  std::string kept_mod_ = RandomBytes(random_, 1 << 20);
  int kills_ = 0;
  int killed_inside_ = 0;
};

Clock::duration AgentChaosTest::Round(int round, std::optional<std::chrono::microseconds> delay) {
  const Type type = GetParam();
  std::string payload = "{}";
  // The set-up of this round, without kills.
  switch (type) {
    case Type::kInstallServer:
      payload = fmt::format(R"({{"buildId": "b{}", "activate": true, "artifact": {}}})", round + 1,
                            BuildArtifact(fmt::format("b{}", round + 1)));
      break;
    case Type::kUpdateServer:
      payload = fmt::format(R"({{"buildId": "b{}", "artifact": {}}})", round + 1,
                            BuildArtifact(fmt::format("b{}", round + 1)));
      break;
    case Type::kActivateBuild:
      payload = fmt::format(R"({{"buildId": "{}"}})", round % 2 == 0 ? "b1" : "b0");
      break;
    case Type::kStartInstance:
    case Type::kRestartInstance: break;
    case Type::kStopInstance: Run(Type::kStartInstance, "{}"); break;
    case Type::kBackupInstance:
      NewData(round + 1);
      backup_data_[fmt::format("k{}", round)] = Digest(Data());
      payload = fmt::format(R"({{"backupId": "k{}"}})", round);
      break;
    case Type::kVerifyBackup: payload = R"({"backupId": "k0", "level": "full"})"; break;
    case Type::kRestoreBackup:
      NewData(round + 1);  // what the restore replaces
      payload = R"({"backupId": "k0", "startAfter": true})";
      break;
    case Type::kPruneBackups:
      for (int i = 0; i < 2; ++i) {
        NewData(round * 2 + i + 1);
        Run(Type::kBackupInstance, fmt::format(R"({{"backupId": "p{}-{}"}})", round, i));
      }
      payload = R"({"keepLast": 1})";
      break;
    case Type::kSyncMods: {
      // Two mods each round: "kept" stays, the other is replaced by a new one.
      mods_ = {"mods/kept.jar", fmt::format("mods/m{}.jar", round)};
      payload = fmt::format(
          R"({{"mods": [{{"name": "kept", "path": "mods/kept.jar", {}}},
                        {{"name": "m{}", "path": "mods/m{}.jar", {}}}], "removeUnlisted": true}})",
          ArtifactFields(kept_mod_), round, round,
          ArtifactFields(RandomBytes(random_, 2 << 20) + std::to_string(round)));
      break;
    }
  }
  const auto before = ProcessesIn(Data());
  const pid_t previous_pid = before.empty() ? 0 : before.front();

  const auto start = Clock::now();
  const std::string result = delay ? RunKilled(type, payload, *delay) : Run(type, payload);
  const auto took = Clock::now() - start;
  SCOPED_TRACE(fmt::format("{} round {} result {}", Name(type), round, result));
  EXPECT_FALSE(result.empty());

  // What the host holds: what was asked, once.
  switch (type) {
    case Type::kInstallServer:
      CheckBuild(fmt::format("b{}", round + 1));
      EXPECT_EQ(CurrentBuild(), fmt::format("b{}", round + 1));
      break;
    case Type::kUpdateServer:
      CheckBuild(fmt::format("b{}", round + 1));
      EXPECT_EQ(CurrentBuild(), fmt::format("b{}", round + 1));
      CheckRunningOnce(fmt::format("b{}", round + 1));
      break;
    case Type::kActivateBuild: EXPECT_EQ(CurrentBuild(), round % 2 == 0 ? "b1" : "b0"); break;
    case Type::kStartInstance:
    case Type::kRestoreBackup:
      CheckRunningOnce();
      if (type == Type::kRestoreBackup) {
        EXPECT_EQ(Digest(Data()), backup_data_["k0"]);
      }
      break;
    case Type::kRestartInstance:
      EXPECT_NE(CheckRunningOnce(), previous_pid) << "not restarted";
      break;
    case Type::kStopInstance: {
      EXPECT_EQ(ProcessesIn(Data()).size(), 0U);
      const auto runtime =
          protocol::ParseInstanceRuntime(ReadText(Root() / "instances/i1/runtime.json"));
      EXPECT_TRUE(runtime && runtime->state == protocol::InstanceState::kStopped);
      break;
    }
    case Type::kBackupInstance: {
      const auto id = fmt::format("k{}", round);
      EXPECT_TRUE(CommittedBackups().count(id) == 1) << id;
      // The backup holds the data it was asked for: restored into a scratch dir by a verify.
      const auto verify = Run(Type::kVerifyBackup, fmt::format(R"({{"backupId": "{}"}})", id));
      EXPECT_NE(verify.find(R"("ok":true)"), std::string::npos) << verify;
      break;
    }
    case Type::kVerifyBackup: EXPECT_NE(result.find(R"("ok":true)"), std::string::npos); break;
    case Type::kPruneBackups:
      EXPECT_EQ(CommittedBackups(), std::set<std::string>{fmt::format("p{}-1", round)});
      break;
    case Type::kSyncMods: {
      std::vector<std::string> present;
      for (const auto& name : Names(Data() / "mods"))
        present.push_back("mods/" + name);
      std::vector<std::string> wanted = mods_;
      std::sort(wanted.begin(), wanted.end());
      EXPECT_EQ(present, wanted);
      EXPECT_TRUE(fs::exists(Root() / "instances/i1/mods.lock.json"));
      EXPECT_FALSE(fs::exists(Root() / "instances/i1/mods.pending.json"));
      break;
    }
  }
  CheckNoGarbage(/*temp_files_allowed=*/type == Type::kVerifyBackup);
  return took;
}

TEST_P(AgentChaosTest, KilledAtRandomMomentsTheHostEndsAsAsked) {
  const Type type = GetParam();
  ASSERT_TRUE(agent_.Start());
  // What each type needs first, without kills.
  switch (type) {
    case Type::kInstallServer:
    case Type::kSyncMods:
      if (type == Type::kSyncMods) InstallAndStart();
      break;
    case Type::kUpdateServer:
    case Type::kStartInstance:
    case Type::kStopInstance:
    case Type::kRestartInstance:
      InstallAndStart();
      if (type == Type::kStartInstance) Run(Type::kStopInstance, "{}");
      break;
    case Type::kActivateBuild:
      Run(Type::kInstallServer,
          fmt::format(R"({{"buildId": "b0", "activate": true, "artifact": {}}})",
                      BuildArtifact("b0")));
      Run(Type::kInstallServer,
          fmt::format(R"({{"buildId": "b1", "artifact": {}}})", BuildArtifact("b1")));
      break;
    case Type::kBackupInstance:
    case Type::kVerifyBackup:
    case Type::kRestoreBackup:
    case Type::kPruneBackups:
      InstallAndStart();
      if (type != Type::kBackupInstance) {
        backup_data_["k0"] = Digest(Data());
        Run(Type::kBackupInstance, R"({"backupId": "k0"})");
      }
      break;
  }

  // Round 0 without a kill: the checks hold for a clean run, and its duration scales the delays.
  const auto clean = std::chrono::duration_cast<std::chrono::microseconds>(Round(0, std::nullopt));
  const int rounds = EnvInt("ORB_AGENT_CHAOS_ROUNDS", 2);
  for (int round = 1; round <= rounds && !HasFailure(); ++round) {
    if (type == Type::kStartInstance) Run(Type::kStopInstance, "{}");
    std::uniform_int_distribution<std::int64_t> delay(0, clean.count() * 6 / 5);
    Round(round, std::chrono::microseconds(delay(random_)));
  }
  if (type == Type::kVerifyBackup) {
    Run(Type::kPruneBackups, R"({"keepLast": 10})");
    CheckNoGarbage();
  }
  std::cout << fmt::format("{}: clean run {} ms; {} kills, {} inside a run\n", Name(type),
                           clean.count() / 1000, kills_, killed_inside_);
  RecordProperty("kills", kills_);
  RecordProperty("killed_inside_a_run", killed_inside_);
}

INSTANTIATE_TEST_SUITE_P(EveryType, AgentChaosTest,
                         ::testing::Values(Type::kInstallServer, Type::kUpdateServer,
                                           Type::kActivateBuild, Type::kStartInstance,
                                           Type::kStopInstance, Type::kRestartInstance,
                                           Type::kBackupInstance, Type::kVerifyBackup,
                                           Type::kRestoreBackup, Type::kPruneBackups,
                                           Type::kSyncMods),
                         [](const ::testing::TestParamInfo<Type>& param_info) {
                           std::string name;
                           for (const char c : Name(param_info.param))
                             if (c != '_') name += c;
                           return name;
                         });

}  // namespace
}  // namespace orb::testing
