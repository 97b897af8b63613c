#include "api/ingest_parser.h"

#include <gtest/gtest.h>

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

TEST(ingest_parser, duplicate_tag_keys_are_rejected) {
  auto r = parse_ingest_body(
      R"({"metrics":[{"name":"a","value":1,"profileId":"p","tags":{"k":"1","k":"2"}}]})", 1000,
      kNow);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->rejected.size(), 1u);
  EXPECT_EQ(r->rejected[0].field, "tags.k");
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

}  // namespace
}  // namespace mca::api
