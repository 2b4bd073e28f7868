#include "store/engine/artifacts.hpp"

#include <string>
#include <vector>

#include "common/sha256.hpp"
#include "protocol/payloads/schema.hpp"

namespace orb::store::engine {

Status CheckArtifactPut(std::string_view sha256, std::uint64_t size) {
  if (!protocol::IsSha256Hex(sha256)) {
    return Fail(Errc::kInvalidRequest, "artifact: sha256 must be 64 lower-case hex digits");
  }
  if (size > kMaxArtifactBytes) {
    return Fail(Errc::kInvalidRequest,
                "artifact: larger than " + std::to_string(kMaxArtifactBytes) + " bytes");
  }
  return Ok();
}

Status CheckArtifactName(std::string_view sha256) {
  if (!protocol::IsSha256Hex(sha256)) {
    return Fail(Errc::kNotFound, "no artifact " + std::string(sha256));
  }
  return Ok();
}

Status CheckArtifactRange(std::uint64_t size, std::uint64_t offset, std::uint64_t length) {
  if (offset > size || length > size - offset) {
    return Fail(Errc::kInvalidRequest, "artifact: range " + std::to_string(offset) + "+" +
                                           std::to_string(length) + " is outside its " +
                                           std::to_string(size) + " bytes");
  }
  return Ok();
}

Status StreamArtifact(std::string_view sha256, std::uint64_t size, const ArtifactSource& read,
                      const std::function<Status(std::span<const char>)>& store) {
  std::vector<char> piece(kArtifactPiece);
  std::size_t filled = 0;
  std::uint64_t total = 0;
  Sha256 hash;
  for (;;) {
    auto got = read(std::span<char>(piece).subspan(filled));
    if (!got) return Fail(std::move(got.error()));
    if (*got > piece.size() - filled) {
      return Fail(Errc::kInternal, "artifact: the source returned more than it was asked for");
    }
    filled += *got;
    total += *got;
    if (total > size) {
      return Fail(Errc::kInvalidRequest,
                  "artifact: more than the announced " + std::to_string(size) + " bytes");
    }
    const bool end = *got == 0;
    if (filled == piece.size() || (end && filled > 0)) {
      hash.Update(piece.data(), filled);
      if (auto stored = store(std::span<const char>(piece.data(), filled)); !stored) {
        return stored;
      }
      filled = 0;
    }
    if (end) break;
  }
  if (total != size) {
    return Fail(Errc::kInvalidRequest, "artifact: " + std::to_string(total) +
                                           " bytes, not the announced " + std::to_string(size));
  }
  if (hash.FinishHex() != sha256) {
    return Fail(Errc::kInvalidRequest,
                "artifact: the bytes do not have sha256 " + std::string(sha256));
  }
  return Ok();
}

}  // namespace orb::store::engine
