#pragma once

// Shell completion for fleetctl, generated from its own CLI11 command tree so that it cannot drift
// from the commands: DescribeCommands reads the tree (what `fleetctl --help` shows), and
// BashCompletion / ZshCompletion render it as the scripts that the fleetctl package installs
// (/usr/share/bash-completion/completions/fleetctl, /usr/share/zsh/vendor-completions/_fleetctl).
// `fleetctl completion bash|zsh` (a hidden command, completion_command.cpp) prints them.
//
// What is completed: commands and subcommands; each command's flags plus the global ones (they
// may follow the command, CLI11 fallthrough); the values of options with a fixed set
// (CLI::IsMember, e.g. -o table|json), job types for `enqueue TYPE` and `jobs --type`
// (protocol/job_types), and file names for FILE arguments and --*-file options.
// Pure functions: no I/O. Thread-safety: none needed.

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace orb::cli {

struct CompletionOption {
  std::vector<std::string> names;  // "-o", "--output"; a positional's one name, e.g. "JOB"
  std::string description;
  bool takes_value = false;
  bool required = false;
  bool repeatable = false;           // --label k=v --label k2=v2
  std::vector<std::string> choices;  // the values it accepts, when they are a fixed set
  bool files = false;                // its value is a file name
};

struct CompletionCommand {
  std::string name;  // "fleetctl", "tokens", "create"
  std::string description;
  std::vector<CompletionOption> options;      // flags and options, in definition order
  std::vector<CompletionOption> positionals;  // in order
  std::vector<CompletionCommand> subcommands;
};

// The tree under `app` without hidden commands (an empty group, like `completion` itself).
CompletionCommand DescribeCommands(CLI::App& app);

// A bash script that defines _<program> and registers it with `complete -F` for `program`.
// Needs bash 4.3 (associative arrays); works with or without the bash-completion package.
std::string BashCompletion(const CompletionCommand& root);

// A zsh completion function file for `program` (#compdef), for a directory in $fpath.
std::string ZshCompletion(const CompletionCommand& root);

}  // namespace orb::cli
