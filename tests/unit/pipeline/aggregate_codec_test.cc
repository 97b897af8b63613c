#include "pipeline/aggregate_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace mca::pipeline {
namespace {

store::aggregate_state counter() {
  store::aggregate_state s;
  s.app_id = "shop";
  s.metric.name = "checkout-clicks";
  s.metric.type = model::metric_type::counter;
  s.metric.tags = {{"page", "/cart"}, {"région", "eu-west"}};
  s.metric.profile_id = "p-1";
  s.metric.timestamp_ms = 1'700'000'000'123;
  s.partition = 4;
  s.ingest_ms = 1'700'000'000'456;
  s.sum = 12345.5;
  s.count = 77;
  s.next_offset = 991;
  return s;
}

store::aggregate_state histogram() {
  store::aggregate_state s;
  s.app_id = "shop";
  s.metric.name = "web_vitals_lcp";
  s.metric.type = model::metric_type::histogram;
  s.partition = 0;
  s.ingest_ms = 5;
  s.bounds = {1000, 2500, 4000};
  s.buckets = {3, 0, 1, 2};
  s.count = 6;
  s.sum = 21'000.25;
  s.next_offset = std::numeric_limits<std::int64_t>::max();
  return s;
}

util::error error_of(std::string_view bytes) {
  auto r = decode_state(bytes);
  EXPECT_FALSE(r) << "decoded";
  return r ? util::error() : r.error();
}

// Rewrites the checksum after a change, so the checks behind it are reached.
std::string resealed(std::string v) {
  v.resize(v.size() - 4);
  const std::uint32_t c = crc32(v);
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<char>((c >> (8 * i)) & 0xff));
  return v;
}

TEST(aggregate_codec, crc32_is_the_ieee_polynomial) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32(""), 0u);
}

TEST(aggregate_codec, round_trips_a_counter) {
  const auto s = counter();
  auto back = decode_state(encode_state(s));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, s);
}

TEST(aggregate_codec, round_trips_a_histogram_and_its_extremes) {
  auto s = histogram();
  s.metric.tags.assign(40, {"k", std::string(kMaxStateString, 'x')});
  s.bounds.clear();
  s.buckets.clear();
  for (std::size_t i = 0; i < kMaxStateBounds; ++i) {
    s.bounds.push_back(-1e300 + static_cast<double>(i) * 1e298);
    s.buckets.push_back(i == 0 ? std::numeric_limits<std::uint64_t>::max() - 1 : 0);
  }
  s.buckets.push_back(1);
  s.count = std::numeric_limits<std::uint64_t>::max();
  s.sum = -0.0;
  auto back = decode_state(encode_state(s));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, s);
  EXPECT_TRUE(std::signbit(back->sum));
}

TEST(aggregate_codec, starts_with_its_version_byte) {
  const auto v = encode_state(counter());
  EXPECT_EQ(static_cast<unsigned char>(v[0]), kStateFormatVersion);
  EXPECT_EQ(static_cast<unsigned char>(v[1]), 1);  // counter
  EXPECT_EQ(static_cast<unsigned char>(encode_state(histogram())[1]), 2);
}

TEST(aggregate_codec, rejects_every_truncation) {
  const auto v = encode_state(histogram());
  for (std::size_t n = 0; n < v.size(); ++n) {
    auto r = decode_state(std::string_view(v).substr(0, n));
    EXPECT_FALSE(r) << "prefix of " << n << " bytes decoded";
  }
}

TEST(aggregate_codec, rejects_every_single_bit_flip) {
  const auto v = encode_state(counter());
  for (std::size_t i = 0; i < v.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = v;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto r = decode_state(bad);
      EXPECT_FALSE(r) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(aggregate_codec, rejects_an_unknown_version_and_an_empty_value) {
  auto v = encode_state(counter());
  v[0] = 2;
  EXPECT_EQ(error_of(v).code, state_errc::unknown_version);
  EXPECT_EQ(error_of("").code, state_errc::unknown_version);
}

TEST(aggregate_codec, rejects_bytes_after_the_checksum) {
  auto v = encode_state(counter()) + "x";
  const auto e = error_of(v);
  EXPECT_EQ(e.code, state_errc::checksum_mismatch);
  EXPECT_EQ(error_of(resealed(encode_state(counter()) + "xxxx")).code, state_errc::truncated);
}

TEST(aggregate_codec, rejects_a_gauge_and_an_unknown_type) {
  auto v = encode_state(counter());
  v[1] = 0;
  EXPECT_EQ(error_of(resealed(v)).code, state_errc::invalid);
  v[1] = 9;
  EXPECT_EQ(error_of(resealed(v)).code, state_errc::invalid);
}

TEST(aggregate_codec, rejects_states_that_are_no_aggregate) {
  auto cases = std::vector<std::pair<const char*, store::aggregate_state>>{};
  auto s = histogram();
  s.buckets.pop_back();
  cases.emplace_back("buckets not bounds + 1", s);
  s = histogram();
  s.bounds = {5, 5, 6};
  cases.emplace_back("bounds not increasing", s);
  s = histogram();
  s.bounds[1] = std::numeric_limits<double>::infinity();
  cases.emplace_back("infinite bound", s);
  s = histogram();
  s.count = 7;
  cases.emplace_back("count not the sum of buckets", s);
  s = counter();
  s.sum = -1;
  cases.emplace_back("negative counter", s);
  s = counter();
  s.sum = std::nan("");
  cases.emplace_back("NaN sum", s);
  s = counter();
  s.bounds = {1};
  s.buckets = {0, 0};
  cases.emplace_back("counter with buckets", s);
  s = counter();
  s.app_id.clear();
  cases.emplace_back("empty app_id", s);
  s = counter();
  s.metric.name.clear();
  cases.emplace_back("empty name", s);
  s = counter();
  s.next_offset = -1;
  cases.emplace_back("negative next_offset", s);
  for (const auto& [what, state] : cases) {
    auto r = decode_state(encode_state(state));
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code, state_errc::invalid) << what;
  }
}

TEST(aggregate_codec, rejects_lengths_past_their_bounds_without_reading_them) {
  // A string length of 4 GiB - 1 in an otherwise short value: rejected, nothing allocated.
  std::string v = encode_state(counter());
  const std::size_t app_len_at = 2;
  for (int i = 0; i < 4; ++i) v[app_len_at + i] = static_cast<char>(0xff);
  EXPECT_EQ(error_of(resealed(v)).code, state_errc::invalid);
  auto s = histogram();
  s.bounds.assign(kMaxStateBounds + 1, 0);
  for (std::size_t i = 0; i < s.bounds.size(); ++i) s.bounds[i] = static_cast<double>(i);
  s.buckets.assign(s.bounds.size() + 1, 0);
  s.count = 0;
  EXPECT_EQ(error_of(encode_state(s)).code, state_errc::invalid);
}

}  // namespace
}  // namespace mca::pipeline
