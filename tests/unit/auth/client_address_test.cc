#include "auth/client_address.h"

#include <gtest/gtest.h>

#include "auth/errc.h"

namespace mca::auth {
namespace {

cidr_set cidrs(std::vector<std::string> blocks) {
  auto r = cidr_set::parse(blocks);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : cidr_set{};
}

std::string client(std::string_view peer, std::string_view xff, const cidr_set& trusted) {
  auto a = client_address(peer, xff, trusted);
  return a ? a->to_string() : "none";
}

TEST(auth_cidr, parses_blocks_and_single_addresses) {
  auto set = cidrs({"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"});
  EXPECT_EQ(set.size(), 4u);
  EXPECT_TRUE(set.contains(*parse_address("10.200.3.4")));
  EXPECT_FALSE(set.contains(*parse_address("11.0.0.1")));
  EXPECT_TRUE(set.contains(*parse_address("192.0.2.7")));
  EXPECT_FALSE(set.contains(*parse_address("192.0.2.8")));
  EXPECT_TRUE(set.contains(*parse_address("2001:db8:ffff::1")));
  EXPECT_FALSE(set.contains(*parse_address("2001:db9::1")));
  EXPECT_TRUE(set.contains(*parse_address("::1")));
}

TEST(auth_cidr, handles_odd_prefixes_and_the_whole_space) {
  auto set = cidrs({"172.16.0.0/12"});
  EXPECT_TRUE(set.contains(*parse_address("172.31.255.255")));
  EXPECT_FALSE(set.contains(*parse_address("172.32.0.0")));
  auto all = cidrs({"0.0.0.0/0"});
  EXPECT_TRUE(all.contains(*parse_address("8.8.8.8")));
  EXPECT_FALSE(all.contains(*parse_address("2001:db8::1")));  // families apart
}

TEST(auth_cidr, compares_ipv4_mapped_ipv6_as_ipv4) {
  auto set = cidrs({"127.0.0.0/8"});
  EXPECT_TRUE(set.contains(*parse_address("::ffff:127.0.0.1")));
}

TEST(auth_cidr, refuses_what_is_not_a_block) {
  for (std::string bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "example.com", "2001:db8::/129",
                          "10.0.0.0/8/8", ""}) {
    auto r = cidr_set::parse({bad});
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, errc::invalid_cidr);
    }
  }
}

TEST(auth_address, parses_ports_and_brackets) {
  EXPECT_EQ(parse_address("192.0.2.1:5555")->to_string(), "192.0.2.1");
  EXPECT_EQ(parse_address(" [2001:db8::1]:443 ")->to_string(), "2001:db8::1");
  EXPECT_EQ(parse_address("[2001:db8::1]")->to_string(), "2001:db8::1");
  EXPECT_EQ(parse_address("2001:db8::1")->to_string(), "2001:db8::1");
  EXPECT_FALSE(parse_address("unknown"));
  EXPECT_FALSE(parse_address("[192.0.2.1]"));
  EXPECT_FALSE(parse_address(""));
}

TEST(auth_client, is_the_peer_without_trusted_proxies_whatever_the_header_says) {
  EXPECT_EQ(client("192.0.2.1", "203.0.113.9", cidr_set{}), "192.0.2.1");
}

TEST(auth_client, is_the_peer_when_the_peer_is_not_trusted) {
  auto trusted = cidrs({"10.0.0.0/8"});
  EXPECT_EQ(client("192.0.2.1", "203.0.113.9", trusted), "192.0.2.1");
}

TEST(auth_client, is_the_forwarded_address_when_the_peer_is_a_trusted_proxy) {
  auto trusted = cidrs({"10.0.0.0/8"});
  EXPECT_EQ(client("10.0.0.5", "203.0.113.9", trusted), "203.0.113.9");
  EXPECT_EQ(client("10.0.0.5", "", trusted), "10.0.0.5");  // no header: the proxy itself
}

TEST(auth_client, skips_trusted_hops_from_the_right_and_ignores_what_the_client_wrote) {
  auto trusted = cidrs({"10.0.0.0/8"});
  // The client forged "1.1.1.1"; its real address was appended by the first proxy.
  EXPECT_EQ(client("10.0.0.5", "1.1.1.1, 203.0.113.9, 10.0.0.7", trusted), "203.0.113.9");
  EXPECT_EQ(client("10.0.0.5", "10.0.0.9, 10.0.0.7", trusted), "10.0.0.9");  // all trusted
}

TEST(auth_client, stops_at_garbage_and_keeps_the_last_trusted_hop) {
  auto trusted = cidrs({"10.0.0.0/8"});
  EXPECT_EQ(client("10.0.0.5", "203.0.113.9, garbage", trusted), "10.0.0.5");
  EXPECT_EQ(client("10.0.0.5", "garbage, 10.0.0.7", trusted), "10.0.0.7");
  EXPECT_EQ(client("10.0.0.5", " , ,203.0.113.9:1234,", trusted), "203.0.113.9");
}

TEST(auth_client, is_none_for_a_peer_that_is_not_an_address) {
  EXPECT_EQ(client("", "", cidr_set{}), "none");
}

TEST(auth_bucket_key, is_the_ipv4_address_or_the_ipv6_slash_64) {
  auto a = bucket_key(*parse_address("192.0.2.1"));
  EXPECT_EQ(a.size(), 5u);
  EXPECT_NE(a, bucket_key(*parse_address("192.0.2.2")));
  EXPECT_EQ(bucket_key(*parse_address("::ffff:192.0.2.1")), a);
  auto v6 = bucket_key(*parse_address("2001:db8:1:2::1"));
  EXPECT_EQ(v6.size(), 9u);
  EXPECT_EQ(v6, bucket_key(*parse_address("2001:db8:1:2:ffff:ffff:ffff:ffff")));
  EXPECT_NE(v6, bucket_key(*parse_address("2001:db8:1:3::1")));
}

}  // namespace
}  // namespace mca::auth
