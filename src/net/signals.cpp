// TerminationSignals (declared in net/http_server.hpp): a private io_context with a signal_set,
// so that main() needs no Asio of its own.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "net/http_server.hpp"

namespace orb::net {

struct TerminationSignals::Impl {
  boost::asio::io_context io;
  // Installed here: from now on SIGINT and SIGTERM are recorded, not acted on by default.
  boost::asio::signal_set signals{io, SIGINT, SIGTERM};
};

TerminationSignals::TerminationSignals() : impl_(std::make_unique<Impl>()) {}

TerminationSignals::~TerminationSignals() = default;

int TerminationSignals::Wait() {
  int received = 0;
  impl_->signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (!ec) received = signal_number;
  });
  impl_->io.restart();
  impl_->io.run();
  return received;
}

}  // namespace orb::net
