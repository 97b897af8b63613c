// decode_into(): the consumer decodes every record into one reused metric. It must give what
// decode() gives whatever the metric held before, and allocate nothing once the metric has held
// a record as large.
#include <gtest/gtest.h>

#include "alloc_probe.h"
#include "avro/metric_codec.h"
#include "metric_gen.h"

namespace mca::avro {
namespace {

using model::metric_type;

TEST(avro_decode_into, gives_what_decode_gives_whatever_the_metric_held_before) {
  const std::uint64_t seed = test::test_seed(0xdec0'de17);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with MCA_TEST_SEED)");
  test::metric_gen gen(seed);
  model::metric reused;  // carries the previous record's fields, tags and capacity along
  for (int i = 0; i < 2000; ++i) {
    model::metric m = gen.metric();
    const wire_schema w = gen.below(2) == 0 ? wire_schema::v1 : wire_schema::v2;
    if (w == wire_schema::v2) {
      m.type = gen.below(2) == 0 ? metric_type::counter : metric_type::histogram;
    }
    std::string body;
    encode(m, body, w);
    auto fresh = decode(body, w);
    ASSERT_TRUE(fresh) << "iteration " << i << ": " << fresh.error().message;
    ASSERT_TRUE(decode_into(body, w, reused)) << "iteration " << i;
    ASSERT_EQ(reused, *fresh) << "iteration " << i;  // fewer tags, v1 after v2: nothing left over
  }
}

TEST(avro_decode_into, a_record_no_larger_than_the_last_allocates_nothing) {
  model::metric m;
  m.name = "page_load_time_with_a_long_name";
  m.value = 12.5;
  m.timestamp_ms = 1'700'000'000'000;
  m.tags = {{"host", "web-01.example.internal"}, {"region", "eu-west-1-availability-zone"}};
  m.profile_id = "profile-with-a-long-identifier";
  m.type = metric_type::counter;
  std::string body;
  encode(m, body, wire_schema::v2);
  model::metric reused;
  ASSERT_TRUE(decode_into(body, wire_schema::v2, reused));
  {
    test::alloc_probe probe;
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(decode_into(body, wire_schema::v2, reused));
    EXPECT_EQ(probe.largest(), 0u);
  }
  EXPECT_EQ(reused, m);
}

TEST(avro_decode_into, reports_the_errors_decode_reports) {
  model::metric reused;
  reused.name = "held";
  const std::string truncated(
      "\x10"
      "abc",
      4);  // a name of 8 bytes, 3 present
  auto r = decode_into(truncated, wire_schema::v1, reused);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, make_error_code(errc::truncated));
  EXPECT_EQ(decode(truncated).error().code, r.error().code);
}

}  // namespace
}  // namespace mca::avro
