// resolving_decoder: records written with an evolved writer schema (by avro-c, as another
// producer would) read as our Metric.
#include <functional>
#include <optional>

#include <avro.h>
#include <gtest/gtest.h>

#include "alloc_probe.h"
#include "avro/metric_codec.h"
#include "metric_gen.h"
#include "support/support.h"

namespace mca::avro {
namespace {

schema reader() { return schema::load_metric_schema(mca::test::schema_file()).value(); }

schema parsed(const std::string& fields) {
  auto s = schema::parse(
      R"({"type":"record","name":"Metric","namespace":"com.metrics.collection","fields":[)" +
      fields + "]}");
  EXPECT_TRUE(s) << s.error().message;
  return s.value();
}

constexpr const char* tags_f =
    R"({"name":"tags","type":{"type":"map","values":"string"},"default":{}})";
constexpr const char* unit_f = R"({"name":"unit","type":["null","string"],"default":null})";

// The seed's fields up to tags, `value` and `timestamp` of the given Avro types, then `rest`.
schema seed_fields(const std::string& value, const std::string& timestamp,
                   const std::string& rest) {
  return parsed(R"({"name":"name","type":"string"},{"name":"value","type":")" + value +
                R"("},{"name":"timestamp","type":")" + timestamp + R"("},)" + tags_f + rest);
}

constexpr const char* profile_f = R"(,{"name":"profileId","type":"string"})";

// v2 Metric: the seed's fields plus an optional unit.
schema v2() { return seed_fields("double", "long", profile_f + std::string(",") + unit_f); }

// v2 with the fields in another order, unit in the middle.
schema v2_reordered() {
  return parsed(std::string(R"({"name":"profileId","type":"string"},)") + unit_f + "," + tags_f +
                R"(,{"name":"timestamp","type":"long"},{"name":"value","type":"double"},)"
                R"({"name":"name","type":"string"})");
}

// Writes one record of `s` with avro-c's generic writer; `set` fills the fields.
std::string write_with_avro_c(const schema& s, const std::function<void(avro_value_t&)>& set) {
  auto raw = static_cast<avro_schema_t>(s.raw());
  avro_value_iface_t* cls = avro_generic_class_from_schema(raw);
  avro_value_t rec;
  EXPECT_EQ(avro_generic_value_new(cls, &rec), 0);
  set(rec);
  std::size_t size = 0;
  EXPECT_EQ(avro_value_sizeof(&rec, &size), 0) << avro_strerror();
  std::string out(size, '\0');
  avro_writer_t w = avro_writer_memory(out.data(), static_cast<int64_t>(size));
  EXPECT_EQ(avro_value_write(w, &rec), 0) << avro_strerror();
  avro_writer_free(w);
  avro_value_decref(&rec);
  avro_value_iface_decref(cls);
  return out;
}

void set_string(avro_value_t& rec, const char* field, const std::string& v) {
  avro_value_t f;
  ASSERT_EQ(avro_value_get_by_name(&rec, field, &f, nullptr), 0) << field;
  ASSERT_EQ(avro_value_set_string_len(&f, v.c_str(), v.size() + 1), 0);
}

// Sets the Metric fields that exist in the record's schema, and `unit` if given.
void set_metric(avro_value_t& rec, const model::metric& m, std::optional<std::string> unit) {
  avro_value_t f, e;
  if (avro_value_get_by_name(&rec, "name", &f, nullptr) == 0) set_string(rec, "name", m.name);
  if (avro_value_get_by_name(&rec, "value", &f, nullptr) == 0) {
    if (avro_value_get_type(&f) == AVRO_FLOAT) {
      avro_value_set_float(&f, static_cast<float>(m.value));
    } else {
      avro_value_set_double(&f, m.value);
    }
  }
  if (avro_value_get_by_name(&rec, "timestamp", &f, nullptr) == 0) {
    if (avro_value_get_type(&f) == AVRO_INT32) {
      avro_value_set_int(&f, static_cast<int32_t>(m.timestamp_ms));
    } else {
      avro_value_set_long(&f, m.timestamp_ms);
    }
  }
  if (avro_value_get_by_name(&rec, "tags", &f, nullptr) == 0) {
    for (const auto& [k, v] : m.tags) {
      avro_value_add(&f, k.c_str(), &e, nullptr, nullptr);
      avro_value_set_string_len(&e, v.c_str(), v.size() + 1);
    }
  }
  if (avro_value_get_by_name(&rec, "profileId", &f, nullptr) == 0) {
    set_string(rec, "profileId", m.profile_id);
  }
  if (avro_value_get_by_name(&rec, "unit", &f, nullptr) == 0) {
    avro_value_t branch;
    if (unit) {
      avro_value_set_branch(&f, 1, &branch);
      avro_value_set_string_len(&branch, unit->c_str(), unit->size() + 1);
    } else {
      avro_value_set_branch(&f, 0, &branch);
      avro_value_set_null(&branch);
    }
  }
}

TEST(avro_resolution, reads_v2_record_with_optional_field_set) {
  const schema w = v2();
  auto d = resolving_decoder::create(w, reader());
  ASSERT_TRUE(d) << d.error().message;
  const model::metric m = test::seed_example();
  const std::string body =
      write_with_avro_c(w, [&](avro_value_t& r) { set_metric(r, m, "percent"); });
  auto got = d->decode(body);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, m);
}

TEST(avro_resolution, reads_v2_record_with_optional_field_null) {
  const schema w = v2();
  auto d = resolving_decoder::create(w, reader()).value();
  const model::metric m = test::seed_example();
  auto got = d.decode(write_with_avro_c(w, [&](avro_value_t& r) { set_metric(r, m, {}); }));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, m);
}

TEST(avro_resolution, reads_writer_with_fields_in_another_order) {
  const schema w = v2_reordered();
  auto d = resolving_decoder::create(w, reader());
  ASSERT_TRUE(d) << d.error().message;
  const model::metric m = test::seed_example();
  auto got = d->decode(write_with_avro_c(w, [&](avro_value_t& r) { set_metric(r, m, "ms"); }));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, m);
}

TEST(avro_resolution, skips_extra_writer_fields_of_every_kind) {
  const schema w = parsed(
      std::string(R"({"name":"source","type":"string","default":"sdk"},)"
                  R"({"name":"name","type":"string"},{"name":"value","type":"double"},)"
                  R"({"name":"samples","type":{"type":"array","items":"double"},"default":[]},)"
                  R"({"name":"timestamp","type":"long"},)") +
      tags_f +
      R"(,{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["GAUGE","COUNTER"]},)"
      R"("default":"GAUGE"},{"name":"profileId","type":"string"},)" +
      unit_f);
  auto d = resolving_decoder::create(w, reader());
  ASSERT_TRUE(d) << d.error().message;
  const model::metric m = test::seed_example();
  const std::string body = write_with_avro_c(w, [&](avro_value_t& r) {
    set_metric(r, m, "percent");
    set_string(r, "source", "browser");
    avro_value_t f, e;
    ASSERT_EQ(avro_value_get_by_name(&r, "samples", &f, nullptr), 0);
    for (double x : {1.5, 2.5, 3.5}) {
      avro_value_append(&f, &e, nullptr);
      avro_value_set_double(&e, x);
    }
    ASSERT_EQ(avro_value_get_by_name(&r, "kind", &f, nullptr), 0);
    avro_value_set_enum(&f, 1);
  });
  auto got = d->decode(body);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, m);
}

TEST(avro_resolution, fills_tags_default_when_writer_has_no_tags_field) {
  const schema w =
      parsed(R"({"name":"name","type":"string"},{"name":"value","type":"double"},)"
             R"({"name":"timestamp","type":"long"},{"name":"profileId","type":"string"})");
  auto d = resolving_decoder::create(w, reader());
  ASSERT_TRUE(d) << d.error().message;
  model::metric m = test::seed_example();
  auto got = d->decode(write_with_avro_c(w, [&](avro_value_t& r) { set_metric(r, m, {}); }));
  ASSERT_TRUE(got) << got.error().message;
  m.tags.clear();
  EXPECT_EQ(*got, m);
}

TEST(avro_resolution, promotes_float_value_and_int_timestamp) {
  const schema w = seed_fields("float", "int", profile_f);
  auto d = resolving_decoder::create(w, reader());
  ASSERT_TRUE(d) << d.error().message;
  model::metric m = test::seed_example();
  m.value = 0.25;  // exact in float
  m.timestamp_ms = 1'700'000;
  auto got = d->decode(write_with_avro_c(w, [&](avro_value_t& r) { set_metric(r, m, {}); }));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, m);
}

TEST(avro_resolution, same_schema_reads_what_the_fast_encoder_writes) {
  const schema r = reader();
  auto d = resolving_decoder::create(r, r).value();
  test::metric_gen gen(test::test_seed(42));
  for (int i = 0; i < 200; ++i) {
    model::metric m = gen.metric();
    std::string body;
    encode(m, body);
    auto got = d.decode(body);
    ASSERT_TRUE(got) << i << ": " << got.error().message;
    ASSERT_EQ(*got, m) << i;
  }
}

TEST(avro_resolution, reads_negative_block_counts_from_other_writers) {
  const schema r = reader();
  auto d = resolving_decoder::create(r, r).value();
  auto s = [](std::string v) { return std::string(1, static_cast<char>(v.size() * 2)) + v; };
  const std::string block = s("a") + s("1") + s("b") + s("2");
  // name "n", value 0.0, timestamp 5, tags [-2 entries, size], terminator, profileId "p"
  const std::string body = s("n") + std::string(8, '\0') + "\x0a" + "\x03" +
                           static_cast<char>(block.size() * 2) + block + '\0' + s("p");
  auto got = d.decode(body);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->tags, (std::vector<model::tag>{{"a", "1"}, {"b", "2"}}));
}

TEST(avro_resolution, rejects_incompatible_writer_at_create) {
  const schema w = seed_fields("string", "long", profile_f);
  auto d = resolving_decoder::create(w, reader());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, errc::resolution_failed);
  EXPECT_NE(d.error().message.find("value"), std::string::npos) << d.error().message;
}

TEST(avro_resolution, rejects_writer_missing_field_without_default_at_create) {
  const schema w = seed_fields("double", "long", "");
  auto d = resolving_decoder::create(w, reader());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, errc::resolution_failed);
  EXPECT_NE(d.error().message.find("profileId"), std::string::npos) << d.error().message;
}

TEST(avro_resolution, rejects_writer_that_is_not_a_record) {
  auto w = schema::parse(R"("string")").value();
  auto d = resolving_decoder::create(w, reader());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, errc::resolution_failed);
}

TEST(avro_resolution, rejects_reader_that_is_not_the_metric_schema) {
  const schema w = v2();
  auto d = resolving_decoder::create(w, w);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, errc::invalid_schema);
}

TEST(avro_resolution, every_strict_prefix_and_trailing_bytes_are_errors) {
  const schema w = v2();
  auto d = resolving_decoder::create(w, reader()).value();
  const std::string body = write_with_avro_c(
      w, [&](avro_value_t& r) { set_metric(r, test::seed_example(), "percent"); });
  for (std::size_t n = 0; n < body.size(); ++n) {
    auto got = d.decode(std::string_view(body).substr(0, n));
    ASSERT_FALSE(got) << n;
    EXPECT_EQ(got.error().code, errc::truncated) << n;
  }
  auto got = d.decode(body + "x");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, errc::corrupt);
}

TEST(avro_resolution, rejects_bad_union_branch_and_invalid_utf8) {
  const schema w = v2();
  auto d = resolving_decoder::create(w, reader()).value();
  model::metric m = test::seed_example();
  m.tags.clear();
  std::string body = write_with_avro_c(w, [&](avro_value_t& r) { set_metric(r, m, {}); });
  // The last byte is the union branch (0 = null); 2 is branch index 1 and 4 is out of range.
  body.back() = '\x04';
  EXPECT_EQ(d.decode(body).error().code, errc::corrupt);
  body = write_with_avro_c(w, [&](avro_value_t& r) {
    set_metric(r, m, {});
    set_string(r, "name", "\xed\xa0\x80");  // a UTF-16 surrogate
  });
  EXPECT_EQ(d.decode(body).error().code, errc::corrupt);
}

TEST(avro_resolution, huge_declared_length_fails_before_avro_c_allocates) {
  const schema w = v2();
  auto d = resolving_decoder::create(w, reader()).value();
  // name with a 1 GiB length prefix and three bytes of data.
  const std::string body = std::string("\x80\x80\x80\x80\x08", 5) + "abc";
  test::alloc_probe probe;
  auto got = d.decode(body);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, errc::truncated);
  EXPECT_LT(probe.largest(), 4096u);
}

TEST(avro_resolution, random_mutations_decode_or_fail_cleanly) {
  const schema w = v2();
  auto d = resolving_decoder::create(w, reader()).value();
  const std::uint64_t seed = test::test_seed(7);
  SCOPED_TRACE("seed " + std::to_string(seed));
  test::metric_gen gen(seed);
  const std::string base = write_with_avro_c(
      w, [&](avro_value_t& r) { set_metric(r, test::seed_example(), "percent"); });
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = base;
    for (std::uint64_t e = 0, n = 1 + gen.below(3); e < n; ++e) {
      bytes[gen.below(bytes.size())] = static_cast<char>(gen.bits());
    }
    auto got = d.decode(bytes);
    if (!got) {
      ASSERT_EQ(got.error().code.category(), category());
    }
  }
}

}  // namespace
}  // namespace mca::avro
