#pragma once

// The SQLite schema as numbered migrations (migration.hpp), applied in order at open
// (sqlite/sqlite_store.cpp). Pure data; thread-safe.

#include <span>

#include "store/migrations/migration.hpp"

namespace orb::store {

// All migrations, oldest first.
std::span<const Migration> SqliteMigrations();

}  // namespace orb::store
