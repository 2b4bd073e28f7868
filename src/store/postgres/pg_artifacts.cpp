#include "store/postgres/pg_artifacts.hpp"

#include <chrono>
#include <string>

#include "store/engine/artifacts.hpp"
#include "store/ops/rows.hpp"

namespace orb::store::postgres {

using sql::Query;
using sql::SqlError;

Expected<bool> PutArtifact(PgPool& pool, std::string_view sha256, std::uint64_t size,
                           const ArtifactSource& read) {
  if (auto valid = engine::CheckArtifactPut(sha256, size); !valid) return Fail(valid.error());
  bool fresh = false;
  auto db = pool.Acquire(fresh);
  if (!db) return Fail(db.error());
  PgConnection& pg = **db;
  const std::string sha(sha256);
  try {
    pg.Exec("BEGIN");
    // A concurrent upload of the same artifact (another replica) waits here for the first one.
    const std::string size_text = std::to_string(size);
    const std::string chunk_text = std::to_string(engine::kArtifactPiece);
    const std::string now = std::to_string(ops::Millis(std::chrono::system_clock::now()));
    const PgParam row[] = {{sha}, {size_text}, {chunk_text}, {now}};
    if (pg.ExecBinary("INSERT INTO artifacts (sha256, size, chunk_bytes, created_at_ms) "
                      "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                      row, false)
            .Changes() == 0) {
      pg.Exec("ROLLBACK");
      pool.Release(*std::move(db));
      return false;
    }
    int index = 0;
    Status streamed = engine::StreamArtifact(sha256, size, read, [&](std::span<const char> piece) {
      const std::string idx = std::to_string(index++);
      const PgParam chunk[] = {{sha}, {idx}, {std::string_view(piece.data(), piece.size()), true}};
      (void)pg.ExecBinary("INSERT INTO artifact_chunks (sha256, idx, data) VALUES (?, ?, ?)", chunk,
                          false);
      return Ok();
    });
    if (!streamed) {
      pg.Exec("ROLLBACK");
      pool.Release(*std::move(db));
      return Fail(streamed.error());
    }
    pg.Exec("COMMIT");
    pool.Release(*std::move(db));
    return true;
  } catch (const SqlError& error) {
    pool.ReleaseAfterFailure(*std::move(db));
    return Fail(sql::ToError(error));
  }
}

Expected<ArtifactStat> StatArtifact(PgPool& pool, std::string_view sha256) {
  if (auto valid = engine::CheckArtifactName(sha256); !valid) return Fail(valid.error());
  std::optional<ArtifactStat> stat;
  Status read = pool.Read([&](sql::Connection& db) {
    Query q(db, "SELECT size, created_at_ms FROM artifacts WHERE sha256 = ?");
    q.Bind(1, sha256);
    if (!q.Step()) return;
    stat = ArtifactStat{std::string(sha256), static_cast<std::uint64_t>(q.Int64(0)),
                        ops::Wall(q.Int64(1))};
  });
  if (!read) return Fail(read.error());
  if (!stat) return Fail(Errc::kNotFound, "no artifact " + std::string(sha256));
  return *std::move(stat);
}

Status ReadArtifact(PgPool& pool, std::string_view sha256, std::uint64_t offset,
                    std::uint64_t length, const ArtifactSink& write) {
  if (auto valid = engine::CheckArtifactName(sha256); !valid) return valid;
  std::uint64_t size = 0;
  std::uint64_t chunk_bytes = 0;
  {
    bool found = false;
    Status read = pool.Read([&](sql::Connection& db) {
      Query q(db, "SELECT size, chunk_bytes FROM artifacts WHERE sha256 = ?");
      q.Bind(1, sha256);
      if (!q.Step()) return;
      found = true;
      size = static_cast<std::uint64_t>(q.Int64(0));
      chunk_bytes = static_cast<std::uint64_t>(q.Int64(1));
    });
    if (!read) return read;
    if (!found || chunk_bytes == 0) {
      return Fail(Errc::kNotFound, "no artifact " + std::string(sha256));
    }
  }
  if (auto range = engine::CheckArtifactRange(size, offset, length); !range) return range;
  // Chunks never change once committed: each is read by a statement of its own, so a slow
  // reader holds no transaction open.
  const std::string sha(sha256);
  while (length > 0) {
    const std::uint64_t index = offset / chunk_bytes;
    const std::uint64_t from = offset % chunk_bytes;
    const std::uint64_t take = std::min(length, chunk_bytes - from);
    bool fresh = false;
    auto db = pool.Acquire(fresh);
    if (!db) return Fail(db.error());
    std::string bytes;
    try {
      const std::string idx = std::to_string(index);
      const std::string start = std::to_string(from + 1);  // substring counts from 1
      const std::string count = std::to_string(take);
      const PgParam params[] = {{sha}, {idx}, {start}, {count}};
      PgResult result = (*db)->ExecBinary(
          "SELECT substring(data FROM ?3::int FOR ?4::int) FROM artifact_chunks "
          "WHERE sha256 = ?1 AND idx = ?2::int",
          params, true);
      if (result.rows() != 1 || result.Value(0, 0).size() != take) {
        pool.Release(*std::move(db));
        return Fail(Errc::kStore, "store: artifact " + sha + " lacks chunk " + idx);
      }
      bytes.assign(result.Value(0, 0));
      pool.Release(*std::move(db));
    } catch (const SqlError& error) {
      pool.ReleaseAfterFailure(*std::move(db));
      return Fail(sql::ToError(error));
    }
    if (auto sent = write(std::span<const char>(bytes.data(), bytes.size())); !sent) return sent;
    offset += take;
    length -= take;
  }
  return Ok();
}

Expected<std::vector<ArtifactStat>> ListArtifacts(PgPool& pool) {
  std::vector<ArtifactStat> stats;
  Status read = pool.Read([&](sql::Connection& db) {
    Query q(db, "SELECT sha256, size, created_at_ms FROM artifacts ORDER BY created_at_ms, sha256");
    while (q.Step()) {
      stats.push_back({q.Text(0), static_cast<std::uint64_t>(q.Int64(1)), ops::Wall(q.Int64(2))});
    }
  });
  if (!read) return Fail(read.error());
  return stats;
}

Status DeleteArtifact(PgPool& pool, const std::string& sha256) {
  bool fresh = false;
  auto db = pool.Acquire(fresh);
  if (!db) return Fail(db.error());
  try {
    const PgParam params[] = {{sha256}};
    const std::int64_t deleted =
        (*db)->ExecBinary("DELETE FROM artifacts WHERE sha256 = ?", params, false).Changes();
    pool.Release(*std::move(db));
    if (deleted == 0) return Fail(Errc::kNotFound, "no artifact " + sha256);
    return Ok();
  } catch (const SqlError& error) {
    pool.ReleaseAfterFailure(*std::move(db));
    return Fail(sql::ToError(error));
  }
}

}  // namespace orb::store::postgres
