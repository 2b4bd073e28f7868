#pragma once

// orb-jobs-agent's configuration (protocol.md §7): a TOML file (--config) plus one flag per key,
// a flag winning over the file. Parsed once in main; the rest of the agent sees AgentConfig.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/retention_config.hpp"
#include "common/expected.hpp"
#include "common/log.hpp"
#include "jobs/job_handler.hpp"
#include "protocol/types.hpp"

namespace orb::agent {

struct AgentConfig {
  // fleet-cmdr's base URLs, http(s)://host:port, in order of preference: the agent talks to one at
  // a time, fails over to the next and comes back to the first (agent/server_failover.hpp). The
  // TOML key `server` takes a string or an array of strings; the flag --server is repeatable.
  std::vector<std::string> servers;
  std::string agent_id;                          // ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$
  std::filesystem::path token_file;              // the agent token, one line
  std::filesystem::path root;                    // builds, instances, backups (job-types.md §1)
  std::filesystem::path state_dir;               // journal and per-run logs
  int max_parallel = 4;                          // 1..64
  bool long_poll = true;                         // false: poll every random pollIntervalSeconds
  std::optional<std::filesystem::path> ca_file;  // https: trusted CAs (default: the system's)
  LogFormat log_format = LogFormat::kText;       // "text" | "json"
  std::string log_level = "info";                // trace|debug|info|warn|error|critical|off
  protocol::Labels labels;                       // sent in hello
  // How instances are kept running beyond the agent: "auto" (a systemd transient unit when
  // systemd runs and answers, else a process session), "systemd" or "process".
  jobs::InstanceSupervisor instance_supervisor = jobs::InstanceSupervisor::kAuto;

  // What the agent prunes on its own: the [retention] table and its flags (retention_config.hpp).
  RetentionConfig retention;
};

// What the command line asks for: run with a config, or print `output` and exit with `exit_code`
// (--help, --version).
struct CommandLine {
  std::optional<AgentConfig> config;
  std::string output;
  int exit_code = 0;
};

// Parses the flags, reads the --config file if given, applies the flags over it and validates
// the result. Errors: kInvalidRequest naming the flag or key and what is wrong with it (every
// problem found is listed in Error.details), unknown keys and flags included; kIo when the config
// file cannot be read. Does not touch token_file (see ReadToken). Thread-safe (no globals).
Expected<CommandLine> ParseCommandLine(int argc, const char* const* argv, std::string_view version);

// Parses TOML text into `config` (keys in camelCase: server (a URL or an array of URLs), agentId,
// tokenFile, root, stateDir, maxParallel, longPoll, caFile, logFormat, logLevel,
// instanceSupervisor, a [labels] table, and the [retention] table of retention_config.hpp). Keys
// not in the text keep their value. Errors: kInvalidRequest (syntax error with its line, unknown
// key, wrong type). `origin` names the file in messages.
Status ApplyToml(std::string_view text, std::string_view origin, AgentConfig& config);

// Checks every value (at least one server, each an http(s) URL and none twice, agentId, ranges,
// paths absolute).
// Errors: kInvalidRequest with one FieldProblem per bad key.
Status Validate(const AgentConfig& config);

// Reads the token from `path`: the first line, surrounding whitespace removed, and registers it as
// a secret of the process (common/sanitize.hpp). Errors: kIo (unreadable), kInvalidRequest (empty).
Expected<std::string> ReadToken(const std::filesystem::path& path);

}  // namespace orb::agent
