#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/expected.hpp"

// OpenSSL's context type, declared here so this header does not pull in OpenSSL.
struct evp_md_ctx_st;

namespace orb {

// SHA-256 over OpenSSL EVP. Used for token hashes (protocol.md §2), artifact addresses (§5) and
// the checksums of downloads and backups (job-types.md).

// Lower-case hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(std::string_view data);

// Lower-case hex SHA-256 of a file's bytes, read in chunks. Errors: kIo when the file cannot be
// opened or read.
Expected<std::string> Sha256FileHex(const std::filesystem::path& path);

// Incremental SHA-256 for data that arrives in pieces (streamed uploads, archives being written).
//   Sha256 hash;
//   hash.Update(chunk1);
//   hash.Update(chunk2);
//   std::string hex = hash.FinishHex();
// After Finish*() the object starts over, as if new. Not thread-safe: one thread at a time.
// Movable, not copyable. Aborts the process only if OpenSSL cannot allocate a digest context.
class Sha256 {
 public:
  static constexpr std::size_t kDigestSize = 32;
  using Digest = std::array<unsigned char, kDigestSize>;

  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  void Update(const void* data, std::size_t size);

  // The digest of everything passed to Update() since construction or the last Finish*().
  Digest Finish();
  std::string FinishHex();

  // Total bytes passed to Update() since construction or the last Finish*().
  std::uint64_t bytes() const { return bytes_; }

 private:
  void Reset();

  evp_md_ctx_st* ctx_ = nullptr;
  std::uint64_t bytes_ = 0;
};

// Lower-case hex of `digest`.
std::string ToHex(const Sha256::Digest& digest);

}  // namespace orb
