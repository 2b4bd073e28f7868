#pragma once

// The agent's retention settings (docs/reliability.md "The agent"): a [retention] table in the
// TOML file and one flag per key, kept apart from the other keys of config.hpp.
//
//   [retention]
//   runLogDays = 14          # --run-log-days: stateDir/logs/<jobId>/<runId>.log older than this
//                            #   go; 0 keeps them forever
//   artifactCacheMiB = 10240 # --artifact-cache-mib: root/cache/artifacts is kept under this,
//                            #   least recently used first, never a file a run uses
//   intervalMinutes = 60     # --retention-interval-minutes: how often the pass runs (1..1440)
//
// Thread-safety: plain values and pure functions.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace CLI {
class App;
}

namespace orb::agent {

struct RetentionConfig {
  int run_log_days = 14;
  std::uint64_t artifact_cache_mib = 10240;  // 10 GiB
  int interval_minutes = 60;
};

// Reads the [retention] table of a TOML text already known to parse (config.cpp's ApplyToml calls
// it): unknown keys and wrong types or ranges become problems named "retention.<key>"; keys not in
// the text keep their value.
void ApplyRetentionToml(std::string_view text, RetentionConfig& config,
                        std::vector<FieldProblem>& problems);

// The flags, as the command line gave them (empty when absent).
struct RetentionFlags {
  std::string run_log_days;
  std::string artifact_cache_mib;
  std::string interval_minutes;
};
void AddRetentionFlags(CLI::App& app, RetentionFlags& flags);
// Applies the flags given over `config`; problems name the flag.
void ApplyRetentionFlags(const RetentionFlags& flags, RetentionConfig& config,
                         std::vector<FieldProblem>& problems);

// Range checks (for values set in code).
void ValidateRetention(const RetentionConfig& config, std::vector<FieldProblem>& problems);

}  // namespace orb::agent
