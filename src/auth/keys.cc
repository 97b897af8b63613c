#include "auth/keys.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <simdjson.h>

#include "auth/errc.h"
#include "model/metric.h"

namespace mca::auth {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::size_t kMaxErrors = 20;
constexpr std::size_t kMaxIdBytes = 128;
constexpr std::size_t kMaxOriginBytes = 256;

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':' || c == '@';
  });
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

std::string_view without_trailing_slash(std::string_view s) {
  if (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

// scheme://host[:port] as browsers send it in Origin: no user info, path, query or fragment.
bool valid_origin(std::string_view o) {
  if (o.empty() || o.size() > kMaxOriginBytes) return false;
  auto sep = o.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  auto scheme = o.substr(0, sep);
  if (!std::isalpha(static_cast<unsigned char>(scheme[0]))) return false;
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  auto authority = o.substr(sep + 3);
  if (authority.empty()) return false;
  return std::none_of(authority.begin(), authority.end(), [](char c) {
    return c == '/' || c == '?' || c == '#' || c == '@' || c == ' ' ||
           static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e;
  });
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::uint64_t prefix_of(const digest& d) {
  std::uint64_t v = 0;
  std::memcpy(&v, d.data(), sizeof v);
  return v;
}

struct problems {
  std::vector<std::string> list;
  void add(std::string where, std::string what) {
    if (list.size() < kMaxErrors) list.push_back(std::move(where) + ": " + std::move(what));
  }
  bool any() const { return !list.empty(); }
  std::string joined() const {
    std::string out;
    for (const auto& p : list) out += (out.empty() ? "" : "; ") + p;
    if (list.size() == kMaxErrors) out += "; (more not shown)";
    return out;
  }
};

// Reads an array of strings into `out`; false (with a problem) when it is not one.
bool string_array(element e, const std::string& where, std::size_t max, problems& errs,
                  std::vector<std::string_view>& out) {
  simdjson::dom::array arr;
  if (e.get_array().get(arr) != simdjson::SUCCESS) {
    errs.add(where, "must be an array of strings");
    return false;
  }
  if (arr.size() > max) {
    errs.add(where, "has more than " + std::to_string(max) + " entries");
    return false;
  }
  bool ok = true;
  std::size_t i = 0;
  for (element item : arr) {
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS) {
      errs.add(where + "[" + std::to_string(i) + "]", "must be a string");
      ok = false;
    } else {
      out.push_back(s);
    }
    ++i;
  }
  return ok;
}

// One parser per field of a key entry: each reports its problems under `where` and returns
// whether the field was valid.
bool parse_id(element v, const std::string& where, problems& errs, key_entry& k) {
  std::string_view id;
  if (v.get_string().get(id) != simdjson::SUCCESS || !valid_id(id)) {
    errs.add(where, "must be 1-128 characters of A-Z a-z 0-9 . _ - : @");
    return false;
  }
  k.id = std::string(id);
  return true;
}

bool parse_sha256(element v, const std::string& where, problems& errs, key_entry& k) {
  std::string_view hex;
  std::optional<digest> d;
  if (v.get_string().get(hex) == simdjson::SUCCESS) d = digest_from_hex(hex);
  if (!d) {
    // Never echo the value: it may be a key pasted into the wrong field.
    errs.add(where, "must be the SHA-256 of the key as 64 hexadecimal digits");
    return false;
  }
  k.sha256 = *d;
  return true;
}

bool parse_scopes(element v, const std::string& where, problems& errs, key_entry& k) {
  std::vector<std::string_view> names;
  if (!string_array(v, where, 4, errs, names)) return false;
  bool ok = true;
  if (names.empty()) {
    errs.add(where, "must name at least one of ingest, read, scrape, admin");
    ok = false;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::uint8_t bit = 0;
    for (scope s : {scope::ingest, scope::read, scope::scrape, scope::admin}) {
      if (names[i] == to_string(s)) bit = static_cast<std::uint8_t>(s);
    }
    if (bit == 0) {
      errs.add(where + "[" + std::to_string(i) + "]",
               "unknown scope (ingest, read, scrape or admin)");
      ok = false;
    } else if (k.scopes & bit) {
      errs.add(where + "[" + std::to_string(i) + "]", "repeats a scope");
      ok = false;
    }
    k.scopes |= bit;
  }
  return ok;
}

bool parse_apps(element v, const std::string& where, std::size_t max, problems& errs,
                key_entry& k) {
  std::vector<std::string_view> apps;
  if (!string_array(v, where, max, errs, apps)) return false;
  bool ok = true;
  for (std::size_t i = 0; i < apps.size(); ++i) {
    if (apps[i] == "*") {
      k.all_apps = true;
    } else if (!model::valid_app_id(apps[i])) {
      errs.add(where + "[" + std::to_string(i) + "]",
               "must be an app_id ([A-Za-z0-9._-]{1,64}) or *");
      ok = false;
    } else {
      k.apps.emplace_back(apps[i]);
    }
  }
  std::sort(k.apps.begin(), k.apps.end());
  k.apps.erase(std::unique(k.apps.begin(), k.apps.end()), k.apps.end());
  return ok;
}

bool parse_origins(element v, const std::string& where, std::size_t max, problems& errs,
                   key_entry& k) {
  std::vector<std::string_view> origins;
  if (!string_array(v, where, max, errs, origins)) return false;
  bool ok = true;
  if (origins.empty()) {
    errs.add(where, "must list at least one origin (leave it out to allow any)");
    ok = false;
  }
  for (std::size_t i = 0; i < origins.size(); ++i) {
    auto o = without_trailing_slash(origins[i]);
    if (!valid_origin(o)) {
      errs.add(where + "[" + std::to_string(i) + "]",
               "must be an origin: scheme://host[:port], nothing after it");
      ok = false;
    } else {
      k.origins.push_back(lowered(o));
    }
  }
  return ok;
}

void parse_entry(element e, std::size_t index, const key_file_limits& limits, problems& errs,
                 std::vector<key_entry>& out) {
  const std::string at = "keys[" + std::to_string(index) + "]";
  simdjson::dom::object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) {
    errs.add(at, "must be an object");
    return;
  }
  key_entry k;
  bool ok = true;
  std::set<std::string_view> fields;
  for (auto field : obj) {
    const std::string where = at + "." + std::string(field.key);
    if (!fields.insert(field.key).second) {
      errs.add(where, "appears twice");
      ok = false;
    } else if (field.key == "id") {
      ok &= parse_id(field.value, where, errs, k);
    } else if (field.key == "sha256") {
      ok &= parse_sha256(field.value, where, errs, k);
    } else if (field.key == "scopes") {
      ok &= parse_scopes(field.value, where, errs, k);
    } else if (field.key == "apps") {
      ok &= parse_apps(field.value, where, limits.max_apps_per_key, errs, k);
    } else if (field.key == "origins") {
      ok &= parse_origins(field.value, where, limits.max_origins_per_key, errs, k);
    } else {
      errs.add(where, "unknown field (id, sha256, scopes, apps, origins)");
      ok = false;
    }
  }
  for (const char* name : {"id", "sha256", "scopes"}) {
    if (!fields.contains(name)) {
      errs.add(at, std::string(name) + " is required");
      ok = false;
    }
  }
  const bool per_app = !k.has(scope::admin) && (k.has(scope::ingest) || k.has(scope::read));
  if (ok && per_app && (!fields.contains("apps") || (!k.all_apps && k.apps.empty()))) {
    errs.add(at, "apps is required for the ingest and read scopes (an app_id, or *)");
    ok = false;
  }
  if (ok) out.push_back(std::move(k));
}

}  // namespace

std::string_view to_string(scope s) {
  switch (s) {
    case scope::ingest:
      return "ingest";
    case scope::read:
      return "read";
    case scope::scrape:
      return "scrape";
    case scope::admin:
      return "admin";
  }
  return "?";
}

std::string_view to_string(verdict v) {
  switch (v) {
    case verdict::allowed:
      return "allowed";
    case verdict::missing_key:
      return "missing_key";
    case verdict::unknown_key:
      return "unknown_key";
    case verdict::query_key_not_allowed:
      return "query_key_not_allowed";
    case verdict::scope:
      return "scope";
    case verdict::app:
      return "app";
    case verdict::origin:
      return "origin";
  }
  return "?";
}

bool key_entry::covers_app(std::string_view app_id) const {
  if (has(scope::admin) || all_apps) return true;
  return std::binary_search(apps.begin(), apps.end(), app_id);
}

bool key_entry::allows_origin(std::string_view origin) const {
  if (origins.empty()) return true;
  origin = without_trailing_slash(origin);
  return std::any_of(origins.begin(), origins.end(),
                     [&](const std::string& o) { return iequals(o, origin); });
}

util::result<key_set> key_set::parse(std::string_view json, const key_file_limits& limits) {
  if (json.size() > limits.max_file_bytes) {
    return util::error(errc::invalid_keys_file,
                       "larger than " + std::to_string(limits.max_file_bytes) + " bytes");
  }
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root); err) {
    return util::error(errc::invalid_keys_file,
                       std::string("not valid JSON: ") + simdjson::error_message(err));
  }
  problems errs;
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    return util::error(errc::invalid_keys_file, R"(must be an object {"keys": [...]})");
  }
  simdjson::dom::array arr;
  bool seen_keys = false;
  for (auto field : obj) {
    if (field.key != "keys") {
      errs.add(std::string(field.key), "unknown field (the file holds only \"keys\")");
      continue;
    }
    if (seen_keys) {
      errs.add("keys", "appears twice");
      continue;
    }
    seen_keys = true;
    if (field.value.get_array().get(arr) != simdjson::SUCCESS) {
      errs.add("keys", "must be an array");
      seen_keys = false;
    }
  }
  if (!seen_keys && !errs.any()) errs.add("keys", "is required");
  if (errs.any()) return util::error(errc::invalid_keys_file, errs.joined());
  if (arr.size() > limits.max_keys) {
    return util::error(errc::invalid_keys_file,
                       "keys: more than " + std::to_string(limits.max_keys) + " entries");
  }

  key_set out;
  out.keys_.reserve(arr.size());
  std::size_t i = 0;
  for (element e : arr) parse_entry(e, i++, limits, errs, out.keys_);

  // Two entries for one id or one key would make logs or the decision ambiguous.
  std::unordered_map<std::string_view, std::size_t> ids;
  for (std::size_t n = 0; n < out.keys_.size(); ++n) {
    const auto& k = out.keys_[n];
    if (!ids.emplace(k.id, n).second) errs.add("keys", "id " + k.id + " is used twice");
    auto range = out.index_.equal_range(prefix_of(k.sha256));
    for (auto it = range.first; it != range.second; ++it) {
      if (same_digest(out.keys_[it->second].sha256, k.sha256)) {
        errs.add("keys", "ids " + out.keys_[it->second].id + " and " + k.id +
                             " have the same sha256 (one key, two entries)");
      }
    }
    out.index_.emplace(prefix_of(k.sha256), n);
  }
  if (errs.any()) return util::error(errc::invalid_keys_file, errs.joined());
  return out;
}

util::result<key_set> key_set::load(const std::string& path, const key_file_limits& limits) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return util::error(errc::unreadable_keys_file, path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return util::error(errc::unreadable_keys_file, path + ": not a file");
  if (static_cast<std::size_t>(st.st_size) > limits.max_file_bytes) {
    return util::error(errc::unreadable_keys_file,
                       path + ": larger than " + std::to_string(limits.max_file_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::error(errc::unreadable_keys_file, path + ": cannot be opened");
  std::string text;
  text.resize(limits.max_file_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) return util::error(errc::unreadable_keys_file, path + ": read error");
  auto parsed = parse(text, limits);
  if (!parsed) return util::error(parsed.error().code, path + ": " + parsed.error().message);
  return parsed;
}

const key_entry* key_set::find(std::string_view presented) const {
  if (presented.empty() || presented.size() > kMaxPresentedKeyBytes) return nullptr;
  const digest d = sha256(presented);
  const key_entry* found = nullptr;
  auto range = index_.equal_range(prefix_of(d));
  for (auto it = range.first; it != range.second; ++it) {
    if (same_digest(keys_[it->second].sha256, d)) found = &keys_[it->second];
  }
  return found;
}

decision authorize(const key_set& keys, const access_request& req) {
  decision d;
  if (req.key.source == key_source::none || req.key.value.empty()) {
    d.outcome = verdict::missing_key;
    return d;
  }
  // A key in the URL ends up in proxy logs and Referer headers; only ingest needs it, because
  // navigator.sendBeacon cannot set headers.
  if (req.key.source == key_source::query && req.needed != scope::ingest) {
    d.outcome = verdict::query_key_not_allowed;
    return d;
  }
  d.key = keys.find(req.key.value);
  if (!d.key) {
    d.outcome = verdict::unknown_key;
  } else if (!d.key->has(req.needed) && !d.key->has(scope::admin)) {
    d.outcome = verdict::scope;
  } else if (!req.app_id.empty() && !d.key->covers_app(req.app_id)) {
    d.outcome = verdict::app;
  } else if (!req.origin.empty() && !d.key->allows_origin(req.origin)) {
    d.outcome = verdict::origin;
  } else {
    d.outcome = verdict::allowed;
  }
  return d;
}

}  // namespace mca::auth
