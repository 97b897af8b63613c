#include "http/codec.h"

#include <gtest/gtest.h>

#include "support/expect_each.h"

namespace mca::http {
namespace {

// gzip.compress(b"hello", mtime=0) from Python's standard library: an independent encoder.
const std::string python_gzip_hello(
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x07\x00\x86\xa6\x10\x36\x05\x00"
    "\x00\x00",
    25);

TEST(http_codec, inflates_gzip_written_by_another_encoder) {
  auto r = gunzip(python_gzip_hello, 1024);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, "hello");
}

TEST(http_codec, round_trips_its_own_gzip) {
  std::string text(100'000, 'x');
  for (std::size_t i = 0; i < text.size(); i += 7) text[i] = static_cast<char>('a' + i % 26);
  auto z = gzip(text);
  EXPECT_LT(z.size(), text.size());
  auto r = gunzip(z, text.size());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, text);
}

TEST(http_codec, inflates_concatenated_gzip_members) {
  auto r = gunzip(python_gzip_hello + gzip(" world"), 1024);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, "hello world");
}

TEST(http_codec, accepts_output_exactly_at_limit) {
  auto r = gunzip(python_gzip_hello, 5);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, "hello");
}

TEST(http_codec, stops_inflating_one_byte_past_limit) {
  auto r = gunzip(python_gzip_hello, 4);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::body_too_large);
}

TEST(http_codec, rejects_truncated_gzip) {
  auto r = gunzip(python_gzip_hello.substr(0, 15), 1024);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::bad_gzip);
}

TEST(http_codec, rejects_bytes_that_are_not_gzip) {
  auto r = gunzip("plainly not gzip", 1024);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::bad_gzip);
}

TEST(http_codec, decodes_identity_and_gzip_codings) {
  EXPECT_EQ(*decode_content("identity", "abc", 10), "abc");
  EXPECT_EQ(*decode_content("GZIP", python_gzip_hello, 10), "hello");
  EXPECT_EQ(*decode_content("gzip, identity", python_gzip_hello, 10), "hello");
}

TEST(http_codec, refuses_unknown_coding) {
  auto r = decode_content("br", "abc", 10);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::unsupported_encoding);
}

TEST(http_codec, reads_accept_encoding_q_values) {
  test::expect_accepts(accepts_gzip,
                       {"gzip", "deflate, gzip;q=0.5, br", "GZip ; Q=1.0", "*", "x-gzip"});
  test::expect_rejects(accepts_gzip, {"", "identity", "br, deflate", "gzip;q=0", "gzip;q=0.000",
                                      "gzip;q=0, *",  // an explicit refusal beats the wildcard
                                      "*;q=0", "gzip;q=banana"});
}

}  // namespace
}  // namespace mca::http
