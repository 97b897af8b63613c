// decode() on hostile and damaged input: it returns an error or a metric, never crashes, never
// reads out of bounds (run under ASan) and never allocates from a declared length.
#include <cstdlib>
#include <new>

#include <gtest/gtest.h>

#include "alloc_probe.h"
#include "avro/metric_codec.h"
#include "metric_gen.h"

namespace mca::avro::test {
alloc_stats& allocations() {
  static alloc_stats s;
  return s;
}
}  // namespace mca::avro::test

void* operator new(std::size_t n) {
  auto& a = mca::avro::test::allocations();
  if (a.active.load(std::memory_order_relaxed)) {
    std::size_t prev = a.largest.load(std::memory_order_relaxed);
    while (n > prev && !a.largest.compare_exchange_weak(prev, n)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace mca::avro {
namespace {

// Avro long, written independently of the code under test.
std::string zz(std::int64_t v) {
  std::uint64_t u = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
  std::string out;
  do {
    std::uint8_t b = u & 0x7f;
    u >>= 7;
    if (u != 0) b |= 0x80;
    out += static_cast<char>(b);
  } while (u != 0);
  return out;
}

std::string str(std::string_view s) {
  return zz(static_cast<std::int64_t>(s.size())) + std::string(s);
}

const std::string eight_zero_bytes(8, '\0');

// A record with the given raw tags section (everything between timestamp and profileId).
std::string record_with_tags(const std::string& tags_section) {
  return str("n") + eight_zero_bytes + zz(5) + tags_section + str("p");
}

errc decode_error(std::string_view bytes) {
  auto r = decode(bytes);
  EXPECT_FALSE(r) << "decoded: " << test::to_hex(bytes);
  return r ? errc{} : static_cast<errc>(r.error().code.value());
}

TEST(avro_decode, every_strict_prefix_of_a_valid_encoding_is_an_error) {
  const std::uint64_t seed = test::test_seed(0xbad'5eed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  test::metric_gen gen(seed);
  std::vector<std::string> samples(1);
  encode(test::seed_example(), samples[0]);
  // Every prefix is decoded, so keep each sample small enough for the quadratic walk.
  while (samples.size() < 60) {
    std::string full;
    encode(gen.metric(), full);
    if (full.size() <= 4096) samples.push_back(std::move(full));
  }
  for (const auto& full : samples) {
    for (std::size_t n = 0; n < full.size(); ++n) {
      auto r = decode(std::string_view(full).substr(0, n));
      ASSERT_FALSE(r) << "prefix of length " << n << " of " << full.size() << " decoded";
      ASSERT_EQ(r.error().code.category(), category());
    }
  }
}

TEST(avro_decode, random_mutations_decode_or_fail_cleanly) {
  const std::uint64_t seed = test::test_seed(0x0ddba11);
  SCOPED_TRACE("seed " + std::to_string(seed));
  test::metric_gen gen(seed);
  int decoded = 0;
  for (int i = 0; i < 5000; ++i) {
    model::metric m = gen.metric();
    if (m.name.size() > 200) m.name.resize(200);  // keep the run fast; lengths vary anyway
    std::string bytes;
    encode(m, bytes);
    const std::size_t edits = 1 + gen.below(4);
    for (std::size_t e = 0; e < edits; ++e) {
      const std::size_t at = gen.below(bytes.size() + 1);
      switch (gen.below(4)) {
        case 0:
          if (at < bytes.size()) bytes[at] = static_cast<char>(gen.bits());
          break;
        case 1:
          if (at < bytes.size()) bytes[at] ^= static_cast<char>(1u << gen.below(8));
          break;
        case 2:
          bytes.insert(at, 1, static_cast<char>(gen.bits()));
          break;
        default:
          if (at < bytes.size()) bytes.erase(at, 1 + gen.below(3));
      }
    }
    auto r = decode(bytes);
    if (r) {
      // Whatever decodes is a well-formed metric: its encoding decodes and encodes to the same
      // bytes (bytes, not metrics: a mutated double may be NaN).
      std::string again, twice;
      encode(*r, again);
      encode(decode(again).value(), twice);
      ASSERT_EQ(test::to_hex(twice), test::to_hex(again)) << test::to_hex(bytes);
      ++decoded;
    } else {
      ASSERT_EQ(r.error().code.category(), category());
    }
  }
  RecordProperty("mutations_that_still_decode", decoded);
}

TEST(avro_decode, random_garbage_decodes_or_fails_cleanly) {
  const std::uint64_t seed = test::test_seed(0x9a7ba9e);
  SCOPED_TRACE("seed " + std::to_string(seed));
  test::metric_gen gen(seed);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(gen.below(64), '\0');
    for (char& c : bytes) c = static_cast<char>(gen.bits());
    auto r = decode(bytes);
    if (!r) {
      ASSERT_EQ(r.error().code.category(), category());
    }
  }
}

TEST(avro_decode, huge_declared_string_length_fails_without_allocating_it) {
  for (std::int64_t len :
       {std::int64_t{1} << 30, std::int64_t{1} << 40, std::numeric_limits<std::int64_t>::max()}) {
    const std::string bytes = zz(len) + "abc";
    test::alloc_probe probe;
    EXPECT_EQ(decode_error(bytes), errc::truncated);
    EXPECT_LT(probe.largest(), 4096u) << "length " << len;
  }
}

TEST(avro_decode, huge_declared_map_count_fails_without_reserving_it) {
  for (std::int64_t count : {std::int64_t{1} << 28, std::numeric_limits<std::int64_t>::max(),
                             -(std::int64_t{1} << 28)}) {
    std::string tags = zz(count);
    if (count < 0) tags += zz(4);
    tags += str("k") + str("v");
    test::alloc_probe probe;
    EXPECT_NE(decode_error(record_with_tags(tags)), errc{});
    EXPECT_LT(probe.largest(), 64u * 1024) << "count " << count;
  }
}

TEST(avro_decode, rejects_negative_string_length_as_corrupt) {
  EXPECT_EQ(decode_error(zz(-1) + "abc"), errc::corrupt);
}

TEST(avro_decode, rejects_varint_longer_than_ten_bytes_as_corrupt) {
  std::string bytes(10, '\x80');
  bytes += '\x01';
  EXPECT_EQ(decode_error(str("n") + eight_zero_bytes + bytes + zz(0) + str("p")), errc::corrupt);
}

TEST(avro_decode, rejects_varint_overflowing_64_bits_as_corrupt) {
  std::string bytes(9, '\xff');
  bytes += '\x02';  // bit 64
  EXPECT_EQ(decode_error(str("n") + eight_zero_bytes + bytes + zz(0) + str("p")), errc::corrupt);
}

TEST(avro_decode, accepts_largest_ten_byte_varint) {
  std::string bytes(9, '\xff');
  bytes += '\x01';  // zigzag 2^64-1 is INT64_MIN
  auto r = decode(str("n") + eight_zero_bytes + bytes + zz(0) + str("p"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->timestamp_ms, std::numeric_limits<std::int64_t>::min());
}

TEST(avro_decode, rejects_trailing_bytes_as_corrupt) {
  std::string bytes;
  encode(test::seed_example(), bytes);
  EXPECT_EQ(decode_error(bytes + '\0'), errc::corrupt);
}

TEST(avro_decode, rejects_string_past_the_end_as_truncated) {
  EXPECT_EQ(decode_error(zz(10) + "short"), errc::truncated);
}

TEST(avro_decode, rejects_invalid_utf8_in_every_string_field) {
  const std::string bad = "\xc3\x28";  // lead byte without continuation
  const std::string head = str("n") + eight_zero_bytes + zz(5);
  EXPECT_EQ(decode_error(str(bad) + eight_zero_bytes + zz(5) + zz(0) + str("p")), errc::corrupt);
  EXPECT_EQ(decode_error(head + zz(1) + str(bad) + str("v") + zz(0) + str("p")), errc::corrupt);
  EXPECT_EQ(decode_error(head + zz(1) + str("k") + str(bad) + zz(0) + str("p")), errc::corrupt);
  EXPECT_EQ(decode_error(head + zz(0) + str(bad)), errc::corrupt);
}

TEST(avro_decode, rejects_overlong_surrogate_and_out_of_range_utf8) {
  for (std::string bad :
       {std::string("\xc0\x80"), std::string("\xe0\x80\xaf"), std::string("\xed\xa0\x80"),
        std::string("\xf4\x90\x80\x80"), std::string("\xf8\x88\x80\x80\x80"), std::string("\xff"),
        std::string("\x80"), std::string("abc\xe2\x82")}) {
    EXPECT_EQ(decode_error(str(bad) + eight_zero_bytes + zz(5) + zz(0) + str("p")), errc::corrupt)
        << test::to_hex(bad);
  }
}

TEST(avro_decode, accepts_every_utf8_length_and_boundary) {
  for (std::string good : {std::string("\x7f"), std::string("\xc2\x80"), std::string("\xdf\xbf"),
                           std::string("\xe0\xa0\x80"), std::string("\xed\x9f\xbf"),
                           std::string("\xee\x80\x80"), std::string("\xf0\x90\x80\x80"),
                           std::string("\xf4\x8f\xbf\xbf"), std::string("\xf0\x9f\x98\x80")}) {
    auto r = decode(str(good) + eight_zero_bytes + zz(5) + zz(0) + str("p"));
    ASSERT_TRUE(r) << test::to_hex(good);
    EXPECT_EQ(r->name, good);
  }
}

TEST(avro_decode, reads_map_written_in_several_blocks) {
  const std::string tags =
      zz(1) + str("a") + str("1") + zz(2) + str("b") + str("2") + str("c") + str("3") + zz(0);
  auto r = decode(record_with_tags(tags));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->tags, (std::vector<model::tag>{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
}

TEST(avro_decode, reads_negative_block_count_followed_by_byte_size) {
  const std::string block = str("a") + str("1") + str("bb") + str("22");
  const std::string tags = zz(-2) + zz(static_cast<std::int64_t>(block.size())) + block + zz(1) +
                           str("c") + str("3") + zz(0);
  auto r = decode(record_with_tags(tags));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->tags, (std::vector<model::tag>{{"a", "1"}, {"bb", "22"}, {"c", "3"}}));
}

TEST(avro_decode, rejects_block_byte_size_that_does_not_match_its_entries) {
  const std::string block = str("a") + str("1");
  EXPECT_EQ(decode_error(record_with_tags(zz(-1) + zz(static_cast<std::int64_t>(block.size()) + 1) +
                                          block + zz(0))),
            errc::corrupt);
  EXPECT_EQ(decode_error(record_with_tags(zz(-1) + zz(-3) + block + zz(0))), errc::corrupt);
}

TEST(avro_decode, rejects_most_negative_block_count) {
  EXPECT_EQ(decode_error(record_with_tags(zz(std::numeric_limits<std::int64_t>::min()) + zz(0))),
            errc::corrupt);
}

TEST(avro_decode, rejects_map_without_terminator_as_truncated) {
  EXPECT_EQ(decode_error(str("n") + eight_zero_bytes + zz(5) + zz(1) + str("k") + str("v")),
            errc::truncated);
}

TEST(avro_decode, decoding_is_independent_of_input_alignment) {
  std::string bytes = "x";
  encode(test::seed_example(), bytes);
  EXPECT_EQ(decode(std::string_view(bytes).substr(1)).value(), test::seed_example());
}

}  // namespace
}  // namespace mca::avro
