#include "auth/client_address.h"

#include <charconv>
#include <cstring>

#include "auth/errc.h"

namespace mca::auth {
namespace {

address unmapped(const address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<address> plain_address(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return unmapped(a);
}

bool prefix_match(const unsigned char* a, const unsigned char* b, unsigned bits) {
  const unsigned whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

std::optional<address> parse_address(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  if (text.front() == '[') {  // [v6] or [v6]:port
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto a = plain_address(text.substr(1, close - 1));
    if (!a || !a->is_v6()) return std::nullopt;
    return a;
  }
  if (auto a = plain_address(text)) return a;
  // v4:port (a bare IPv6 address has more than one colon and was parsed above)
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
  auto a = plain_address(text.substr(0, colon));
  if (!a || !a->is_v4()) return std::nullopt;
  return a;
}

util::result<cidr_set> cidr_set::parse(const std::vector<std::string>& blocks) {
  cidr_set out;
  for (const auto& text : blocks) {
    std::string_view s = trim(text);
    auto slash = s.find('/');
    auto a = plain_address(s.substr(0, slash));
    if (!a) return util::error(errc::invalid_cidr, "\"" + text + "\" is not an address or CIDR");
    block b{};
    b.v6 = a->is_v6();
    const unsigned max_prefix = b.v6 ? 128 : 32;
    b.prefix = max_prefix;
    if (slash != std::string_view::npos) {
      auto digits = s.substr(slash + 1);
      unsigned p = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
      if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
          p > max_prefix) {
        return util::error(errc::invalid_cidr,
                           "\"" + text + "\": prefix must be 0-" + std::to_string(max_prefix));
      }
      b.prefix = p;
    }
    if (b.v6) {
      auto bytes = a->to_v6().to_bytes();
      std::memcpy(b.bytes.data(), bytes.data(), 16);
    } else {
      auto bytes = a->to_v4().to_bytes();
      std::memcpy(b.bytes.data(), bytes.data(), 4);
    }
    out.blocks_.push_back(b);
  }
  return out;
}

bool cidr_set::contains(const address& raw) const {
  const address a = unmapped(raw);
  std::array<unsigned char, 16> bytes{};
  if (a.is_v6()) {
    auto b = a.to_v6().to_bytes();
    std::memcpy(bytes.data(), b.data(), 16);
  } else {
    auto b = a.to_v4().to_bytes();
    std::memcpy(bytes.data(), b.data(), 4);
  }
  for (const auto& blk : blocks_) {
    if (blk.v6 == a.is_v6() && prefix_match(blk.bytes.data(), bytes.data(), blk.prefix)) {
      return true;
    }
  }
  return false;
}

std::optional<address> client_address(std::string_view peer, std::string_view forwarded_for,
                                      const cidr_set& trusted) {
  auto client = parse_address(peer);
  if (!client) return std::nullopt;
  if (trusted.empty() || !trusted.contains(*client)) return client;
  // Walk X-Forwarded-For from the right while the hops are trusted proxies.
  std::string_view rest = forwarded_for;
  while (!trim(rest).empty()) {
    auto comma = rest.rfind(',');
    std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (trim(entry).empty()) continue;
    auto hop = parse_address(entry);
    if (!hop) break;  // garbage: keep the last trusted hop
    client = hop;
    if (!trusted.contains(*hop)) break;
  }
  return client;
}

std::string bucket_key(const address& raw) {
  const address a = unmapped(raw);
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::string k(1 + b.size(), '4');
    std::memcpy(k.data() + 1, b.data(), b.size());
    return k;
  }
  auto b = a.to_v6().to_bytes();
  std::string k(1 + 8, '6');
  std::memcpy(k.data() + 1, b.data(), 8);
  return k;
}

}  // namespace mca::auth
