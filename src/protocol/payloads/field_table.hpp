#pragma once

// Internal to src/protocol: helpers for writing the per-type schema tables as constexpr data.

#include <array>
#include <cstddef>
#include <cstdint>

#include "protocol/payloads/schema.hpp"

namespace orb::protocol::payloads {

inline constexpr std::int64_t kMaxUrlLength = 4096;

// One table made of several, in order (shared pieces such as INSTALL/UPDATE's "artifact").
template <std::size_t... kSizes>
constexpr std::array<PayloadField, (kSizes + ...)> Concat(
    const std::array<PayloadField, kSizes>&... parts) {
  std::array<PayloadField, (kSizes + ...)> out{};
  std::size_t next = 0;
  (([&] {
     for (const auto& field : parts)
       out[next++] = field;
   }()),
   ...);
  return out;
}

}  // namespace orb::protocol::payloads
