// Bucket layouts: the built-in web-vitals layouts hold each vital's good and poor thresholds and
// are valid layouts; configured layouts override them by name; other names take the default.
#include "model/buckets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

namespace mca::model {
namespace {

bool has(const std::vector<double>& b, double v) { return std::count(b.begin(), b.end(), v) == 1; }

TEST(bucket_layouts, web_vitals_hold_their_good_and_poor_thresholds) {
  const bucket_layouts l;
  const std::pair<const char*, std::pair<double, double>> vitals[] = {
      {"web_vitals_lcp", {2500, 4000}},
      {"web_vitals_inp", {200, 500}},
      {"web_vitals_fcp", {1800, 3000}},
      {"web_vitals_ttfb", {800, 1800}},
      {"web_vitals_cls", {0.1, 0.25}}};
  for (const auto& [name, thresholds] : vitals) {
    const auto& b = l.layout_for(name);
    EXPECT_TRUE(has(b, thresholds.first)) << name;
    EXPECT_TRUE(has(b, thresholds.second)) << name;
    EXPECT_EQ(check_bounds(b), std::nullopt) << name;
  }
  EXPECT_EQ(bucket_layouts::web_vitals().size(), 5u);
}

TEST(bucket_layouts, configured_layouts_override_built_ins_and_others_take_the_default) {
  const bucket_layouts l({{"web_vitals_lcp", {1000, 2500}}, {"latency_ms", {5, 10}}}, {1, 2});
  EXPECT_EQ(l.layout_for("web_vitals_lcp"), (std::vector<double>{1000, 2500}));
  EXPECT_EQ(l.layout_for("latency_ms"), (std::vector<double>{5, 10}));
  EXPECT_TRUE(has(l.layout_for("web_vitals_inp"), 200));  // still built in
  EXPECT_EQ(l.layout_for("other"), (std::vector<double>{1, 2}));
  EXPECT_EQ(l.layout_for("Latency_ms"), (std::vector<double>{1, 2}));  // exact names
  EXPECT_EQ(bucket_layouts().layout_for("other"), prometheus_default_buckets());
  EXPECT_EQ(bucket_layouts({}, {}).default_layout(), prometheus_default_buckets());
}

TEST(check_bounds, accepts_up_to_64_finite_increasing_bounds) {
  std::vector<double> b;
  for (int i = 0; i < 64; ++i) b.push_back(i);
  EXPECT_EQ(check_bounds(b), std::nullopt);
  b.push_back(64);
  EXPECT_NE(check_bounds(b), std::nullopt);
  EXPECT_NE(check_bounds({}), std::nullopt);
  EXPECT_NE(check_bounds({1, 1}), std::nullopt);
  EXPECT_NE(check_bounds({1, std::numeric_limits<double>::infinity()}), std::nullopt);
  EXPECT_NE(check_bounds({std::numeric_limits<double>::quiet_NaN()}), std::nullopt);
}

}  // namespace
}  // namespace mca::model
