#include "agent/config.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/build_paths.hpp"
#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::agent {
namespace {

using testing::FailsWith;
using testing::IsOk;

Expected<CommandLine> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "orb-jobs-agent");
  std::vector<const char*> argv;
  for (const auto& arg : args)
    argv.push_back(arg.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), "1.2.3");
}

// `text` as agent.toml is refused as invalid, the message naming the place `where` (and saying
// `says`, when given).
void ExpectRefusedAt(const std::string& text, const std::string& where,
                     const std::string& says = "") {
  AgentConfig config;
  auto applied = ApplyToml(text, "agent.toml", config);
  ASSERT_THAT(applied, FailsWith(Errc::kInvalidRequest)) << text;
  EXPECT_NE(applied.error().message.find(where), std::string::npos) << applied.error().message;
  if (!says.empty()) {
    EXPECT_NE(applied.error().message.find(says), std::string::npos) << applied.error().message;
  }
}

bool HasProblem(const Error& error, const std::string& field) {
  for (const auto& problem : error.details) {
    if (problem.field == field) return true;
  }
  return false;
}

constexpr const char* kGood = R"(
server = "http://127.0.0.1:8080"
agentId = "host-1"
tokenFile = "/etc/orb/token"
root = "/srv/orb"
stateDir = "/var/lib/orb"
maxParallel = 2
longPoll = false
logFormat = "json"
instanceSupervisor = "process"
[labels]
region = "eu"
)";

TEST(ConfigTest, ReadsEveryKeyOfTheFile) {
  AgentConfig config;
  ASSERT_THAT(ApplyToml(kGood, "agent.toml", config), IsOk());
  EXPECT_EQ(config.servers, std::vector<std::string>{"http://127.0.0.1:8080"});
  EXPECT_EQ(config.agent_id, "host-1");
  EXPECT_EQ(config.max_parallel, 2);
  EXPECT_FALSE(config.long_poll);
  EXPECT_EQ(config.log_format, LogFormat::kJson);
  EXPECT_EQ(config.instance_supervisor, jobs::InstanceSupervisor::kProcess);
  EXPECT_EQ(config.labels.at("region"), "eu");
  EXPECT_THAT(Validate(config), IsOk());
}

TEST(ConfigTest, TheShippedExampleConfigIsValid) {
  // packaging/agent.toml, the example the package ships.
  const auto path = ::orb::testing::SourcePath("packaging/agent.toml");
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  AgentConfig config;
  ASSERT_THAT(ApplyToml(text, "agent.toml", config), IsOk());
  EXPECT_THAT(Validate(config), IsOk());
  EXPECT_EQ(config.instance_supervisor, jobs::InstanceSupervisor::kAuto);
}

TEST(ConfigTest, RejectsUnknownKeysAndWrongTypesNamingEachKey) {
  AgentConfig config;
  auto applied = ApplyToml(
      "agentid = \"x\"\nmaxParallel = \"4\"\nlongPoll = 1\n"
      "instanceSupervisor = \"docker\"\n",
      "a.toml", config);
  ASSERT_THAT(applied, FailsWith(Errc::kInvalidRequest));
  EXPECT_TRUE(HasProblem(applied.error(), "agentid"));
  EXPECT_TRUE(HasProblem(applied.error(), "maxParallel"));
  EXPECT_TRUE(HasProblem(applied.error(), "longPoll"));
  EXPECT_TRUE(HasProblem(applied.error(), "instanceSupervisor"));
  EXPECT_NE(applied.error().message.find("unknown key"), std::string::npos);
  EXPECT_EQ(config.instance_supervisor, jobs::InstanceSupervisor::kAuto);  // unchanged
}

TEST(ConfigTest, ReportsTomlSyntaxErrorsWithTheirLine) {
  AgentConfig config;
  auto applied = ApplyToml("server = \"x\"\nroot = \n", "bad.toml", config);
  ASSERT_THAT(applied, FailsWith(Errc::kInvalidRequest));
  EXPECT_NE(applied.error().message.find("bad.toml:2"), std::string::npos)
      << applied.error().message;
}

TEST(ConfigTest, ACharacterBeyondAsciiOutsideAStringIsASyntaxErrorAtItsPlace) {
  // Bare keys are ASCII in TOML; toml++ 3.3.0 would reach undefined behaviour on these
  // (found by tests/fuzz/agent_config_fuzz.cpp, whose corpus keeps the input).
  for (const std::string text :
       {"se\xd1\xb4ver = \"x\"\n", "agentId = \"x\"\xc3\xbc\n",
        "agentId = \"\"\"a\"\"\"\"\xc3\xa9\n", "a = '''x''''\xe2\x80\x83\n"}) {
    ExpectRefusedAt(text, "agent.toml:1:");
  }
}

TEST(ConfigTest, CharactersBeyondAsciiInStringsAndCommentsAreFine) {
  AgentConfig config;
  const std::string text =
      "# Zürich\nagentId = \"h1\" # é\nroot = '/srv/spiele/zürich'\n[labels]\n"
      "\"région\" = \"\"\"Île-de-\\\"France\\\"\"\"\"\nnote = '''ü\n€'''\n";
  ASSERT_THAT(ApplyToml(text, "agent.toml", config), IsOk());
  EXPECT_EQ(config.root, "/srv/spiele/zürich");
  EXPECT_EQ(config.labels.at("région"), "Île-de-\"France\"");
  EXPECT_EQ(config.labels.at("note"), "ü\n€");
}

TEST(ConfigTest, AQuoteInsideAValueThatIsNoStringIsASyntaxErrorAtItsPlace) {
  // toml++ 3.3.0 reads a number, date or boolean ahead up to a space, comma, bracket or '#'
  // before it parses it, testing each character for whitespace: past a quote, a character beyond
  // ASCII inside what would be a string reaches __builtin_unreachable() (found by
  // tests/fuzz/agent_config_fuzz.cpp, whose corpus keeps it).
  for (const auto& [text, where] :
       {std::pair<std::string, std::string>{"stateDir =0\"\xd1\x8a\"\n", "agent.toml:1:12:"},
        {"maxParallel = 1.\"\xd1\x8a\"\n", "agent.toml:1:17:"},
        {"x = 1979-05-27 07)'\xd1\x8a'\n", "agent.toml:1:19:"},
        {"agentId = \"h1\"\ny = [\n  1,\n  true\"\xd1\x8a\",\n]\n", "agent.toml:4:7:"}}) {
    ExpectRefusedAt(text, where, "quote");
  }
  // Strings where TOML puts them, beyond ASCII too, are left to toml++.
  AgentConfig config;
  const std::string text =
      "agentId = \"h\xd1\x8a\"\nserver = [ \"https://a\",\"https://b\" ]\n"
      "[labels]\nk = \"v\"\n\"q\" = '\xd1\x8a'\n";
  auto applied = ApplyToml(text, "agent.toml", config);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(config.agent_id, "h\xd1\x8a");
  EXPECT_EQ(config.servers, (std::vector<std::string>{"https://a", "https://b"}));
}

TEST(ConfigTest, ACloseBraceWhereAnArrayExpectsAValueIsASyntaxErrorAtItsPlace) {
  // toml++ 3.3.0 asserts in parse_value() that an array's next value does not start with '}'
  // (an abort with assertions on; found by tests/fuzz/agent_config_fuzz.cpp, whose corpus keeps
  // it).
  for (const auto& [text, where] :
       {std::pair<std::string, std::string>{"ser= [}1, 2\n", "agent.toml:1:7:"},
        {"x = [1,}]\n", "agent.toml:1:8:"},
        {"x = [ # c\n }]\n", "agent.toml:2:2:"},
        {"x = [{}, [ }]]\n", "agent.toml:1:12:"}}) {
    ExpectRefusedAt(text, where, "'}'");
  }
  // Inline tables close with '}' inside arrays, after a value.
  AgentConfig config;
  auto applied = ApplyToml("server = [\"https://a\"]\nx = [{ a = 1 }, {}]\n", "agent.toml", config);
  ASSERT_FALSE(applied);  // x is unknown, but the text parsed
  EXPECT_EQ(applied.error().message.find("agent.toml:"), std::string::npos)
      << applied.error().message;
}

TEST(ConfigTest, ACharacterBeyondAsciiAfterABackslashInAMultiLineStringIsRefused) {
  // toml++ 3.3.0 tests what follows a backslash in a multi-line basic string for whitespace, and
  // reaches __builtin_unreachable() on some characters beyond ASCII (found by
  // tests/fuzz/agent_config_fuzz.cpp, whose corpus keeps it).
  for (const auto& [text, where] :
       {std::pair<std::string, std::string>{"a = \"\"\"\\\xd1\x8a\"\"\"\n", "agent.toml:1:8:"},
        {"a = \"\"\"x\\ \xd1\x8a\"\"\"\n", "agent.toml:1:9:"},
        {"a = \"\"\"\\\n  \xef\xbb\x83\"\"\"\n", "agent.toml:1:8:"}}) {
    ExpectRefusedAt(text, where, "backslash");
  }
}

TEST(ConfigTest, ADateWithASpaceAndOneDigitIsASyntaxErrorAtItsPlace) {
  // toml++ 3.3.0 reads on for a time after "date, space, digit" and asserts in parse_value()
  // that no value's end comes there (found by tests/fuzz/agent_config_fuzz.cpp, whose corpus
  // keeps it).
  for (const auto& [text, where] :
       {std::pair<std::string, std::string>{"p= 8*88--0--= 8 8", "agent.toml:1:15:"},
        {"x = 1979-05-27 0\n", "agent.toml:1:16:"},
        {"x = [1979-05-2_7 1]\n", "agent.toml:1:18:"}}) {
    ExpectRefusedAt(text, where, "time");
  }
}

TEST(ConfigTest, ATableHeaderWhoseKeyStartsBadlyIsASyntaxErrorAtItsPlace) {
  // toml++ 3.3.0 asserts that a header's key starts with a bare key character or a quote (an
  // abort with assertions on; found by tests/fuzz/agent_config_fuzz.cpp, whose corpus keeps it).
  for (const auto& [text, where] :
       {std::pair<std::string, std::string>{"[)retention]\n", "agent.toml:1:2:"},
        {"agentId = \"h1\"\n  [[ =x]]\n", "agent.toml:2:6:"},
        {"[retention . )b]\n", "agent.toml:1:14:"},
        {"[labels.\n", "agent.toml:1:"}}) {
    ExpectRefusedAt(text, where);
  }
  // Headers that start well, and brackets inside values that start a line, are left to toml++
  // (which parses this; the config then refuses the unknown table, naming it, not the header).
  AgentConfig config;
  const std::string text =
      "agentId = \"h1\"\n[ labels ]\nk = \"v\"\n[x]\ny = [\n  [1, 2],\n  [\"]\", { a = 1 }],\n]\n"
      "[\"x\".more]\nz = 1\n";
  auto applied = ApplyToml(text, "agent.toml", config);
  if (!applied) {
    EXPECT_EQ(applied.error().message.find("table header"), std::string::npos)
        << applied.error().message;
    EXPECT_EQ(applied.error().message.find("agent.toml:"), std::string::npos)
        << applied.error().message;
  }
  EXPECT_EQ(config.labels.at("k"), "v");
}

TEST(ConfigTest, ValidateListsEveryBadValue) {
  AgentConfig config;
  config.servers = {"ftp://x"};
  config.agent_id = "../evil";
  config.token_file = "relative/token";
  config.max_parallel = 0;
  // Labels a selector could not name (protocol.md's label rules, as for an enrolment).
  config.labels = {{"rack a", "1"}, {"tier", "gold\nsilver"}, {"game/id", "valheim"}};
  auto valid = Validate(config);
  ASSERT_THAT(valid, FailsWith(Errc::kInvalidRequest));
  for (const char* field : {"server", "agentId", "tokenFile", "root", "stateDir", "maxParallel",
                            "labels.rack a", "labels.tier"}) {
    EXPECT_TRUE(HasProblem(valid.error(), field)) << field;
  }
  EXPECT_FALSE(HasProblem(valid.error(), "labels.game/id"));
}

TEST(ConfigTest, AFlagWinsOverTheFile) {
  testing::TempDir dir;
  { std::ofstream(dir / "agent.toml") << kGood; }
  auto parsed =
      Parse({"--config", (dir / "agent.toml").string(), "--max-parallel", "7", "--long-poll=true",
             "--agent-id", "host-2", "--label", "tier=gold", "--instance-supervisor", "systemd"});
  ASSERT_THAT(parsed, IsOk());
  ASSERT_TRUE(parsed->config);
  EXPECT_EQ(parsed->config->max_parallel, 7);
  EXPECT_TRUE(parsed->config->long_poll);
  EXPECT_EQ(parsed->config->agent_id, "host-2");
  EXPECT_EQ(parsed->config->servers, std::vector<std::string>{"http://127.0.0.1:8080"});
  EXPECT_EQ(parsed->config->labels.at("tier"), "gold");
  EXPECT_EQ(parsed->config->instance_supervisor, jobs::InstanceSupervisor::kSystemd);
}

TEST(ConfigTest, ServerTakesAListOfReplicasInOrderOfPreference) {
  AgentConfig config;
  ASSERT_THAT(ApplyToml(R"(server = ["https://a:8443", "https://b:8443/orb"])", "a.toml", config),
              IsOk());
  EXPECT_EQ(config.servers, (std::vector<std::string>{"https://a:8443", "https://b:8443/orb"}));

  // A wrong type anywhere in the list is refused and the list stays as it was.
  auto mixed = ApplyToml(R"(server = ["https://c:8443", 8443])", "a.toml", config);
  ASSERT_THAT(mixed, FailsWith(Errc::kInvalidRequest));
  EXPECT_TRUE(HasProblem(mixed.error(), "server"));
  EXPECT_THAT(ApplyToml("server = 1", "a.toml", config), FailsWith(Errc::kInvalidRequest));
  EXPECT_EQ(config.servers, (std::vector<std::string>{"https://a:8443", "https://b:8443/orb"}));
}

TEST(ConfigTest, ValidatesEveryServerOfTheList) {
  AgentConfig config;
  config.agent_id = "host-1";
  config.token_file = "/t";
  config.root = "/r";
  config.state_dir = "/s";
  config.servers = {"https://a:8443", "https://b:8443"};
  EXPECT_THAT(Validate(config), IsOk());

  config.servers = {"https://a:8443", "a:8443", "https://a:8443"};
  auto valid = Validate(config);
  ASSERT_THAT(valid, FailsWith(Errc::kInvalidRequest));
  EXPECT_NE(valid.error().message.find("'a:8443' must start with http:// or https://"),
            std::string::npos)
      << valid.error().message;
  EXPECT_NE(valid.error().message.find("'https://a:8443' is listed more than once"),
            std::string::npos)
      << valid.error().message;
  EXPECT_EQ(valid.error().details.size(), 2U);  // the duplicate is named once

  config.servers = {};
  valid = Validate(config);
  ASSERT_THAT(valid, FailsWith(Errc::kInvalidRequest));
  EXPECT_TRUE(HasProblem(valid.error(), "server"));
}

TEST(ConfigTest, TheServerFlagRepeatsAndReplacesTheFilesList) {
  testing::TempDir dir;
  { std::ofstream(dir / "agent.toml") << kGood; }
  auto parsed = Parse({"--config", (dir / "agent.toml").string(), "--server", "https://a:8443",
                       "--server", "https://b:8443"});
  ASSERT_THAT(parsed, IsOk());
  ASSERT_TRUE(parsed->config);
  EXPECT_EQ(parsed->config->servers,
            (std::vector<std::string>{"https://a:8443", "https://b:8443"}));

  auto bad = Parse({"--config", (dir / "agent.toml").string(), "--server", "https://a:8443",
                    "--server", "b:8443"});
  ASSERT_THAT(bad, FailsWith(Errc::kInvalidRequest));
  EXPECT_TRUE(HasProblem(bad.error(), "server"));
}

TEST(ConfigTest, RejectsBadFlagValuesAndUnknownFlags) {
  auto bad_bool = Parse({"--server", "http://h:1", "--agent-id", "a", "--token-file", "/t",
                         "--root", "/r", "--state-dir", "/s", "--long-poll=maybe"});
  ASSERT_THAT(bad_bool, FailsWith(Errc::kInvalidRequest));
  EXPECT_TRUE(HasProblem(bad_bool.error(), "--long-poll"));
  auto bad_supervisor = Parse({"--server", "http://h:1", "--agent-id", "a", "--token-file", "/t",
                               "--root", "/r", "--state-dir", "/s", "--instance-supervisor=x"});
  ASSERT_THAT(bad_supervisor, FailsWith(Errc::kInvalidRequest));
  EXPECT_TRUE(HasProblem(bad_supervisor.error(), "--instance-supervisor"));
  EXPECT_THAT(Parse({"--no-such-flag"}), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(Parse({"--config", "/does/not/exist.toml"}), FailsWith(Errc::kIo));
}

TEST(ConfigTest, VersionPrintsAndExitsWithoutAConfig) {
  auto parsed = Parse({"--version"});
  ASSERT_THAT(parsed, IsOk());
  EXPECT_FALSE(parsed->config);
  EXPECT_EQ(parsed->exit_code, 0);
  EXPECT_NE(parsed->output.find("1.2.3"), std::string::npos);
}

TEST(ConfigTest, ReadTokenTrimsAndRefusesEmptyFiles) {
  testing::TempDir dir;
  {
    std::ofstream(dir / "token") << "  abc123 \n";
    std::ofstream(dir / "empty") << "\n";
  }
  auto token = ReadToken(dir / "token");
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(*token, "abc123");
  EXPECT_THAT(ReadToken(dir / "empty"), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(ReadToken(dir / "missing"), FailsWith(Errc::kIo));
}

}  // namespace
}  // namespace orb::agent
