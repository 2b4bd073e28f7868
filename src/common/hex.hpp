// hex.hpp: bytes as lower-case hex and back (digests, cursors, names that are not UTF-8).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace orb {

// Two lower-case hex digits per byte.
std::string HexEncode(std::string_view bytes);
// The bytes of `hex` (lower-case, an even number of digits); nullopt when it is not that.
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace orb
