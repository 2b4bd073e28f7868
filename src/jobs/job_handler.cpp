#include "jobs/job_handler.hpp"

#include <algorithm>

namespace orb::jobs {

void HandlerContext::Progress(std::optional<int> percent, std::string message, std::string step) {
  if (percent) {
    const int scaled = progress_first_ + (progress_last_ - progress_first_) * *percent / 100;
    percent = std::clamp(scaled, 0, 100);
  }
  sink_.Progress(percent, std::move(message), std::move(step));
}

int BytePercent(std::uint64_t done, std::uint64_t total, int first, int last) {
  if (total == 0) return last;
  const std::uint64_t capped = std::min(done, total);
  return first + static_cast<int>(static_cast<std::uint64_t>(last - first) * capped / total);
}

void ByteProgressReporter::operator()(std::uint64_t done, std::uint64_t total) {
  const int percent = BytePercent(done, total, first_, last_);
  if (percent <= reported_) return;  // never backwards, should the total grow (a backup's walk)
  reported_ = percent;
  std::string message = std::to_string(done >> 20) + " of " + std::to_string(total >> 20) + " MiB";
  if (!what_.empty()) message = what_ + " " + message;
  context_.Progress(percent, std::move(message), step_);
}

void HandlerContext::LogLine(std::string_view level, std::string message) {
  if (message.size() > kMaxLogLineBytes) {
    message.resize(kMaxLogLineBytes);
    message += " …[cut]";
  }
  if (level == "error") {
    log_.Error("{}", message);
  } else if (level == "warn") {
    log_.Warn("{}", message);
  } else if (level == "info") {
    log_.Info("{}", message);
  } else {
    log_.Debug("{}", message);
  }
  sink_.LogLine(level, std::move(message));
}

std::string_view ToString(InstanceSupervisor supervisor) {
  switch (supervisor) {
    case InstanceSupervisor::kAuto: return "auto";
    case InstanceSupervisor::kSystemd: return "systemd";
    case InstanceSupervisor::kProcess: return "process";
  }
  return "auto";
}

std::optional<InstanceSupervisor> InstanceSupervisorFromString(std::string_view text) {
  for (const auto supervisor :
       {InstanceSupervisor::kAuto, InstanceSupervisor::kSystemd, InstanceSupervisor::kProcess}) {
    if (text == ToString(supervisor)) return supervisor;
  }
  return std::nullopt;
}

}  // namespace orb::jobs
