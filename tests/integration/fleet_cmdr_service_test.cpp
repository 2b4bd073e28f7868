// The fleet-cmdr binary as its packaged service runs it (packaging/fleet-cmdr.service): the
// version of the build (the CMake project version, ORB_PROJECT_VERSION) on --version and in the
// fleet_cmdr_build_info metric; `serve --config FILE`; systemd's Type=notify: READY=1 once it
// answers, watchdog pings while it runs, STOPPING=1 on SIGTERM.

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <signal.h>

#include "common/regex.hpp"
#include "integration/cmdr_process.hpp"
#include "integration/test_cluster.hpp"
#include "net/http_client.hpp"
#include "support/build_paths.hpp"
#include "support/child_process.hpp"
#include "support/free_port.hpp"
#include "support/notify_socket.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {
namespace {

using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

// "0.1.0" as a regular expression.
std::string Escaped(const std::string& text) {
  return std::regex_replace(text, std::regex(R"([.])"), R"(\.)");
}

TEST(FleetCmdrServiceTest, VersionFlagSaysTheProjectVersion) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(
      ::popen((std::string(ORB_FLEET_CMDR_BIN) + " --version").c_str(), "r"), ::pclose);
  ASSERT_NE(pipe, nullptr);
  std::array<char, 256> line{};
  ASSERT_NE(std::fgets(line.data(), line.size(), pipe.get()), nullptr);
  EXPECT_TRUE(std::regex_match(std::string(line.data()),
                               std::regex("fleet-cmdr " + Escaped(ORB_PROJECT_VERSION) +
                                          R"re(( \(git [0-9a-f]{12}(-dirty)?\))?\n)re")))
      << line.data();
}

TEST(FleetCmdrServiceTest, MetricsCarryTheBuildInfo) {
  TempDir dir;
  CmdrProcess cmdr(dir.path(), FreePort());
  ASSERT_TRUE(cmdr.WaitHealthy());
  std::string admin_token;
  std::ifstream(dir.path() / "admin.token") >> admin_token;
  const auto metrics = ApiClient(cmdr.port(), admin_token).Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("# TYPE fleet_cmdr_build_info gauge\n"), std::string::npos);
  EXPECT_TRUE(std::regex_search(
      metrics.body,
      std::regex("\nfleet_cmdr_build_info\\{version=\"" + Escaped(ORB_PROJECT_VERSION) +
                 R"re(",commit="([0-9a-f]{12}(-dirty)?|unknown)"\} 1\n)re")))
      << metrics.body;
}

// packaging/fleet-cmdr.service runs `fleet-cmdr serve --config /etc/fleet-cmdr/fleet-cmdr.toml`.
TEST(FleetCmdrServiceTest, ServeTakesItsFlagsFromTheConfigFile) {
  TempDir dir;
  const auto port = FreePort();
  std::ofstream(dir / "fleet-cmdr.toml") << "# as packaging/fleet-cmdr.toml\n"
                                         << "listen = \"127.0.0.1:" << port << "\"\n"
                                         << "data-dir = \"" << (dir / "data").string() << "\"\n"
                                         << "long-poll-seconds = 7\n"
                                         << "retention-days = 30\n"
                                         << "artifact-retention-days = 0\n"
                                         << "idempotency-key-days = 7\n"
                                         << "retention-batch-rows = 200\n";
  ChildProcess cmdr;
  ASSERT_TRUE(
      cmdr.Start({ORB_FLEET_CMDR_BIN, "serve", "--config", (dir / "fleet-cmdr.toml").string()}));
  // Probed with a plain client: ApiClient records a failure for each refused connection.
  ASSERT_TRUE(WaitFor(
      [&] {
        net::HttpClient probe({"http://127.0.0.1:" + std::to_string(port)});
        auto reply = probe.Send({"GET", "/healthz"});
        return reply && reply->status == 200;
      },
      10s, 20ms));
  EXPECT_TRUE(std::filesystem::exists(dir / "data" / "admin.token"));
  cmdr.Kill(SIGTERM);
  EXPECT_EQ(cmdr.Wait(10s), 0);
}

TEST(FleetCmdrServiceTest, AMisspeltConfigKeyIsAnError) {
  TempDir dir;
  std::ofstream(dir / "fleet-cmdr.toml") << "data-dir = \"" << (dir / "data").string() << "\"\n"
                                         << "long-pol-seconds = 7\n";
  ChildProcess cmdr;
  ASSERT_TRUE(
      cmdr.Start({ORB_FLEET_CMDR_BIN, "serve", "--config", (dir / "fleet-cmdr.toml").string()},
                 dir / "output"));
  EXPECT_NE(cmdr.Wait(10s), 0);
  std::ifstream output(dir / "output");
  const std::string text((std::istreambuf_iterator<char>(output)),
                         std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("long-pol-seconds"), std::string::npos) << text;
  EXPECT_FALSE(std::filesystem::exists(dir / "data"));
}

TEST(FleetCmdrServiceTest, NotifiesReadyPingsTheWatchdogAndSaysStopping) {
  TempDir dir;
  NotifySocket systemd((dir / "notify").string());
  // A 1 s watchdog: a ping at most every 250 ms, after the timer rounds of every 250 ms.
  ::setenv("WATCHDOG_USEC", "1000000", 1);
  CmdrProcess cmdr(dir.path() / "data", FreePort());
  ::unsetenv("WATCHDOG_USEC");

  // READY=1 comes once the port is bound: /healthz answers right after it.
  ASSERT_EQ(systemd.ReceiveWithin(10s), "READY=1\nSTATUS=serving");
  EXPECT_EQ(ApiClient(cmdr.port(), std::nullopt).Get("/healthz").status, 200);
  // Pings keep coming: three within 3 s (one due every 250-500 ms).
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(systemd.ReceiveWithin(1s), "WATCHDOG=1") << "ping " << i;
  }
  EXPECT_EQ(cmdr.Stop(), 0);
  // After STOPPING=1 a last ping may still be in the socket's queue from the final round.
  std::string message;
  do {
    message = systemd.ReceiveWithin(1s);
  } while (message == "WATCHDOG=1");
  EXPECT_EQ(message, "STOPPING=1\nSTATUS=stopping");
}

}  // namespace
}  // namespace orb::testing
