#pragma once

// Parsing of the HTTP Range request header for file responses (RFC 9110 §14.2), one range only.
// Pure; thread-safe.

#include <cstdint>
#include <string_view>

namespace orb::net {

struct ByteRange {
  enum class Kind {
    kWhole,          // no usable Range header: send the whole file (200)
    kPartial,        // send [first, first + length) with 206
    kUnsatisfiable,  // 416 with Content-Range: bytes */size
  };
  Kind kind = Kind::kWhole;
  std::uint64_t first = 0;
  std::uint64_t length = 0;
};

// `header` is the Range value ("bytes=0-99", "bytes=100-", "bytes=-50"); `size` the file size.
// Multiple ranges and other units are ignored (whole file), as RFC 9110 allows.
ByteRange ParseByteRange(std::string_view header, std::uint64_t size);

}  // namespace orb::net
