#include "store/sql/sql.hpp"

namespace orb::store::sql {

Error ToError(const SqlError& error) {
  return MakeError(Errc::kStore, error.what(), error.failure() != Failure::kOther);
}

void Corrupt(const std::string& what) {
  throw SqlError(Failure::kOther, "store: corrupt row: " + what);
}

}  // namespace orb::store::sql
