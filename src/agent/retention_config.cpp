#include "agent/retention_config.hpp"

#include <cstdint>
#include <optional>

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include "common/numbers.hpp"

namespace orb::agent {
namespace {

constexpr std::int64_t kMaxRunLogDays = 3650;
constexpr std::int64_t kMaxCacheMiB = std::int64_t{1} << 30;  // 1 PiB: any disk
constexpr std::int64_t kMaxIntervalMinutes = 1440;

const char* const kRunLogDaysRange = "must be an integer 0..3650 (0: keep forever)";
const char* const kCacheRange = "must be an integer >= 0 (MiB)";
const char* const kIntervalRange = "must be an integer 1..1440";

// Sets `out` from `value` when it lies in [low, high]; else records `problem` for `field`.
template <class T>
// `value`: the key's integer, nullptr when it is not one (a pointer, not an optional: g++ 12 at
// -O3 reports a false -Wmaybe-uninitialized on an inlined optional<int64_t>).
void SetInRange(const std::int64_t* value, std::int64_t low, std::int64_t high,
                const std::string& field, const char* problem, T& out,
                std::vector<FieldProblem>& problems) {
  if (value == nullptr || *value < low || *value > high) {
    problems.push_back({field, problem});
    return;
  }
  out = static_cast<T>(*value);
}

template <typename T>
void SetInRange(const std::optional<std::int64_t>& value, std::int64_t low, std::int64_t high,
                const std::string& field, const char* problem, T& out,
                std::vector<FieldProblem>& problems) {
  SetInRange(value ? &*value : nullptr, low, high, field, problem, out, problems);
}

}  // namespace

void ApplyRetentionToml(std::string_view text, RetentionConfig& config,
                        std::vector<FieldProblem>& problems) {
  toml::table table;
  try {
    table = toml::parse(text);
  } catch (const toml::parse_error&) {
    return;  // the caller reports syntax errors
  }
  const toml::node* node = table.get("retention");
  if (node == nullptr) return;
  const auto* retention = node->as_table();
  if (retention == nullptr) {
    problems.push_back({"retention", "must be a table"});
    return;
  }
  for (const auto& [key, value] : *retention) {
    const std::string name(key.str());
    const std::string field = "retention." + name;
    const auto* integer = value.as_integer();
    const std::int64_t* number = integer != nullptr ? &integer->get() : nullptr;
    if (name == "runLogDays") {
      SetInRange(number, 0, kMaxRunLogDays, field, kRunLogDaysRange, config.run_log_days, problems);
    } else if (name == "artifactCacheMiB") {
      SetInRange(number, 0, kMaxCacheMiB, field, kCacheRange, config.artifact_cache_mib, problems);
    } else if (name == "intervalMinutes") {
      SetInRange(number, 1, kMaxIntervalMinutes, field, kIntervalRange, config.interval_minutes,
                 problems);
    } else {
      problems.push_back({field, "unknown key"});
    }
  }
}

void AddRetentionFlags(CLI::App& app, RetentionFlags& flags) {
  app.add_option("--run-log-days", flags.run_log_days,
                 "days per-run log files are kept (default 14, 0: forever)");
  app.add_option("--artifact-cache-mib", flags.artifact_cache_mib,
                 "artifact cache size limit in MiB (default 10240)");
  app.add_option("--retention-interval-minutes", flags.interval_minutes,
                 "minutes between retention passes (default 60)");
}

void ApplyRetentionFlags(const RetentionFlags& flags, RetentionConfig& config,
                         std::vector<FieldProblem>& problems) {
  if (!flags.run_log_days.empty()) {
    SetInRange(ParseWholeNumber<std::int64_t>(flags.run_log_days), 0, kMaxRunLogDays,
               "--run-log-days", kRunLogDaysRange, config.run_log_days, problems);
  }
  if (!flags.artifact_cache_mib.empty()) {
    SetInRange(ParseWholeNumber<std::int64_t>(flags.artifact_cache_mib), 0, kMaxCacheMiB,
               "--artifact-cache-mib", kCacheRange, config.artifact_cache_mib, problems);
  }
  if (!flags.interval_minutes.empty()) {
    SetInRange(ParseWholeNumber<std::int64_t>(flags.interval_minutes), 1, kMaxIntervalMinutes,
               "--retention-interval-minutes", kIntervalRange, config.interval_minutes, problems);
  }
}

void ValidateRetention(const RetentionConfig& config, std::vector<FieldProblem>& problems) {
  if (config.run_log_days < 0 || config.run_log_days > kMaxRunLogDays) {
    problems.push_back({"retention.runLogDays", kRunLogDaysRange});
  }
  if (config.artifact_cache_mib > static_cast<std::uint64_t>(kMaxCacheMiB)) {
    problems.push_back({"retention.artifactCacheMiB", kCacheRange});
  }
  if (config.interval_minutes < 1 || config.interval_minutes > kMaxIntervalMinutes) {
    problems.push_back({"retention.intervalMinutes", kIntervalRange});
  }
}

}  // namespace orb::agent
