#include "auth/new_key.h"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "auth/digest.h"
#include "auth/errc.h"
#include "auth/keys.h"

namespace mca::auth {
namespace {

std::string base64url(const unsigned char* data, std::size_t n) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (n - i == 1) {
    const unsigned v = data[i] << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    const unsigned v = (data[i] << 16) | (data[i + 1] << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

boost::json::array strings(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

}  // namespace

std::string random_key() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("auth: the random number generator failed");
  }
  return "mca_" + base64url(bytes.data(), bytes.size());
}

util::result<new_key> make_key(const key_request& req) {
  new_key out;
  out.key = random_key();
  boost::json::object entry;
  entry["id"] = req.id;
  entry["sha256"] = to_hex(sha256(out.key));
  entry["scopes"] = strings(req.scopes);
  if (!req.apps.empty()) entry["apps"] = strings(req.apps);
  if (!req.origins.empty()) entry["origins"] = strings(req.origins);
  out.entry = boost::json::serialize(entry);
  // The entry must be one the service accepts: check it with the keys file's own parser.
  auto check = key_set::parse(R"({"keys":[)" + out.entry + "]}");
  if (!check) {
    std::string msg = check.error().message;
    // "keys[0].apps: ..." -> "apps: ..." (the caller gave flags, not a file)
    for (std::string::size_type p; (p = msg.find("keys[0].")) != std::string::npos;) {
      msg.erase(p, 8);
    }
    for (std::string::size_type p; (p = msg.find("keys[0]: ")) != std::string::npos;) {
      msg.erase(p, 9);
    }
    return util::error(errc::invalid_key_request, msg);
  }
  return out;
}

}  // namespace mca::auth
