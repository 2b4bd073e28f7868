// WaitForTerminationSignal (declared in net/http_server.hpp): a private io_context with a
// signal_set, so that main() needs no Asio of its own.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "net/http_server.hpp"

namespace orb::net {

int WaitForTerminationSignal() {
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  int received = 0;
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (!ec) received = signal_number;
  });
  io.run();
  return received;
}

}  // namespace orb::net
