#include "agent/config.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include "common/ids.hpp"
#include "common/numbers.hpp"
#include "common/sanitize.hpp"
#include "protocol/validate_job.hpp"

namespace orb::agent {
namespace {

constexpr int kMaxParallelLimit = 64;
constexpr const char* kSupervisorChoices = "must be \"auto\", \"systemd\" or \"process\"";

Error InvalidConfig(std::vector<FieldProblem> problems) {
  std::string message = "invalid configuration:";
  for (const auto& problem : problems)
    message += " " + problem.field + ": " + problem.problem + ";";
  message.pop_back();
  Error error = MakeError(Errc::kInvalidRequest, std::move(message));
  error.details = std::move(problems);
  return error;
}

std::optional<bool> ParseBool(std::string_view text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  return std::nullopt;
}

bool IsValidLogLevel(std::string_view level) {
  for (const std::string_view known :
       {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (level == known) return true;
  }
  return false;
}

// How many `quote` characters start at `i` (at most five: the closing delimiter of a multi-line
// string may follow one or two quotes of its content).
std::size_t QuoteRun(std::string_view text, std::size_t i, char quote) {
  std::size_t n = 0;
  while (i + n < text.size() && text[i + n] == quote && n < 5)
    ++n;
  return n;
}

bool IsBareKeyCharacter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// The offset of the first byte of the table header starting at `i` ("[" or "[[") where a key
// must start but neither a bare key character nor a quote does; nullopt when every key of the
// header starts well (a quoted key ends the check: toml++ reads those safely).
std::optional<std::size_t> BadHeaderKey(std::string_view text, std::size_t i) {
  const auto skip_blanks = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t'))
      ++i;
  };
  ++i;
  if (i < text.size() && text[i] == '[') ++i;
  for (;;) {
    skip_blanks();
    if (i >= text.size()) return std::nullopt;
    const char c = text[i];
    if (c == '"' || c == '\'' || c == ']') return std::nullopt;  // toml++ reports a blank key
    if (!IsBareKeyCharacter(c)) return i;
    while (i < text.size() && IsBareKeyCharacter(text[i]))
      ++i;
    skip_blanks();
    if (i >= text.size() || text[i] != '.') return std::nullopt;
    ++i;
  }
}

// True when the value from `start` to the space at `space` looks like a date to toml++ (ten
// characters but '_', '-' the 5th and 8th) and the space is followed by one digit and the
// value's end: toml++ reads on for a time after the digit and asserts that it finds no end there.
bool DateThenOneDigit(std::string_view text, std::size_t start, std::size_t space) {
  std::string chars;
  for (std::size_t k = start; k < space && chars.size() <= 10; ++k) {
    if (text[k] != '_') chars.push_back(text[k]);
  }
  if (chars.size() != 10 || chars[4] != '-' || chars[7] != '-') return false;
  if (space + 1 >= text.size() || text[space + 1] < '0' || text[space + 1] > '9') return false;
  if (space + 2 >= text.size()) return true;
  const char after = text[space + 2];
  return after == ' ' || after == '\t' || after == '\r' || after == '\n' || after == ',' ||
         after == ']' || after == '}' || after == '#';
}

struct TomlProblem {
  std::size_t line = 0;    // 1-based
  std::size_t column = 0;  // 1-based, in bytes
  std::string_view what;
};

// Debian's toml++ 3.3.0 has inputs it does not survive, found by tests/fuzz/agent_config_fuzz.cpp,
// so the text is checked for them first and the same syntax errors are reported without calling
// it:
// - characters beyond ASCII where it looks for whitespace: it reaches __builtin_unreachable()
//   (undefined behaviour) for some (is_non_ascii_horizontal_whitespace: U+00A1..U+0499 and two
//   more ranges). TOML allows them only in strings and comments (bare keys are [A-Za-z0-9_-],
//   whitespace is tab and space).
// - a table header whose key starts with anything but a bare key character or a quote
//   ("[)retention]"): its parse_key() asserts that it does not (an abort in a build with
//   assertions, an assumption the optimizer may use without).
// - a quote inside a value that is no string ("stateDir =0\"...\""): toml++ reads a number, date or
//   boolean ahead up to a space, comma, bracket or '#', testing each character for whitespace as
//   above, so it reads on into what this check took for a string. A value ends before a quote
//   in any valid TOML, so such a quote is reported as the syntax error it is.
// - in a multi-line basic string, a character beyond ASCII after a backslash (past blanks and
//   newlines: a line-ending backslash): toml++ tests it for whitespace as above.
// - a date, a space and one digit ("1979-05-27 0"): it reads on for a time and asserts in
//   parse_value() that no value's end comes there.
// - a '}' where an array expects its next value ("[}" or "[1, }"): parse_value() asserts that a
//   value does not start with a character that ends one.
std::optional<TomlProblem> UnsafeForToml(std::string_view text) {
  enum class State { kCode, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };
  State state = State::kCode;
  std::size_t line = 1;
  std::size_t line_start = 0;
  std::string nesting;          // the arrays ('[') and inline tables ('{') open in a value
  bool line_blank = true;       // only whitespace so far on this line (outside strings)
  bool value_next = false;      // a value starts next: after '=', or after '[' or ',' in an array
  bool bare_value = false;      // in a value that is no string, up to where toml++ stops reading it
  std::size_t value_start = 0;  // where the bare value started
  std::size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // a byte order mark
  const auto at = [&](std::string_view token) { return text.substr(i).starts_with(token); };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      line_blank = true;
      bare_value = false;
      if (nesting.empty()) value_next = false;
      // A comment ends here; so does a one-line string (toml++ then reports it unterminated).
      if (state == State::kComment || state == State::kBasic || state == State::kLiteral) {
        state = State::kCode;
      }
      ++i;
      continue;
    }
    switch (state) {
      case State::kCode:
        if (static_cast<unsigned char>(c) >= 0x80) {
          return TomlProblem{line, i - line_start + 1,
                             "a character beyond ASCII outside a string or comment"};
        }
        if (c == '"' || c == '\'') {
          if (bare_value) {
            return TomlProblem{line, i - line_start + 1,
                               "a value must end (a space, a comma, a bracket) before a quote"};
          }
          value_next = false;
        } else if (c == '}' && value_next && !nesting.empty() && nesting.back() == '[') {
          return TomlProblem{line, i - line_start + 1,
                             "an array's next value or its closing ']' must come here, not '}'"};
        } else if (c == ',' || c == ']' || c == '}' || c == '#') {
          bare_value = false;  // where toml++ stops reading a value (spaces do not end it here)
        } else if (value_next && c != ' ' && c != '\t' && c != '\r' && c != '[' && c != '{') {
          bare_value = true;
          value_start = i;
          value_next = false;
        } else if (bare_value && c == ' ' && DateThenOneDigit(text, value_start, i)) {
          return TomlProblem{line, i - line_start + 2,
                             "a date followed by a space must be followed by a time (hh:mm:ss)"};
        }
        if (c == '[' && nesting.empty() && line_blank) {
          if (const auto bad = BadHeaderKey(text, i)) {
            return TomlProblem{line, *bad - line_start + 1,
                               "a table header's key must start with a letter, digit, _, - or a "
                               "quote"};
          }
        } else if (c == '[' || c == '{') {
          nesting.push_back(c);
          value_next = c == '[';
        } else if ((c == ']' || c == '}') && !nesting.empty()) {
          nesting.pop_back();
          value_next = false;
        } else if (c == ',') {
          value_next = !nesting.empty() && nesting.back() == '[';
        } else if (c == '=' && !bare_value) {
          value_next = true;
        }
        if (c != ' ' && c != '\t' && c != '\r') line_blank = false;
        if (c == '#') {
          state = State::kComment;
        } else if (at(R"(""")")) {
          state = State::kMultiBasic;
          i += 2;
        } else if (at("'''")) {
          state = State::kMultiLiteral;
          i += 2;
        } else if (c == '"') {
          state = State::kBasic;
        } else if (c == '\'') {
          state = State::kLiteral;
        }
        break;
      case State::kComment: break;
      case State::kBasic:
      case State::kMultiBasic:
        if (c == '\\' && state == State::kMultiBasic) {
          // toml++ tests what follows for whitespace (a line-ending backslash), past blanks and
          // newlines: a character beyond ASCII there reaches the same unreachable point.
          std::size_t next = i + 1;
          while (next < text.size() && (text[next] == ' ' || text[next] == '\t' ||
                                        text[next] == '\r' || text[next] == '\n'))
            ++next;
          if (next < text.size() && static_cast<unsigned char>(text[next]) >= 0x80) {
            return TomlProblem{line, i - line_start + 1,
                               "a character beyond ASCII after a backslash in a multi-line string "
                               "(write it as \\uXXXX)"};
          }
        }
        if (c == '\\') {
          // Skip the escaped character, unless it is a newline (counted at the top).
          if (i + 1 < text.size() && text[i + 1] != '\n') ++i;
        } else if (state == State::kBasic && c == '"') {
          state = State::kCode;
        } else if (state == State::kMultiBasic && at(R"(""")")) {
          state = State::kCode;
          i += QuoteRun(text, i, '"') - 1;  // up to two quotes may end the content
        }
        break;
      case State::kLiteral:
        if (c == '\'') state = State::kCode;
        break;
      case State::kMultiLiteral:
        if (at("'''")) {
          state = State::kCode;
          i += QuoteRun(text, i, '\'') - 1;
        }
        break;
    }
    ++i;
  }
  return std::nullopt;
}

}  // namespace

Status ApplyToml(std::string_view text, std::string_view origin, AgentConfig& config) {
  if (const auto problem = UnsafeForToml(text)) {
    return Fail(Errc::kInvalidRequest,
                fmt::format("{}:{}:{}: {}", origin, problem->line, problem->column, problem->what));
  }
  toml::table table;
  try {
    table = toml::parse(text, origin);
  } catch (const toml::parse_error& error) {
    return Fail(Errc::kInvalidRequest,
                fmt::format("{}:{}:{}: {}", origin, error.source().begin.line,
                            error.source().begin.column, error.description()));
  }
  std::vector<FieldProblem> problems;
  const auto string_key = [&](std::string_view key, const toml::node& node, auto&& set) {
    if (const auto value = node.value<std::string>(); node.is_string() && value) {
      set(*value);
    } else {
      problems.push_back({std::string(key), "must be a string"});
    }
  };
  for (const auto& [key, node] : table) {
    const std::string_view name = key.str();
    if (name == "server") {
      // One URL, or an array of them in order of preference.
      if (const auto* list = node.as_array()) {
        std::vector<std::string> servers;
        bool all_strings = true;
        for (const auto& item : *list) {
          if (const auto* url = item.as_string()) {
            servers.push_back(url->get());
          } else {
            all_strings = false;
          }
        }
        if (all_strings) {
          config.servers = std::move(servers);
        } else {
          problems.push_back({"server", "must be a URL or an array of URLs (strings)"});
        }
      } else if (const auto* url = node.as_string()) {
        config.servers = {url->get()};
      } else {
        problems.push_back({"server", "must be a URL or an array of URLs (strings)"});
      }
    } else if (name == "agentId") {
      string_key(name, node, [&](std::string v) { config.agent_id = std::move(v); });
    } else if (name == "tokenFile") {
      string_key(name, node, [&](std::string v) { config.token_file = std::move(v); });
    } else if (name == "root") {
      string_key(name, node, [&](std::string v) { config.root = std::move(v); });
    } else if (name == "stateDir") {
      string_key(name, node, [&](std::string v) { config.state_dir = std::move(v); });
    } else if (name == "caFile") {
      string_key(name, node, [&](std::string v) { config.ca_file = std::move(v); });
    } else if (name == "logLevel") {
      string_key(name, node, [&](std::string v) { config.log_level = std::move(v); });
    } else if (name == "logFormat") {
      string_key(name, node, [&](const std::string& v) {
        if (auto format = LogFormatFromString(v)) {
          config.log_format = *format;
        } else {
          problems.push_back({"logFormat", "must be \"text\" or \"json\""});
        }
      });
    } else if (name == "instanceSupervisor") {
      string_key(name, node, [&](const std::string& v) {
        if (auto supervisor = jobs::InstanceSupervisorFromString(v)) {
          config.instance_supervisor = *supervisor;
        } else {
          problems.push_back({"instanceSupervisor", kSupervisorChoices});
        }
      });
    } else if (name == "maxParallel") {
      if (const auto* value = node.as_integer()) {
        const std::int64_t number = value->get();
        if (number < 1 || number > kMaxParallelLimit) {
          problems.push_back({"maxParallel", "must be an integer 1..64"});
        } else {
          config.max_parallel = static_cast<int>(number);
        }
      } else {
        problems.push_back({"maxParallel", "must be an integer 1..64"});
      }
    } else if (name == "longPoll") {
      if (const auto* value = node.as_boolean()) {
        config.long_poll = value->get();
      } else {
        problems.push_back({"longPoll", "must be true or false"});
      }
    } else if (name == "retention") {
      // Read below, by retention_config.cpp.
    } else if (name == "labels") {
      const auto* labels = node.as_table();
      if (labels == nullptr) {
        problems.push_back({"labels", "must be a table of strings"});
        continue;
      }
      for (const auto& [label, label_value] : *labels) {
        if (const auto* value = label_value.as_string()) {
          config.labels[std::string(label.str())] = value->get();
        } else {
          problems.push_back({"labels." + std::string(label.str()), "must be a string"});
        }
      }
    } else {
      problems.push_back({std::string(name), "unknown key"});
    }
  }
  ApplyRetentionToml(text, config.retention, problems);
  if (!problems.empty()) {
    return Fail(std::move(InvalidConfig(std::move(problems))).WithContext(std::string(origin)));
  }
  return Ok();
}

Status Validate(const AgentConfig& config) {
  std::vector<FieldProblem> problems;
  if (config.servers.empty()) problems.push_back({"server", "is required"});
  for (std::size_t i = 0; i < config.servers.size(); ++i) {
    const std::string& url = config.servers[i];
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      problems.push_back({"server", "'" + url + "' must start with http:// or https://"});
    } else if (std::count(config.servers.begin(), config.servers.end(), url) > 1 &&
               std::find(config.servers.begin(), config.servers.end(), url) -
                       config.servers.begin() ==
                   static_cast<std::ptrdiff_t>(i)) {
      problems.push_back({"server", "'" + url + "' is listed more than once"});
    }
  }
  if (config.agent_id.empty()) {
    problems.push_back({"agentId", "is required"});
  } else if (!IsValidName(config.agent_id)) {
    problems.push_back({"agentId", "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"});
  }
  const auto path_key = [&](const char* key, const std::filesystem::path& path) {
    if (path.empty()) {
      problems.push_back({key, "is required"});
    } else if (!path.is_absolute()) {
      problems.push_back({key, "must be an absolute path"});
    }
  };
  path_key("tokenFile", config.token_file);
  path_key("root", config.root);
  path_key("stateDir", config.state_dir);
  if (config.ca_file) path_key("caFile", *config.ca_file);
  if (!config.root.empty() && config.root == config.state_dir) {
    problems.push_back({"stateDir", "must not be the same directory as root"});
  }
  if (config.max_parallel < 1 || config.max_parallel > kMaxParallelLimit) {
    problems.push_back({"maxParallel", "must be an integer 1..64"});
  }
  if (!IsValidLogLevel(config.log_level)) {
    problems.push_back(
        {"logLevel", "must be one of trace, debug, info, warn, error, critical, off"});
  }
  // The labels selectors match (protocol.md "Agents"): the same rules as an enrolment's.
  protocol::CheckLabels("labels", config.labels, problems);
  ValidateRetention(config.retention, problems);
  if (!problems.empty()) return Fail(InvalidConfig(std::move(problems)));
  return Ok();
}

Expected<CommandLine> ParseCommandLine(int argc, const char* const* argv,
                                       std::string_view version) {
  CLI::App app{"orb-jobs-agent: runs prescribed jobs for fleet-cmdr (protocol.md §7)"};
  app.set_version_flag("--version", std::string(version));
  std::vector<std::string> servers;
  std::string config_path, agent_id, token_file, root, state_dir, max_parallel, long_poll, ca_file,
      log_format, log_level, supervisor;
  std::vector<std::string> labels;
  app.add_option("-c,--config", config_path, "TOML configuration file");
  auto* server_opt = app.add_option(
      "--server", servers, "fleet-cmdr URL; repeat it for replicas, in order of preference");
  auto* agent_opt = app.add_option("--agent-id", agent_id, "this agent's id");
  auto* token_opt = app.add_option("--token-file", token_file, "file holding the agent token");
  auto* root_opt = app.add_option("--root", root, "where builds, instances and backups live");
  auto* state_opt = app.add_option("--state-dir", state_dir, "journal and per-run logs");
  auto* parallel_opt = app.add_option("--max-parallel", max_parallel, "runs at once (default 4)");
  auto* poll_opt = app.add_option("--long-poll", long_poll, "true|false (default true)");
  auto* ca_opt = app.add_option("--ca-file", ca_file, "trusted CAs for https");
  auto* format_opt = app.add_option("--log-format", log_format, "text|json");
  auto* level_opt = app.add_option("--log-level", log_level, "trace..critical, off");
  auto* label_opt = app.add_option("--label", labels, "KEY=VALUE, repeatable");
  auto* supervisor_opt = app.add_option("--instance-supervisor", supervisor,
                                        "auto|systemd|process: what keeps instances running");
  RetentionFlags retention_flags;
  AddRetentionFlags(app, retention_flags);

  CommandLine result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::ostringstream out, err;
    result.exit_code = app.exit(e, out, err);
    result.output = out.str() + err.str();
    return result;
  } catch (const CLI::CallForVersion& e) {
    std::ostringstream out, err;
    result.exit_code = app.exit(e, out, err);
    result.output = out.str() + err.str();
    return result;
  } catch (const CLI::ParseError& e) {
    return Fail(Errc::kInvalidRequest, std::string("command line: ") + e.what());
  }

  AgentConfig config;
  if (!config_path.empty()) {
    std::ifstream in(config_path, std::ios::binary);
    if (!in) return Fail(Errc::kIo, "cannot read config file " + config_path);
    std::ostringstream text;
    text << in.rdbuf();
    if (auto applied = ApplyToml(text.str(), config_path, config); !applied) {
      return Fail(std::move(applied.error()));
    }
  }
  std::vector<FieldProblem> problems;
  if (server_opt->count() > 0) config.servers = servers;  // the flags' list replaces the file's
  if (agent_opt->count() > 0) config.agent_id = agent_id;
  if (token_opt->count() > 0) config.token_file = token_file;
  if (root_opt->count() > 0) config.root = root;
  if (state_opt->count() > 0) config.state_dir = state_dir;
  if (ca_opt->count() > 0) config.ca_file = ca_file;
  if (level_opt->count() > 0) config.log_level = log_level;
  if (parallel_opt->count() > 0) {
    if (auto number = ParseWholeNumber<int>(max_parallel); number) {
      config.max_parallel = *number;
    } else {
      problems.push_back({"--max-parallel", "must be an integer 1..64"});
    }
  }
  if (poll_opt->count() > 0) {
    if (auto flag = ParseBool(long_poll)) {
      config.long_poll = *flag;
    } else {
      problems.push_back({"--long-poll", "must be true or false"});
    }
  }
  if (format_opt->count() > 0) {
    if (auto format = LogFormatFromString(log_format)) {
      config.log_format = *format;
    } else {
      problems.push_back({"--log-format", "must be text or json"});
    }
  }
  if (supervisor_opt->count() > 0) {
    if (auto parsed = jobs::InstanceSupervisorFromString(supervisor)) {
      config.instance_supervisor = *parsed;
    } else {
      problems.push_back({"--instance-supervisor", kSupervisorChoices});
    }
  }
  if (label_opt->count() > 0) {
    for (const auto& label : labels) {
      const auto equals = label.find('=');
      if (equals == std::string::npos || equals == 0) {
        problems.push_back({"--label", "must be KEY=VALUE, got '" + label + "'"});
      } else {
        config.labels[label.substr(0, equals)] = label.substr(equals + 1);
      }
    }
  }
  ApplyRetentionFlags(retention_flags, config.retention, problems);
  if (!problems.empty()) return Fail(InvalidConfig(std::move(problems)));
  if (auto valid = Validate(config); !valid) return Fail(std::move(valid.error()));
  result.config = std::move(config);
  return result;
}

Expected<std::string> ReadToken(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(Errc::kIo, "cannot read token file " + path.string());
  std::string line;
  std::getline(in, line);
  const auto first = line.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return Fail(Errc::kInvalidRequest, "token file " + path.string() + " is empty");
  }
  const auto last = line.find_last_not_of(" \t\r\n");
  std::string token = line.substr(first, last - first + 1);
  RegisterSecret(token);  // never in a log line or a run's error (common/sanitize.hpp)
  return token;
}

}  // namespace orb::agent
