#include "cli/completion.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "protocol/job_types.hpp"

namespace orb::cli {
namespace {

// CLI::IsMember describes itself as "{a,b,c}" in the option's type name ("TEXT:{table,json}").
std::vector<std::string> ChoicesOf(const std::string& type_name) {
  std::vector<std::string> choices;
  const auto open = type_name.find('{');
  const auto close = type_name.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return choices;
  const std::string_view list = std::string_view(type_name).substr(open + 1, close - open - 1);
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    const auto item = list.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (!item.empty()) choices.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return choices;
}

std::vector<std::string> JobTypeNames() {
  std::vector<std::string> names;
  for (const auto& type : protocol::AllJobTypes())
    names.emplace_back(type.name);
  return names;
}

CompletionOption DescribeOption(const CLI::Option& option) {
  CompletionOption out;
  if (option.get_positional() && !option.nonpositional()) {
    out.names.push_back(option.get_name(true, false));
  } else {
    for (const auto& name : option.get_snames())
      out.names.push_back("-" + name);
    for (const auto& name : option.get_lnames())
      out.names.push_back("--" + name);
  }
  out.description = option.get_description();
  out.takes_value = option.get_items_expected_max() > 0;  // flags expect 0 items
  out.required = option.get_required();
  out.repeatable = out.takes_value && option.get_items_expected_max() > 1;  // vectors
  out.choices = ChoicesOf(option.get_type_name());
  if (out.names.empty()) return out;
  const std::string& last = out.names.back();
  // What the names say, where no validator does: the job types of job-types.md, and files.
  if (out.choices.empty() && (last == "TYPE" || last == "--type")) out.choices = JobTypeNames();
  out.files = last == "FILE" || (last.starts_with("--") && last.ends_with("-file"));
  return out;
}

bool IsHelpOrVersion(const CompletionOption& option) {
  return !option.names.empty() &&
         (option.names.back() == "--help" || option.names.back() == "--version");
}

// ---- bash ----

// `text` as one bash word in single quotes.
std::string BashQuote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string JoinWords(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ' ';
    out += item;
  }
  return out;
}

// How an option's value is completed: "@files", "@none", or the choices.
std::string BashValueKind(const CompletionOption& option) {
  if (option.files) return "@files";
  if (!option.choices.empty()) return JoinWords(option.choices);
  return "@none";
}

// The root's options but --help and --version, which every command has or only the root takes.
std::vector<std::string> GlobalOptionNames(const CompletionCommand& root) {
  std::vector<std::string> names;
  for (const auto& option : root.options) {
    if (IsHelpOrVersion(option)) continue;
    names.insert(names.end(), option.names.begin(), option.names.end());
  }
  return names;
}

struct BashTables {
  std::string commands;  // [path]="sub sub"
  std::string options;   // [path]="-a --agent ..."
  std::string values;    // [path|--opt]=kind, [path|#N]=kind for the N-th positional (from 1)
};

void AddBashTables(const CompletionCommand& command, const std::string& path, BashTables& tables) {
  std::vector<std::string> subcommands;
  for (const auto& sub : command.subcommands)
    subcommands.push_back(sub.name);
  tables.commands += "    [" + BashQuote(path) + "]=" + BashQuote(JoinWords(subcommands)) + "\n";
  std::vector<std::string> names;
  for (const auto& option : command.options) {
    for (const auto& name : option.names) {
      names.push_back(name);
      if (option.takes_value) {
        tables.values +=
            "    [" + BashQuote(path + "|" + name) + "]=" + BashQuote(BashValueKind(option)) + "\n";
      }
    }
  }
  tables.options += "    [" + BashQuote(path) + "]=" + BashQuote(JoinWords(names)) + "\n";
  for (std::size_t i = 0; i < command.positionals.size(); ++i) {
    tables.values += "    [" + BashQuote(path + "|#" + std::to_string(i + 1)) +
                     "]=" + BashQuote(BashValueKind(command.positionals[i])) + "\n";
  }
  for (const auto& sub : command.subcommands)
    AddBashTables(sub, path + "/" + sub.name, tables);
}

// The part of the script that does not depend on the tree. PROGRAM is replaced.
constexpr std::string_view kBashBody = R"BASH(
  # Walk the words before the cursor: the command path, the option whose value comes next, and
  # how many positional arguments the innermost command has. COMP_WORDBREAKS splits
  # "--server=http://h:1" into --server = http : //h : 1: "=" joins an option to its value, and ":"
  # with the piece after it belongs to the value before.
  local cur=${COMP_WORDS[COMP_CWORD]} path=PROGRAM pending="" positional=0 word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ $word == "=" ]]; then continue; fi
    if [[ $word == ":" ]]; then
      ((i + 1 < COMP_CWORD)) && ((i++))
      continue
    fi
    if [[ -n $pending ]]; then pending=""; continue; fi
    if [[ $word == -* ]]; then
      [[ $word == *=* ]] && continue
      if [[ -v "values[$path|$word]" || -v "values[PROGRAM|$word]" ]]; then pending=$word; fi
      continue
    fi
    if [[ " ${commands[$path]} " == *" $word "* ]]; then
      path=$path/$word positional=0
    else
      positional=$((positional + 1))
    fi
  done
  # "--output=<TAB>": the word under the cursor is the "=", the value to complete is empty.
  [[ $cur == "=" ]] && cur=""
  # What to offer: an option's value, options, subcommands or a positional's value.
  local kind="" prefix=""
  if [[ -n $pending ]]; then
    kind=${values[$path|$pending]-${values[PROGRAM|$pending]}}
  elif [[ $cur == --*=* ]]; then
    # Only when "=" is not in COMP_WORDBREAKS: the whole word is replaced, prefix included.
    word=${cur%%=*} prefix=$word= cur=${cur#*=}
    kind=${values[$path|$word]-${values[PROGRAM|$word]-@none}}
  elif [[ $cur == -* ]]; then
    local offered=${options[$path]}
    [[ $path != PROGRAM ]] && offered+=" $global"
    mapfile -t COMPREPLY < <(compgen -W "$offered" -- "$cur")
    return 0
  elif [[ -n ${commands[$path]} ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${commands[$path]}" -- "$cur")
    return 0
  else
    kind=${values[$path|#$((positional + 1))]-@none}
  fi
  case $kind in
    @none) COMPREPLY=() ;;
    @files)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      ;;
    *) mapfile -t COMPREPLY < <(compgen -W "$kind" -P "$prefix" -- "$cur") ;;
  esac
  return 0
}
)BASH";

// ---- zsh ----

// `text` inside a single-quoted zsh word, where it is also an _arguments spec: ' closes the
// quote; [ ] : are spec syntax, so they are escaped.
std::string ZshSpecText(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else if (c == '[' || c == ']' || c == ':' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

// `text` inside a single-quoted zsh word.
std::string ZshQuoted(std::string_view text) {
  std::string out;
  for (const char c : text)
    out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return out;
}

std::string ZshAction(const CompletionOption& option) {
  if (option.files) return "_files";
  if (!option.choices.empty()) return "(" + JoinWords(option.choices) + ")";
  return " ";
}

std::string ZshFunctionName(const std::vector<std::string>& path) {
  std::string name = "_";
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i > 0) name += "_";
    for (const char c : path[i])
      name += (c == '-') ? '_' : c;
  }
  return name;
}

// One _arguments spec line per option, e.g.
//   '(-o --output)'{-o+,--output=}'[table or json]:output:(table json)'
std::string ZshOptionSpec(const CompletionOption& option) {
  const std::string description = "[" + ZshSpecText(option.description) + "]";
  // An option once, unless it may repeat; --help and --version end the command line.
  std::string exclusions = option.repeatable ? "'*'" : "'(" + JoinWords(option.names) + ")'";
  if (IsHelpOrVersion(option)) exclusions = "'(- *)'";
  std::vector<std::string> forms;
  for (const auto& name : option.names) {
    std::string form = name;
    if (option.takes_value) form += name.starts_with("--") ? "=" : "+";
    forms.push_back(form);
  }
  std::string names;
  if (forms.size() == 1) {
    names = forms.front();
  } else {
    names = "{";
    for (std::size_t i = 0; i < forms.size(); ++i)
      names += (i > 0 ? "," : "") + forms[i];
    names += "}";
  }
  std::string spec = exclusions + names + "'" + description;
  if (option.takes_value) {
    std::string message = option.names.back();
    while (!message.empty() && message.front() == '-')
      message.erase(message.begin());
    spec += ":" + ZshSpecText(message) + ":" + ZshAction(option);
  }
  return spec + "'";
}

void AddZshFunctions(const CompletionCommand& command, std::vector<std::string> path,
                     const std::vector<CompletionOption>& global, std::string& out) {
  path.push_back(command.name);
  for (const auto& sub : command.subcommands)
    AddZshFunctions(sub, path, global, out);
  const bool root = path.size() == 1;
  out += ZshFunctionName(path) + "() {\n";
  if (!command.subcommands.empty()) {
    out += "  local curcontext=$curcontext state state_descr line\n  typeset -A opt_args\n";
  }
  out += "  _arguments -s -S";
  if (!command.subcommands.empty()) out += " -C";
  auto add_spec = [&out](const std::string& spec) { out += " \\\n    " + spec; };
  for (const auto& option : command.options)
    add_spec(ZshOptionSpec(option));
  if (!root) {
    // The global flags may follow the command (CLI11 fallthrough); --help is every command's own.
    for (const auto& option : global) {
      if (!IsHelpOrVersion(option)) add_spec(ZshOptionSpec(option));
    }
  }
  for (std::size_t i = 0; i < command.positionals.size(); ++i) {
    const auto& positional = command.positionals[i];
    add_spec("'" + std::string(positional.required ? ":" : "::") +
             ZshSpecText(positional.names.front() + ": " + positional.description) + ":" +
             ZshAction(positional) + "'");
  }
  if (command.subcommands.empty()) {
    out += "\n}\n\n";
    return;
  }
  add_spec("': :->command'");
  add_spec("'*:: :->argument' && return 0");
  out += "\n  case $state in\n    command)\n      local -a commands=(\n";
  for (const auto& sub : command.subcommands) {
    std::string name;
    for (const char c : sub.name)
      name += (c == ':') ? std::string("\\:") : std::string(1, c);
    out += "        '" + name + ":" + ZshQuoted(sub.description) + "'\n";
  }
  std::string title;
  std::string context;
  for (const auto& part : path) {
    title += (title.empty() ? "" : " ") + part;
    context += part + "-";
  }
  out += "      )\n      _describe -t commands '" + title + " command' commands\n      ;;\n";
  out += "    argument)\n      curcontext=${curcontext%:*:*}:" + context + "$words[1]:\n";
  out += "      case $words[1] in\n";
  for (const auto& sub : command.subcommands) {
    auto sub_path = path;
    sub_path.push_back(sub.name);
    out += "        " + sub.name + ") " + ZshFunctionName(sub_path) + " ;;\n";
  }
  out += "      esac\n      ;;\n  esac\n}\n\n";
}

}  // namespace

CompletionCommand DescribeCommands(CLI::App& app) {
  CompletionCommand command;
  command.name = app.get_name();
  command.description = app.get_description();
  for (const CLI::Option* option : std::as_const(app).get_options()) {
    if (option->get_group().empty()) continue;  // hidden
    auto described = DescribeOption(*option);
    if (option->get_positional() && !option->nonpositional()) {
      command.positionals.push_back(std::move(described));
    } else {
      command.options.push_back(std::move(described));
    }
  }
  for (CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_group().empty()) continue;  // hidden: `completion` itself
    command.subcommands.push_back(DescribeCommands(*sub));
  }
  return command;
}

std::string BashCompletion(const CompletionCommand& root) {
  const std::string& program = root.name;
  BashTables tables;
  AddBashTables(root, program, tables);
  std::string body(kBashBody);
  for (auto at = body.find("PROGRAM"); at != std::string::npos; at = body.find("PROGRAM", at)) {
    body.replace(at, 7, program);
    at += program.size();
  }
  std::string out;
  out += "# bash completion for " + program + "                       -*- shell-script -*-\n";
  out += "# Generated by `" + program + " completion bash` from " + program +
         "'s own commands; do not edit.\n\n";
  out += "_" + program + "() {\n";
  out += "  # Keyed by command path (" + program + ", " + program + "/tokens, ...).\n";
  out += "  local -A commands=(\n" + tables.commands + "  )\n";
  out += "  local -A options=(\n" + tables.options + "  )\n";
  out += "  # The options that take a value, and the positional arguments (#1, #2, ...): how the\n";
  out += "  # value is completed (@files, @none, or the values it may take).\n";
  out += "  local -A values=(\n" + tables.values + "  )\n";
  out += "  # " + program + "'s own options that may also follow a command (CLI11 fallthrough).\n";
  out += "  local global=" + BashQuote(JoinWords(GlobalOptionNames(root))) + "\n";
  out += body;
  out += "complete -F _" + program + " " + program + "\n";
  return out;
}

std::string ZshCompletion(const CompletionCommand& root) {
  std::string out = "#compdef " + root.name + "\n";
  out += "# zsh completion for " + root.name + ". Generated by `" + root.name +
         " completion zsh` from " + root.name + "'s own commands; do not edit.\n\n";
  AddZshFunctions(root, {}, root.options, out);
  out += "_" + root.name + " \"$@\"\n";
  return out;
}

}  // namespace orb::cli
