#pragma once

#include <memory>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <spdlog/logger.h>

namespace orb {

// Logger for everything about one run: every line starts with "jobId=… runId=…" so a job's story
// can be found by either id. Cheap to copy; thread-safe like spdlog::logger.
//   JobLog log(GetLogger("agent"), job_id, run_id);
//   log.Info("extracted {} files", n);   // format string checked at compile time
class JobLog {
 public:
  JobLog(std::shared_ptr<spdlog::logger> logger, std::string job_id, std::string run_id)
      : logger_(std::move(logger)),
        prefix_("jobId=" + job_id + " runId=" + (run_id.empty() ? "-" : run_id) + " "),
        job_id_(std::move(job_id)),
        run_id_(std::move(run_id)) {}

  template <class... Args>
  void Debug(fmt::format_string<Args...> format, Args&&... args) const {
    Log(spdlog::level::debug, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  void Info(fmt::format_string<Args...> format, Args&&... args) const {
    Log(spdlog::level::info, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  void Warn(fmt::format_string<Args...> format, Args&&... args) const {
    Log(spdlog::level::warn, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  void Error(fmt::format_string<Args...> format, Args&&... args) const {
    Log(spdlog::level::err, format, std::forward<Args>(args)...);
  }

  const std::string& job_id() const { return job_id_; }
  const std::string& run_id() const { return run_id_; }
  const std::string& prefix() const { return prefix_; }

 private:
  template <class... Args>
  void Log(spdlog::level::level_enum level, fmt::format_string<Args...> format,
           Args&&... args) const {
    if (!logger_->should_log(level)) return;
    logger_->log(level, "{}{}", prefix_, fmt::format(format, std::forward<Args>(args)...));
  }

  std::shared_ptr<spdlog::logger> logger_;
  std::string prefix_;
  std::string job_id_;
  std::string run_id_;
};

}  // namespace orb
