// The v2 record (schemas/metric.v2.avsc: v1 + `type`): the fast codec against avro-c, the v1
// bytes of a gauge, unknown types, and schema resolution into the v2 reader.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "avro/metric_codec.h"
#include "metric_gen.h"
#include "support/support.h"

namespace mca::avro {
namespace {

using model::metric_type;

schema v1_schema() { return schema::load_metric_schema(mca::test::schema_file()).value(); }
schema v2_schema() { return schema::load_typed_metric_schema(mca::test::schema_v2_file()).value(); }

constexpr metric_type kTypes[] = {metric_type::gauge, metric_type::counter, metric_type::histogram};

// The Avro encoding of a string: zigzag length, then the bytes (short strings only).
std::string avro_string(const std::string& s) {
  std::string out(1, static_cast<char>(s.size() * 2));
  return out + s;
}

TEST(avro_v2_codec, encodes_byte_for_byte_like_avro_c_and_round_trips_random_typed_metrics) {
  const std::uint64_t seed = test::test_seed(0x7e'a7'17e);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with MCA_TEST_SEED)");
  const schema v1 = v1_schema();
  const schema v2 = v2_schema();
  test::metric_gen gen(seed);
  int per_type[3] = {};
  for (int i = 0; i < 2000; ++i) {
    model::metric m = gen.metric();
    m.type = kTypes[gen.below(3)];
    ++per_type[static_cast<int>(m.type)];

    std::string fast;
    encode(m, fast, wire_schema::v2);
    auto oracle = encode_with_avro_c(v2, m);
    ASSERT_TRUE(oracle) << "iteration " << i << ": " << oracle.error().message;
    ASSERT_EQ(test::to_hex(fast), test::to_hex(*oracle)) << "iteration " << i;
    auto back = decode(fast, wire_schema::v2);
    ASSERT_TRUE(back) << "iteration " << i << ": " << back.error().message;
    ASSERT_EQ(*back, m) << "iteration " << i;

    // v2 = the v1 body, then the type string; v1 never carries the type.
    std::string v1_body;
    encode(m, v1_body, wire_schema::v1);
    ASSERT_EQ(test::to_hex(v1_body), test::to_hex(encode_with_avro_c(v1, m).value()));
    ASSERT_EQ(fast, v1_body + avro_string(std::string(model::to_string(m.type))));
    auto as_v1 = decode(v1_body);
    ASSERT_TRUE(as_v1);
    EXPECT_EQ(as_v1->type, metric_type::gauge);
  }
  for (int n : per_type) EXPECT_GT(n, 500);
}

TEST(avro_v2_codec, a_gauge_in_v1_is_the_seed_record_whatever_else_the_service_knows) {
  // The checked-in seed bytes (verified with avro-c): a gauge's body has not changed.
  std::ifstream in(mca::test::source_path("tests/unit/avro/golden/seed_metric.hex"));
  std::string golden;
  in >> golden;
  model::metric m = test::seed_example();
  m.type = metric_type::gauge;
  std::string out;
  encode(m, out, wire_schema_for(m.type));
  EXPECT_EQ(test::to_hex(out), golden);
  EXPECT_EQ(wire_schema_for(metric_type::counter), wire_schema::v2);
  EXPECT_EQ(wire_schema_for(metric_type::histogram), wire_schema::v2);
}

TEST(avro_v2_codec, framing_carries_the_version_body) {
  model::metric m = test::seed_example();
  m.type = metric_type::histogram;
  std::string framed;
  frame(schema_id{2}, m, framed, wire_schema::v2);
  auto f = unframe(framed);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->id.value, 2);
  EXPECT_EQ(decode(f->body, wire_schema::v2).value(), m);
  std::string body;
  encode(m, body, wire_schema::v2);
  EXPECT_EQ(f->body, body);
}

TEST(avro_v2_codec, an_unknown_type_string_is_unknown_type_not_corrupt) {
  const schema v2 = v2_schema();
  model::metric m = test::seed_example();
  std::string body;
  encode(m, body, wire_schema::v1);
  for (const std::string t : {"summary", "Counter", "", "gauge "}) {
    auto r = decode(body + avro_string(t), wire_schema::v2);
    ASSERT_FALSE(r) << t;
    EXPECT_EQ(r.error().code, errc::unknown_type) << t;
  }
  // Trailing bytes or a broken type string stay corrupt / truncated.
  EXPECT_EQ(decode(body + avro_string("summary") + "x", wire_schema::v2).error().code,
            errc::corrupt);
  EXPECT_EQ(decode(body + std::string(1, '\x10') + "coun", wire_schema::v2).error().code,
            errc::truncated);
  EXPECT_EQ(decode(body + avro_string("\xff\xfe"), wire_schema::v2).error().code, errc::corrupt);
  EXPECT_EQ(decode(body, wire_schema::v2).error().code, errc::truncated);
}

TEST(avro_v2_codec, every_strict_prefix_of_a_v2_encoding_is_an_error) {
  model::metric m = test::seed_example();
  m.type = metric_type::counter;
  std::string body;
  encode(m, body, wire_schema::v2);
  for (std::size_t n = 0; n < body.size(); ++n) {
    auto r = decode(std::string_view(body).substr(0, n), wire_schema::v2);
    EXPECT_FALSE(r) << "prefix " << n;
  }
  EXPECT_EQ(decode(body + "x", wire_schema::v2).error().code, errc::corrupt);
}

TEST(avro_v2_schema, the_bundled_v2_is_v1_plus_a_type_string_defaulting_to_gauge) {
  auto s = schema::load_typed_metric_schema(mca::test::schema_v2_file());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->text(), mca::test::read_file(mca::test::schema_v2_file()));
  // The seed's file is untouched and is not v2, nor v2 a v1.
  EXPECT_FALSE(schema::load_typed_metric_schema(mca::test::schema_file()));
  auto v1_as_v2 = schema::load_typed_metric_schema(mca::test::schema_file());
  EXPECT_NE(v1_as_v2.error().message.find("missing field 'type'"), std::string::npos)
      << v1_as_v2.error().message;
  auto v2_as_v1 = schema::load_metric_schema(mca::test::schema_v2_file());
  ASSERT_FALSE(v2_as_v1);
  EXPECT_NE(v2_as_v1.error().message.find("unexpected field 'type'"), std::string::npos)
      << v2_as_v1.error().message;
}

constexpr const char* kV1Fields =
    R"({"name":"name","type":"string"},{"name":"value","type":"double"},{"name":"timestamp","type":"long"},{"name":"tags","type":{"type":"map","values":"string"},"default":{}},{"name":"profileId","type":"string"})";

std::string record_with(const std::string& extra) {
  return std::string(
             R"({"type":"record","name":"Metric","namespace":"com.metrics.collection","fields":[)") +
         kV1Fields + extra + "]}";
}

TEST(avro_v2_schema, load_refuses_a_type_field_without_the_gauge_default_or_not_a_string) {
  for (
      const auto& [name, extra, want] :
      std::vector<std::tuple<std::string, std::string, std::string>>{
          {"nodefault", R"(,{"name":"type","type":"string"})", "default \"gauge\""},
          {"otherdefault", R"(,{"name":"type","type":"string","default":"counter"})",
           "default \"gauge\""},
          {"enum",
           R"(,{"name":"type","type":{"type":"enum","name":"T","symbols":["gauge"]},"default":"gauge"})",
           "field 'type' has type enum, expected string"},
          {"misnamed", R"(,{"name":"kind","type":"string","default":"gauge"})",
           "field 5 is 'kind', expected 'type'"},
          {"extra",
           R"(,{"name":"type","type":"string","default":"gauge"},{"name":"unit","type":"string","default":""})",
           "unexpected field 'unit' after 'type'"}}) {
    auto s = schema::load_typed_metric_schema(
        mca::test::write_temp("mca_avro_v2_" + name + ".avsc", record_with(extra)));
    ASSERT_FALSE(s) << name;
    EXPECT_EQ(s.error().code, errc::invalid_schema) << name;
    EXPECT_NE(s.error().message.find(want), std::string::npos) << name << ": " << s.error().message;
  }
  EXPECT_TRUE(schema::load_typed_metric_schema(
      mca::test::write_temp("mca_avro_v2_compact.avsc",
                            record_with(R"(,{"name":"type","type":"string","default":"gauge"})"))));
}

TEST(avro_v2_resolution, another_v1_writer_resolves_against_v2_as_a_gauge) {
  // The seed's fields written differently (another producer's registration): no `type`, so the
  // reader's default applies.
  auto writer = schema::parse(record_with("")).value();
  auto dec = resolving_decoder::create(writer, v2_schema());
  ASSERT_TRUE(dec) << dec.error().message;
  model::metric m = test::seed_example();
  auto got = dec->decode(encode_with_avro_c(writer, m).value());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, m);
  EXPECT_EQ(got->type, metric_type::gauge);
}

TEST(avro_v2_resolution, an_evolved_writer_with_type_and_more_fields_keeps_the_type) {
  // A later producer: type moved before an added field, fields reordered.
  auto writer =
      schema::parse(
          R"({"type":"record","name":"Metric","namespace":"com.metrics.collection","fields":[{"name":"type","type":"string","default":"gauge"},{"name":"unit","type":["null","string"],"default":null},)" +
          std::string(kV1Fields) + "]}")
          .value();
  auto dec = resolving_decoder::create(writer, v2_schema());
  ASSERT_TRUE(dec) << dec.error().message;
  for (auto t : kTypes) {
    model::metric m = test::seed_example();
    m.type = t;
    auto body = avro_string(std::string(model::to_string(t))) + std::string(1, '\0') +
                encode_with_avro_c(v1_schema(), m).value();
    auto got = dec->decode(body);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, m);
  }
  // A type this service does not know.
  model::metric m = test::seed_example();
  auto body =
      avro_string("summary") + std::string(1, '\0') + encode_with_avro_c(v1_schema(), m).value();
  auto got = dec->decode(body);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, errc::unknown_type);
}

TEST(avro_v2_resolution, a_v1_reader_skips_the_type_of_a_v2_writer) {
  auto dec = resolving_decoder::create(v2_schema(), v1_schema());
  ASSERT_TRUE(dec) << dec.error().message;
  model::metric m = test::seed_example();
  m.type = metric_type::counter;
  std::string body;
  encode(m, body, wire_schema::v2);
  auto got = dec->decode(body);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->type, metric_type::gauge);
  EXPECT_EQ(got->value, m.value);
  EXPECT_EQ(got->name, m.name);
}

TEST(avro_v2_resolution, the_v2_reader_reads_what_the_fast_v2_encoder_writes) {
  auto dec = resolving_decoder::create(v2_schema(), v2_schema());
  ASSERT_TRUE(dec) << dec.error().message;
  test::metric_gen gen(42);
  for (int i = 0; i < 200; ++i) {
    model::metric m = gen.metric();
    m.type = kTypes[gen.below(3)];
    std::string body;
    encode(m, body, wire_schema::v2);
    auto got = dec->decode(body);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, m);
  }
}

}  // namespace
}  // namespace mca::avro
