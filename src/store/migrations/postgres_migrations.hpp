#pragma once

// The PostgreSQL schema as numbered migrations (migration.hpp), applied in order at open under an
// advisory lock (postgres/postgres_store.cpp), so replicas that start together migrate once.
// Migrations only add columns, tables and indexes: a replica of the previous version keeps
// working on the new schema during a rolling upgrade; a replica that finds a schema newer than
// it knows refuses to start. Pure data; thread-safe.

#include <span>

#include "store/migrations/migration.hpp"

namespace orb::store {

// All migrations, oldest first.
std::span<const Migration> PostgresMigrations();

}  // namespace orb::store
