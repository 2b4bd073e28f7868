#include "common/sha256.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

#include <openssl/evp.h>

#include "common/hex.hpp"

namespace orb {
namespace {

// A digest context that cannot be made or initialised means OpenSSL is out of memory or broken;
// no hash this process computes could be trusted, so stop (as RandomBytes does).
void Check(int ok) {
  if (ok != 1) std::abort();
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) std::abort();
  Reset();
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}

Sha256::Sha256(Sha256&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void Sha256::Reset() {
  Check(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr));
  bytes_ = 0;
}

void Sha256::Update(std::string_view data) {
  Update(data.data(), data.size());
}

void Sha256::Update(const void* data, std::size_t size) {
  if (ctx_ == nullptr) {  // moved-from: start over rather than crash
    ctx_ = EVP_MD_CTX_new();
    if (ctx_ == nullptr) std::abort();
    Reset();
  }
  if (size == 0) return;
  Check(EVP_DigestUpdate(ctx_, data, size));
  bytes_ += size;
}

Sha256::Digest Sha256::Finish() {
  if (ctx_ == nullptr) Update(nullptr, 0);
  Digest digest{};
  unsigned int length = 0;
  Check(EVP_DigestFinal_ex(ctx_, digest.data(), &length));
  if (length != kDigestSize) std::abort();
  Reset();
  return digest;
}

std::string Sha256::FinishHex() {
  return ToHex(Finish());
}

std::string ToHex(const Sha256::Digest& digest) {
  return HexEncode({reinterpret_cast<const char*>(digest.data()), digest.size()});
}

std::string Sha256Hex(std::string_view data) {
  Sha256 hash;
  hash.Update(data);
  return hash.FinishHex();
}

Expected<std::string> Sha256FileHex(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(Errc::kIo, "cannot open " + path.string() + ": " + std::strerror(errno));
  }
  Sha256 hash;
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = in.gcount();
    if (got > 0) hash.Update(buffer.data(), static_cast<std::size_t>(got));
  }
  if (in.bad()) return Fail(Errc::kIo, "cannot read " + path.string());
  return hash.FinishHex();
}

}  // namespace orb
