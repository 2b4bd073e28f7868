// WebSocket frames on fleet-cmdr's event stream (GET /v1/stream): the harness opens a real
// upgrade on a real fleet-cmdr (live_server.hpp), then sends the input. The first byte picks how:
//   even: the rest is raw bytes on the upgraded connection (frame headers, masks, lengths,
//         fragmentation, control frames: Beast's frame parser and the server's limits);
//   odd:  the rest is a list of messages, each [opcode byte][2-byte length][payload], which the
//         harness frames correctly (masked, FIN set unless opcode's 0x80 bit asks for a fragment)
//         after replacing @VIEWER@ and friends in the payload, so subscribe messages with a valid
//         token reach replay and live delivery.
// The server must never crash, whatever arrives.

#include <string>

#include <sys/socket.h>
#include <unistd.h>

#include "fuzz/fuzz_target.hpp"
#include "fuzz/live_server.hpp"

namespace {

std::string Frame(std::uint8_t opcode_byte, const std::string& payload) {
  std::string frame;
  const bool fin = (opcode_byte & 0x80) == 0;
  frame.push_back(static_cast<char>((fin ? 0x80 : 0x00) | (opcode_byte & 0x0f)));
  const std::size_t n = payload.size();
  if (n < 126) {
    frame.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xffff) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      frame.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  frame.append(reinterpret_cast<const char*>(mask), 4);
  for (std::size_t i = 0; i < n; ++i)
    frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return frame;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto& server = orb::fuzz::LiveServer::Get();
  const int fd = server.Connect();
  ORB_FUZZ_CHECK(fd >= 0);
  const std::string upgrade =
      "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  orb::fuzz::LiveServer::WriteAll(fd, upgrade);
  const std::string response =
      orb::fuzz::LiveServer::ReadUntil(fd, "\r\n\r\n", std::chrono::milliseconds(2000));
  ORB_FUZZ_CHECK(response.starts_with("HTTP/1.1 101"));
  std::string bytes;
  const auto input = orb::fuzz::AsText(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    bytes = std::string(input);
  } else {
    for (std::size_t i = 0; i + 3 <= input.size();) {
      const auto opcode = static_cast<std::uint8_t>(input[i]);
      const std::size_t length =
          (static_cast<std::uint8_t>(input[i + 1]) << 8) | static_cast<std::uint8_t>(input[i + 2]);
      i += 3;
      const std::string payload(input.substr(i, length));
      i += payload.size();
      bytes += Frame(opcode, server.Expand(payload));
    }
  }
  orb::fuzz::LiveServer::WriteAll(fd, bytes);
  (void)orb::fuzz::LiveServer::Drain(fd, std::chrono::milliseconds(10));
  orb::fuzz::LiveServer::Abort(fd);  // no TIME_WAIT left behind per input
  return 0;
}
