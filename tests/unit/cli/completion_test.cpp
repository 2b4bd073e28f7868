#include "cli/completion.hpp"

#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/exit_codes.hpp"
#include "cli/fleetctl.hpp"

namespace orb::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A small tree with each kind of thing the generators handle.
struct DemoCli {
  DemoCli() : app("demo tool", "demo") {
    app.add_option("-o,--output", text, "table or json")->check(CLI::IsMember({"table", "json"}));
    app.add_option("--token-file", text, "the token's file");
    auto* upload = app.add_subcommand("upload", "Upload [a] file: now");
    upload->add_option("FILE", text, "the file")->required();
    upload->add_flag("-w,--wait", flag, "wait for it");
    upload->add_option("--label", labels, "k=v, repeatable");
    auto* enqueue = app.add_subcommand("enqueue", "Enqueue a job");
    enqueue->add_option("TYPE", text, "job type");
    auto* tokens = app.add_subcommand("tokens", "Tokens");
    tokens->add_subcommand("create", "Create one")->add_option("--role", text, "the role");
    app.add_subcommand("completion", "hidden")->group("");
  }
  CLI::App app;
  std::string text;
  bool flag = false;
  std::vector<std::string> labels;
};

std::vector<std::string> NamesOf(const std::vector<CompletionCommand>& commands) {
  std::vector<std::string> names;
  for (const auto& command : commands)
    names.push_back(command.name);
  return names;
}

TEST(CompletionTest, DescribesCommandsOptionsAndPositionalsButNotHiddenCommands) {
  DemoCli cli;
  const auto root = DescribeCommands(cli.app);
  EXPECT_EQ(root.name, "demo");
  EXPECT_THAT(NamesOf(root.subcommands), ElementsAre("upload", "enqueue", "tokens"));
  ASSERT_EQ(root.options.size(), 3U);
  EXPECT_THAT(root.options[0].names, ElementsAre("-h", "--help"));
  EXPECT_FALSE(root.options[0].takes_value);
  EXPECT_THAT(root.options[1].names, ElementsAre("-o", "--output"));
  EXPECT_TRUE(root.options[1].takes_value);
  EXPECT_THAT(root.options[1].choices, ElementsAre("table", "json"));
  EXPECT_TRUE(root.options[2].files);  // --token-file

  const auto& upload = root.subcommands[0];
  ASSERT_EQ(upload.positionals.size(), 1U);
  EXPECT_THAT(upload.positionals[0].names, ElementsAre("FILE"));
  EXPECT_TRUE(upload.positionals[0].files);
  EXPECT_TRUE(upload.positionals[0].required);
  ASSERT_EQ(upload.options.size(), 3U);
  EXPECT_THAT(upload.options[1].names, ElementsAre("-w", "--wait"));
  EXPECT_FALSE(upload.options[1].takes_value);
  EXPECT_TRUE(upload.options[2].repeatable);  // --label

  // TYPE is completed with job-types.md's types.
  const auto& type = root.subcommands[1].positionals.at(0);
  EXPECT_FALSE(type.required);
  EXPECT_THAT(type.choices, ::testing::Contains("BACKUP_INSTANCE"));
  EXPECT_EQ(type.choices.size(), 11U);

  EXPECT_THAT(NamesOf(root.subcommands[2].subcommands), ElementsAre("create"));
}

TEST(CompletionTest, BashTablesNameEveryCommandOptionAndValue) {
  DemoCli cli;
  const auto script = BashCompletion(DescribeCommands(cli.app));
  EXPECT_THAT(script, HasSubstr("    ['demo']='upload enqueue tokens'\n"));
  EXPECT_THAT(script, HasSubstr("    ['demo/tokens']='create'\n"));
  EXPECT_THAT(script, HasSubstr("    ['demo/upload']='-h --help -w --wait --label'\n"));
  EXPECT_THAT(script, HasSubstr("    ['demo|--output']='table json'\n"));
  EXPECT_THAT(script, HasSubstr("    ['demo|--token-file']='@files'\n"));
  EXPECT_THAT(script, HasSubstr("    ['demo/upload|#1']='@files'\n"));
  EXPECT_THAT(script, HasSubstr("    ['demo/upload|--label']='@none'\n"));
  EXPECT_THAT(script, Not(HasSubstr("['demo/upload|--wait']")));  // a flag takes no value
  EXPECT_THAT(script, HasSubstr("  local global='-o --output --token-file'\n"));
  EXPECT_THAT(script, Not(HasSubstr("completion'")));
  EXPECT_TRUE(script.ends_with("complete -F _demo demo\n"));
}

TEST(CompletionTest, ZshSpecsEscapeQuotesBracketsAndColons) {
  DemoCli cli;
  const auto script = ZshCompletion(DescribeCommands(cli.app));
  EXPECT_TRUE(script.starts_with("#compdef demo\n"));
  EXPECT_THAT(script, HasSubstr(R"('(- *)'{-h,--help}'[Print this help message and exit]')"));
  EXPECT_THAT(script,
              HasSubstr(R"('(-o --output)'{-o+,--output=}'[table or json]:output:(table json)')"));
  EXPECT_THAT(
      script,
      HasSubstr(R"('(--token-file)'--token-file='[the token'\''s file]:token-file:_files')"));
  EXPECT_THAT(script, HasSubstr(R"('*'--label='[k=v, repeatable]:label: ')"));
  EXPECT_THAT(script, HasSubstr(R"(':FILE\: the file:_files')"));
  EXPECT_THAT(script, HasSubstr(R"('::TYPE\: job type:(INSTALL_SERVER )"));
  // _describe's descriptions are only quoted; _arguments' are escaped.
  EXPECT_THAT(script, HasSubstr("'upload:Upload [a] file: now'"));
  EXPECT_THAT(script, HasSubstr("        upload) _demo_upload ;;\n"));
  EXPECT_THAT(script, HasSubstr("        create) _demo_tokens_create ;;\n"));
  EXPECT_THAT(script, Not(HasSubstr("'completion:")));
  EXPECT_THAT(script, Not(HasSubstr("_demo_completion")));
  EXPECT_TRUE(script.ends_with("_demo \"$@\"\n"));
}

struct Printed {
  int code = -1;
  std::string out;
  std::string err;
};

Printed RunWithArgs(std::vector<std::string> args) {
  args.insert(args.begin(), "fleetctl");
  std::vector<const char*> argv;
  for (const auto& arg : args)
    argv.push_back(arg.c_str());
  std::ostringstream out;
  std::ostringstream err;
  Io io{out,     err, false, [](const std::string&) { return std::optional<std::string>(); },
        nullptr, {}};
  Printed printed;
  printed.code = Main(static_cast<int>(argv.size()), argv.data(), std::move(io), "9.9.9");
  printed.out = out.str();
  printed.err = err.str();
  return printed;
}

TEST(CompletionCommandTest, PrintsBothScriptsOfEveryCommandAndIsHidden) {
  const auto bash = RunWithArgs({"completion", "bash"});
  EXPECT_EQ(bash.code, kExitOk);
  EXPECT_TRUE(bash.out.starts_with("# bash completion for fleetctl")) << bash.out;
  EXPECT_THAT(bash.out,
              HasSubstr("    ['fleetctl']='agents enroll unenroll jobs job enqueue cancel "
                        "retry logs watch upload artifacts tokens rollout schedule host hosts'\n"));
  const auto zsh = RunWithArgs({"completion", "zsh"});
  EXPECT_EQ(zsh.code, kExitOk);
  EXPECT_TRUE(zsh.out.starts_with("#compdef fleetctl\n"));
  EXPECT_THAT(zsh.out, HasSubstr("_fleetctl_tokens_revoke() {"));

  EXPECT_EQ(RunWithArgs({"completion", "fish"}).code, kExitUsage);
  EXPECT_EQ(RunWithArgs({"completion"}).code, kExitUsage);
  EXPECT_THAT(RunWithArgs({"--help"}).out, Not(HasSubstr("completion")));
}

}  // namespace
}  // namespace orb::cli
