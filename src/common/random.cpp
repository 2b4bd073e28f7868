#include "common/random.hpp"

#include <cstdlib>
#include <stdexcept>

#include <openssl/rand.h>

#include "common/hex.hpp"

namespace orb {

void RandomBytes(void* out, std::size_t size) {
  if (RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(size)) != 1) {
    // Without a working CSPRNG no token or id is safe to hand out: stop rather than continue.
    std::abort();
  }
}

std::uint64_t RandomU64() {
  std::uint64_t value = 0;
  RandomBytes(&value, sizeof value);
  return value;
}

double RandomUnit() {
  return static_cast<double>(RandomU64() >> 11) * (1.0 / 9007199254740992.0);  // 2^53
}

std::string RandomHex(std::size_t size) {
  std::string bytes(size, '\0');
  RandomBytes(bytes.data(), size);
  return HexEncode(bytes);
}

}  // namespace orb
