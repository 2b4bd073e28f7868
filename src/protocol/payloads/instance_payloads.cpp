// START_INSTANCE, STOP_INSTANCE, RESTART_INSTANCE payloads (job-types.md §2 and §3).

#include "common/regex.hpp"
#include "protocol/payloads/checker.hpp"
#include "protocol/payloads/field_table.hpp"

namespace orb::protocol::payloads {
namespace {

constexpr std::string_view kStopSignals[] = {"SIGTERM", "SIGINT",  "SIGHUP", "SIGQUIT",
                                             "SIGKILL", "SIGUSR1", "SIGUSR2"};

// instance.json of job-types.md §2, as START_INSTANCE's `config`.
constexpr std::array kStartInstanceFields{
    PayloadField{.name = "config",
                 .kind = FieldKind::kObject,
                 .description = "instance.json: sets or replaces the instance's definition; "
                                "optional after the first start (the stored one is kept)"},
    PayloadField{.name = "config.serverId",
                 .kind = FieldKind::kName,
                 .required = true,
                 .description = "the server whose current build the instance runs"},
    PayloadField{.name = "config.command",
                 .kind = FieldKind::kArray,
                 .required = true,
                 .min = 1,
                 .max = 64,
                 .description = "program and arguments; command[0] is a relative path inside the "
                                "server's active build, run with data/ as working directory"},
    PayloadField{.name = "config.command[]",
                 .kind = FieldKind::kString,
                 .min = 1,
                 .max = 4096,
                 .description = "one argument"},
    PayloadField{.name = "config.env",
                 .kind = FieldKind::kStringMap,
                 .max = 256,
                 .description = "extra environment variables (ORB_JOB_ID and ORB_RUN_ID are the "
                                "agent's)"},
    PayloadField{.name = "config.stopCommand",
                 .kind = FieldKind::kString,
                 .min = 1,
                 .max = 1024,
                 .description = "one line written to the process's stdin to stop it; when absent, "
                                "stopSignal is sent"},
    PayloadField{.name = "config.stopSignal",
                 .kind = FieldKind::kEnum,
                 .default_value = R"("SIGTERM")",
                 .enum_values = kStopSignals,
                 .description = "signal that stops the instance when there is no stopCommand"},
    PayloadField{.name = "config.stopTimeoutSeconds",
                 .kind = FieldKind::kInteger,
                 .default_value = "30",
                 .min = 1,
                 .max = 3600,
                 .description = "how long a stop waits before SIGTERM, then SIGKILL"},
    PayloadField{.name = "config.readyPattern",
                 .kind = FieldKind::kString,
                 .min = 1,
                 .max = 1024,
                 .description = "ECMAScript regex matched against console output to detect ready; "
                                "when absent, ready means still running after 5 s"},
    PayloadField{.name = "config.readyTimeoutSeconds",
                 .kind = FieldKind::kInteger,
                 .default_value = "120",
                 .min = 1,
                 .max = 3600,
                 .description = "how long a start waits for readyPattern"},
};

constexpr std::array kStopInstanceFields{
    PayloadField{.name = "timeoutSeconds",
                 .kind = FieldKind::kInteger,
                 .min = 1,
                 .max = 3600,
                 .description = "overrides the instance's stopTimeoutSeconds for this stop"},
};

bool IsEnvName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(letter || (digit && i > 0))) return false;
  }
  return true;
}

void CheckConfig(const boost::json::object& payload, Problems& problems) {
  const auto* config_value = payload.if_contains("config");
  if (config_value == nullptr || !config_value->is_object()) return;
  const boost::json::object& config = config_value->get_object();

  if (const auto* command = config.if_contains("command");
      command != nullptr && command->is_array() && !command->get_array().empty()) {
    const auto& first = command->get_array()[0];
    if (first.is_string() && !first.get_string().empty()) {
      if (auto problem = RelativePathProblem(first.get_string())) {
        problems.push_back(
            {"payload.config.command[0]", "must be a path inside the server's build: " + *problem});
      }
    }
  }

  if (const auto* env = config.if_contains("env"); env != nullptr && env->is_object()) {
    for (const auto& entry : env->get_object()) {
      const std::string_view key = entry.key();
      if (key.empty()) continue;  // reported by the schema check
      if (!IsEnvName(key)) {
        problems.push_back({FieldPath("payload.config.env", key),
                            "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"});
      } else if (key == "ORB_JOB_ID" || key == "ORB_RUN_ID") {
        problems.push_back({FieldPath("payload.config.env", key), "is set by the agent"});
      }
    }
  }

  if (const auto* stop = config.if_contains("stopCommand"); stop != nullptr && stop->is_string()) {
    if (stop->get_string().find_first_of(std::string_view("\r\n\0", 3)) !=
        boost::json::string::npos) {
      problems.push_back({"payload.config.stopCommand", "must be one line (no CR, LF or NUL)"});
    }
  }

  if (const auto* pattern = config.if_contains("readyPattern");
      pattern != nullptr && pattern->is_string() && !pattern->get_string().empty() &&
      pattern->get_string().size() <= 1024) {
    if (auto compiled = CompileRegex(pattern->get_string()); !compiled) {
      problems.push_back({"payload.config.readyPattern",
                          "must be a valid ECMAScript regex: " + compiled.error().message});
    }
  }
}

}  // namespace

const PayloadSpec& StartInstanceSpec() {
  static const PayloadSpec spec{
      kStartInstanceFields, &CheckConfig,
      R"({"config": {"serverId": "paper", "command": ["bin/start.sh", "--nogui"], )"
      R"("env": {"MEMORY": "2G"}, "stopCommand": "stop", "stopSignal": "SIGTERM", )"
      R"("stopTimeoutSeconds": 30, "readyPattern": "Done \\(", "readyTimeoutSeconds": 120}})"};
  return spec;
}

const PayloadSpec& StopInstanceSpec() {
  static const PayloadSpec spec{kStopInstanceFields, nullptr, R"({"timeoutSeconds": 30})"};
  return spec;
}

const PayloadSpec& RestartInstanceSpec() {
  static const PayloadSpec spec{kStopInstanceFields, nullptr, R"({"timeoutSeconds": 30})"};
  return spec;
}

}  // namespace orb::protocol::payloads
