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

}  // namespace orb::jobs
