#include "model/metric.h"

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "support/expect_each.h"

namespace mca::model {
namespace {

constexpr std::int64_t now = 1'700'000'000'000;

metric seed_metric() {
  return metric{
      "cpu_usage", 75.5, now, {{"host", "server1"}, {"environment", "production"}}, "profile123"};
}

// The seed metric after `change`.
template <class Change>
metric seed_with(Change change) {
  auto m = seed_metric();
  change(m);
  return m;
}

std::optional<field_error> check(const metric& m, const limits& l = {}) {
  return validate(m, 3, l, now);
}

void expect_error(const metric& m, const std::string& field, const std::string& message) {
  const auto e = check(m);
  ASSERT_TRUE(e.has_value()) << "expected an error on " << field;
  EXPECT_EQ(e->index, 3u);
  EXPECT_EQ(e->field, field);
  EXPECT_EQ(e->error, message);
}

TEST(validate, accepts_the_seed_metric) { EXPECT_EQ(check(seed_metric()), std::nullopt); }

TEST(validate, rejects_empty_name) {
  expect_error(seed_with([&](metric& m) { m.name.clear(); }), "name", "must not be empty");
}

TEST(validate, accepts_name_of_exactly_200_bytes) {
  EXPECT_EQ(check(seed_with([&](metric& m) { m.name.assign(200, 'n'); })), std::nullopt);
}

TEST(validate, rejects_name_of_201_bytes) {
  expect_error(seed_with([&](metric& m) { m.name.assign(201, 'n'); }), "name",
               "longer than 200 bytes");
}

TEST(validate, rejects_non_finite_values) {
  for (double v :
       {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
        std::numeric_limits<double>::quiet_NaN()}) {
    expect_error(seed_with([&](metric& m) { m.value = v; }), "value", "must be a finite number");
  }
}

TEST(validate, accepts_extreme_finite_values) {
  EXPECT_EQ(check(seed_with([&](metric& m) { m.value = std::numeric_limits<double>::max(); })),
            std::nullopt);
  EXPECT_EQ(
      check(seed_with([&](metric& m) { m.value = -std::numeric_limits<double>::denorm_min(); })),
      std::nullopt);
}

TEST(validate, counter_increments_are_not_negative_and_gauges_and_histograms_may_be) {
  auto m = seed_metric();
  m.type = metric_type::counter;
  m.value = 0;
  EXPECT_EQ(check(m), std::nullopt);
  m.value = -0.5;
  expect_error(m, "value", "a counter increment must not be negative");
  m.type = metric_type::histogram;
  EXPECT_EQ(check(m), std::nullopt);
  m.type = metric_type::gauge;
  EXPECT_EQ(check(m), std::nullopt);
}

TEST(metric_type, spellings_round_trip_and_nothing_else_parses) {
  for (auto t : {metric_type::gauge, metric_type::counter, metric_type::histogram})
    EXPECT_EQ(parse_metric_type(to_string(t)), t);
  for (const char* bad : {"", "Gauge", "summary", "counter ", "histograms"})
    EXPECT_EQ(parse_metric_type(bad), std::nullopt) << bad;
  EXPECT_EQ(metric{}.type, metric_type::gauge);
}

TEST(validate, rejects_negative_timestamp) {
  expect_error(seed_with([&](metric& m) { m.timestamp_ms = -1; }), "timestamp",
               "must not be negative");
}

TEST(validate, accepts_zero_and_old_timestamps) {
  EXPECT_EQ(check(seed_with([&](metric& m) { m.timestamp_ms = 0; })), std::nullopt);
  EXPECT_EQ(check(seed_with([&](metric& m) { m.timestamp_ms = 1'640'995'200'000; })), std::nullopt);
}

TEST(validate, accepts_timestamp_exactly_at_the_future_skew_limit) {
  EXPECT_EQ(check(seed_with([&](metric& m) { m.timestamp_ms = now + 3'600'000; })), std::nullopt);
}

TEST(validate, rejects_timestamp_one_ms_past_the_future_skew_limit) {
  expect_error(seed_with([&](metric& m) { m.timestamp_ms = now + 3'600'001; }), "timestamp",
               "later than receive time + 3600 s");
}

TEST(validate, rejects_maximal_timestamp_without_overflow) {
  expect_error(
      seed_with([&](metric& m) { m.timestamp_ms = std::numeric_limits<std::int64_t>::max(); }),
      "timestamp", "later than receive time + 3600 s");
}

TEST(clamp_to_receive_time, sets_a_future_timestamp_to_the_receive_time) {
  auto m = seed_metric();
  m.timestamp_ms = now + 3'500'000;
  EXPECT_TRUE(clamp_to_receive_time(m, now));
  EXPECT_EQ(m.timestamp_ms, now);
}

TEST(clamp_to_receive_time, keeps_present_and_past_timestamps) {
  auto m = seed_metric();
  m.timestamp_ms = now;
  EXPECT_FALSE(clamp_to_receive_time(m, now));
  EXPECT_EQ(m.timestamp_ms, now);
  m.timestamp_ms = 1'640'995'200'000;
  EXPECT_FALSE(clamp_to_receive_time(m, now));
  EXPECT_EQ(m.timestamp_ms, 1'640'995'200'000);
}

TEST(validate, rejects_nul_in_profile_id) {
  expect_error(seed_with([&](metric& m) { m.profile_id = std::string("user\0x", 6); }), "profileId",
               "must not contain NUL");
}

TEST(validate, rejects_empty_profile_id) {
  expect_error(seed_with([&](metric& m) { m.profile_id.clear(); }), "profileId",
               "must not be empty");
}

TEST(validate, accepts_profile_id_of_256_bytes_and_rejects_257) {
  EXPECT_EQ(check(seed_with([&](metric& m) { m.profile_id.assign(256, 'p'); })), std::nullopt);
  expect_error(seed_with([&](metric& m) { m.profile_id.assign(257, 'p'); }), "profileId",
               "longer than 256 bytes");
}

TEST(validate, accepts_32_tags_and_rejects_33) {
  auto m = seed_metric();
  m.tags.clear();
  for (int i = 0; i < 32; ++i) m.tags.emplace_back("k" + std::to_string(i), "v");
  EXPECT_EQ(check(m), std::nullopt);
  m.tags.emplace_back("k32", "v");
  expect_error(m, "tags", "more than 32 tags");
}

TEST(validate, accepts_no_tags) {
  EXPECT_EQ(check(seed_with([&](metric& m) { m.tags.clear(); })), std::nullopt);
}

TEST(validate, rejects_empty_tag_key) {
  expect_error(seed_with([&](metric& m) { m.tags.emplace_back("", "v"); }), "tags",
               "tag key must not be empty");
}

TEST(validate, accepts_tag_key_of_100_bytes_and_rejects_101) {
  EXPECT_EQ(check(seed_with([&](metric& m) {
              m.tags = {{std::string(100, 'k'), "v"}};
            })),
            std::nullopt);
  expect_error(seed_with([&](metric& m) {
                 m.tags = {{std::string(101, 'k'), "v"}};
               }),
               "tags", "tag key longer than 100 bytes");
}

TEST(validate, accepts_tag_value_of_1024_bytes_and_rejects_1025) {
  EXPECT_EQ(check(seed_with([&](metric& m) {
              m.tags = {{"host", std::string(1024, 'v')}};
            })),
            std::nullopt);
  expect_error(seed_with([&](metric& m) {
                 m.tags = {{"host", std::string(1025, 'v')}};
               }),
               "tags.host", "longer than 1024 bytes");
}

TEST(validate, accepts_empty_tag_value) {
  EXPECT_EQ(check(seed_with([&](metric& m) { m.tags = {{"host", ""}}; })), std::nullopt);
}

TEST(validate, rejects_keys_that_collide_after_sanitising) {
  expect_error(seed_with([&](metric& m) {
                 m.tags = {{"a-b", "1"}, {"a.b", "2"}};
               }),
               "tags.a.b", "label name collides with tag \"a-b\" after sanitising");
}

TEST(validate, rejects_key_that_collides_with_the_renamed_app_id_key) {
  expect_error(seed_with([&](metric& m) {
                 m.tags = {{"app_id", "1"}, {"tag_app_id", "2"}};
               }),
               "tags.tag_app_id", "label name collides with tag \"app_id\" after sanitising");
}

TEST(validate, rejects_duplicate_keys) {
  expect_error(seed_with([&](metric& m) {
                 m.tags = {{"host", "a"}, {"host", "b"}};
               }),
               "tags.host", "duplicate tag key");
}

TEST(validate, reports_the_first_error_in_field_order) {
  metric m;  // everything wrong: empty name, empty profile id
  m.value = std::nan("");
  m.timestamp_ms = -5;
  expect_error(m, "name", "must not be empty");
  m.name = "ok";
  expect_error(m, "value", "must be a finite number");
  m.value = 1;
  expect_error(m, "timestamp", "must not be negative");
  m.timestamp_ms = now;
  expect_error(m, "profileId", "must not be empty");
}

TEST(validate, uses_the_limits_it_is_given) {
  limits l;
  l.max_name_bytes = 3;
  l.max_future_skew = std::chrono::seconds(10);
  auto m = seed_metric();
  m.name = "abcd";
  auto e = validate(m, 0, l, now);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->error, "longer than 3 bytes");
  m.name = "abc";
  m.timestamp_ms = now + 10'001;
  e = validate(m, 0, l, now);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->error, "later than receive time + 10 s");
}

TEST(normalise, sorts_tags_by_key) {
  auto m = seed_metric();
  normalise(m);
  EXPECT_EQ(m.tags, (std::vector<tag>{{"environment", "production"}, {"host", "server1"}}));
}

// Each {input, expected output} of a name mapping.
template <class Map>
void expect_maps(Map map,
                 std::initializer_list<std::pair<std::string_view, std::string_view>> cases) {
  for (const auto& [in, out] : cases) EXPECT_EQ(map(in), out) << "input: " << in;
}

TEST(exposition_name, prefixes_and_keeps_valid_characters) {
  expect_maps(exposition_name,
              {{"cpu_usage", "client_metric_cpu_usage"}, {"a:B_9", "client_metric_a:B_9"}});
}

TEST(exposition_name, replaces_every_invalid_byte) {
  expect_maps(exposition_name, {{"http.requests-total", "client_metric_http_requests_total"},
                                {"a b{c}\"\n", "client_metric_a_b_c___"},
                                {"9lives", "client_metric_9lives"},
                                // "été": 2 bytes each
                                {"\xc3\xa9t\xc3\xa9", "client_metric___t__"}});
}

TEST(label_name, keeps_valid_keys) {
  expect_maps(label_name, {{"host", "host"}, {"Env_2", "Env_2"}});
}

TEST(label_name, replaces_invalid_characters_including_colon) {
  expect_maps(label_name, {{"a-b.c:d", "a_b_c_d"}, {"k\"}", "k__"}});
}

TEST(label_name, prefixes_a_leading_digit) { EXPECT_EQ(label_name("9x"), "_9x"); }

TEST(label_name, renames_our_app_id_label) {
  expect_maps(label_name,
              {{"app_id", "tag_app_id"}, {"app-id", "tag_app_id"}, {"app_idx", "app_idx"}});
}

TEST(label_name, renames_reserved_double_underscore_keys) {
  expect_maps(label_name, {{"__name__", "tag___name__"}, {"-.x", "tag___x"}, {"_x", "_x"}});
}

TEST(label_name, maps_empty_key_to_a_valid_label) { EXPECT_EQ(label_name(""), "_"); }

TEST(series_key, has_the_documented_layout) {
  auto m = seed_metric();
  using namespace std::string_literals;
  EXPECT_EQ(series_key("my-app", m),
            "my-app\0client_metric_cpu_usage\0environment\0production\0host\0server1"s);
}

TEST(series_key, sorts_by_label_name_whether_or_not_keys_need_sanitising) {
  // Keys that are label names already, sorted (the common case, keyed without a copy)...
  metric plain{"m", 1, 0, {{"a", "1"}, {"b", "2"}}, "p"};
  using namespace std::string_literals;
  EXPECT_EQ(series_key("app", plain), "app\0client_metric_m\0a\0001\0b\0002"s);
  // ...and keys whose label names sort otherwise: "b" "a-b" "app_id" "9" -> "b" "a_b"
  // "tag_app_id" "_9", ordered by label name.
  metric mixed{"m", 1, 0, {{"b", "1"}, {"a-b", "2"}, {"app_id", "3"}, {"9", "4"}}, "p"};
  EXPECT_EQ(series_key("app", mixed),
            "app\0client_metric_m\0_9\0004\0a_b\0002\0b\0001\0tag_app_id\0003"s);
  EXPECT_EQ(series_key("app", mixed), series_key("app", exposition_name("m"), mixed.tags));
}

TEST(series_key, written_over_a_longer_key_holds_exactly_the_new_one) {
  // A reused string (a spent record's) keeps its capacity but none of its bytes.
  metric plain{"m", 1, 0, {{"a", "1"}}, "p"};
  metric mixed{"m", 1, 0, {{"b", "1"}, {"a-b", "2"}}, "p"};
  std::string out(300, 'x');
  const auto* buffer = out.data();
  write_series_key(out, "app", exposition_name("m"), plain.tags);
  EXPECT_EQ(out, series_key("app", plain));
  EXPECT_EQ(out.data(), buffer);  // no new allocation
  write_series_key(out, "app", exposition_name("m"), mixed.tags);
  EXPECT_EQ(out, series_key("app", mixed));
  write_series_key(out, "a", "n", {});
  using namespace std::string_literals;
  EXPECT_EQ(out, "a\0n"s);
}

TEST(series_key, ignores_tag_order) {
  auto a = seed_metric();
  auto b = seed_metric();
  std::swap(b.tags[0], b.tags[1]);
  EXPECT_EQ(series_key("app", a), series_key("app", b));
}

TEST(series_key, ignores_value_timestamp_and_profile) {
  auto a = seed_metric();
  auto b = seed_metric();
  b.value = 1;
  b.timestamp_ms = 5;
  b.profile_id = "other";
  EXPECT_EQ(series_key("app", a), series_key("app", b));
}

TEST(series_key, differs_by_app) {
  EXPECT_NE(series_key("app-a", seed_metric()), series_key("app-b", seed_metric()));
}

TEST(series_key, differs_by_tag_value_and_name) {
  auto a = seed_metric();
  auto b = seed_metric();
  b.tags[0].second = "server2";
  EXPECT_NE(series_key("app", a), series_key("app", b));
  b = seed_metric();
  b.name = "mem_usage";
  EXPECT_NE(series_key("app", a), series_key("app", b));
}

TEST(series_key, is_the_same_for_names_that_sanitise_alike) {
  auto a = seed_metric();
  auto b = seed_metric();
  a.name = "cpu.usage";
  b.name = "cpu-usage";
  EXPECT_EQ(series_key("app", a), series_key("app", b));
}

TEST(valid_app_id, accepts_allowed_characters_up_to_64) {
  test::expect_accepts(valid_app_id, {"my-app", "A.b_c-9", std::string(64, 'a')});
}

TEST(valid_app_id, rejects_empty_too_long_and_other_characters) {
  test::expect_rejects(valid_app_id, {"", std::string(65, 'a'), "my app", "a/b", "a\"b",
                                      std::string_view("a\0b", 3)});
}

TEST(valid_app_id, rejects_ids_of_only_dots) {
  test::expect_rejects(valid_app_id, {".", "..", "..."});
  test::expect_accepts(valid_app_id, {".a.", "a.."});
}

}  // namespace
}  // namespace mca::model

namespace mca::model {
namespace {

TEST(validate, rejects_nul_in_name_and_tags_because_nul_separates_series_key_parts) {
  metric m{"cpu", 1, 0, {{"host", "a"}}, "p"};
  m.name = std::string("c\0pu", 4);
  EXPECT_EQ(validate(m, 0, limits{}, 0)->field, "name");
  m.name = "cpu";
  m.tags = {{"host", std::string("a\0b", 3)}};
  EXPECT_EQ(validate(m, 0, limits{}, 0)->field, "tags.host");
  m.tags = {{std::string("h\0st", 4), "a"}};
  EXPECT_EQ(validate(m, 0, limits{}, 0)->field, "tags");
}

}  // namespace
}  // namespace mca::model
