#pragma once

// A schema migration of either store: numbered, applied in order at open and recorded in
// `schema_migrations`. A migration is never edited once released: a change is a new migration
// with the next number. Pure data.

#include <string_view>

namespace orb::store {

struct Migration {
  int version = 0;        // 1, 2, 3 ... without gaps
  std::string_view name;  // what it does, for the schema_migrations row
  std::string_view sql;   // one or more statements, run in the migration's transaction
};

}  // namespace orb::store
