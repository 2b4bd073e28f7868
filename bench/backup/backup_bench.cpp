// Runs BACKUP_INSTANCE and then VERIFY_BACKUP (level full) through the real handlers on
// <root>/instances/<instanceId>/data and prints one line per job: "<type> <seconds> <MB/s>", the
// rate over the data's file bytes. Used by run_backup_bench.sh; not a test.
//   backup_bench <root> <instanceId>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "jobs/backups/handlers.hpp"
#include "jobs/job_handler.hpp"
#include "os/fs.hpp"

namespace {

class NullSink final : public orb::jobs::RunSink {
 public:
  void Progress(std::optional<int> /*percent*/, std::string /*message*/,
                std::string /*step*/) override {}
  void LogLine(std::string_view /*level*/, std::string /*message*/) override {}
};

// Runs one job; its wall time in seconds, or a negative number after printing the error.
double RunJob(orb::jobs::JobHandler& handler, const std::filesystem::path& root,
              const std::string& instance_id, const std::string& payload, int n) {
  orb::protocol::JobExecution execution;
  execution.job_id = "bench-job-" + std::to_string(n);
  execution.run_id = "bench-run-" + std::to_string(n);
  execution.type = std::string(handler.type());
  execution.instance_id = instance_id;
  execution.payload_json = payload;
  orb::jobs::CancelToken token;
  NullSink sink;
  const auto staging = root / ".staging" / execution.run_id;
  std::filesystem::create_directories(staging);
  orb::jobs::HandlerContext context(
      execution, root, staging, token,
      orb::JobLog(orb::GetLogger("bench"), execution.job_id, execution.run_id), sink,
      orb::RealClock());
  const auto start = std::chrono::steady_clock::now();
  auto result = handler.Run(context);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::filesystem::remove_all(staging);
  if (!result) {
    std::fprintf(stderr, "%s failed: %s\n", execution.type.c_str(),
                 result.error().Describe().c_str());
    return -1;
  }
  return took.count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: backup_bench <root> <instanceId>\n");
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const std::string instance_id = argv[2];
  std::uintmax_t bytes = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(root / "instances" / instance_id / "data")) {
    if (entry.is_regular_file() && !entry.is_symlink()) bytes += entry.file_size();
  }
  const double mb = static_cast<double>(bytes) / 1e6;
  orb::os::RealFs fs;
  const orb::jobs::InstanceOptions options;
  auto backup = orb::jobs::MakeBackupInstanceHandler(fs, options);
  auto verify = orb::jobs::MakeVerifyBackupHandler(fs);
  const double backup_s = RunJob(*backup, root, instance_id, R"({"backupId": "bench"})", 1);
  if (backup_s < 0) return 1;
  std::printf("BACKUP_INSTANCE %.2f s %.1f MB/s\n", backup_s, mb / backup_s);
  const double verify_s =
      RunJob(*verify, root, instance_id, R"({"backupId": "bench", "level": "full"})", 2);
  if (verify_s < 0) return 1;
  std::printf("VERIFY_BACKUP %.2f s %.1f MB/s\n", verify_s, mb / verify_s);
  return 0;
}
