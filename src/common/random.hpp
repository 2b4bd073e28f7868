#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace orb {

// Cryptographically strong random bytes (OpenSSL RAND_bytes). Thread-safe.
void RandomBytes(void* out, std::size_t size);

// A random uint64 from the same source.
std::uint64_t RandomU64();

// A random double in [0, 1) for jitter; not for secrets.
double RandomUnit();

// Lower-case hex of `size` random bytes: tokens use 32 bytes (256 bits, protocol.md §2).
std::string RandomHex(std::size_t size);

}  // namespace orb
