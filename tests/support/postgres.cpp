#include "support/postgres.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <libpq-fe.h>
#include <spawn.h>
#include <sys/wait.h>

#include "common/random.hpp"
#include "support/build_paths.hpp"

extern char** environ;

namespace orb::testing {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string value = text.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == ' '))
    value.pop_back();
  return value;
}

// "postgresql://orb@127.0.0.1:5432/postgres" -> "postgresql://orb@127.0.0.1:5432/"
std::string WithoutDatabase(const std::string& url) {
  const auto slash = url.rfind('/');
  return slash == std::string::npos ? url : url.substr(0, slash + 1);
}

}  // namespace

Status PostgresCluster::Run(std::string_view command, std::string_view extra) const {
  const std::string script = std::string(ORB_SOURCE_DIR) + "/scripts/pg-test-cluster.sh";
  std::vector<std::string> args{script, std::string(command), dir_.string()};
  if (!extra.empty()) args.emplace_back(extra);
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    return Fail(Errc::kIo, "cannot run " + script);
  }
  // The script bounds its own waits (pg_ctl -t 60).
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Fail(Errc::kIo, script + " " + std::string(command) + " " + dir_.string() +
                               " failed (its reason is on stderr above)");
  }
  return Ok();
}

Expected<PostgresCluster> PostgresCluster::Start(const std::filesystem::path& dir) {
  PostgresCluster cluster(dir, "");
  if (auto started = cluster.Run("start"); !started) return Fail(started.error());
  cluster.base_url_ = WithoutDatabase(ReadFile(dir / "url"));
  return cluster;
}

Expected<PostgresCluster> PostgresCluster::StartStandby(const std::filesystem::path& dir,
                                                        const PostgresCluster& primary) {
  PostgresCluster cluster(dir, "");
  if (auto started = cluster.Run("standby", primary.dir_.string()); !started) {
    return Fail(started.error());
  }
  cluster.base_url_ = WithoutDatabase(ReadFile(dir / "url"));
  return cluster;
}

Status PostgresCluster::Promote() {
  return Run("promote");
}

std::string PostgresCluster::HostPort() const {
  return "127.0.0.1:" + std::to_string(PortOfUrl(Url()));
}

Expected<PostgresCluster> PostgresCluster::FromFixture() {
  const std::filesystem::path dir = ORB_PG_TEST_CLUSTER_DIR;
  const std::string url = ReadFile(dir / "url");
  if (url.empty()) {
    return Fail(Errc::kUnavailable,
                "no PostgreSQL test cluster in " + dir.string() +
                    ": run the tests with ctest (fixture `postgres`), or start it by hand with " +
                    "scripts/pg-test-cluster.sh start " + dir.string());
  }
  PostgresCluster cluster(dir, WithoutDatabase(url));
  if (auto alive = PgQuery(cluster.Url(), "SELECT 1"); !alive) {
    return Fail(Errc::kUnavailable, "the PostgreSQL test cluster in " + dir.string() +
                                        " does not answer: " + alive.error().message);
  }
  return cluster;
}

Status PostgresCluster::Stop() {
  return Run("stop");
}

Status PostgresCluster::Kill() {
  return Run("kill");
}

Status PostgresCluster::Restart() {
  return Run("start");
}

Status PostgresCluster::Destroy() {
  return Run("destroy");
}

std::string PostgresCluster::Url(std::string_view database) const {
  return base_url_ + std::string(database);
}

Expected<std::unique_ptr<TestDatabase>> TestDatabase::OnFixture() {
  auto cluster = PostgresCluster::FromFixture();
  if (!cluster) return Fail(std::move(cluster.error()));
  return Create(*cluster);
}

Expected<std::unique_ptr<TestDatabase>> TestDatabase::Create(const PostgresCluster& cluster,
                                                             std::string_view template_name) {
  const std::string name = "orb_test_" + RandomHex(6);
  const std::string admin = cluster.Url();
  auto created =
      PgQuery(admin, "CREATE DATABASE " + name + " TEMPLATE " + std::string(template_name));
  if (!created) return Fail(created.error());
  return std::unique_ptr<TestDatabase>(new TestDatabase(admin, name, cluster.Url(name)));
}

TestDatabase::~TestDatabase() {
  (void)PgQuery(admin_url_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
}

std::uint16_t PortOfUrl(const std::string& url) {
  const auto parsed = boost::urls::parse_uri(url);
  return parsed && parsed->has_port() ? parsed->port_number() : 0;
}

std::string UrlWithPort(const std::string& url, std::uint16_t port) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return url;
  boost::urls::url changed(*parsed);
  changed.set_port_number(port);
  return std::string(changed.buffer());
}

Expected<std::string> PgQuery(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string message = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
    if (conn != nullptr) PQfinish(conn);
    return Fail(Errc::kUnavailable, "cannot connect to " + url + ": " + message);
  }
  PGresult* result = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  std::string value;
  std::string error;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    error = PQresultErrorMessage(result);
  } else if (PQntuples(result) > 0 && PQnfields(result) > 0) {
    value = PQgetvalue(result, 0, 0);
  }
  PQclear(result);
  PQfinish(conn);
  if (!error.empty()) return Fail(Errc::kStore, sql + ": " + error);
  return value;
}

}  // namespace orb::testing
