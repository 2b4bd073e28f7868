// The store implementations the contract suite runs against, and its one instantiation.

#include "contract/store_contract.hpp"

#include "common/clock.hpp"
#include "store/migrations/postgres_migrations.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/postgres.hpp"
#include "support/temp_dir.hpp"

namespace orb::store {
namespace {

// A SQLite store in a temporary data dir.
class SqliteHome final : public StoreHome {
 public:
  Expected<std::unique_ptr<Store>> Open(StoreDeps deps) override {
    auto store = SqliteStore::Open({.data_dir = dir_ / "data"}, std::move(deps));
    if (!store) return Fail(store.error());
    return std::unique_ptr<Store>(std::move(*store));
  }

 private:
  ::orb::testing::TempDir dir_;
};

// The name of a database on `cluster` with every PostgreSQL migration applied, made by the first
// test of the run that needs it (test processes run in parallel: an advisory lock makes one of
// them build it). A fresh database per test is a copy of it: CREATE DATABASE ... TEMPLATE takes
// a fraction of the time the migrations take.
Expected<std::string> MigratedTemplate(const ::orb::testing::PostgresCluster& cluster) {
  const std::string name =
      "orb_store_template_v" + std::to_string(PostgresMigrations().back().version);
  try {
    postgres::PgConnection admin(cluster.Url(), false);
    admin.ExecScript("SELECT pg_advisory_lock(4242)");
    const postgres::PgParam param[] = {{name}};
    if (admin.ExecBinary("SELECT 1 FROM pg_database WHERE datname = ?", param, false).rows() == 0) {
      const std::string building = name + "_building";
      admin.ExecScript("DROP DATABASE IF EXISTS " + building + " WITH (FORCE)");
      admin.ExecScript("CREATE DATABASE " + building);
      IdGenerator ids(RealClock());
      StoreDeps deps;
      deps.ids = &ids;
      auto store = PostgresStore::Open(cluster.Url(building), {}, std::move(deps));
      if (!store) return Fail(store.error());
      store->reset();
      admin.ExecScript("ALTER DATABASE " + building + " RENAME TO " + name);
    }
    admin.ExecScript("SELECT pg_advisory_unlock(4242)");
  } catch (const sql::SqlError& error) {
    return Fail(sql::ToError(error).WithContext("building the template database"));
  }
  return name;
}

// A PostgreSQL store on the test run's cluster, in a database of its own. Several instances may
// be open on it at once, as replicas would.
class PostgresHome final : public StoreHome {
 public:
  static Expected<std::unique_ptr<StoreHome>> Make() {
    auto cluster = ::orb::testing::PostgresCluster::FromFixture();
    if (!cluster) return Fail(cluster.error());
    auto template_name = MigratedTemplate(*cluster);
    if (!template_name) return Fail(template_name.error());
    auto db = ::orb::testing::TestDatabase::Create(*cluster, *template_name);
    if (!db) return Fail(db.error());
    return std::unique_ptr<StoreHome>(new PostgresHome(*std::move(db)));
  }

  Expected<std::unique_ptr<Store>> Open(StoreDeps deps) override {
    auto store = PostgresStore::Open(db_->url(), {}, std::move(deps));
    if (!store) return Fail(store.error());
    return std::unique_ptr<Store>(std::move(*store));
  }

 private:
  explicit PostgresHome(std::unique_ptr<::orb::testing::TestDatabase> db) : db_(std::move(db)) {}
  std::unique_ptr<::orb::testing::TestDatabase> db_;
};

}  // namespace

std::vector<StoreFactory> StoreFactories() {
  return {
      {"Sqlite",
       []() -> Expected<std::unique_ptr<StoreHome>> {
         return std::unique_ptr<StoreHome>(std::make_unique<SqliteHome>());
       },
       false},
      {"Postgres", &PostgresHome::Make, true},
  };
}

std::vector<StoreFactory> SeveralInstanceFactories() {
  std::vector<StoreFactory> factories;
  for (auto& factory : StoreFactories()) {
    if (factory.several_instances) factories.push_back(factory);
  }
  return factories;
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreContractTest, ::testing::ValuesIn(StoreFactories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace orb::store
