// BACKUP_INSTANCE, VERIFY_BACKUP, RESTORE_BACKUP, PRUNE_BACKUPS (jobs/backups) on real data trees
// in a TempDir root, with a real /bin/sh instance where a mode needs one, the standard tar and zstd
// tools as the judges of the archives, and faults injected at every filesystem call (failed, or
// the process killed there) followed by a retry of the job.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.hpp"
#include "common/sha256.hpp"
#include "common/time.hpp"
#include "jobs/archive.hpp"
#include "jobs/backups/backup_store.hpp"
#include "jobs/backups/handlers.hpp"
#include "jobs/instances/handlers.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"
#include "os/process.hpp"
#include "protocol/backup_json.hpp"
#include "protocol/instance_json.hpp"
#include "protocol/job_types.hpp"
#include "support/fault_fs.hpp"
#include "support/file_size_limit.hpp"
#include "support/killing_fs.hpp"
#include "support/manual_clock.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::jobs {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::FailsWith;
using testing::FileSizeLimit;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using Tree = std::map<std::string, std::string>;

// Prints a ready line; on "stop" appends to saves.log in its data dir (like a world save).
constexpr const char* kServer = R"sh(#!/bin/sh
echo "Done (0.1s)!"
while read -r line; do
  if [ "$line" = "stop" ]; then echo "saved by $ORB_RUN_ID" >> saves.log; exit 0; fi
done
exit 4
)sh";

constexpr const char* kConfig =
    R"({"config": {"serverId": "s1", "command": ["bin/start.sh"], "stopCommand": "stop", )"
    R"("stopTimeoutSeconds": 5, "readyPattern": "Done \\(", "readyTimeoutSeconds": 10}})";

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

int Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

// Every path under `root` (links not followed) with its type and content. `skip_marker` leaves
// out the restore marker.
Tree Snapshot(const fs::path& root, bool skip_marker = true) {
  Tree out;
  if (!fs::exists(root)) return out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const auto rel = fs::relative(it->path(), root).generic_string();
    if (skip_marker && rel == kRestoreMarkerName) continue;
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

// A data tree of `files` files of mixed sizes (up to `max_bytes`), in nested directories, plus a
// symlink inside the tree. Deterministic for a seed.
void MakeTree(const fs::path& root, unsigned seed, int files, std::size_t max_bytes) {
  std::mt19937 random(seed);
  for (int i = 0; i < files; ++i) {
    const std::size_t size = i == 0 ? 0 : random() % max_bytes;
    std::string content(size, '\0');
    for (auto& c : content)
      c = static_cast<char>('a' + random() % 16);  // compresses a little
    WriteText(root / ("region" + std::to_string(i % 4)) / ("r." + std::to_string(i) + ".mca"),
              content);
  }
  WriteText(root / "server.properties", "motd=seed " + std::to_string(seed) + "\n");
  fs::create_directories(root / "empty-dir");
  fs::create_symlink("region0", root / "latest-region");
}

class RecordingSink final : public RunSink {
 public:
  void Progress(std::optional<int> percent, std::string /*message*/, std::string step) override {
    std::function<void(const std::string&)> hook;
    {
      const std::lock_guard lock(mutex_);
      steps_.push_back(step);
      if (percent) percents_.push_back(*percent);
      hook = on_step_;
    }
    if (hook) hook(step);
  }
  void LogLine(std::string_view /*level*/, std::string message) override {
    const std::lock_guard lock(mutex_);
    lines_.push_back(std::move(message));
  }
  void OnStep(std::function<void(const std::string&)> hook) {
    const std::lock_guard lock(mutex_);
    on_step_ = std::move(hook);
  }
  std::vector<std::string> steps() const {
    const std::lock_guard lock(mutex_);
    return steps_;
  }
  std::vector<int> percents() const {
    const std::lock_guard lock(mutex_);
    return percents_;
  }
  void Clear() {
    const std::lock_guard lock(mutex_);
    steps_.clear();
    percents_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> steps_;
  std::vector<int> percents_;
  std::vector<std::string> lines_;
  std::function<void(const std::string&)> on_step_;
};

struct RunOptions {
  std::string job_id{};  // empty: a new job
  CancelToken* cancel = nullptr;
  os::Fs* fs = nullptr;                // nullptr: the real one
  bool keep_staging = false;           // do not clean up as the executor would
  HandlerContext::RunLiveness live{};  // what the executor says is live (none: unknown)
};

class BackupHandlersTest : public ::testing::Test {
 protected:
  BackupHandlersTest() {
    const fs::path build = root() / "servers/s1/builds/b1";
    WriteText(build / "bin/start.sh", kServer);
    fs::permissions(build / "bin/start.sh", fs::perms::owner_all);
    WriteText(build / ".build.json", R"({"buildId": "b1"})");
    fs::create_symlink("builds/b1", root() / "servers/s1/current");
    options_.settle_time = milliseconds(200);
    options_.term_timeout = milliseconds(500);
    options_.kill_timeout = milliseconds(3000);
  }

  ~BackupHandlersTest() override {
    for (const pid_t pid : pids_) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  fs::path root() const { return dir_.path(); }
  fs::path data() const { return root() / "instances/i1/data"; }
  fs::path backups() const { return root() / "backups/i1"; }

  std::unique_ptr<JobHandler> Handler(const std::string& type, os::Fs& fs) {
    if (type == "BACKUP_INSTANCE") return MakeBackupInstanceHandler(fs, options_);
    if (type == "VERIFY_BACKUP") return MakeVerifyBackupHandler(fs);
    if (type == "RESTORE_BACKUP") return MakeRestoreBackupHandler(fs, options_);
    if (type == "PRUNE_BACKUPS") return MakePruneBackupsHandler(fs);
    if (type == "START_INSTANCE") return MakeStartInstanceHandler(fs, options_);
    return MakeStopInstanceHandler(fs, options_);
  }

  // One run as the executor makes it: .staging/<runId> created before and removed after.
  Expected<std::string> Run(const std::string& type, const std::string& payload,
                            RunOptions options = {}) {
    protocol::JobExecution execution;
    ++runs_;
    execution.job_id = options.job_id.empty() ? "job-" + std::to_string(runs_) : options.job_id;
    execution.run_id = "run-" + std::to_string(runs_);
    execution.type = type;
    execution.instance_id = "i1";
    execution.payload_json = payload;
    CancelToken own_token;
    CancelToken& token = options.cancel != nullptr ? *options.cancel : own_token;
    const fs::path staging = root() / ".staging" / execution.run_id;
    fs::create_directories(staging);
    HandlerContext context(execution, root(), staging, token,
                           JobLog(GetLogger("test"), execution.job_id, execution.run_id), sink_,
                           clock_);
    if (options.live) context.SetRunLiveness(options.live);
    auto handler = Handler(type, options.fs != nullptr ? *options.fs : real_fs_);
    auto result = handler->Run(context);
    if (!options.keep_staging) fs::remove_all(staging);
    RememberPid();
    return result;
  }

  // The same run in a fork()ed child whose filesystem kills it at call `kill_at`: returns the
  // child's exit code (9: killed there, 0: finished first, 1: failed).
  int RunInChild(const std::string& type, const std::string& payload, const std::string& job_id,
                 int kill_at) {
    ++runs_;
    const std::string run_id = "run-" + std::to_string(runs_);
    const pid_t pid = ::fork();
    if (pid == 0) {
      testing::KillingFs killing(real_fs_, kill_at);
      protocol::JobExecution execution;
      execution.job_id = job_id;
      execution.run_id = run_id;
      execution.type = type;
      execution.instance_id = "i1";
      execution.payload_json = payload;
      CancelToken token;
      const fs::path staging = root() / ".staging" / run_id;
      std::error_code ec;
      fs::create_directories(staging, ec);
      HandlerContext context(execution, root(), staging, token,
                             JobLog(GetLogger("test"), job_id, run_id), sink_, clock_);
      auto result = Handler(type, killing)->Run(context);
      ::_exit(result ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    // The agent's start-up removes every staging directory (agent.cpp); here only an empty one
    // goes, so the retry's own garbage collection must find whatever the dead run wrote there.
    std::error_code ec;
    const fs::path staging = root() / ".staging" / run_id;
    if (fs::is_empty(staging, ec)) fs::remove(staging, ec);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  Expected<protocol::InstanceRuntime> Runtime() const {
    return protocol::ParseInstanceRuntime(ReadText(root() / "instances/i1/runtime.json"));
  }
  pid_t RunningPid() const {
    auto runtime = Runtime();
    return runtime && runtime->pid ? static_cast<pid_t>(*runtime->pid) : 0;
  }
  void RememberPid() {
    if (const pid_t pid = RunningPid(); pid > 0) pids_.push_back(pid);
  }
  static bool Alive(pid_t pid) {
    auto stat = os::ReadProcStat(pid);
    return pid > 0 && stat && stat->state != 'Z';
  }

  // Every archive in backups/i1 is committed and passes full verification, or has no manifest
  // (garbage). Returns the number of garbage archives; records a failure for a bad committed one.
  int CheckBackups() {
    int garbage = 0;
    if (!fs::exists(backups())) return 0;
    for (const auto& entry : fs::directory_iterator(backups())) {
      const std::string name = entry.path().filename().string();
      if (name.size() < 8 || name.substr(name.size() - 8) != ".tar.zst") continue;
      const std::string id = name.substr(0, name.size() - 8);
      const fs::path manifest_path = backups() / (id + ".manifest.json");
      if (!fs::exists(manifest_path)) {
        ++garbage;
        continue;
      }
      auto manifest = protocol::ParseBackupManifest(ReadText(manifest_path));
      EXPECT_THAT(manifest, IsOk()) << id;
      if (!manifest) continue;
      EXPECT_THAT(VerifyBackupArchive(entry.path(), ToArchiveManifest(*manifest)), IsOk()) << id;
    }
    // A manifest without its archive would be a committed backup that cannot be restored.
    for (const auto& entry : fs::directory_iterator(backups())) {
      const std::string name = entry.path().filename().string();
      const std::string suffix = ".manifest.json";
      if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
        const std::string id = name.substr(0, name.size() - suffix.size());
        EXPECT_TRUE(fs::exists(backups() / (id + ".tar.zst"))) << "manifest without archive " << id;
      }
    }
    return garbage;
  }

  // Leftovers of runs: staging directories, restore staging, temp files.
  std::vector<std::string> Leftovers() const {
    std::vector<std::string> out;
    if (fs::exists(root() / ".staging")) {
      for (const auto& entry : fs::directory_iterator(root() / ".staging")) {
        // An empty one is what a run killed before its first write leaves; the agent's start-up
        // removes those (agent.cpp), like every staging directory.
        if (fs::is_empty(entry.path())) continue;
        out.push_back(entry.path().lexically_relative(root()).string());
      }
    }
    for (const fs::path& dir : {root() / "instances/i1", backups()}) {
      if (!fs::exists(dir)) continue;
      for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(".restore-", 0) == 0 || name.find(".tmp-") != std::string::npos ||
            name.find(".exchange-") != std::string::npos) {
          out.push_back(entry.path().lexically_relative(root()).string());
        }
      }
    }
    return out;
  }

  int CountPreRestore() const {
    int n = 0;
    for (const auto& entry : fs::directory_iterator(root() / "instances/i1")) {
      if (entry.path().filename().string().rfind("data.pre-restore-", 0) == 0) ++n;
    }
    return n;
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  RecordingSink sink_;
  os::RealFs real_fs_;
  InstanceOptions options_;
  std::vector<pid_t> pids_;
  int runs_ = 0;
};

// ---------------------------------------------------------------- BACKUP_INSTANCE, VERIFY_BACKUP

TEST_F(BackupHandlersTest, BackupWritesAStandardArchiveThatVerifies) {
  MakeTree(data(), 1, 40, 160 << 10);  // about 3 MB
  const Tree before = Snapshot(data());

  auto result = Run("BACKUP_INSTANCE", R"({"backupId": "b1"})");
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(*result, HasSubstr(R"("backupId":"b1")"));
  EXPECT_THAT(*result, HasSubstr(R"("files":41)"));
  EXPECT_THAT(*result, HasSubstr(R"("changedDuringBackup":[])"));
  EXPECT_THAT(*result, Not(HasSubstr("alreadyExists")));
  const fs::path archive = backups() / "b1.tar.zst";
  ASSERT_TRUE(fs::exists(archive));
  auto manifest = protocol::ParseBackupManifest(ReadText(backups() / "b1.manifest.json"));
  ASSERT_THAT(manifest, IsOk());
  EXPECT_EQ(manifest->instance_id, "i1");
  EXPECT_EQ(manifest->created_at, clock_.WallNow());
  EXPECT_EQ(manifest->archive_bytes, fs::file_size(archive));
  EXPECT_EQ(*Sha256FileHex(archive), manifest->archive_sha256);
  EXPECT_THAT(*result, HasSubstr(R"("archiveSha256":")" + manifest->archive_sha256 + "\""));
  EXPECT_EQ(Snapshot(data()), before);  // a live backup does not touch the data
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
  // Progress went up by bytes through the archive step.
  const auto percents = sink_.percents();
  EXPECT_GT(percents.size(), 5u);
  EXPECT_TRUE(std::is_sorted(percents.begin(), percents.end()));
  EXPECT_EQ(percents.back(), 100);

  // The standard tools read it, and it holds exactly the data.
  EXPECT_EQ(Shell("zstd -q -t '" + archive.string() + "'"), 0);
  EXPECT_EQ(Shell("tar --zstd -tf '" + archive.string() + "'"), 0);
  const fs::path out = root() / "tar-out";
  fs::create_directories(out);
  ASSERT_EQ(Shell("tar --zstd -xf '" + archive.string() + "' -C '" + out.string() + "'"), 0);
  EXPECT_EQ(Snapshot(out), before);

  for (const char* level : {"full", "quick"}) {
    auto verified =
        Run("VERIFY_BACKUP", std::string(R"({"backupId": "b1", "level": ")") + level + "\"}");
    ASSERT_THAT(verified, IsOk()) << level;
    EXPECT_THAT(*verified, HasSubstr(R"("ok":true)"));
    auto record = protocol::ParseBackupVerify(ReadText(backups() / "b1.verify.json"));
    ASSERT_THAT(record, IsOk());
    EXPECT_TRUE(record->ok);
    EXPECT_EQ(protocol::ToString(record->level), level);
  }
}

TEST_F(BackupHandlersTest, RetryOfTheSameBackupJobFindsTheCommittedBackup) {
  MakeTree(data(), 2, 10, 20 << 10);
  auto first = Run("BACKUP_INSTANCE", "{}", {.job_id = "job-x"});
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(*first, HasSubstr(R"("backupId":"backup-job-x")"));
  WriteText(data() / "new-after-backup.txt", "x");

  auto retry = Run("BACKUP_INSTANCE", "{}", {.job_id = "job-x"});
  ASSERT_THAT(retry, IsOk());
  EXPECT_THAT(*retry, HasSubstr(R"("alreadyExists":true)"));
  EXPECT_THAT(*retry, HasSubstr(R"("backupId":"backup-job-x")"));
  int archives = 0;
  for (const auto& entry : fs::directory_iterator(backups())) {
    archives += entry.path().extension() == ".zst" ? 1 : 0;
  }
  EXPECT_EQ(archives, 1);
}

TEST_F(BackupHandlersTest, StoppedBackupStopsTheInstanceAndStartsItAgain) {
  MakeTree(data(), 3, 10, 20 << 10);
  ASSERT_THAT(Run("START_INSTANCE", kConfig), IsOk());
  const pid_t before = RunningPid();
  ASSERT_TRUE(Alive(before));

  auto result = Run("BACKUP_INSTANCE", R"({"backupId": "b1", "mode": "stopped"})");
  ASSERT_THAT(result, IsOk());
  const pid_t after = RunningPid();
  EXPECT_NE(after, before);
  EXPECT_FALSE(Alive(before));
  EXPECT_TRUE(Alive(after));
  // The save the stop triggered is in the backup: it was taken after the stop.
  auto manifest = protocol::ParseBackupManifest(ReadText(backups() / "b1.manifest.json"));
  ASSERT_THAT(manifest, IsOk());
  bool has_save = false;
  for (const auto& file : manifest->files)
    has_save = has_save || file.path == "saves.log";
  EXPECT_TRUE(has_save);
}

TEST_F(BackupHandlersTest, CancelAtEachSafePointOfABackupCommitsNothing) {
  MakeTree(data(), 4, 12, 40 << 10);
  ASSERT_THAT(Run("START_INSTANCE", kConfig), IsOk());
  for (const std::string mode : {"live", "stopped"}) {
    for (const std::string step : {"check", "stop", "archive", "commit"}) {
      if (step == "stop" && mode == "live") continue;
      SCOPED_TRACE(mode + " " + step);
      const Tree before = Snapshot(data());
      CancelToken token;
      sink_.OnStep([&](const std::string& at) {
        if (at == step) token.Cancel(CancelCause::kRequested, "operator");
      });
      auto result = Run("BACKUP_INSTANCE", R"({"backupId": "c1", "mode": ")" + mode + "\"}",
                        {.cancel = &token});
      sink_.OnStep(nullptr);
      ASSERT_THAT(result, FailsWith(Errc::kCancelled));
      EXPECT_FALSE(token.past_point_of_no_return());
      EXPECT_FALSE(fs::exists(backups() / "c1.manifest.json"));
      EXPECT_FALSE(fs::exists(backups() / "c1.tar.zst"));
      EXPECT_EQ(CheckBackups(), 0);
      EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
      EXPECT_TRUE(Alive(RunningPid()));  // stopped mode started it again
      if (mode == "live") {
        EXPECT_EQ(Snapshot(data()), before);
      }
    }
  }
}

TEST_F(BackupHandlersTest, VerifyFindsAFlippedByteAndRecordsIt) {
  MakeTree(data(), 5, 10, 64 << 10);
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "b1"})"), IsOk());
  const fs::path archive = backups() / "b1.tar.zst";
  {
    std::fstream file(archive, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(fs::file_size(archive) / 2));
    char c = 0;
    file.get(c);
    file.seekp(static_cast<std::streamoff>(fs::file_size(archive) / 2));
    file.put(static_cast<char>(c ^ 0x20));
  }
  for (const char* level : {"full", "quick"}) {
    auto verified =
        Run("VERIFY_BACKUP", std::string(R"({"backupId": "b1", "level": ")") + level + "\"}");
    ASSERT_THAT(verified, FailsWith(Errc::kBackupCorrupt)) << level;
    EXPECT_FALSE(verified.error().retryable);
    EXPECT_FALSE(verified.error().details.empty());
    auto record = protocol::ParseBackupVerify(ReadText(backups() / "b1.verify.json"));
    ASSERT_THAT(record, IsOk());
    EXPECT_FALSE(record->ok);
    EXPECT_FALSE(record->problems.empty());
  }
  const Tree before = Snapshot(data());
  EXPECT_THAT(Run("RESTORE_BACKUP", R"({"backupId": "b1"})"), FailsWith(Errc::kBackupCorrupt));
  EXPECT_EQ(Snapshot(data()), before);
}

// One hand-made archive entry.
struct Item {
  std::string name;
  unsigned type = AE_IFREG;
  std::string content{};
  std::string link{};
};

// Writes a pax tar.zst with libarchive (nothing checked) and a manifest that matches it, listing
// the entries of `listed` only; commits both as backup `id` of i1.
void PlantBackup(const fs::path& dir, const std::string& id, const std::vector<Item>& items,
                 const std::vector<std::string>& listed) {
  fs::create_directories(dir);
  const fs::path path = dir / (id + ".tar.zst");
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  protocol::BackupManifestRecord manifest;
  manifest.backup_id = id;
  manifest.instance_id = "i1";
  manifest.created_at = *ParseTimestamp("2026-11-20T10:00:00Z");
  for (const auto& item : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, item.name.c_str());
    archive_entry_set_filetype(e, item.type);
    archive_entry_set_perm(e, item.type == AE_IFLNK ? 0777 : item.type == AE_IFDIR ? 0755 : 0644);
    if (!item.link.empty()) archive_entry_set_symlink(e, item.link.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(item.content.size()));
    archive_entry_set_mtime(e, 1795000000, 0);
    ASSERT_GE(archive_write_header(a, e), ARCHIVE_WARN) << archive_error_string(a);
    if (!item.content.empty()) archive_write_data(a, item.content.data(), item.content.size());
    archive_entry_free(e);
    if (std::find(listed.begin(), listed.end(), item.name) == listed.end()) continue;
    protocol::BackupFileRecord file;
    file.path = item.name;
    file.type = item.type == AE_IFDIR   ? protocol::BackupEntryType::kDirectory
                : item.type == AE_IFLNK ? protocol::BackupEntryType::kSymlink
                                        : protocol::BackupEntryType::kFile;
    file.mode = item.type == AE_IFLNK ? 0777 : item.type == AE_IFDIR ? 0755 : 0644;
    file.mtime = 1795000000;
    if (item.type == AE_IFREG) {
      file.size = item.content.size();
      file.sha256 = Sha256Hex(item.content);
      manifest.bytes += file.size;
    }
    file.link_target = item.link;
    manifest.files.push_back(file);
  }
  archive_write_close(a);
  archive_write_free(a);
  manifest.archive_bytes = fs::file_size(path);
  manifest.archive_sha256 = *Sha256FileHex(path);
  WriteText(dir / (id + ".manifest.json"), protocol::BackupManifestJson(manifest));
}

TEST_F(BackupHandlersTest, TamperedArchivesAreRefusedByVerifyAndRestoreWithNothingChanged) {
  MakeTree(data(), 6, 6, 8 << 10);
  WriteText(root() / "outside/target.txt", "precious");
  ASSERT_THAT(Run("START_INSTANCE", kConfig), IsOk());
  const pid_t pid = RunningPid();
  const std::vector<Item> good = {{"world", AE_IFDIR}, {"world/level.dat", AE_IFREG, "level"}};
  const std::vector<std::string> listed = {"world", "world/level.dat", "escape"};
  PlantBackup(backups(), "dots",
              {good[0], good[1], {"../../../outside/target.txt", AE_IFREG, "pwned"}}, listed);
  PlantBackup(backups(), "absolute",
              {good[0], good[1], {(root() / "outside/target.txt").string(), AE_IFREG, "pwned"}},
              listed);
  PlantBackup(backups(), "link", {good[0], good[1], {"escape", AE_IFLNK, "", "../../../outside"}},
              listed);
  ASSERT_THAT(Run("VERIFY_BACKUP", R"({"backupId": "dots"})"), FailsWith(Errc::kBackupCorrupt));

  const Tree before_data = Snapshot(data());
  const Tree before_root = Snapshot(root() / "outside");
  for (const std::string id : {"dots", "absolute", "link"}) {
    SCOPED_TRACE(id);
    auto verified = Run("VERIFY_BACKUP", R"({"backupId": ")" + id + "\"}");
    ASSERT_THAT(verified, FailsWith(Errc::kBackupCorrupt));
    auto restored = Run("RESTORE_BACKUP", R"({"backupId": ")" + id + "\"}");
    ASSERT_THAT(restored, FailsWith(Errc::kBackupCorrupt));
    EXPECT_FALSE(restored.error().retryable);
    EXPECT_EQ(Snapshot(data()), before_data);
    EXPECT_EQ(Snapshot(root() / "outside"), before_root);
    EXPECT_EQ(RunningPid(), pid);  // never stopped
    EXPECT_TRUE(Alive(pid));
    EXPECT_EQ(CountPreRestore(), 0);
    EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
  }
}

// ---------------------------------------------------------------- RESTORE_BACKUP

TEST_F(BackupHandlersTest, RestoreSwapsTheDataInKeepsTheOldAndStartsAgain) {
  MakeTree(data(), 7, 30, 100 << 10);
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "b1"})"), IsOk());
  const Tree backed_up = Snapshot(data());
  fs::remove(data() / "server.properties");
  WriteText(data() / "region1/r.1.mca", "overwritten");
  WriteText(data() / "griefed.txt", "oops");
  ASSERT_THAT(Run("START_INSTANCE", kConfig), IsOk());
  const pid_t before = RunningPid();

  auto restored = Run("RESTORE_BACKUP", R"({"backupId": "b1"})", {.job_id = "job-restore"});
  ASSERT_THAT(restored, IsOk());
  const std::string run_id = "run-" + std::to_string(runs_);
  EXPECT_THAT(*restored, HasSubstr(R"("restoredFiles":31)"));
  EXPECT_THAT(*restored, HasSubstr(R"("previousDataKeptAs":"data.pre-restore-)" + run_id + "\""));
  EXPECT_THAT(*restored, HasSubstr(R"("started":true)"));
  EXPECT_EQ(Snapshot(data()), backed_up);
  const Tree old = Snapshot(root() / "instances/i1" / ("data.pre-restore-" + run_id));
  EXPECT_EQ(old.at("griefed.txt"), "file:oops");
  EXPECT_THAT(old.at("saves.log"), HasSubstr("saved"));  // the stop saved into the old data
  EXPECT_FALSE(Alive(before));
  EXPECT_TRUE(Alive(RunningPid()));
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
  auto marker = protocol::ParseRestoreMarker(ReadText(data() / std::string(kRestoreMarkerName)));
  ASSERT_THAT(marker, IsOk());
  EXPECT_EQ(marker->job_id, "job-restore");
  EXPECT_TRUE(marker->was_running);

  // A retry of the same job finds its swap done and does not restore again.
  WriteText(data() / "written-after-restore.txt", "keep me");
  const pid_t running = RunningPid();
  auto retry = Run("RESTORE_BACKUP", R"({"backupId": "b1"})", {.job_id = "job-restore"});
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(*retry, *restored);
  EXPECT_EQ(ReadText(data() / "written-after-restore.txt"), "keep me");
  EXPECT_EQ(RunningPid(), running);
  EXPECT_EQ(CountPreRestore(), 1);
}

// File names are bytes. With a name that is not UTF-8 (Latin-1 "Zürich", a lone 0xFF), the
// manifest used to hold U+FFFD in its place, and no backup of that instance could ever verify.
TEST_F(BackupHandlersTest, NamesThatAreNotUtf8AreBackedUpVerifiedAndRestored) {
  MakeTree(data(), 3, 4, 4 << 10);
  WriteText(data() / "Z\xfcrich.txt", "a Latin-1 name");
  fs::create_symlink("Z\xfcrich.txt", data() / "link\xff");
  const Tree backed_up = Snapshot(data());
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "b1"})"), IsOk());
  auto verified = Run("VERIFY_BACKUP", R"({"backupId": "b1", "level": "full"})");
  ASSERT_THAT(verified, IsOk());
  EXPECT_THAT(*verified, HasSubstr(R"("ok":true)"));

  fs::remove(data() / "Z\xfcrich.txt");
  fs::remove(data() / "link\xff");
  ASSERT_THAT(Run("RESTORE_BACKUP", R"({"backupId": "b1"})"), IsOk());
  EXPECT_EQ(Snapshot(data()), backed_up);
}

TEST_F(BackupHandlersTest, RestoreStartsAgainAsStartAfterSays) {
  MakeTree(data(), 8, 4, 4 << 10);
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "b1"})"), IsOk());

  // Not running, startAfter null: stays stopped.
  auto restored = Run("RESTORE_BACKUP", R"({"backupId": "b1"})");
  ASSERT_THAT(restored, IsOk());
  EXPECT_THAT(*restored, HasSubstr(R"("started":false)"));
  EXPECT_EQ(RunningPid(), 0);

  // startAfter true starts it; no config would fail, so give it one first.
  ASSERT_THAT(Run("START_INSTANCE", kConfig), IsOk());
  ASSERT_THAT(Run("STOP_INSTANCE", "{}"), IsOk());
  restored = Run("RESTORE_BACKUP", R"({"backupId": "b1", "startAfter": true})");
  ASSERT_THAT(restored, IsOk());
  EXPECT_THAT(*restored, HasSubstr(R"("started":true)"));
  const pid_t running = RunningPid();
  EXPECT_TRUE(Alive(running));

  // Running, startAfter false: stopped and left stopped.
  restored = Run("RESTORE_BACKUP", R"({"backupId": "b1", "startAfter": false})");
  ASSERT_THAT(restored, IsOk());
  EXPECT_THAT(*restored, HasSubstr(R"("started":false)"));
  EXPECT_FALSE(Alive(running));
  EXPECT_EQ(RunningPid(), 0);
  EXPECT_EQ(CountPreRestore(), 3);
}

TEST_F(BackupHandlersTest, CancelAtEachSafePointOfARestoreLeavesDataAndInstanceAsBefore) {
  MakeTree(data(), 9, 12, 40 << 10);
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "b1"})"), IsOk());
  WriteText(data() / "changed.txt", "after the backup");
  ASSERT_THAT(Run("START_INSTANCE", kConfig), IsOk());
  for (const std::string step : {"check", "verify", "extract", "stop", "swap"}) {
    SCOPED_TRACE(step);
    const Tree before = Snapshot(data());
    CancelToken token;
    sink_.OnStep([&](const std::string& at) {
      if (at == step) token.Cancel(CancelCause::kRequested, "operator");
    });
    auto result = Run("RESTORE_BACKUP", R"({"backupId": "b1"})", {.cancel = &token});
    sink_.OnStep(nullptr);
    if (step == "swap") {
      // The swap is past the point of no return: the cancel is ignored, the restore finishes.
      ASSERT_THAT(result, IsOk());
      EXPECT_TRUE(token.cancel_ignored());
      EXPECT_FALSE(fs::exists(data() / "changed.txt"));
    } else {
      ASSERT_THAT(result, FailsWith(Errc::kCancelled));
      EXPECT_FALSE(token.past_point_of_no_return());
      Tree now = Snapshot(data());
      if (step == "stop") {  // the stop saved; everything else is as before
        EXPECT_THAT(now["saves.log"], HasSubstr("saved"));
        now.erase("saves.log");
        Tree was = before;
        was.erase("saves.log");
        EXPECT_EQ(now, was);
      } else {
        EXPECT_EQ(now, before);
      }
      EXPECT_EQ(CountPreRestore(), 0);
    }
    EXPECT_TRUE(Alive(RunningPid()));
    EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
  }
}

// ---------------------------------------------------------------- PRUNE_BACKUPS

std::vector<CommittedBackup> At(const std::vector<std::pair<std::string, std::string>>& items) {
  std::vector<CommittedBackup> out;
  for (const auto& [id, time] : items)
    out.push_back({id, *ParseTimestamp(time)});
  return out;
}

TEST(PrunePlanTest, FollowsResticForgetWithReasons) {
  const auto backups = At({{"a", "2026-11-20T23:00:00Z"},
                           {"b", "2026-11-20T10:00:00Z"},
                           {"c", "2026-11-19T10:00:00Z"},
                           {"d", "2026-11-18T10:00:00Z"},
                           {"e", "2026-11-10T10:00:00Z"},
                           {"f", "2026-10-01T10:00:00Z"},
                           {"g", "2025-06-01T10:00:00Z"}});
  protocol::PruneBackupsPayload policy;
  policy.keep_last = 1;
  policy.keep_daily = 3;
  policy.keep_monthly = 2;
  const PrunePlan plan = PlanPrune(backups, policy);
  ASSERT_EQ(plan.kept.size(), 4u);
  EXPECT_EQ(plan.kept[0],
            (protocol::PruneKept{"a", {"last 1", "daily 2026-11-20", "monthly 2026-11"}}));
  EXPECT_EQ(plan.kept[1], (protocol::PruneKept{"c", {"daily 2026-11-19"}}));
  EXPECT_EQ(plan.kept[2], (protocol::PruneKept{"d", {"daily 2026-11-18"}}));
  EXPECT_EQ(plan.kept[3], (protocol::PruneKept{"f", {"monthly 2026-10"}}));
  EXPECT_EQ(plan.removed, (std::vector<std::string>{"g", "e", "b"}));  // oldest first
}

TEST(PrunePlanTest, WeeklyHourlyAndYearlyBucketsAndTheNewestAlwaysKept) {
  const auto backups = At({{"sun", "2026-11-22T10:00:00Z"},      // ISO week 47
                           {"mon", "2026-11-16T10:30:00Z"},      // week 47
                           {"prev", "2026-11-15T10:00:00Z"},     // week 46
                           {"y2021", "2021-01-01T10:00:00Z"}});  // ISO week 2020-W53
  protocol::PruneBackupsPayload policy;
  policy.keep_weekly = 3;
  PrunePlan plan = PlanPrune(backups, policy);
  ASSERT_EQ(plan.kept.size(), 3u);
  EXPECT_EQ(plan.kept[0].reasons, (std::vector<std::string>{"weekly 2026-W47"}));
  EXPECT_EQ(plan.kept[1].reasons, (std::vector<std::string>{"weekly 2026-W46"}));
  EXPECT_EQ(plan.kept[2].reasons, (std::vector<std::string>{"weekly 2020-W53"}));
  EXPECT_EQ(plan.removed, (std::vector<std::string>{"mon"}));

  policy = {};
  policy.keep_hourly = 2;
  plan = PlanPrune(backups, policy);
  EXPECT_EQ(plan.kept[0].reasons, (std::vector<std::string>{"hourly 2026-11-22T10"}));
  EXPECT_EQ(plan.kept[1].reasons, (std::vector<std::string>{"hourly 2026-11-16T10"}));

  policy = {};
  policy.keep_yearly = 5;
  plan = PlanPrune(backups, policy);
  ASSERT_EQ(plan.kept.size(), 2u);
  EXPECT_EQ(plan.kept[1].reasons, (std::vector<std::string>{"yearly 2021"}));

  EXPECT_TRUE(PlanPrune({}, policy).kept.empty());
}

class PruneTest : public BackupHandlersTest {
 protected:
  // Four committed backups a day apart (d1 oldest), of a small tree.
  void MakeFour() {
    MakeTree(data(), 10, 4, 4 << 10);
    for (int day = 1; day <= 4; ++day) {
      clock_.SetWall(*ParseTimestamp("2026-11-1" + std::to_string(day) + "T12:00:00Z"));
      ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "d)" + std::to_string(day) + "\"}"),
                  IsOk());
    }
  }
  bool Committed(const std::string& id) const {
    return fs::exists(backups() / (id + ".manifest.json"));
  }
};

TEST_F(PruneTest, DryRunChangesNothingAndTheRealRunRemovesBackupsAndGarbage) {
  MakeFour();
  // Garbage of dead runs: an archive without a manifest, a backup's staging, a restore's staging.
  WriteText(backups() / "ghost.tar.zst", "half written");
  WriteText(root() / ".staging/run-dead/.backup-of-i1", "");
  WriteText(root() / ".staging/run-dead/x.tar.zst", "partial");
  WriteText(root() / ".staging/run-other/.backup-of-i2", "");  // another instance's: not ours
  WriteText(root() / "instances/i1/.restore-run-dead/file", "staged");
  const std::string policy = R"({"keepLast": 2)";
  const Tree data_before = Snapshot(data());

  auto dry = Run("PRUNE_BACKUPS", policy + R"(, "dryRun": true})");
  ASSERT_THAT(dry, IsOk());
  EXPECT_THAT(*dry, HasSubstr(R"("removed":["d1","d2"])"));
  EXPECT_THAT(*dry, HasSubstr(R"("dryRun":true)"));
  EXPECT_THAT(*dry, HasSubstr("backups/i1/ghost.tar.zst"));
  for (const char* id : {"d1", "d2", "d3", "d4"})
    EXPECT_TRUE(Committed(id)) << id;
  EXPECT_TRUE(fs::exists(backups() / "ghost.tar.zst"));
  EXPECT_TRUE(fs::exists(root() / ".staging/run-dead"));

  auto pruned = Run("PRUNE_BACKUPS", policy + "}");
  ASSERT_THAT(pruned, IsOk());
  EXPECT_THAT(*pruned, HasSubstr(R"({"backupId":"d4","reasons":["last 2"]})"));
  EXPECT_THAT(*pruned, HasSubstr(R"({"backupId":"d3","reasons":["last 2"]})"));
  EXPECT_THAT(*pruned, HasSubstr(R"("removed":["d1","d2"])"));
  EXPECT_FALSE(Committed("d1"));
  EXPECT_FALSE(fs::exists(backups() / "d1.tar.zst"));
  EXPECT_FALSE(fs::exists(backups() / "d2.tar.zst"));
  EXPECT_TRUE(Committed("d3"));
  EXPECT_TRUE(Committed("d4"));
  EXPECT_EQ(CheckBackups(), 0);
  EXPECT_FALSE(fs::exists(backups() / "ghost.tar.zst"));
  EXPECT_FALSE(fs::exists(root() / ".staging/run-dead"));
  EXPECT_TRUE(fs::exists(root() / ".staging/run-other"));
  EXPECT_FALSE(fs::exists(root() / "instances/i1/.restore-run-dead"));
  EXPECT_EQ(Snapshot(data()), data_before);  // the data is never touched

  // The newest survives any policy, and an empty one is refused.
  ASSERT_THAT(Run("PRUNE_BACKUPS", R"({"keepYearly": 1})"), IsOk());
  EXPECT_TRUE(Committed("d4"));
  EXPECT_FALSE(Committed("d3"));
  EXPECT_THAT(Run("PRUNE_BACKUPS", R"({"keepLast": 0})"), FailsWith(Errc::kInvalidPayload));
  EXPECT_TRUE(Committed("d4"));
}

TEST_F(PruneTest, TheStagingOfEveryDeadRunIsGarbageWhenTheAgentSaysWhichRunsAreLive) {
  MakeFour();
  // Left by runs of other types and other instances that died (an INSTALL's half-extracted build,
  // another instance's backup, a stray file), next to the staging of a run that is still going.
  WriteText(root() / ".staging/run-dead-install/build/bin/server", "half");
  WriteText(root() / ".staging/run-dead-other/.backup-of-i2", "");
  WriteText(root() / ".staging/stray", "x");
  WriteText(root() / ".staging/run-live-install/build/bin/server", "in use");
  RunOptions options;
  options.live = [](const std::string& run_id) { return run_id == "run-live-install"; };

  auto dry = Run("PRUNE_BACKUPS", R"({"keepLast": 4, "dryRun": true})", options);
  ASSERT_THAT(dry, IsOk());
  for (const char* garbage :
       {".staging/run-dead-install", ".staging/run-dead-other", ".staging/stray"}) {
    EXPECT_THAT(*dry, HasSubstr(garbage));
    EXPECT_TRUE(fs::exists(root() / garbage)) << garbage;
  }
  auto pruned = Run("PRUNE_BACKUPS", R"({"keepLast": 4})", options);
  ASSERT_THAT(pruned, IsOk());
  EXPECT_FALSE(fs::exists(root() / ".staging/run-dead-install"));
  EXPECT_FALSE(fs::exists(root() / ".staging/run-dead-other"));
  EXPECT_FALSE(fs::exists(root() / ".staging/stray"));
  EXPECT_EQ(ReadText(root() / ".staging/run-live-install/build/bin/server"), "in use");
  for (const char* id : {"d1", "d2", "d3", "d4"})
    EXPECT_TRUE(Committed(id)) << id;
}

// ---------------------------------------------------------------- faults at every Fs call

// The state of one instance's data and backups, copied aside and put back between iterations.
void CopyTree(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::create_directories(to.parent_path());
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

TEST_F(BackupHandlersTest, BackupFailingAtEveryFsCallIsAsBeforeOrCommittedAfterARetry) {
  MakeTree(data(), 11, 8, 16 << 10);
  const Tree before = Snapshot(data());
  testing::FaultyFs faulty(real_fs_);
  int n = 1;
  for (; n < 500; ++n) {
    SCOPED_TRACE("fail call " + std::to_string(n));
    const std::string job = "job-fb-" + std::to_string(n);
    faulty.FailNth(n, ENOSPC);
    auto result = Run("BACKUP_INSTANCE", "{}", {.job_id = job, .fs = &faulty});
    if (!faulty.fault_hit()) {
      ASSERT_THAT(result, IsOk());
      break;
    }
    // A fault in housekeeping (garbage collection) is only logged: such a run succeeds.
    CheckBackups();  // committed ones verify; others are garbage
    EXPECT_EQ(Snapshot(data()), before);
    if (!result) {
      auto retry = Run("BACKUP_INSTANCE", "{}", {.job_id = job});
      ASSERT_THAT(retry, IsOk());
    }
    EXPECT_EQ(CheckBackups(), 0);
    EXPECT_TRUE(fs::exists(backups() / ("backup-" + job + ".manifest.json")));
    EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
    fs::remove_all(backups());
  }
  EXPECT_GT(n, 10);  // the loop did reach the interesting calls
}

TEST_F(BackupHandlersTest, RestoreFailingAtEveryFsCallIsAsBeforeOrAsAskedAfterARetry) {
  MakeTree(data(), 12, 6, 8 << 10);
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "b1"})"), IsOk());
  const Tree restored = Snapshot(data());
  WriteText(data() / "changed.txt", "after the backup");
  fs::remove(data() / "server.properties");
  const Tree changed = Snapshot(data());
  const fs::path pristine = root() / "pristine-data";
  CopyTree(data(), pristine);
  testing::FaultyFs faulty(real_fs_);
  int n = 1;
  for (; n < 2000; ++n) {
    SCOPED_TRACE("fail call " + std::to_string(n));
    const std::string job = "job-fr-" + std::to_string(n);
    faulty.FailNth(n, EIO);
    auto result = Run("RESTORE_BACKUP", R"({"backupId": "b1"})", {.job_id = job, .fs = &faulty});
    if (!faulty.fault_hit()) {
      ASSERT_THAT(result, IsOk());
      EXPECT_EQ(Snapshot(data()), restored);
      break;
    }
    const Tree now = Snapshot(data());
    EXPECT_TRUE(now == changed || now == restored);
    EXPECT_EQ(CheckBackups(), 0);
    if (!result) {
      auto retry = Run("RESTORE_BACKUP", R"({"backupId": "b1"})", {.job_id = job});
      ASSERT_THAT(retry, IsOk());
    }
    EXPECT_EQ(Snapshot(data()), restored);
    EXPECT_EQ(CountPreRestore(), 1);
    EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
    // Back to the changed data for the next iteration.
    for (const auto& entry : fs::directory_iterator(root() / "instances/i1")) {
      if (entry.path().filename().string().rfind("data", 0) == 0) fs::remove_all(entry.path());
    }
    CopyTree(pristine, data());
  }
  EXPECT_GT(n, 20);
}

TEST_F(PruneTest, PruneFailingAtEveryFsCallLeavesOnlyCommittedBackupsOrGarbage) {
  MakeFour();
  const fs::path pristine = root() / "pristine-backups";
  CopyTree(backups(), pristine);
  testing::FaultyFs faulty(real_fs_);
  int n = 1;
  for (; n < 500; ++n) {
    SCOPED_TRACE("fail call " + std::to_string(n));
    const std::string job = "job-fp-" + std::to_string(n);
    faulty.FailNth(n, EIO);
    auto result = Run("PRUNE_BACKUPS", R"({"keepLast": 1})", {.job_id = job, .fs = &faulty});
    if (!faulty.fault_hit()) {
      ASSERT_THAT(result, IsOk());
      break;
    }
    CheckBackups();
    EXPECT_TRUE(Committed("d4"));
    if (!result) {
      ASSERT_THAT(Run("PRUNE_BACKUPS", R"({"keepLast": 1})", {.job_id = job}), IsOk());
    }
    EXPECT_EQ(CheckBackups(), 0);
    for (const char* id : {"d1", "d2", "d3"})
      EXPECT_FALSE(Committed(id)) << id;
    EXPECT_TRUE(Committed("d4"));
    CopyTree(pristine, backups());
  }
  EXPECT_GT(n, 10);
}

// ---------------------------------------------------------------- a disk that fills up mid-write

TEST_F(BackupHandlersTest, BackupWhoseArchiveFillsTheDiskCommitsNothingAndTheRetryCompletes) {
  MakeTree(data(), 21, 12, 1 << 20);  // ~6 MB, ~3 MB compressed
  const Tree before = Snapshot(data());
  Expected<std::string> result = Fail(Errc::kInternal, "not run");
  {
    const FileSizeLimit full(512 << 10);
    result = Run("BACKUP_INSTANCE", R"({"backupId": "big"})");
  }
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("too large"));  // EFBIG's text
  EXPECT_EQ(Snapshot(data()), before);
  EXPECT_FALSE(fs::exists(backups() / "big.manifest.json"));
  EXPECT_LE(CheckBackups(), 1);  // at most the partial archive, uncommitted

  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "big"})"), IsOk());
  EXPECT_EQ(CheckBackups(), 0);  // the partial archive is gone, the new one verifies
  EXPECT_TRUE(fs::exists(backups() / "big.manifest.json"));
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

TEST_F(BackupHandlersTest, RestoreWhoseExtractionFillsTheDiskLeavesTheDataAndTheRetryRestores) {
  MakeTree(data(), 22, 6, 2 << 20);
  WriteText(data() / "world.dat", std::string(1 << 20, 'w'));  // 1 MiB: over the limit below
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "b1"})"), IsOk());
  const Tree restored = Snapshot(data());
  WriteText(data() / "changed.txt", "after the backup");
  fs::remove(data() / "world.dat");
  const Tree changed = Snapshot(data());

  Expected<std::string> result = Fail(Errc::kInternal, "not run");
  {
    const FileSizeLimit full(512 << 10);
    result = Run("RESTORE_BACKUP", R"({"backupId": "b1"})");
  }
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("too large")) << result.error().message;
  EXPECT_EQ(Snapshot(data()), changed);  // verified, then staged: the data was never touched
  EXPECT_EQ(CountPreRestore(), 0);
  EXPECT_EQ(CheckBackups(), 0);

  ASSERT_THAT(Run("RESTORE_BACKUP", R"({"backupId": "b1"})"), IsOk());
  EXPECT_EQ(Snapshot(data()), restored);
  EXPECT_EQ(CountPreRestore(), 1);
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

// ---------------------------------------------------------------- killed at every Fs call

TEST_F(BackupHandlersTest, BackupKilledAtEveryFsCallIsCompletedByTheRetry) {
  MakeTree(data(), 13, 6, 16 << 10);
  const Tree before = Snapshot(data());
  int n = 1;
  for (; n < 500; ++n) {
    SCOPED_TRACE("killed at call " + std::to_string(n));
    const std::string job = "job-kb-" + std::to_string(n);
    const int exit_code = RunInChild("BACKUP_INSTANCE", "{}", job, n);
    if (exit_code == 0) break;
    ASSERT_EQ(exit_code, 9);
    CheckBackups();
    EXPECT_EQ(Snapshot(data()), before);
    ASSERT_THAT(Run("BACKUP_INSTANCE", "{}", {.job_id = job}), IsOk());
    EXPECT_EQ(CheckBackups(), 0);
    EXPECT_TRUE(fs::exists(backups() / ("backup-" + job + ".manifest.json")));
    EXPECT_THAT(Leftovers(), ::testing::IsEmpty());  // the dead run's staging is gone
    fs::remove_all(backups());
  }
  EXPECT_GT(n, 10);
}

TEST_F(BackupHandlersTest, RestoreKilledAtEveryFsCallIsFinishedByTheRetry) {
  MakeTree(data(), 14, 5, 8 << 10);
  ASSERT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "b1"})"), IsOk());
  const Tree restored = Snapshot(data());
  WriteText(data() / "changed.txt", "after the backup");
  const Tree changed = Snapshot(data());
  const fs::path pristine = root() / "pristine-data";
  CopyTree(data(), pristine);
  int n = 1;
  for (; n < 2000; ++n) {
    SCOPED_TRACE("killed at call " + std::to_string(n));
    const std::string job = "job-kr-" + std::to_string(n);
    const int exit_code = RunInChild("RESTORE_BACKUP", R"({"backupId": "b1"})", job, n);
    if (exit_code == 0) {
      EXPECT_EQ(Snapshot(data()), restored);
      break;
    }
    ASSERT_EQ(exit_code, 9);
    const Tree now = Snapshot(data());
    EXPECT_TRUE(now == changed || now == restored);
    ASSERT_THAT(Run("RESTORE_BACKUP", R"({"backupId": "b1"})", {.job_id = job}), IsOk());
    EXPECT_EQ(Snapshot(data()), restored);
    EXPECT_EQ(CountPreRestore(), 1);
    EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
    for (const auto& entry : fs::directory_iterator(root() / "instances/i1")) {
      if (entry.path().filename().string().rfind("data", 0) == 0) fs::remove_all(entry.path());
    }
    CopyTree(pristine, data());
  }
  EXPECT_GT(n, 20);
}

TEST_F(PruneTest, PruneKilledAtEveryFsCallIsCompletedByTheRetry) {
  MakeFour();
  const fs::path pristine = root() / "pristine-backups";
  CopyTree(backups(), pristine);
  int n = 1;
  for (; n < 500; ++n) {
    SCOPED_TRACE("killed at call " + std::to_string(n));
    const std::string job = "job-kp-" + std::to_string(n);
    const int exit_code = RunInChild("PRUNE_BACKUPS", R"({"keepLast": 1})", job, n);
    if (exit_code == 0) break;
    ASSERT_EQ(exit_code, 9);
    CheckBackups();
    EXPECT_TRUE(Committed("d4"));
    ASSERT_THAT(Run("PRUNE_BACKUPS", R"({"keepLast": 1})", {.job_id = job}), IsOk());
    EXPECT_EQ(CheckBackups(), 0);
    for (const char* id : {"d1", "d2", "d3"})
      EXPECT_FALSE(Committed(id)) << id;
    CopyTree(pristine, backups());
  }
  EXPECT_GT(n, 10);
}

// ---------------------------------------------------------------- payloads, registry

TEST_F(BackupHandlersTest, BadPayloadsAndMissingBackupsAreClearErrors) {
  EXPECT_THAT(Run("BACKUP_INSTANCE", R"({"mode": "paused"})"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(Run("VERIFY_BACKUP", "{}"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(Run("PRUNE_BACKUPS", R"({"keepDaily": 0})"), FailsWith(Errc::kInvalidPayload));
  EXPECT_THAT(Run("RESTORE_BACKUP", "not json"), FailsWith(Errc::kInvalidPayload));
  // No data directory to back up; no such backup.
  EXPECT_THAT(Run("BACKUP_INSTANCE", R"({"backupId": "b1"})"), FailsWith(Errc::kNotFound));
  EXPECT_THAT(Run("VERIFY_BACKUP", R"({"backupId": "nope"})"), FailsWith(Errc::kNotFound));
  EXPECT_THAT(Run("RESTORE_BACKUP", R"({"backupId": "nope"})"), FailsWith(Errc::kNotFound));
  // A damaged manifest is a corrupt backup.
  WriteText(backups() / "bad.manifest.json", "{\"backupId\": 3}");
  WriteText(backups() / "bad.tar.zst", "x");
  auto verified = Run("VERIFY_BACKUP", R"({"backupId": "bad"})");
  ASSERT_THAT(verified, FailsWith(Errc::kBackupCorrupt));
  EXPECT_FALSE(verified.error().retryable);
  EXPECT_THAT(Leftovers(), ::testing::IsEmpty());
}

TEST(BackupRegistryTest, ShipsTheFourBackupHandlersUnderRegisteredTypes) {
  std::vector<std::string> types;
  for (const auto& handler : MakeHandlers(HandlerDeps{})) {
    EXPECT_NE(protocol::FindJobType(handler->type()), nullptr) << handler->type();
    types.emplace_back(handler->type());
  }
  for (const char* type : {"BACKUP_INSTANCE", "VERIFY_BACKUP", "RESTORE_BACKUP", "PRUNE_BACKUPS"}) {
    EXPECT_THAT(types, ::testing::Contains(type));
  }
}

}  // namespace
}  // namespace orb::jobs
