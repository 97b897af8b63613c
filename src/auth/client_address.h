// Who the client is, for per-client rate limits: the TCP peer, or, when the peer is one of
// TRUSTED_PROXIES, the address that proxy says it forwarded for (X-Forwarded-For).
//
// X-Forwarded-For is read from the right (the entry the nearest proxy appended) to the left,
// skipping trusted proxies; the first address that is not trusted is the client. Entries further
// left were written by the client itself and are never believed. When every entry is trusted the
// leftmost is the client; an entry that is not an address stops the walk and the last trusted hop
// is used. A peer that is not trusted is the client whatever its headers say.
//
// Thread safety: immutable after parse().
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "util/result.h"

namespace mca::auth {

using address = boost::asio::ip::address;

// "10.0.0.0/8", "192.0.2.7" (a /32), "2001:db8::/32", "::1". IPv4-mapped IPv6 addresses are
// compared as IPv4.
class cidr_set {
 public:
  // errc::invalid_cidr naming the first bad entry.
  static util::result<cidr_set> parse(const std::vector<std::string>& blocks);

  bool contains(const address& a) const;
  bool empty() const { return blocks_.empty(); }
  std::size_t size() const { return blocks_.size(); }

 private:
  struct block {
    bool v6;
    std::array<unsigned char, 16> bytes;
    unsigned prefix;
  };
  std::vector<block> blocks_;
};

// An address from text: IPv4, IPv6, "[v6]" or either with ":port"; IPv4-mapped IPv6 becomes
// IPv4. nullopt when it is none of these.
std::optional<address> parse_address(std::string_view text);

// The client's address (see above). `forwarded_for` is every X-Forwarded-For field joined with
// ",". nullopt only when `peer` is not an address.
std::optional<address> client_address(std::string_view peer, std::string_view forwarded_for,
                                      const cidr_set& trusted);

// The key of a client's bucket: an IPv4 address, or the /64 of an IPv6 address (one subscriber
// usually holds a whole /64, so counting single IPv6 addresses would let one client rotate
// through 2^64 buckets). Binary and short (at most 9 bytes: no allocation).
std::string bucket_key(const address& a);

}  // namespace mca::auth
