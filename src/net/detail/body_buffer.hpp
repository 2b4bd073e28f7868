#pragma once

// Internal to src/net: the read buffer's size while a body is read, shared by HttpClient and
// HttpServer. Includes Beast's flat_buffer, so only src/net/*.cpp may include it.

#include <cstddef>
#include <cstdint>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/optional/optional.hpp>

namespace orb::net::detail {

// Beast reads at most the buffer's free capacity (at least 512 bytes) at a time, and a
// flat_buffer that the parser keeps emptying never grows: a 470 MB body took 918,000 reads.
inline constexpr std::size_t kLargeBodyRead = 64 * 1024;

// Gives the buffer room for 64 KiB reads when the body is large or of unknown length.
inline void MakeRoomForBody(boost::beast::flat_buffer& buffer,
                            boost::optional<std::uint64_t> content_length) {
  if (!content_length || *content_length > kLargeBodyRead / 8) buffer.reserve(kLargeBodyRead);
}

// Gives that room back after the body, so that idle connections stay small; a buffer that was
// not grown is left alone (no free and malloc per request).
inline void ReleaseBodyRoom(boost::beast::flat_buffer& buffer) {
  if (buffer.capacity() >= kLargeBodyRead) buffer.shrink_to_fit();
}

}  // namespace orb::net::detail
