// TrustedProxies (server/client_address.hpp): X-Forwarded-For is believed only from a trusted
// proxy, read from the right.
#include "server/client_address.hpp"

#include <string>

#include <gtest/gtest.h>

#include "support/matchers.hpp"

namespace orb::server {
namespace {

TEST(TrustedProxiesTest, ParsesAddressesAndCidrsAndRejectsTheRest) {
  const auto proxies = TrustedProxies::Parse({"10.0.0.0/8", "192.0.2.1", "fd00::/8", "::1"});
  ASSERT_TRUE(proxies.has_value()) << proxies.error().message;
  EXPECT_TRUE(proxies->Contains("10.200.3.4"));
  EXPECT_FALSE(proxies->Contains("11.0.0.1"));
  EXPECT_TRUE(proxies->Contains("192.0.2.1"));
  EXPECT_FALSE(proxies->Contains("192.0.2.2"));
  EXPECT_TRUE(proxies->Contains("fd12::5"));
  EXPECT_TRUE(proxies->Contains("::1"));
  EXPECT_FALSE(proxies->Contains("fe80::1"));
  EXPECT_TRUE(proxies->Contains("::ffff:10.1.1.1"));  // a dual-stack listener's IPv4 peer
  EXPECT_FALSE(proxies->Contains("not an address"));
  EXPECT_FALSE(proxies->Contains(""));

  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "example.com", "::/129",
                          "10.0.0.0/8/8", "1.2.3"}) {
    const auto parsed = TrustedProxies::Parse({bad});
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_EQ(parsed.error().code, Errc::kInvalidRequest);
    EXPECT_NE(parsed.error().message.find("--trusted-proxy"), std::string::npos);
  }
}

TEST(TrustedProxiesTest, TheClientIsThePeerUnlessThePeerIsATrustedProxy) {
  const auto proxies = *TrustedProxies::Parse({"10.0.0.0/8"});
  const std::string forwarded = "203.0.113.9";
  // An untrusted peer's header is ignored: it could name anyone.
  EXPECT_EQ(proxies.ClientAddress("198.51.100.1", &forwarded), "198.51.100.1");
  EXPECT_EQ(TrustedProxies().ClientAddress("10.0.0.1", &forwarded), "10.0.0.1");
  // A trusted one names the client.
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", &forwarded), "203.0.113.9");
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", nullptr), "10.0.0.1");
  const std::string empty;
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", &empty), "10.0.0.1");
  // Read from the right: what the client wrote itself (on the left) is not believed.
  const std::string spoofed = "1.1.1.1, 203.0.113.9, 10.0.0.2";
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", &spoofed), "203.0.113.9");
  // Garbage from a hop stops the walk at the hop before it.
  const std::string garbage = "203.0.113.9, junk, 10.0.0.2";
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", &garbage), "10.0.0.2");
}

}  // namespace
}  // namespace orb::server
