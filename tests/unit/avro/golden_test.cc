// The seed example metric against bytes checked in (verified with avro-c when written).
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "avro/metric_codec.h"
#include "metric_gen.h"
#include "support/support.h"

namespace mca::avro {
namespace {

std::string golden_hex() {
  std::ifstream in(mca::test::source_path("tests/unit/avro/golden/seed_metric.hex"));
  std::string hex;
  in >> hex;
  return hex;
}

TEST(avro_golden, seed_example_encodes_to_checked_in_bytes) {
  std::string out;
  encode(test::seed_example(), out);
  EXPECT_EQ(test::to_hex(out), golden_hex());
}

TEST(avro_golden, avro_c_agrees_with_checked_in_bytes) {
  auto s = schema::load_metric_schema(mca::test::schema_file()).value();
  EXPECT_EQ(test::to_hex(encode_with_avro_c(s, test::seed_example()).value()), golden_hex());
}

TEST(avro_golden, checked_in_bytes_decode_to_seed_example) {
  const std::string hex = golden_hex();
  ASSERT_FALSE(hex.empty());
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  EXPECT_EQ(decode(bytes).value(), test::seed_example());
}

}  // namespace
}  // namespace mca::avro
