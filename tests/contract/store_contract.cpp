// The store implementations the contract suite runs against, and its one instantiation.

#include "contract/store_contract.hpp"

#include "store/sqlite/sqlite_store.hpp"
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

}  // namespace

std::vector<StoreFactory> StoreFactories() {
  return {
      {"Sqlite",
       []() -> Expected<std::unique_ptr<StoreHome>> {
         return std::unique_ptr<StoreHome>(std::make_unique<SqliteHome>());
       },
       false},
  };
}

INSTANTIATE_TEST_SUITE_P(AllStores, StoreContractTest, ::testing::ValuesIn(StoreFactories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace orb::store
