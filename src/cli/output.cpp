#include "cli/output.hpp"

#include <algorithm>
#include <cstdio>

namespace orb::cli {
namespace {

bool IsContinuationByte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0U) == 0x80U;
}

// Replaces ASCII control characters (and DEL) by spaces.
std::string Clean(std::string_view text) {
  std::string cleaned(text);
  for (char& c : cleaned) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20U || byte == 0x7FU) c = ' ';
  }
  return cleaned;
}

std::string TrimRight(std::string text) {
  while (!text.empty() && text.back() == ' ')
    text.pop_back();
  return text;
}

}  // namespace

std::optional<OutputFormat> OutputFormatFromString(std::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  return std::nullopt;
}

std::size_t DisplayWidth(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !IsContinuationByte(c); }));
}

std::string Truncate(std::string_view text, std::size_t max_width) {
  std::string cleaned = Clean(text);
  if (DisplayWidth(cleaned) <= max_width) return cleaned;
  const std::size_t keep = max_width > 3 ? max_width - 3 : 0;
  std::size_t cells = 0;
  std::size_t end = 0;
  while (end < cleaned.size()) {
    if (!IsContinuationByte(cleaned[end])) {
      if (cells == keep) break;
      ++cells;
    }
    ++end;
  }
  std::string cut = cleaned.substr(0, end);
  cut += std::string(std::min<std::size_t>(3, max_width), '.');
  return cut;
}

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), max_widths_(headers_.size(), std::string::npos) {}

void Table::SetMaxWidth(std::size_t column, std::size_t max_width) {
  if (column < max_widths_.size()) max_widths_[column] = max_width;
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (std::size_t i = 0; i < cells.size(); ++i)
    cells[i] = Truncate(cells[i], max_widths_[i]);
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<std::string> header_cells;
  for (const auto& header : headers_) {
    std::string upper = Clean(header);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; });
    header_cells.push_back(std::move(upper));
  }
  std::vector<std::size_t> widths(headers_.size(), 0);
  for (std::size_t i = 0; i < headers_.size(); ++i)
    widths[i] = DisplayWidth(header_cells[i]);
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  auto render_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      line += cells[i];
      if (i + 1 < cells.size()) line += std::string(widths[i] - DisplayWidth(cells[i]) + 2, ' ');
    }
    return TrimRight(std::move(line)) + "\n";
  };
  std::string out = render_row(header_cells);
  for (const auto& row : rows_)
    out += render_row(row);
  return out;
}

std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t width = 0;
  for (const auto& [key, value] : fields)
    width = std::max(width, DisplayWidth(key) + 1);
  std::string out;
  for (const auto& [key, value] : fields) {
    std::string line = key + ":" + std::string(width - DisplayWidth(key) - 1 + 2, ' ');
    line += Clean(value);
    out += TrimRight(std::move(line)) + "\n";
  }
  return out;
}

std::string FormatAge(WallTime then, WallTime now) {
  using std::chrono::duration_cast;
  const auto seconds = duration_cast<std::chrono::seconds>(now - then).count();
  if (seconds <= 0) return "0s";
  if (seconds < 60) return std::to_string(seconds) + "s";
  if (seconds < 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

std::string FormatSize(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* const units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
  return text;
}

std::string FormatCount(std::int64_t value) {
  if (value < 0) return std::to_string(value);  // not a count; shown as it is
  const std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

namespace {

// "8 MiB", "512 KiB" or "1,000 bytes": the largest unit that divides `bytes`.
std::string FormatCapBytes(std::int64_t bytes) {
  if (bytes % (1 << 20) == 0) return FormatCount(bytes >> 20) + " MiB";
  if (bytes % (1 << 10) == 0) return FormatCount(bytes >> 10) + " KiB";
  return FormatCount(bytes) + (bytes == 1 ? " byte" : " bytes");
}

}  // namespace

std::string LogsDroppedNote(std::int64_t dropped, const std::optional<protocol::LogCap>& cap,
                            std::string_view subject) {
  std::string note = FormatCount(dropped) + (dropped == 1 ? " log line" : " log lines") +
                     " dropped: " + std::string(subject) + " reached fleet-cmdr's cap";
  std::vector<std::string> parts;
  if (cap && cap->max_lines > 0) {
    parts.push_back(FormatCount(cap->max_lines) + (cap->max_lines == 1 ? " line" : " lines"));
  }
  if (cap && cap->max_bytes > 0) parts.push_back(FormatCapBytes(cap->max_bytes));
  if (!parts.empty()) {
    note += " of " + parts[0];
    for (std::size_t i = 1; i < parts.size(); ++i)
      note += " / " + parts[i];
  }
  return note;
}

std::string FormatLabels(const protocol::Labels& labels) {
  std::string out;
  for (const auto& [key, value] : labels) {
    if (!out.empty()) out += ",";
    out += key + "=" + value;
  }
  return out;
}

std::string OrDash(const std::optional<std::string>& value) {
  return value && !value->empty() ? *value : "-";
}

std::string FormatError(const Error& error, bool usage) {
  std::string out = "fleetctl: ";
  out += (usage ? std::string("usage") : std::string(ToString(error.code))) + ": " +
         Clean(error.message) + "\n";
  for (const auto& problem : error.details) {
    out += "  " + Clean(problem.field) + ": " + Clean(problem.problem) + "\n";
  }
  return out;
}

}  // namespace orb::cli
