#include "pipeline/consume.h"

#include <gtest/gtest.h>

#include <map>

#include "support/seed.h"
#include "support/support.h"

namespace mca::pipeline {
namespace {

// A registry that knows our schemas as ids 7 (v1) and 6 (v2), and one other (evolved) schema as
// id 8.
class two_schema_registry final : public registry::schema_registry {
 public:
  two_schema_registry(avro::schema ours, avro::schema ours_v2, std::optional<avro::schema> evolved)
      : ours_(std::move(ours)), ours_v2_(std::move(ours_v2)), evolved_(std::move(evolved)) {}
  util::result<avro::schema_id> schema_id(avro::wire_schema w) override {
    return avro::schema_id{w == avro::wire_schema::v1 ? 7 : 6};
  }
  util::result<avro::schema> schema_by_id(avro::schema_id id) override {
    ++lookups;
    if (id.value == 7) return ours_;
    if (id.value == 6) return ours_v2_;
    if (id.value == 8 && evolved_) return *evolved_;
    if (auto it = extra.find(id.value); it != extra.end()) return it->second;
    return util::error(registry::errc::not_found, "unknown id");
  }
  util::health health() override { return {true, "ok", {}}; }
  int lookups = 0;
  std::map<std::int32_t, avro::schema> extra;  // more writer schemas, by id

 private:
  avro::schema ours_;
  avro::schema ours_v2_;
  std::optional<avro::schema> evolved_;
};

constexpr const char* kEvolved =
    R"({"type":"record","name":"Metric","namespace":"com.metrics.collection",
 "fields":[{"name":"name","type":"string"},{"name":"value","type":"double"},{"name":"timestamp","type":"long"},
 {"name":"tags","type":{"type":"map","values":"string"},"default":{}},{"name":"profileId","type":"string"},
 {"name":"unit","type":["null","string"],"default":null}]})";

class consume_test : public ::testing::Test {
 protected:
  consume_test()
      : ours_(avro::schema::load_metric_schema(test::schema_file()).value()),
        ours_v2_(avro::schema::load_typed_metric_schema(test::schema_v2_file()).value()),
        registry_(ours_, ours_v2_, avro::schema::parse(kEvolved).value()),
        store_(store::store_limits{}, clock_),
        consume_(ours_, ours_v2_, registry_, store_) {}

  void deliver(const std::string& value, std::string_view app = "my-app",
               std::int32_t partition = 0) {
    transport::record r{"key", value, app, partition, 0, clock_.now_ms()};
    consume_.on_record(r);
  }
  std::string framed(const model::metric& m, std::int32_t id = 7,
                     avro::wire_schema w = avro::wire_schema::v1) {
    std::string out;
    avro::frame(avro::schema_id{id}, m, out, w);
    return out;
  }

  util::manual_clock clock_;
  avro::schema ours_;
  avro::schema ours_v2_;
  two_schema_registry registry_;
  store::series_store store_;
  consume consume_;
};

TEST_F(consume_test, applies_a_record_to_the_store_and_counts_it) {
  deliver(framed(test::seed_metric()));
  auto series = store_.app_series("my-app");
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].value, 75.5);
  EXPECT_EQ(consume_.stats().consumed, 1u);
}

TEST_F(consume_test, record_without_app_header_is_filed_under_unknown) {
  deliver(framed(test::seed_metric()), "");
  EXPECT_EQ(store_.app_series(kUnknownApp).size(), 1u);
}

TEST_F(consume_test, counts_and_skips_undecodable_records_then_applies_later_ones) {
  deliver("");                                            // truncated frame
  deliver(std::string("\x01\x00\x00\x00\x07", 5) + "x");  // bad magic
  auto truncated = framed(test::seed_metric());
  truncated.resize(truncated.size() - 3);
  deliver(truncated);
  deliver(framed(test::seed_metric(), 99));  // unknown schema id
  deliver(framed(test::seed_metric()));
  auto s = consume_.stats();
  EXPECT_EQ(s.consumed, 1u);
  EXPECT_EQ(s.decode_errors[static_cast<int>(decode_error::truncated)], 2u);
  EXPECT_EQ(s.decode_errors[static_cast<int>(decode_error::bad_magic)], 1u);
  EXPECT_EQ(s.decode_errors[static_cast<int>(decode_error::unknown_schema)], 1u);
  EXPECT_EQ(s.decode_errors_total(), 4u);
  EXPECT_EQ(store_.app_series("my-app").size(), 1u);
}

TEST_F(consume_test, decodes_records_of_an_evolved_writer_schema_by_resolution) {
  auto evolved = avro::schema::parse(kEvolved).value();
  // Write a v2 record with avro-c: our fields, then the optional union as null (index 0).
  auto body = avro::encode_with_avro_c(ours_, test::seed_metric()).value();
  body.push_back('\0');  // union branch 0 = null
  std::string value("\0\0\0\0\x08", 5);
  value += body;
  deliver(value);
  ASSERT_EQ(consume_.stats().consumed, 1u) << consume_.stats().decode_errors_total();
  EXPECT_EQ(store_.app_series("my-app").at(0).original_name, "cpu_usage");
  // The writer schema is looked up once, not per record.
  const int lookups = registry_.lookups;
  deliver(value);
  EXPECT_EQ(registry_.lookups, lookups);
}

TEST_F(consume_test, revoking_a_partition_drops_its_series) {
  deliver(framed(test::seed_metric()), "my-app", 0);
  auto other = test::seed_metric();
  other.name = "mem";
  deliver(framed(other), "my-app", 1);
  const std::int32_t revoked = 0;
  consume_.on_revoked(std::span(&revoked, 1));
  auto left = store_.app_series("my-app");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].original_name, "mem");
}

model::metric typed(model::metric_type t) {
  auto m = test::seed_metric();
  m.type = t;
  return m;
}

TEST_F(consume_test, reads_v1_as_a_gauge_and_v2_as_its_type) {
  model::metric got;
  std::int32_t id = 0;
  // v1 carries no type: whatever the producer meant, it is a gauge.
  ASSERT_FALSE(consume_.decode(framed(typed(model::metric_type::counter)), got, id));
  EXPECT_EQ(id, 7);
  EXPECT_EQ(got.type, model::metric_type::gauge);
  for (auto t :
       {model::metric_type::gauge, model::metric_type::counter, model::metric_type::histogram}) {
    ASSERT_FALSE(consume_.decode(framed(typed(t), 6, avro::wire_schema::v2), got, id));
    EXPECT_EQ(id, 6);
    EXPECT_EQ(got, typed(t));
  }
  EXPECT_EQ(registry_.lookups, 0);  // our own ids need no lookup
}

TEST_F(consume_test, a_v2_record_of_an_unknown_type_is_rejected_as_invalid_and_counted) {
  std::string value("\0\0\0\0\x06", 5);
  avro::encode(test::seed_metric(), value);
  value += std::string("\x0e") + "summary";  // the type string "summary" (length 7, zigzag 14)
  transport::record r{"key", value, "my-app", 0, 0, clock_.now_ms()};
  auto rej = consume_.on_record(r);
  ASSERT_TRUE(rej);
  EXPECT_EQ(rej->reason, "invalid");
  EXPECT_EQ(rej->schema_id, 6);
  EXPECT_EQ(consume_.stats().decode_errors[static_cast<int>(decode_error::invalid)], 1u);
  EXPECT_EQ(consume_.stats().consumed, 0u);
  EXPECT_TRUE(store_.app_series("my-app").empty());
  // The next good one is applied.
  deliver(framed(typed(model::metric_type::counter), 6, avro::wire_schema::v2));
  EXPECT_EQ(consume_.stats().consumed, 1u);
}

TEST_F(consume_test, another_id_with_our_v2_text_uses_the_fast_decoder_and_others_resolve_to_v2) {
  registry_.extra.emplace(20, ours_v2_);
  // Another registration of the seed's fields (different text), and a later producer's record
  // with `type` and one more field: both resolved against v2.
  registry_.extra.emplace(
      21,
      avro::schema::parse(
          R"({"type":"record","name":"Metric","namespace":"com.metrics.collection","fields":[{"name":"name","type":"string"},{"name":"value","type":"double"},{"name":"timestamp","type":"long"},{"name":"tags","type":{"type":"map","values":"string"},"default":{}},{"name":"profileId","type":"string"},{"name":"type","type":"string","default":"gauge"},{"name":"unit","type":"string","default":""}]})")
          .value());
  model::metric got;
  std::int32_t id = 0;
  ASSERT_FALSE(consume_.decode(
      framed(typed(model::metric_type::histogram), 20, avro::wire_schema::v2), got, id));
  EXPECT_EQ(got.type, model::metric_type::histogram);

  std::string value("\0\0\0\0\x15", 5);
  avro::encode(typed(model::metric_type::counter), value, avro::wire_schema::v2);
  value += std::string("\x04") + "ms";  // unit
  ASSERT_FALSE(consume_.decode(value, got, id));
  EXPECT_EQ(id, 21);
  EXPECT_EQ(got, typed(model::metric_type::counter));

  // The evolved schema of id 8 has no `type`: v2's default, a gauge.
  auto body = avro::encode_with_avro_c(ours_, test::seed_metric()).value();
  body.push_back('\0');
  ASSERT_FALSE(consume_.decode(std::string("\0\0\0\0\x08", 5) + body, got, id));
  EXPECT_EQ(got.type, model::metric_type::gauge);
}

}  // namespace
}  // namespace mca::pipeline
