// HTTP requests through fleet-cmdr's whole front: Beast's parser with the server's limits, the
// target's path and query decoding, the route table, authentication and authorization, the body
// codecs and the handlers, on a real fleet-cmdr (live_server.hpp). Each input is written as the
// bytes of one connection; whatever comes back is read until the server closes or goes quiet.
// The server must never crash, and must answer with HTTP or close.

#include <sys/socket.h>
#include <unistd.h>

#include "fuzz/fuzz_target.hpp"
#include "fuzz/live_server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& server = orb::fuzz::LiveServer::Get();
  const std::string bytes = server.Expand(orb::fuzz::AsText(data, size));
  const int fd = server.Connect();
  ORB_FUZZ_CHECK(fd >= 0);  // a refused connection means the server is gone (errno on stderr)
  orb::fuzz::LiveServer::WriteAll(fd, bytes);
  ::shutdown(fd, SHUT_WR);
  const std::string response = orb::fuzz::LiveServer::Drain(fd, std::chrono::milliseconds(100));
  orb::fuzz::LiveServer::Abort(fd);  // no TIME_WAIT left behind per input
  ORB_FUZZ_CHECK(response.empty() || response.starts_with("HTTP/1."));
  return 0;
}
