#include "cli/progress_bar.hpp"

#include <algorithm>

namespace orb::cli {

std::string RenderProgressBar(std::optional<int> percent, std::size_t width) {
  std::string bar = "[";
  if (!percent) {
    bar += std::string(width, ' ') + "]   --";
    return bar;
  }
  const int clamped = std::clamp(*percent, 0, 100);
  const std::size_t filled = width * static_cast<std::size_t>(clamped) / 100;
  bar += std::string(filled, '#') + std::string(width - filled, '.') + "] ";
  std::string number = std::to_string(clamped) + "%";
  bar += std::string(number.size() < 4 ? 4 - number.size() : 0, ' ') + number;
  return bar;
}

void ProgressBoard::Draw(const std::vector<std::string>& lines) {
  if (drawn_ > 0) out_ << "\x1b[" << drawn_ << "A\r\x1b[J";
  for (const auto& line : lines)
    out_ << line << "\n";
  drawn_ = lines.size();
  out_.flush();
}

}  // namespace orb::cli
