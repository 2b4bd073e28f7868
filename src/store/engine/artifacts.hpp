#pragma once

// What both stores' artifact calls share (store.hpp PutArtifact, ReadArtifact): checking the
// arguments, and streaming an upload through sha256 in pieces so that neither store holds a whole
// artifact in memory. Where the bytes go is each store's: files in the data dir (SQLite), 1 MiB
// rows (PostgreSQL, docs/decisions/0013). Internal to src/store.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "common/expected.hpp"
#include "store/store.hpp"

namespace orb::store::engine {

inline constexpr std::size_t kArtifactPiece = 1 << 20;  // 1 MiB

// invalid_request unless `sha256` is 64 lower-case hex digits and size <= kMaxArtifactBytes.
Status CheckArtifactPut(std::string_view sha256, std::uint64_t size);
// not_found for a malformed sha256 (no such artifact can exist).
Status CheckArtifactName(std::string_view sha256);
// invalid_request unless [offset, offset + length) lies inside an artifact of `size` bytes.
Status CheckArtifactRange(std::uint64_t size, std::uint64_t offset, std::uint64_t length);

// Reads the upload from `read` and hands it to `store` in pieces of exactly kArtifactPiece bytes
// (the last one shorter; none for an empty artifact), hashing as it goes. invalid_request when
// the bytes are not `size` long or do not have that sha256; then the upload is to be discarded.
// Errors of `read` or `store` are returned as they are.
Status StreamArtifact(std::string_view sha256, std::uint64_t size, const ArtifactSource& read,
                      const std::function<Status(std::span<const char>)>& store);

}  // namespace orb::store::engine
