#include "integration/test_store.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace orb::testing {

bool TestsRunOnPostgres() {
  const char* store = std::getenv("ORB_TEST_STORE");
  return store != nullptr && std::string_view(store) == "postgresql";
}

TestStore::TestStore() {
  if (!TestsRunOnPostgres()) return;
  auto database = TestDatabase::OnFixture();
  if (!database) throw std::runtime_error(database.error().Describe());
  database_ = std::move(*database);
}

TestStore::~TestStore() = default;

std::string TestStore::url() const {
  return database_ ? database_->url() : std::string();
}

std::vector<std::string> TestStore::Flags() const {
  if (!database_) return {};
  return {"--store", database_->url()};
}

}  // namespace orb::testing
