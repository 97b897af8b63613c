#include "pipeline/consume.h"

#include <gtest/gtest.h>

#include "support/support.h"

namespace mca::pipeline {
namespace {

model::metric seed() {
  return {"cpu_usage",
          75.5,
          1640995200000,
          {{"environment", "production"}, {"host", "server1"}},
          "user-123"};
}

// A registry that knows our schema as id 7 and one other (evolved) schema as id 8.
class two_schema_registry final : public registry::schema_registry {
 public:
  two_schema_registry(avro::schema ours, std::optional<avro::schema> evolved)
      : ours_(std::move(ours)), evolved_(std::move(evolved)) {}
  util::result<avro::schema_id> value_schema_id() override { return avro::schema_id{7}; }
  util::result<avro::schema> schema_by_id(avro::schema_id id) override {
    ++lookups;
    if (id.value == 7) return ours_;
    if (id.value == 8 && evolved_) return *evolved_;
    return util::error(registry::errc::not_found, "unknown id");
  }
  util::health health() override { return {true, "ok", {}}; }
  int lookups = 0;

 private:
  avro::schema ours_;
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
        registry_(ours_, avro::schema::parse(kEvolved).value()),
        store_(store::store_limits{}, clock_),
        consume_(ours_, registry_, store_) {}

  void deliver(const std::string& value, std::string_view app = "my-app",
               std::int32_t partition = 0) {
    transport::record r{"key", value, app, partition, 0, clock_.now_ms()};
    consume_.on_record(r);
  }
  std::string framed(const model::metric& m, std::int32_t id = 7) {
    std::string out;
    avro::frame(avro::schema_id{id}, m, out);
    return out;
  }

  util::manual_clock clock_;
  avro::schema ours_;
  two_schema_registry registry_;
  store::series_store store_;
  consume consume_;
};

TEST_F(consume_test, applies_a_record_to_the_store_and_counts_it) {
  deliver(framed(seed()));
  auto series = store_.app_series("my-app");
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].value, 75.5);
  EXPECT_EQ(consume_.stats().consumed, 1u);
}

TEST_F(consume_test, record_without_app_header_is_filed_under_unknown) {
  deliver(framed(seed()), "");
  EXPECT_EQ(store_.app_series(kUnknownApp).size(), 1u);
}

TEST_F(consume_test, counts_and_skips_undecodable_records_then_applies_later_ones) {
  deliver("");                                            // truncated frame
  deliver(std::string("\x01\x00\x00\x00\x07", 5) + "x");  // bad magic
  auto truncated = framed(seed());
  truncated.resize(truncated.size() - 3);
  deliver(truncated);
  deliver(framed(seed(), 99));  // unknown schema id
  deliver(framed(seed()));
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
  auto body = avro::encode_with_avro_c(ours_, seed()).value();
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
  deliver(framed(seed()), "my-app", 0);
  auto other = seed();
  other.name = "mem";
  deliver(framed(other), "my-app", 1);
  const std::int32_t revoked = 0;
  consume_.on_revoked(std::span(&revoked, 1));
  auto left = store_.app_series("my-app");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].original_name, "mem");
}

}  // namespace
}  // namespace mca::pipeline
