#include "api/ingest_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mca::api {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;

TEST(ingest_parser, reads_the_seed_example) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"cpu_usage","value":75.5,"timestamp":1640995200000,"tags":{"host":"server1","environment":"production"},"profileId":"user-123"}]})",
      1000, kNow);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->items.size(), 1u);
  const auto& [index, m] = r->items[0];
  EXPECT_EQ(index, 0u);
  EXPECT_EQ(m.name, "cpu_usage");
  EXPECT_EQ(m.value, 75.5);
  EXPECT_EQ(m.timestamp_ms, 1640995200000);
  EXPECT_EQ(m.tags, (std::vector<model::tag>{{"host", "server1"}, {"environment", "production"}}));
  EXPECT_EQ(m.profile_id, "user-123");
}

TEST(ingest_parser, missing_or_null_timestamp_is_receive_time) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p"},{"name":"a","value":1,"timestamp":null,"profileId":"p"}]})",
      1000, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->items[0].second.timestamp_ms, kNow);
  EXPECT_EQ(r->items[1].second.timestamp_ms, kNow);
}

TEST(ingest_parser, integer_values_become_doubles) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":-3,"profileId":"p"},{"name":"b","value":18446744073709551615,"profileId":"p"}]})",
      1000, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->items[0].second.value, -3.0);
  EXPECT_EQ(r->items[1].second.value, 18446744073709551615.0);
}

TEST(ingest_parser, names_the_field_and_index_of_each_wrongly_typed_item) {
  auto r = parse_ingest_body(
      R"({"metrics":[7,{"value":1,"profileId":"p"},{"name":"a","value":"1","profileId":"p"},{"name":"a","value":1,"profileId":"p","tags":{"k":2}},{"name":"a","value":1,"profileId":"p","timestamp":1.5},{"name":"a","value":1}]})",
      1000, kNow);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->items.empty());
  std::vector<std::pair<std::size_t, std::string>> got;
  for (const auto& e : r->rejected) got.emplace_back(e.index, e.field);
  EXPECT_EQ(got, (std::vector<std::pair<std::size_t, std::string>>{{0, "metric"},
                                                                   {1, "name"},
                                                                   {2, "value"},
                                                                   {3, "tags.k"},
                                                                   {4, "timestamp"},
                                                                   {5, "profileId"}}));
}

TEST(ingest_parser, a_duplicate_key_refuses_the_body_naming_key_and_item) {
  std::vector<model::field_error> details;
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p"},{"name":"a","value":1,"profileId":"p","tags":{"k":"1","k":"2"}}]})",
      1000, kNow, &details);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_json);
  EXPECT_NE(r.error().message.find("duplicate key \"tags.k\" in metric 1"), std::string::npos)
      << r.error().message;
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0], (model::field_error{1, "tags.k", "duplicate key"}));
}

TEST(ingest_parser, a_duplicate_field_of_a_metric_refuses_the_body) {
  std::vector<model::field_error> details;
  auto r = parse_ingest_body(R"({"metrics":[{"name":"a","value":1,"value":666,"profileId":"p"}]})",
                             1000, kNow, &details);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_json);
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0], (model::field_error{0, "value", "duplicate key"}));
}

TEST(ingest_parser, a_duplicate_key_outside_the_items_has_no_index) {
  std::vector<model::field_error> details;
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p"}],"metrics":[],"x":{"y":{"z":1,"z":2}}})",
      1000, kNow, &details);
  ASSERT_FALSE(r);
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0], (model::field_error{model::kNoIndex, "metrics", "duplicate key"}));
  details.clear();
  r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p"}],"x":{"y":{"z":1,"z":2}}})", 1000, kNow,
      &details);
  ASSERT_FALSE(r);
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0], (model::field_error{model::kNoIndex, "x.y.z", "duplicate key"}));
}

TEST(ingest_parser, finds_a_duplicate_among_many_keys_of_an_ignored_field) {
  std::string extra;
  for (int i = 0; i < 100; ++i) extra += "\"k" + std::to_string(i) + "\":1,";
  extra += "\"k50\":2";
  std::vector<model::field_error> details;
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p","extra":{)" + extra + "}}]}", 1000, kNow,
      &details);
  ASSERT_FALSE(r);
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0], (model::field_error{0, "extra.k50", "duplicate key"}));
}

// The values of a body whose metrics all parse, in order.
std::vector<double> values_of(const std::string& body) {
  auto r = parse_ingest_body(body, 1000, kNow);
  EXPECT_TRUE(r) << r.error().message;
  std::vector<double> out;
  if (r) {
    for (const auto& [index, m] : r->items) out.push_back(m.value);
  }
  return out;
}

TEST(ingest_parser, an_integer_beyond_64_bits_is_a_double_and_fails_nothing) {
  EXPECT_EQ(
      values_of(
          R"({"metrics":[{"name":"a","value":18446744073709551616,"profileId":"p"},{"name":"b","value":-99999999999999999999999,"profileId":"p"},{"name":"c","value":1,"profileId":"p"}]})"),
      (std::vector<double>{18446744073709551616.0, -99999999999999999999999.0, 1.0}));
}

TEST(ingest_parser, a_number_below_the_double_range_is_zero) {
  EXPECT_EQ(
      values_of(
          R"({"metrics":[{"name":"a","value":1e-999,"profileId":"p"},{"name":"b","value":-1e-999,"profileId":"p"},{"name":"c","value":18446744073709551616,"profileId":"p"}]})"),
      (std::vector<double>{0.0, 0.0, 18446744073709551616.0}));
}

TEST(ingest_parser, a_number_beyond_the_double_range_rejects_only_its_item) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1e999,"profileId":"p"},{"name":"b","value":2,"profileId":"p"},{"name":"c","value":1,"profileId":"p","timestamp":1e999},{"name":"d","value":1,"profileId":"p","tags":{"k":-1e999}}]})",
      1000, kNow);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(r->items[0].second.name, "b");
  ASSERT_EQ(r->rejected.size(), 3u);
  EXPECT_EQ(r->rejected[0],
            (model::field_error{0, "value", "out of the double range (magnitude above 1.8e308)"}));
  EXPECT_EQ(r->rejected[1], (model::field_error{2, "timestamp", "out of range"}));
  EXPECT_EQ(r->rejected[2].field, "tags.k");
  EXPECT_EQ(r->rejected[2].error, "must be a string, got a number beyond the double range");
}

TEST(ingest_parser, a_timestamp_beyond_64_bits_is_out_of_range) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p","timestamp":99999999999999999999999}]})",
      1000, kNow);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->rejected.size(), 1u);
  EXPECT_EQ(r->rejected[0], (model::field_error{0, "timestamp", "out of range"}));
}

TEST(ingest_parser, numbers_inside_strings_are_never_rewritten) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"1e999 \" 18446744073709551616","value":18446744073709551616,"profileId":"p","tags":{"t":"1e999"}}]})",
      1000, kNow);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(r->items[0].second.name, "1e999 \" 18446744073709551616");
  EXPECT_EQ(r->items[0].second.tags, (std::vector<model::tag>{{"t", "1e999"}}));
}

TEST(ingest_parser, a_malformed_number_still_refuses_the_body) {
  for (
      const char* body :
      {R"({"metrics":[{"name":"a","value":1.,"profileId":"p"},{"name":"a","value":1e999,"profileId":"p"}]})",
       R"({"metrics":[{"name":"a","value":01,"profileId":"p"}]})",
       R"({"metrics":[{"name":"a","value":-,"profileId":"p"},{"name":"a","value":1e999,"profileId":"p"}]})"}) {
    auto r = parse_ingest_body(body, 1000, kNow);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code, errc::invalid_json) << body;
  }
}

TEST(ingest_parser, whole_body_errors) {
  EXPECT_EQ(parse_ingest_body("{", 10, kNow).error().code, errc::invalid_json);
  EXPECT_EQ(parse_ingest_body("\"\xff\"", 10, kNow).error().code, errc::invalid_json);
  EXPECT_EQ(parse_ingest_body("[]", 10, kNow).error().code, errc::invalid_request);
  EXPECT_EQ(parse_ingest_body(R"({"metrics":[]})", 10, kNow).error().code, errc::invalid_request);
  EXPECT_EQ(parse_ingest_body(R"({"metrics":{}})", 10, kNow).error().code, errc::invalid_request);
}

TEST(ingest_parser, batch_limit_is_inclusive) {
  std::string two =
      R"({"metrics":[{"name":"a","value":1,"profileId":"p"},{"name":"a","value":1,"profileId":"p"}]})";
  EXPECT_TRUE(parse_ingest_body(two, 2, kNow));
  EXPECT_EQ(parse_ingest_body(two, 1, kNow).error().code, errc::batch_too_large);
}

TEST(ingest_parser, invalid_utf8_is_reported_as_such) {
  auto r = parse_ingest_body(
      "{\"metrics\":[{\"name\":\"\xc3\x28\",\"value\":1,\"profileId\":\"p\"}]}", 10, kNow);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("UTF-8"), std::string::npos);
}

TEST(ingest_parser, type_is_gauge_when_absent_or_null_and_read_when_given) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p"},{"name":"a","value":1,"profileId":"p","type":null},{"name":"a","value":1,"profileId":"p","type":"gauge"},{"name":"b","value":2,"profileId":"p","type":"counter"},{"name":"c","value":3,"profileId":"p","type":"histogram"}]})",
      1000, kNow);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->items.size(), 5u);
  EXPECT_TRUE(r->rejected.empty());
  using model::metric_type;
  EXPECT_EQ(r->items[0].second.type, metric_type::gauge);
  EXPECT_EQ(r->items[1].second.type, metric_type::gauge);
  EXPECT_EQ(r->items[2].second.type, metric_type::gauge);
  EXPECT_EQ(r->items[3].second.type, metric_type::counter);
  EXPECT_EQ(r->items[4].second.type, metric_type::histogram);
}

TEST(ingest_parser, an_unknown_or_wrongly_typed_type_rejects_only_its_item_with_field_type) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p","type":"summary"},{"name":"a","value":1,"profileId":"p","type":"Counter"},{"name":"a","value":1,"profileId":"p","type":1},{"name":"a","value":1,"profileId":"p","type":["counter"]},{"name":"a","value":1,"profileId":"p","type":""},{"name":"ok","value":1,"profileId":"p","type":"counter"},{"name":"a","value":1,"profileId":"p","type":1e999}]})",
      1000, kNow);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(r->items[0].first, 5u);
  std::vector<std::pair<std::size_t, std::string>> got;
  for (const auto& e : r->rejected) got.emplace_back(e.index, e.field);
  EXPECT_EQ(got,
            (std::vector<std::pair<std::size_t, std::string>>{
                {0, "type"}, {1, "type"}, {2, "type"}, {3, "type"}, {4, "type"}, {6, "type"}}));
  EXPECT_EQ(r->rejected[0].error, R"(must be "gauge", "counter" or "histogram")");
  EXPECT_EQ(r->rejected[2].error, R"(must be "gauge", "counter" or "histogram", got a number)");
  EXPECT_EQ(r->rejected[3].error, R"(must be "gauge", "counter" or "histogram", got an array)");
  EXPECT_EQ(r->rejected[5].error,
            R"(must be "gauge", "counter" or "histogram", got a number beyond the double range)");
}

TEST(ingest_parser, a_duplicate_type_key_refuses_the_body) {
  std::vector<model::field_error> details;
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p","type":"gauge","type":"counter"}]})",
      1000, kNow, &details);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_json);
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0], (model::field_error{0, "type", "duplicate key"}));
}

}  // namespace
TEST(ingest_parser, names_the_smallest_duplicate_among_many_tags_with_its_path) {
  std::string tags;
  for (int i = 30; i >= 0; --i) tags += "\"k" + std::to_string(i) + "\":\"v\",";
  tags += R"("k7":"again","k12":"again")";
  const std::string body = R"({"metrics":[{"name":"a","value":1,"profileId":"p"},)"
                           R"({"name":"b","value":1,"profileId":"p","tags":{)" +
                           tags + "}}]}";
  std::vector<model::field_error> details;
  auto r = parse_ingest_body(body, 100, 0, &details);
  ASSERT_FALSE(r);
  ASSERT_EQ(details.size(), 1u);
  // Past 16 keys the keys are sorted: "k12" < "k7".
  EXPECT_EQ(details[0], (model::field_error{1, "tags.k12", "duplicate key"}));
}

namespace {

// Duplicate keys are found in the same walk that reads the items: the answer must be the one a
// check of the whole body first gives, wherever the duplicate is.
model::field_error first_duplicate_of(const std::string& body, std::size_t max_batch = 1000) {
  std::vector<model::field_error> details;
  auto r = parse_ingest_body(body, max_batch, kNow, &details);
  EXPECT_FALSE(r) << body;
  if (r) return {};
  EXPECT_EQ(r.error().code, errc::invalid_json) << body;
  EXPECT_EQ(details.size(), 1u) << body;
  return details.empty() ? model::field_error{} : details[0];
}

TEST(ingest_parser, a_duplicate_anywhere_refuses_the_body_in_document_order) {
  const std::string ok = R"({"name":"a","value":1,"profileId":"p"})";
  // After an item with its own problems (no name, a wrong value): the body is still refused.
  EXPECT_EQ(
      first_duplicate_of(R"({"metrics":[{"value":1},{"name":"a","value":"x","profileId":"p"},)"
                         R"({"name":"a","value":1,"profileId":"p","tags":{"k":"v","k":"w"}}]})"),
      (model::field_error{2, "tags.k", "duplicate key"}));
  // A field of the item itself, after the fields read from it; a nested value of an unread field.
  EXPECT_EQ(first_duplicate_of(R"({"metrics":[)" + ok +
                               R"(,{"name":"a","value":1,"profileId":"p","name":"b"}]})"),
            (model::field_error{1, "name", "duplicate key"}));
  EXPECT_EQ(first_duplicate_of(R"({"metrics":[{"name":"a","x":[1,{"y":{"z":1,"z":2}}],"x2":1}]})"),
            (model::field_error{0, "x.y.z", "duplicate key"}));
  // An item that is not an object.
  EXPECT_EQ(first_duplicate_of(R"({"metrics":[)" + ok + R"(,[{"a":1,"a":2}]]})"),
            (model::field_error{1, "a", "duplicate key"}));
  // Before the items, between the items and a later field, after the items.
  EXPECT_EQ(first_duplicate_of(R"({"x":{"d":1,"d":2},"metrics":[{"name":"a","t":{"e":1,"e":2}}]})"),
            (model::field_error{model::kNoIndex, "x.d", "duplicate key"}));
  EXPECT_EQ(first_duplicate_of(R"({"metrics":[{"name":"a","t":{"e":1,"e":2}}],"x":{"d":1,"d":2}})"),
            (model::field_error{0, "t.e", "duplicate key"}));
  EXPECT_EQ(first_duplicate_of(R"({"metrics":[)" + ok + R"(],"x":{"d":1,"d":2}})"),
            (model::field_error{model::kNoIndex, "x.d", "duplicate key"}));
  // The root's own keys first, wherever they are.
  EXPECT_EQ(first_duplicate_of(R"({"metrics":[{"name":"a","name":"b"}],"x":1,"x":2})"),
            (model::field_error{model::kNoIndex, "x", "duplicate key"}));
  // Batches that are not read: empty, past the limit, not an array.
  EXPECT_EQ(first_duplicate_of(R"({"metrics":[],"x":{"d":1,"d":2}})"),
            (model::field_error{model::kNoIndex, "x.d", "duplicate key"}));
  EXPECT_EQ(
      first_duplicate_of(R"({"metrics":[)" + ok + "," + ok + R"(,{"name":"a","name":"b"}]})", 2),
      (model::field_error{2, "name", "duplicate key"}));
  EXPECT_EQ(first_duplicate_of(R"({"metrics":{"a":1,"a":2}})"),
            (model::field_error{model::kNoIndex, "metrics.a", "duplicate key"}));
}

// The fields are found by one walk of the item, in any order and beside unknown ones.
TEST(ingest_parser, reads_the_fields_of_an_item_in_any_order) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"x":{"a":1},"type":"counter","profileId":"p","tags":{"h":"1"},"timestamp":5,"value":2,"name":"n","z":[]}]})",
      1000, kNow);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->items.size(), 1u);
  const auto& m = r->items[0].second;
  EXPECT_EQ(m.name, "n");
  EXPECT_EQ(m.value, 2.0);
  EXPECT_EQ(m.timestamp_ms, 5);
  EXPECT_EQ(m.tags, (std::vector<model::tag>{{"h", "1"}}));
  EXPECT_EQ(m.profile_id, "p");
  EXPECT_EQ(m.type, model::metric_type::counter);
}

// The parser writes into the thread's spare batch (the last one ingest was done with): every
// field of every item is overwritten, whatever the spare held. Each body of the sequence, parsed
// over the spare left by the one before, reads exactly as it does with no spare.
TEST(ingest_parser, a_spare_batch_is_read_over_exactly_as_a_fresh_one) {
  const std::vector<std::string> bodies = {
      R"({"metrics":[{"name":"a_rather_long_metric_name_beyond_sso","value":1.5,"timestamp":5,"tags":{"host":"a-host-name-longer-than-sso","zone":"z1","rack":"r"},"profileId":"a-profile-id-longer-than-sso","type":"counter"},{"name":"b","value":2,"tags":{"k":"v"},"profileId":"p"}]})",
      R"({"metrics":[{"name":"c","value":3,"profileId":"q"},{"name":"d","value":4,"tags":null,"profileId":"q","type":null}]})",
      R"({"metrics":[{"name":"e","value":"x","profileId":"q"},{"name":"f","value":5,"tags":{"x":"1"},"profileId":"r","type":"histogram"},{"value":6,"profileId":"r"},{"name":"g","value":7,"tags":{},"timestamp":8,"profileId":"s"}]})",
      R"({"metrics":[{"name":"h","value":9,"tags":{"a":"1","b":2},"profileId":"t"},{"name":"i","value":10,"tags":{"y":"2","z":"3"},"profileId":"u"}]})",
      R"({"metrics":[{"name":"j","value":11,"profileId":"v"}]})",
  };
  std::vector<pipeline::batch> fresh;
  for (const auto& body : bodies) {
    (void)pipeline::take_spare_batch();  // no spare: what a fresh thread parses into
    auto r = parse_ingest_body(body, 1000, kNow);
    ASSERT_TRUE(r) << body;
    fresh.push_back(std::move(*r));
  }
  (void)pipeline::take_spare_batch();
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      auto r = parse_ingest_body(bodies[i], 1000, kNow);
      ASSERT_TRUE(r) << bodies[i];
      EXPECT_EQ(r->items, fresh[i].items) << bodies[i];
      EXPECT_EQ(r->rejected.size(), fresh[i].rejected.size()) << bodies[i];
      for (std::size_t k = 0; k < r->rejected.size() && k < fresh[i].rejected.size(); ++k) {
        EXPECT_EQ(r->rejected[k].index, fresh[i].rejected[k].index);
        EXPECT_EQ(r->rejected[k].field, fresh[i].rejected[k].field);
        EXPECT_EQ(r->rejected[k].error, fresh[i].rejected[k].error);
      }
      pipeline::keep_spare_batch(std::move(*r));
    }
  }
  // A body refused as a whole leaves nothing of the spare behind in the next parse.
  EXPECT_FALSE(parse_ingest_body(R"({"metrics":[{"name":"a","name":"b"}]})", 1000, kNow));
  auto r = parse_ingest_body(bodies[4], 1000, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->items, fresh[4].items);
}

}  // namespace

}  // namespace mca::api
