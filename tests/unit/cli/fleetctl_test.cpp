#include "cli/fleetctl.hpp"

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/exit_codes.hpp"

namespace orb::cli {
namespace {

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

Outcome RunFleetctl(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "fleetctl");
  std::vector<const char*> argv;
  for (const auto& arg : args)
    argv.push_back(arg.c_str());
  std::ostringstream out;
  std::ostringstream err;
  Io io{out,
        err,
        false,
        [env](const std::string& name) -> std::optional<std::string> {
          if (auto it = env.find(name); it != env.end()) return it->second;
          return std::nullopt;
        },
        nullptr,
        {}};
  Outcome outcome;
  outcome.code = Main(static_cast<int>(argv.size()), argv.data(), std::move(io), "9.9.9");
  outcome.out = out.str();
  outcome.err = err.str();
  return outcome;
}

// A loopback port with nothing listening on it: bound, then closed.
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

TEST(FleetctlMainTest, HelpListsEveryCommandTheEnvironmentAndTheExitCodes) {
  const auto help = RunFleetctl({"--help"});
  EXPECT_EQ(help.code, kExitOk);
  for (const char* command : {"agents", "enroll", "unenroll", "jobs", "job", "enqueue", "cancel",
                              "retry", "logs", "watch", "upload", "tokens"}) {
    EXPECT_NE(help.out.find(std::string("  ") + command), std::string::npos) << command;
  }
  EXPECT_NE(help.out.find("FLEET_SERVER"), std::string::npos);
  EXPECT_NE(help.out.find("FLEET_TOKEN"), std::string::npos);
  EXPECT_NE(help.out.find("Exit codes"), std::string::npos);
  EXPECT_NE(help.out.find("4    cannot connect"), std::string::npos);
}

TEST(FleetctlMainTest, EveryCommandHasHelpWithAnExample) {
  const std::vector<std::vector<std::string>> commands = {
      {"agents"},           {"enroll"},          {"unenroll"}, {"jobs"},  {"job"},    {"enqueue"},
      {"cancel"},           {"retry"},           {"logs"},     {"watch"}, {"upload"}, {"tokens"},
      {"tokens", "create"}, {"tokens", "revoke"}};
  for (auto args : commands) {
    args.push_back("--help");
    const auto help = RunFleetctl(args);
    EXPECT_EQ(help.code, kExitOk) << args.front();
    EXPECT_NE(help.out.find("Example"), std::string::npos) << args.front() << ":\n" << help.out;
    EXPECT_NE(help.out.find("fleetctl " + args.front()), std::string::npos) << args.front();
  }
}

TEST(FleetctlMainTest, VersionPrintsTheVersion) {
  const auto version = RunFleetctl({"--version"});
  EXPECT_EQ(version.code, kExitOk);
  EXPECT_NE(version.out.find("9.9.9"), std::string::npos);
}

TEST(FleetctlMainTest, NoCommandIsAUsageError) {
  const auto none = RunFleetctl({});
  EXPECT_EQ(none.code, kExitUsage);
  EXPECT_NE(none.err.find("fleetctl: usage:"), std::string::npos) << none.err;
}

TEST(FleetctlMainTest, UnknownCommandsFlagsAndValuesAreUsageErrors) {
  const auto command = RunFleetctl({"frobnicate"});
  EXPECT_EQ(command.code, kExitUsage);
  const auto flag = RunFleetctl({"jobs", "--bogus"});
  EXPECT_EQ(flag.code, kExitUsage);
  EXPECT_NE(flag.err.find("--bogus"), std::string::npos) << flag.err;
  const auto output = RunFleetctl({"jobs", "-o", "yaml"});
  EXPECT_EQ(output.code, kExitUsage);
  EXPECT_NE(output.err.find("yaml"), std::string::npos) << output.err;
  const auto status = RunFleetctl({"jobs", "--status", "DONE"});
  EXPECT_EQ(status.code, kExitUsage);
  const auto limit = RunFleetctl({"jobs", "--limit", "many"});
  EXPECT_EQ(limit.code, kExitUsage);
  const auto missing = RunFleetctl({"cancel"});
  EXPECT_EQ(missing.code, kExitUsage);
  EXPECT_NE(missing.err.find("JOB"), std::string::npos) << missing.err;
}

TEST(FleetctlMainTest, EnqueueChecksItsFlagsBeforeConnecting) {
  const std::map<std::string, std::string> env = {{"FLEET_TOKEN", "t"},
                                                  {"FLEET_SERVER", "http://127.0.0.1:1"}};
  const auto neither = RunFleetctl({"enqueue", "STOP_INSTANCE", "--instance", "mc-1"}, env);
  EXPECT_EQ(neither.code, kExitUsage);
  EXPECT_NE(neither.err.find("--agent"), std::string::npos) << neither.err;
  const auto both =
      RunFleetctl({"enqueue", "STOP_INSTANCE", "--agent", "a", "--selector", "region=eu"}, env);
  EXPECT_EQ(both.code, kExitUsage);
  const auto payload =
      RunFleetctl({"enqueue", "STOP_INSTANCE", "--agent", "a", "--payload", "{bad"}, env);
  EXPECT_EQ(payload.code, kExitUsage);
  EXPECT_NE(payload.err.find("--payload"), std::string::npos) << payload.err;
  const auto array =
      RunFleetctl({"enqueue", "STOP_INSTANCE", "--agent", "a", "--payload", "[1]"}, env);
  EXPECT_EQ(array.code, kExitUsage);
  const auto file = RunFleetctl(
      {"enqueue", "STOP_INSTANCE", "--agent", "a", "--payload", "@/nonexistent/p.json"}, env);
  EXPECT_EQ(file.code, kExitUsage);
  const auto when =
      RunFleetctl({"enqueue", "STOP_INSTANCE", "--agent", "a", "--not-before", "tomorrow"}, env);
  EXPECT_EQ(when.code, kExitUsage);
  EXPECT_NE(when.err.find("RFC 3339"), std::string::npos) << when.err;
}

TEST(FleetctlMainTest, AMissingTokenIsAUsageErrorThatSaysWhatToDo) {
  const auto outcome = RunFleetctl({"agents"});
  EXPECT_EQ(outcome.code, kExitUsage);
  EXPECT_NE(outcome.err.find("FLEET_TOKEN"), std::string::npos) << outcome.err;
}

TEST(FleetctlMainTest, UploadOfAMissingFileIsAUsageError) {
  const auto outcome = RunFleetctl({"upload", "/nonexistent/build.tar"}, {{"FLEET_TOKEN", "t"}});
  EXPECT_EQ(outcome.code, kExitUsage);
  EXPECT_NE(outcome.err.find("/nonexistent/build.tar"), std::string::npos) << outcome.err;
}

TEST(FleetctlMainTest, AServerThatIsDownExitsWithFourAndNamesTheUrl) {
  const std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort());
  const auto outcome = RunFleetctl({"--server", url, "jobs"}, {{"FLEET_TOKEN", "t"}});
  EXPECT_EQ(outcome.code, kExitConnect);
  EXPECT_NE(outcome.err.find(url), std::string::npos) << outcome.err;
  const auto watch = RunFleetctl({"watch", "j-1", "--server", url}, {{"FLEET_TOKEN", "t"}});
  EXPECT_EQ(watch.code, kExitConnect) << watch.err;
}

}  // namespace
}  // namespace orb::cli
