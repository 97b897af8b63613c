#include "api/json_write.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <cmath>
#include <limits>

#include "support/expect_each.h"

namespace mca::api {
namespace {

TEST(json_number, writes_the_shortest_round_trip_decimal) {
  test::expect_spellings(json_number, {{75.5, "75.5"},
                                       {1.0, "1"},
                                       {0.0, "0"},
                                       {-3.0, "-3"},
                                       {0.1, "0.1"},
                                       {18446744073709551616.0, "18446744073709551616"},
                                       {1e300, "1e+300"},
                                       {std::numeric_limits<double>::quiet_NaN(), "null"},
                                       {std::numeric_limits<double>::infinity(), "null"}});
}

TEST(json_number, reads_back_to_the_same_double) {
  for (double d : {75.5, 0.1, 1.0 / 3, 1e-320, 1.7976931348623157e308, -2.5e-7, 123456789.125}) {
    EXPECT_EQ(boost::json::parse(json_number(d)).to_number<double>(), d) << json_number(d);
  }
}

TEST(to_json, writes_doubles_as_json_number_inside_objects_and_arrays) {
  boost::json::value v = {
      {"value", 75.5},  {"one", 1.0},      {"zero", 0.0}, {"count", 3}, {"list", {1.0, 2.25, "s"}},
      {"name", "a\"b"}, {"none", nullptr}, {"ok", true}};
  const std::string text = to_json(v);
  EXPECT_NE(text.find(R"("value":75.5)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("one":1,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("zero":0,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("list":[1,2.25,"s"])"), std::string::npos) << text;
  EXPECT_EQ(text.find('E'), std::string::npos) << text;
}

}  // namespace
}  // namespace mca::api
