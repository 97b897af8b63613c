// API keys: the keys file (API_KEYS_FILE), and the decision whether a presented key may do what a
// request asks.
//
//   {"keys": [
//     {"id": "web-shop", "sha256": "<hex>", "scopes": ["ingest"], "apps": ["shop"],
//      "origins": ["https://shop.example"]},
//     {"id": "dashboards", "sha256": "<hex>", "scopes": ["read"], "apps": ["*"]},
//     {"id": "prometheus", "sha256": "<hex>", "scopes": ["scrape"]}
//   ]}
//
// Scopes: ingest (POST metrics of the listed apps), read (GET metrics of the listed apps), scrape
// (the Prometheus exposition), admin (everything, every app). `apps` may hold "*". `origins`,
// when present, must contain the request's Origin when it has one. Only SHA-256 digests of keys
// are held; a presented key is hashed and compared in constant time (CRYPTO_memcmp).
//
// Thread safety: a key_set is immutable after parse(); share it freely (key_store swaps whole
// sets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/digest.h"
#include "util/result.h"

namespace mca::auth {

enum class scope : std::uint8_t { ingest = 1, read = 2, scrape = 4, admin = 8 };
std::string_view to_string(scope s);

struct key_entry {
  std::string id;
  digest sha256{};
  std::uint8_t scopes = 0;  // bits of `scope`
  bool all_apps = false;    // "*" in apps
  std::vector<std::string> apps;
  std::vector<std::string> origins;  // lower case, no trailing '/'; empty = any origin

  bool has(scope s) const { return (scopes & static_cast<std::uint8_t>(s)) != 0; }
  bool covers_app(std::string_view app_id) const;     // admin, "*", or listed
  bool allows_origin(std::string_view origin) const;  // no list, or listed (case-insensitive)
};

// Bounds of the keys file; a file past any of them is invalid (and a reload keeps the old keys).
struct key_file_limits {
  std::size_t max_file_bytes = 4 << 20;  // 10,000 entries of about 400 bytes
  std::size_t max_keys = 10'000;
  std::size_t max_apps_per_key = 1'000;
  std::size_t max_origins_per_key = 100;
};

// Longest key looked up; a longer one is unknown without being hashed. `keys new` makes 47 bytes.
inline constexpr std::size_t kMaxPresentedKeyBytes = 512;

class key_set {
 public:
  key_set() = default;

  // errc::invalid_keys_file with every problem found (at most 20), each naming its place, e.g.
  // "keys[1].sha256: must be 64 hexadecimal digits". Never quotes a digest.
  static util::result<key_set> parse(std::string_view json, const key_file_limits& limits = {});
  // errc::unreadable_keys_file, or parse()'s errors prefixed with the path.
  static util::result<key_set> load(const std::string& path, const key_file_limits& limits = {});

  // The entry whose digest is SHA-256(presented), or nullptr. The candidate is found by the first
  // 8 bytes of the presented key's digest and confirmed with a constant-time comparison of all
  // 32: the time taken depends on the digest of what the client sent, which tells it nothing
  // about any stored key.
  const key_entry* find(std::string_view presented) const;

  std::size_t size() const { return keys_.size(); }
  const std::vector<key_entry>& entries() const { return keys_; }

 private:
  std::vector<key_entry> keys_;
  std::unordered_multimap<std::uint64_t, std::size_t> index_;  // digest prefix -> keys_ index
};

// Where a request carried its key.
enum class key_source { none, authorization, x_api_key, query };

struct credential {
  key_source source = key_source::none;
  std::string_view value;
};

// Why a request is refused (or `allowed`). The first three are 401, the rest 403.
enum class verdict : std::uint8_t {
  allowed,
  missing_key,            // no key presented
  unknown_key,            // no entry has its digest
  query_key_not_allowed,  // ?api_key= on a route other than ingest
  scope,                  // known key without the route's scope
  app,                    // known key, scope fine, app not covered
  origin,                 // known key, Origin not in its list
};
inline constexpr std::size_t kVerdicts = 7;
std::string_view to_string(verdict v);
inline bool is_unauthenticated(verdict v) {
  return v == verdict::missing_key || v == verdict::unknown_key ||
         v == verdict::query_key_not_allowed;
}

// What the route needs and what the request says.
struct access_request {
  scope needed = scope::admin;
  std::string_view app_id;  // empty: the route is not about one app (scrape)
  std::string_view origin;  // the Origin header; empty when absent
  credential key;
};

struct decision {
  verdict outcome = verdict::missing_key;
  const key_entry* key = nullptr;  // the matched entry when the key is known
};

// Checks in this order: a key is present, a query key only for ingest, the key is known, scope
// (admin has every scope), app (admin and "*" cover every app), origin.
decision authorize(const key_set& keys, const access_request& req);

}  // namespace mca::auth
