#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

namespace orb {

enum class LogFormat {
  kText,  // human-readable, for terminals
  kJson,  // one JSON object per line, for journald and log shippers
};

std::optional<LogFormat> LogFormatFromString(std::string_view text);  // "text" | "json"

// Configures the default sink of every logger made by GetLogger(): stderr, in `format`, at `level`
// ("trace".."critical", "off"). Call once from main before starting threads. Every line is
// sanitized first (common/sanitize.hpp), whichever logger or format it goes through.
void SetupLogging(LogFormat format, std::string_view level = "info");

// A named logger sharing the configured sink ("fleet-cmdr", "agent", "store", ...). Thread-safe.
std::shared_ptr<spdlog::logger> GetLogger(const std::string& name);

// Escapes `text` as the inside of a JSON string (used by the JSON log formatter).
std::string JsonEscape(std::string_view text);

}  // namespace orb
