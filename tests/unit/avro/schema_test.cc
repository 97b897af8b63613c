#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "avro/metric_codec.h"
#include "support/support.h"

namespace mca::avro {
namespace {

std::string metric_schema_with(const std::string& fields) {
  return R"({"type":"record","name":"Metric","namespace":"com.metrics.collection","fields":[)" +
         fields + "]}";
}

constexpr const char* name_f = R"({"name":"name","type":"string"})";
constexpr const char* value_f = R"({"name":"value","type":"double"})";
constexpr const char* ts_f = R"({"name":"timestamp","type":"long"})";
constexpr const char* tags_f =
    R"({"name":"tags","type":{"type":"map","values":"string"},"default":{}})";
constexpr const char* pid_f = R"({"name":"profileId","type":"string"})";

std::string join(std::initializer_list<const char*> fields) {
  std::string s;
  for (const char* f : fields) s += (s.empty() ? "" : ",") + std::string(f);
  return s;
}

util::error load_error(const std::string& name, const std::string& text) {
  auto s = schema::load_metric_schema(mca::test::write_temp("mca_avro_" + name + ".avsc", text));
  EXPECT_FALSE(s) << name << " was accepted";
  return s ? util::error{} : s.error();
}

TEST(avro_schema, loads_the_bundled_metric_schema_and_keeps_its_text_verbatim) {
  auto s = schema::load_metric_schema(mca::test::schema_file());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->text(), mca::test::read_file(mca::test::schema_file()));
  EXPECT_NE(s->raw(), nullptr);
}

TEST(avro_schema, parse_keeps_text_exactly_as_given) {
  const std::string text = "  {\"type\" : \"string\"}\n\n";
  auto s = schema::parse(text);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->text(), text);
}

TEST(avro_schema, parse_rejects_text_that_is_not_json) {
  auto s = schema::parse("{\"type\": \"record\", ");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::invalid_schema);
  EXPECT_NE(s.error().message.find("not valid Avro JSON"), std::string::npos) << s.error().message;
}

TEST(avro_schema, parse_rejects_json_that_is_not_avro) {
  auto s = schema::parse(R"({"type":"no-such-type"})");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::invalid_schema);
}

TEST(avro_schema, accepts_equivalent_metric_schema_written_differently) {
  auto s = schema::load_metric_schema(mca::test::write_temp(
      "mca_avro_compact.avsc", metric_schema_with(join({name_f, value_f, ts_f, tags_f, pid_f}))));
  EXPECT_TRUE(s) << s.error().message;
}

TEST(avro_schema, load_rejects_broken_json_saying_so) {
  auto e = load_error("broken", R"({"type":"record","name":"Metric","fields":[)");
  EXPECT_EQ(e.code, errc::invalid_schema);
  EXPECT_NE(e.message.find("not valid Avro JSON"), std::string::npos) << e.message;
}

TEST(avro_schema, load_rejects_wrong_field_type_naming_field_and_types) {
  auto e = load_error("wrong_type",
                      metric_schema_with(join(
                          {name_f, R"({"name":"value","type":"string"})", ts_f, tags_f, pid_f})));
  EXPECT_EQ(e.code, errc::invalid_schema);
  EXPECT_NE(e.message.find("field 'value' has type string, expected double"), std::string::npos)
      << e.message;
}

TEST(avro_schema, load_rejects_map_of_non_strings) {
  auto e = load_error(
      "map_long", metric_schema_with(
                      join({name_f, value_f, ts_f,
                            R"({"name":"tags","type":{"type":"map","values":"long"}})", pid_f})));
  EXPECT_NE(e.message.find("field 'tags' has type map<long>, expected map<string>"),
            std::string::npos)
      << e.message;
}

TEST(avro_schema, load_rejects_missing_field_naming_it) {
  auto e = load_error("missing", metric_schema_with(join({name_f, value_f, ts_f, tags_f})));
  EXPECT_EQ(e.code, errc::invalid_schema);
  EXPECT_NE(e.message.find("missing field 'profileId'"), std::string::npos) << e.message;
}

TEST(avro_schema, load_rejects_fields_out_of_order) {
  auto e = load_error("order", metric_schema_with(join({value_f, name_f, ts_f, tags_f, pid_f})));
  EXPECT_NE(e.message.find("field 0 is 'value', expected 'name'"), std::string::npos) << e.message;
}

TEST(avro_schema, load_rejects_extra_field) {
  auto e = load_error("extra", metric_schema_with(join({name_f, value_f, ts_f, tags_f, pid_f,
                                                        R"({"name":"unit","type":"string"})"})));
  EXPECT_NE(e.message.find("unexpected field 'unit'"), std::string::npos) << e.message;
}

TEST(avro_schema, load_rejects_schema_that_is_not_a_record) {
  auto e = load_error("not_record", R"({"type":"map","values":"string"})");
  EXPECT_NE(e.message.find("top-level type is map"), std::string::npos) << e.message;
}

TEST(avro_schema, load_reports_unreadable_file_with_its_path) {
  const std::string path = ::testing::TempDir() + "/mca_avro_does_not_exist.avsc";
  auto s = schema::load_metric_schema(path);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::invalid_schema);
  EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
}

TEST(avro_schema, copies_share_the_parsed_schema) {
  auto a = schema::load_metric_schema(mca::test::schema_file()).value();
  schema b = a;
  EXPECT_EQ(a.raw(), b.raw());
  EXPECT_EQ(&a.text(), &b.text());
}

TEST(avro_errc, has_a_named_category_with_messages) {
  std::error_code ec = errc::truncated;
  EXPECT_STREQ(ec.category().name(), "avro");
  EXPECT_EQ(ec.message(), "truncated Avro data");
  EXPECT_NE(std::error_code(errc::corrupt), std::error_code(errc::truncated));
}

}  // namespace
}  // namespace mca::avro
