// The fast encoder against avro-c's generic writer, over random metrics.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "avro/metric_codec.h"
#include "metric_gen.h"
#include "support/support.h"

namespace mca::avro {
namespace {

constexpr int iterations = 3000;

schema metric_schema() { return schema::load_metric_schema(mca::test::schema_file()).value(); }

TEST(avro_codec, encodes_byte_for_byte_like_avro_c_and_round_trips_random_metrics) {
  const std::uint64_t seed = test::test_seed(0x5eed'a7'70);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with MCA_TEST_SEED)");
  const schema s = metric_schema();
  test::metric_gen gen(seed);
  // What the run covered; checked at the end so a weakened generator fails the test.
  int large_maps = 0, empty_maps = 0, long_strings = 0, multibyte = 0, signed_zero = 0,
      subnormal = 0, extreme_ts = 0;
  for (int i = 0; i < iterations; ++i) {
    const model::metric m = gen.metric();
    large_maps += m.tags.size() >= 90;
    empty_maps += m.tags.empty();
    long_strings += m.name.size() >= 10'000 || m.profile_id.size() >= 10'000;
    multibyte += std::any_of(m.name.begin(), m.name.end(), [](char c) { return c & 0x80; });
    signed_zero += m.value == 0 && std::signbit(m.value);
    subnormal += std::fpclassify(m.value) == FP_SUBNORMAL;
    extreme_ts += m.timestamp_ms == std::numeric_limits<std::int64_t>::min() ||
                  m.timestamp_ms == std::numeric_limits<std::int64_t>::max();
    std::string fast;
    encode(m, fast);
    auto oracle = encode_with_avro_c(s, m);
    ASSERT_TRUE(oracle) << "iteration " << i << ": " << oracle.error().message;
    ASSERT_EQ(test::to_hex(fast), test::to_hex(*oracle)) << "iteration " << i;

    auto back = decode(fast);
    ASSERT_TRUE(back) << "iteration " << i << ": " << back.error().message;
    ASSERT_EQ(*back, m) << "iteration " << i;
    ASSERT_TRUE(test::same_bits(back->value, m.value)) << "iteration " << i;
  }
  EXPECT_GT(large_maps, 100);
  EXPECT_GT(empty_maps, 100);
  EXPECT_GT(long_strings, 50);
  EXPECT_GT(multibyte, 1000);
  EXPECT_GT(signed_zero, 10);
  EXPECT_GT(subnormal, 10);
  EXPECT_GT(extreme_ts, 50);
}

TEST(avro_codec, writes_empty_map_as_a_single_zero) {
  model::metric m{.name = "n", .value = 0, .timestamp_ms = 0, .tags = {}, .profile_id = "p"};
  std::string out;
  encode(m, out);
  // "n", 8 zero bytes of double, timestamp 0, map terminator 0, "p".
  EXPECT_EQ(test::to_hex(out),
            "026e"
            "0000000000000000"
            "00"
            "00"
            "0270");
}

TEST(avro_codec, encodes_signed_zero_and_extreme_timestamps_like_avro_c) {
  const schema s = metric_schema();
  for (double v : {0.0, -0.0}) {
    for (std::int64_t ts :
         {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}) {
      model::metric m{.name = "x", .value = v, .timestamp_ms = ts, .tags = {}, .profile_id = ""};
      std::string fast;
      encode(m, fast);
      EXPECT_EQ(test::to_hex(fast), test::to_hex(encode_with_avro_c(s, m).value()));
      auto back = decode(fast).value();
      EXPECT_TRUE(test::same_bits(back.value, v));
      EXPECT_EQ(back.timestamp_ms, ts);
    }
  }
}

TEST(avro_codec, appends_to_existing_output) {
  std::string out = "prefix";
  encode(test::seed_example(), out);
  ASSERT_EQ(out.substr(0, 6), "prefix");
  EXPECT_EQ(decode(std::string_view(out).substr(6)).value(), test::seed_example());
}

}  // namespace
}  // namespace mca::avro
