#include "auth/keys.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "auth/digest.h"
#include "auth/errc.h"
#include "auth/key_store.h"
#include "auth/new_key.h"

namespace mca::auth {
namespace {

std::string hex_of(std::string_view key) { return to_hex(sha256(key)); }

std::string file_of(const std::string& entries) { return R"({"keys":[)" + entries + "]}"; }

std::string entry(std::string_view id, std::string_view key, std::string_view scopes,
                  std::string_view extra = "") {
  return std::string(R"({"id":")") + std::string(id) + R"(","sha256":")" + hex_of(key) +
         R"(","scopes":)" + std::string(scopes) + std::string(extra) + "}";
}

key_set parse_ok(const std::string& json) {
  auto r = key_set::parse(json);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? std::move(*r) : key_set{};
}

std::string parse_error(const std::string& json) {
  auto r = key_set::parse(json);
  EXPECT_FALSE(r);
  if (r) return "";
  EXPECT_EQ(r.error().code, errc::invalid_keys_file);
  return r.error().message;
}

const std::string kIssueExample =
    file_of(entry("web-shop", "shop-key", R"(["ingest"])",
                  R"(,"apps":["shop"],"origins":["https://shop.example"])") +
            "," + entry("dashboards", "dash-key", R"(["read"])", R"(,"apps":["*"])") + "," +
            entry("prometheus", "prom-key", R"(["scrape"])") + "," +
            entry("ops", "admin-key", R"(["admin"])"));

access_request ask(scope s, std::string_view key, std::string_view app = "",
                   std::string_view origin = "", key_source src = key_source::authorization) {
  access_request r;
  r.needed = s;
  r.app_id = app;
  r.origin = origin;
  r.key = {key.empty() ? key_source::none : src, key};
  return r;
}

// --- digests ------------------------------------------------------------------------------------

TEST(auth_digest, sha256_matches_the_known_answer) {
  EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(auth_digest, reads_hex_in_either_case_and_refuses_anything_else) {
  auto d = sha256("k");
  EXPECT_EQ(digest_from_hex(to_hex(d)), d);
  std::string upper = to_hex(d);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(digest_from_hex(upper), d);
  EXPECT_FALSE(digest_from_hex(to_hex(d).substr(1)));
  EXPECT_FALSE(digest_from_hex(to_hex(d) + "0"));
  EXPECT_FALSE(digest_from_hex(std::string(64, 'g')));
}

TEST(auth_digest, same_digest_compares_all_bytes) {
  auto a = sha256("a");
  auto b = a;
  EXPECT_TRUE(same_digest(a, b));
  b[31] ^= 1;
  EXPECT_FALSE(same_digest(a, b));
}

// --- the file -----------------------------------------------------------------------------------

TEST(auth_keys_file, parses_the_issue_example) {
  auto keys = parse_ok(kIssueExample);
  ASSERT_EQ(keys.size(), 4u);
  const auto* shop = keys.find("shop-key");
  ASSERT_NE(shop, nullptr);
  EXPECT_EQ(shop->id, "web-shop");
  EXPECT_TRUE(shop->has(scope::ingest));
  EXPECT_FALSE(shop->has(scope::read));
  EXPECT_EQ(shop->apps, std::vector<std::string>{"shop"});
  EXPECT_EQ(shop->origins, std::vector<std::string>{"https://shop.example"});
  EXPECT_TRUE(keys.find("dash-key")->all_apps);
}

TEST(auth_keys_file, finds_nothing_for_an_unknown_empty_or_oversized_key) {
  auto keys = parse_ok(kIssueExample);
  EXPECT_EQ(keys.find("shop-key2"), nullptr);
  EXPECT_EQ(keys.find(""), nullptr);
  const std::string longest(kMaxPresentedKeyBytes, 'k');
  const std::string too_long(kMaxPresentedKeyBytes + 1, 'k');
  auto big = parse_ok(
      file_of(entry("a", longest, R"(["scrape"])") + "," + entry("b", too_long, R"(["scrape"])")));
  EXPECT_NE(big.find(longest), nullptr);
  EXPECT_EQ(big.find(too_long), nullptr);  // never hashed, never matched
}

TEST(auth_keys_file, accepts_an_empty_list) { EXPECT_EQ(parse_ok(R"({"keys":[]})").size(), 0u); }

TEST(auth_keys_file, refuses_what_is_not_the_format) {
  EXPECT_NE(parse_error("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error("[]").find("must be an object"), std::string::npos);
  EXPECT_NE(parse_error("{}").find("keys: is required"), std::string::npos);
  EXPECT_NE(parse_error(R"({"keys":{}})").find("keys: must be an array"), std::string::npos);
  EXPECT_NE(parse_error(R"({"keys":[],"key":[]})").find("key: unknown field"), std::string::npos);
  EXPECT_NE(parse_error(R"({"keys":[],"keys":[]})").find("keys: appears twice"), std::string::npos);
  EXPECT_NE(parse_error(R"({"keys":[1]})").find("keys[0]: must be an object"), std::string::npos);
}

TEST(auth_keys_file, names_each_bad_field_with_its_place) {
  auto msg = parse_error(file_of(
      entry("ok", "k0", R"(["scrape"])") + "," +
      R"({"id":"bad id!","sha256":"xyz","scopes":["ingest","write"],"apps":["../x"],"origins":["shop.example","https://a/b"],"scope":1})"));
  for (const char* want :
       {"keys[1].id:", "keys[1].sha256:", "keys[1].scopes[1]: unknown scope", "keys[1].apps[0]:",
        "keys[1].origins[0]:", "keys[1].origins[1]:", "keys[1].scope: unknown field"}) {
    EXPECT_NE(msg.find(want), std::string::npos) << want << " not in: " << msg;
  }
  EXPECT_EQ(msg.find("keys[0]"), std::string::npos) << msg;
}

TEST(auth_keys_file, never_quotes_a_digest_or_a_key_pasted_into_sha256) {
  const std::string pasted = "mca_a-real-looking-secret-key-that-belongs-elsewhere";
  auto msg = parse_error(file_of(R"({"id":"a","sha256":")" + pasted + R"(","scopes":["scrape"]})"));
  EXPECT_EQ(msg.find(pasted), std::string::npos) << msg;
  auto dup = parse_error(
      file_of(entry("a", "same", R"(["scrape"])") + "," + entry("b", "same", R"(["scrape"])")));
  EXPECT_NE(dup.find("ids a and b have the same sha256"), std::string::npos) << dup;
  EXPECT_EQ(dup.find(hex_of("same")), std::string::npos) << dup;
}

TEST(auth_keys_file, requires_id_sha256_scopes_and_apps_for_per_app_scopes) {
  auto msg = parse_error(file_of(R"({})"));
  EXPECT_NE(msg.find("keys[0]: id is required"), std::string::npos) << msg;
  EXPECT_NE(msg.find("keys[0]: sha256 is required"), std::string::npos) << msg;
  EXPECT_NE(msg.find("keys[0]: scopes is required"), std::string::npos) << msg;
  EXPECT_NE(parse_error(file_of(entry("a", "k", R"(["ingest"])"))).find("apps is required"),
            std::string::npos);
  EXPECT_NE(parse_error(file_of(entry("a", "k", R"(["read"])", R"(,"apps":[])")))
                .find("apps is required"),
            std::string::npos);
  EXPECT_NE(parse_error(file_of(entry("a", "k", "[]"))).find("at least one"), std::string::npos);
  // scrape and admin are not per app
  parse_ok(file_of(entry("a", "k", R"(["scrape"])") + "," + entry("b", "k2", R"(["admin"])")));
}

TEST(auth_keys_file, refuses_duplicate_ids_fields_and_scopes) {
  EXPECT_NE(parse_error(file_of(entry("a", "k1", R"(["scrape"])") + "," +
                                entry("a", "k2", R"(["scrape"])")))
                .find("id a is used twice"),
            std::string::npos);
  EXPECT_NE(
      parse_error(file_of(entry("a", "k1", R"(["scrape","scrape"])"))).find("repeats a scope"),
      std::string::npos);
  EXPECT_NE(parse_error(file_of(R"({"id":"a","id":"b","sha256":")" + hex_of("k") +
                                R"(","scopes":["scrape"]})"))
                .find("keys[0].id: appears twice"),
            std::string::npos);
}

TEST(auth_keys_file, bounds_the_file_the_keys_and_the_lists) {
  key_file_limits small;
  small.max_keys = 2;
  small.max_apps_per_key = 2;
  small.max_origins_per_key = 1;
  const std::string two =
      entry("a", "k1", R"(["scrape"])") + "," + entry("b", "k2", R"(["scrape"])");
  EXPECT_TRUE(key_set::parse(file_of(two), small));
  auto three = key_set::parse(file_of(two + "," + entry("c", "k3", R"(["scrape"])")), small);
  ASSERT_FALSE(three);
  EXPECT_NE(three.error().message.find("more than 2 entries"), std::string::npos);
  EXPECT_TRUE(
      key_set::parse(file_of(entry("a", "k", R"(["read"])", R"(,"apps":["x","y"])")), small));
  EXPECT_FALSE(
      key_set::parse(file_of(entry("a", "k", R"(["read"])", R"(,"apps":["x","y","z"])")), small));
  EXPECT_TRUE(key_set::parse(
      file_of(entry("a", "k", R"(["scrape"])", R"(,"origins":["https://a"])")), small));
  EXPECT_FALSE(key_set::parse(
      file_of(entry("a", "k", R"(["scrape"])", R"(,"origins":["https://a","https://b"])")), small));
  small.max_file_bytes = 64;
  auto big = key_set::parse(std::string(64, ' ') + "{}", small);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("larger than 64 bytes"), std::string::npos);
  EXPECT_TRUE(key_set::parse(std::string(50, ' ') + R"({"keys":[]})", small));
}

TEST(auth_keys_file, default_limits_hold_the_largest_allowed_file_of_realistic_entries) {
  // 10,000 keys with 128-character ids, two scopes, an app and an origin each fit the byte limit.
  const key_file_limits defaults;
  std::string entries;
  for (std::size_t i = 0; i < defaults.max_keys; ++i) {
    if (i) entries += ",";
    std::string id = std::to_string(i);
    id.insert(0, 128 - id.size(), 'k');
    entries += entry(id, "key-" + std::to_string(i), R"(["ingest","read"])",
                     R"(,"apps":["app-)" + std::to_string(i) + R"("],"origins":["https://site-)" +
                         std::to_string(i) + R"(.example"])");
  }
  const auto json = file_of(entries);
  ASSERT_LE(json.size(), defaults.max_file_bytes);
  auto keys = parse_ok(json);
  EXPECT_EQ(keys.size(), defaults.max_keys);
  EXPECT_NE(keys.find("key-9999"), nullptr);
}

// --- the decision -------------------------------------------------------------------------------

// Every one of `asks` is allowed by the issue's example keys.
void expect_allowed(std::initializer_list<access_request> asks) {
  auto keys = parse_ok(kIssueExample);
  for (const auto& a : asks) {
    EXPECT_EQ(authorize(keys, a).outcome, verdict::allowed) << a.key.value << " for " << a.app_id;
  }
}

TEST(auth_decision, allows_each_scope_for_its_key) {
  expect_allowed({ask(scope::ingest, "shop-key", "shop"), ask(scope::read, "dash-key", "any-app"),
                  ask(scope::scrape, "prom-key")});
}

TEST(auth_decision, refuses_a_missing_or_unknown_key_as_unauthenticated) {
  auto keys = parse_ok(kIssueExample);
  auto missing = authorize(keys, ask(scope::ingest, "", "shop"));
  EXPECT_EQ(missing.outcome, verdict::missing_key);
  EXPECT_TRUE(is_unauthenticated(missing.outcome));
  auto unknown = authorize(keys, ask(scope::ingest, "guess", "shop"));
  EXPECT_EQ(unknown.outcome, verdict::unknown_key);
  EXPECT_TRUE(is_unauthenticated(unknown.outcome));
  EXPECT_EQ(unknown.key, nullptr);
}

TEST(auth_decision, refuses_a_known_key_without_the_scope) {
  auto keys = parse_ok(kIssueExample);
  EXPECT_EQ(authorize(keys, ask(scope::read, "shop-key", "shop")).outcome, verdict::scope);
  EXPECT_EQ(authorize(keys, ask(scope::scrape, "dash-key")).outcome, verdict::scope);
  EXPECT_EQ(authorize(keys, ask(scope::ingest, "prom-key", "shop")).outcome, verdict::scope);
  EXPECT_FALSE(is_unauthenticated(verdict::scope));
}

TEST(auth_decision, refuses_an_app_the_key_does_not_list) {
  auto keys = parse_ok(kIssueExample);
  auto d = authorize(keys, ask(scope::ingest, "shop-key", "blog"));
  EXPECT_EQ(d.outcome, verdict::app);
  ASSERT_NE(d.key, nullptr);
  EXPECT_EQ(d.key->id, "web-shop");
}

TEST(auth_decision, checks_the_origin_only_when_the_request_has_one) {
  auto keys = parse_ok(kIssueExample);
  EXPECT_EQ(authorize(keys, ask(scope::ingest, "shop-key", "shop", "https://shop.example")).outcome,
            verdict::allowed);
  // Case-insensitive, trailing slash tolerated.
  EXPECT_EQ(
      authorize(keys, ask(scope::ingest, "shop-key", "shop", "HTTPS://Shop.Example/")).outcome,
      verdict::allowed);
  EXPECT_EQ(authorize(keys, ask(scope::ingest, "shop-key", "shop", "https://evil.example")).outcome,
            verdict::origin);
  EXPECT_EQ(
      authorize(keys, ask(scope::ingest, "shop-key", "shop", "https://shop.example:8443")).outcome,
      verdict::origin);
  EXPECT_EQ(authorize(keys, ask(scope::ingest, "shop-key", "shop", "null")).outcome,
            verdict::origin);
  // A key without origins accepts any.
  EXPECT_EQ(authorize(keys, ask(scope::read, "dash-key", "shop", "https://evil.example")).outcome,
            verdict::allowed);
}

TEST(auth_decision, admin_may_do_everything) {
  expect_allowed({ask(scope::ingest, "admin-key", "anything"),
                  ask(scope::read, "admin-key", "anything"), ask(scope::scrape, "admin-key")});
}

TEST(auth_decision, takes_a_query_key_for_ingest_only) {
  auto keys = parse_ok(kIssueExample);
  EXPECT_EQ(authorize(keys, ask(scope::ingest, "shop-key", "shop", "", key_source::query)).outcome,
            verdict::allowed);
  auto read = authorize(keys, ask(scope::read, "admin-key", "shop", "", key_source::query));
  EXPECT_EQ(read.outcome, verdict::query_key_not_allowed);
  EXPECT_TRUE(is_unauthenticated(read.outcome));
  EXPECT_EQ(authorize(keys, ask(scope::scrape, "prom-key", "", "", key_source::query)).outcome,
            verdict::query_key_not_allowed);
}

// --- key_store ----------------------------------------------------------------------------------

struct temp_file {
  std::string path = ::testing::TempDir() + "keys-" +
                     ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json";
  void write(const std::string& text) const { std::ofstream(path, std::ios::trunc) << text; }
  ~temp_file() { std::remove(path.c_str()); }
};

TEST(auth_key_store, refuses_to_open_a_missing_or_invalid_file) {
  temp_file f;
  auto missing = key_store::open(f.path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::unreadable_keys_file);
  f.write("{");
  auto invalid = key_store::open(f.path);
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code, errc::invalid_keys_file);
  EXPECT_NE(invalid.error().message.find(f.path), std::string::npos);
}

TEST(auth_key_store, reload_replaces_the_keys) {
  temp_file f;
  f.write(file_of(entry("old", "old-key", R"(["scrape"])")));
  auto store = key_store::open(f.path);
  ASSERT_TRUE(store) << store.error().message;
  auto before = (*store)->current();
  f.write(file_of(entry("new", "new-key", R"(["scrape"])")));
  auto n = (*store)->reload();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ((*store)->current()->find("old-key"), nullptr);
  EXPECT_NE((*store)->current()->find("new-key"), nullptr);
  // A request that took the old set before the reload still decides with it.
  EXPECT_NE(before->find("old-key"), nullptr);
}

TEST(auth_key_store, failed_reload_keeps_the_previous_keys) {
  temp_file f;
  f.write(file_of(entry("old", "old-key", R"(["scrape"])")));
  auto store = key_store::open(f.path);
  ASSERT_TRUE(store);
  f.write(file_of(R"({"id":"broken"})"));
  auto r = (*store)->reload();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("sha256 is required"), std::string::npos);
  EXPECT_NE((*store)->current()->find("old-key"), nullptr);
  std::remove(f.path.c_str());
  EXPECT_FALSE((*store)->reload());
  EXPECT_NE((*store)->current()->find("old-key"), nullptr);
}

// --- keys new -----------------------------------------------------------------------------------

TEST(auth_new_key, makes_a_url_safe_key_of_256_bits_and_an_entry_that_admits_it) {
  auto made = make_key({"web-shop", {"ingest"}, {"shop"}, {"https://shop.example"}});
  ASSERT_TRUE(made) << made.error().message;
  ASSERT_EQ(made->key.rfind("mca_", 0), 0u);
  EXPECT_EQ(made->key.size(), 4u + 43u);  // 32 bytes in unpadded base64url
  for (char c : made->key.substr(4)) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << c;
  }
  auto keys = parse_ok(file_of(made->entry));
  EXPECT_EQ(authorize(keys, ask(scope::ingest, made->key, "shop", "https://shop.example")).outcome,
            verdict::allowed);
  EXPECT_EQ(made->entry.find(made->key), std::string::npos);  // only the digest is written
}

TEST(auth_new_key, never_makes_the_same_key_twice) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(random_key()).second);
}

TEST(auth_new_key, refuses_a_request_the_file_would_refuse) {
  auto no_apps = make_key({"a", {"ingest"}, {}, {}});
  ASSERT_FALSE(no_apps);
  EXPECT_EQ(no_apps.error().code, errc::invalid_key_request);
  EXPECT_NE(no_apps.error().message.find("apps is required"), std::string::npos);
  EXPECT_EQ(no_apps.error().message.find("keys[0]"), std::string::npos);
  EXPECT_FALSE(make_key({"a", {"write"}, {"x"}, {}}));
  EXPECT_FALSE(make_key({"a b", {"scrape"}, {}, {}}));
  EXPECT_FALSE(make_key({"a", {"ingest"}, {"x"}, {"not-an-origin"}}));
}

}  // namespace
}  // namespace mca::auth
