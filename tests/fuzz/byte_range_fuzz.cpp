// The Range header of artifact downloads (net/byte_range.hpp): the first 8 bytes are the file
// size, the rest the header value. A partial range always lies inside the file and is not empty.

#include <cstring>

#include "fuzz/fuzz_target.hpp"
#include "net/byte_range.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint64_t file_size = 0;
  if (size < sizeof(file_size)) return 0;
  std::memcpy(&file_size, data, sizeof(file_size));
  file_size %= std::uint64_t{1} << 42;  // up to 4 TiB: the artifact limit is 4 GiB
  const auto header = orb::fuzz::AsText(data + sizeof(file_size), size - sizeof(file_size));
  const auto range = orb::net::ParseByteRange(header, file_size);
  if (range.kind == orb::net::ByteRange::Kind::kPartial) {
    ORB_FUZZ_CHECK(range.length > 0);
    ORB_FUZZ_CHECK(range.first < file_size);
    ORB_FUZZ_CHECK(range.length <= file_size - range.first);
  }
  return 0;
}
