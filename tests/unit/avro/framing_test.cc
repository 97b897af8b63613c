#include <gtest/gtest.h>

#include "avro/metric_codec.h"
#include "metric_gen.h"

namespace mca::avro {
namespace {

TEST(avro_framing, writes_magic_byte_then_big_endian_schema_id_then_body) {
  std::string framed_bytes;
  frame(schema_id{0x01020304}, test::seed_example(), framed_bytes);
  std::string body;
  encode(test::seed_example(), body);
  EXPECT_EQ(test::to_hex(framed_bytes), "0001020304" + test::to_hex(body));
}

TEST(avro_framing, round_trips_schema_id_and_body) {
  for (std::int32_t id : {1, 255, 256, 65'536, std::numeric_limits<std::int32_t>::max()}) {
    std::string msg;
    frame(schema_id{id}, test::seed_example(), msg);
    auto f = unframe(msg);
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->id, schema_id{id});
    EXPECT_EQ(decode(f->body).value(), test::seed_example());
  }
}

TEST(avro_framing, appends_to_existing_output) {
  std::string msg = "abc";
  frame(schema_id{7}, test::seed_example(), msg);
  EXPECT_EQ(msg.substr(0, 3), "abc");
  EXPECT_EQ(unframe(std::string_view(msg).substr(3)).value().id, schema_id{7});
}

TEST(avro_framing, accepts_header_with_empty_body) {
  auto f = unframe(std::string("\0\0\0\0\x2a", 5));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->id, schema_id{42});
  EXPECT_TRUE(f->body.empty());
}

TEST(avro_framing, rejects_message_not_starting_with_magic_zero) {
  auto f = unframe(std::string("\x01\0\0\0\x01\x02", 6));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, errc::bad_magic);
}

TEST(avro_framing, rejects_message_shorter_than_header_as_truncated) {
  for (std::size_t n = 0; n < 5; ++n) {
    auto f = unframe(std::string(n, '\0'));
    ASSERT_FALSE(f) << n;
    EXPECT_EQ(f.error().code, errc::truncated) << n;
  }
}

}  // namespace
}  // namespace mca::avro
