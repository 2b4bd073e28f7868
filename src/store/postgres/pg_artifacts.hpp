#pragma once

// The artifacts of the PostgreSQL store (store.hpp PutArtifact, StatArtifact, ReadArtifact):
// `artifacts` rows with 1 MiB `artifact_chunks` of bytea, stored without compression; an upload
// is one transaction (visible whole or not at all; a concurrent upload of the same artifact waits
// for it), a read takes one chunk per statement without holding a transaction open, so a slow
// client holds nothing (docs/decisions/0013). Internal to src/store/postgres/.
// Thread-safety: thread-safe (each call takes a pooled connection).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/postgres/pg_pool.hpp"
#include "store/store.hpp"

namespace orb::store::postgres {

Expected<bool> PutArtifact(PgPool& pool, std::string_view sha256, std::uint64_t size,
                           const ArtifactSource& read);
Expected<ArtifactStat> StatArtifact(PgPool& pool, std::string_view sha256);
Status ReadArtifact(PgPool& pool, std::string_view sha256, std::uint64_t offset,
                    std::uint64_t length, const ArtifactSink& write);
// Every stored artifact.
Expected<std::vector<ArtifactStat>> ListArtifacts(PgPool& pool);
// Deletes the artifact's row and (ON DELETE CASCADE) its chunks, one statement on a pooled
// connection: never on a writer. not_found when there is none.
Status DeleteArtifact(PgPool& pool, const std::string& sha256);

}  // namespace orb::store::postgres
