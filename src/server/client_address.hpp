#pragma once

// Which address a request comes from, for limits keyed by client (failed authentications,
// docs/reliability.md "fleet-cmdr under hostile input"). Behind a reverse proxy (nginx, see
// packaging/nginx/README.md) every peer is the proxy, which names the client in X-Forwarded-For.
// That header is believed only from a peer that is a trusted proxy (--trusted-proxy): anyone else
// could write any address in it and so escape the limit (or pin it on someone else).
//
// With a trusted peer, X-Forwarded-For ("client, proxy1, proxy2") is read from the right: the
// first address that is not itself a trusted proxy is the client. A missing or empty header leaves
// the peer as the client; one holding only trusted proxies, the leftmost of them; an entry that is
// not an address (a proxy that passed on garbage) stops the walk at the hop before it.
//
// Pure; immutable after Parse, so thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace orb::server {

class TrustedProxies {
 public:
  TrustedProxies() = default;  // trusts no one: the client is always the peer

  // Each entry an IPv4 or IPv6 address or a CIDR ("10.0.0.0/8", "::1", "fd00::/8").
  // Errors: kInvalidRequest naming the entry.
  static Expected<TrustedProxies> Parse(const std::vector<std::string>& entries);

  bool Contains(std::string_view address) const;
  // The client's address for a request from `peer` with this X-Forwarded-For (null: none).
  std::string ClientAddress(std::string_view peer, const std::string* forwarded_for) const;
  bool empty() const { return networks_.empty(); }

 private:
  struct Network {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};
    int prefix = 0;  // bits
  };
  std::vector<Network> networks_;
};

}  // namespace orb::server
