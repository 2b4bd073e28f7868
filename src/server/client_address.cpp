#include "server/client_address.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include <arpa/inet.h>

namespace orb::server {

namespace {

struct Address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// An IPv4 or IPv6 address; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) counts as IPv4, so that
// a dual-stack listener's peers match IPv4 networks.
std::optional<Address> ParseAddress(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  const std::string copy(text);
  Address address;
  if (::inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) return address;
  if (::inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  static constexpr std::array<std::uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped.begin(), kMapped.end(), address.bytes.begin())) {
    std::copy(address.bytes.begin() + 12, address.bytes.end(), address.bytes.begin());
    std::fill(address.bytes.begin() + 4, address.bytes.end(), std::uint8_t{0});
    return address;
  }
  address.v6 = true;
  return address;
}

}  // namespace

Expected<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& entries) {
  TrustedProxies proxies;
  for (const std::string& entry : entries) {
    const auto bad = [&entry](std::string_view why) {
      return Fail(
          MakeError(Errc::kInvalidRequest, "--trusted-proxy '" + entry + "': " + std::string(why)));
    };
    const std::string_view text = Trim(entry);
    const auto slash = text.find('/');
    const auto address = ParseAddress(text.substr(0, slash));
    if (!address) return bad("not an IPv4 or IPv6 address or CIDR");
    const int bits = address->v6 ? 128 : 32;
    int prefix = bits;
    if (slash != std::string_view::npos) {
      const std::string_view digits = text.substr(slash + 1);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (ec != std::errc{} || end != digits.data() + digits.size() || prefix < 0 ||
          prefix > bits) {
        return bad("the prefix length must be 0 to " + std::to_string(bits));
      }
    }
    proxies.networks_.push_back({address->v6, address->bytes, prefix});
  }
  return proxies;
}

bool TrustedProxies::Contains(std::string_view text) const {
  if (networks_.empty()) return false;
  const auto address = ParseAddress(Trim(text));
  if (!address) return false;
  for (const Network& network : networks_) {
    if (network.v6 != address->v6) continue;
    int left = network.prefix;
    bool match = true;
    for (std::size_t i = 0; left > 0 && match; ++i, left -= 8) {
      const std::uint8_t mask =
          left >= 8 ? std::uint8_t{0xff} : static_cast<std::uint8_t>(0xff << (8 - left));
      match = (network.bytes[i] & mask) == (address->bytes[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

std::string TrustedProxies::ClientAddress(std::string_view peer,
                                          const std::string* forwarded_for) const {
  if (forwarded_for == nullptr || !Contains(peer)) return std::string(peer);
  std::string_view rest = *forwarded_for;
  std::string client(peer);
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    const std::string_view hop =
        Trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    if (!ParseAddress(hop)) break;  // garbage from a hop: stop at the last one we believe
    client = std::string(hop);
    if (!Contains(hop)) break;
  }
  return client;
}

}  // namespace orb::server
