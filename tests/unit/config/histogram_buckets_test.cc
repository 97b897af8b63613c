// HISTOGRAM_BUCKETS and HISTOGRAM_DEFAULT_BUCKETS: the format, the bounds (at most 64 finite,
// strictly increasing numbers per layout: 64 pass, 65 fail), and printing them back.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "config/config.h"

namespace mca::config {
namespace {

bool has_error_mentioning(const load_result& r, const std::string& needle) {
  return std::any_of(r.errors.begin(), r.errors.end(),
                     [&](const std::string& e) { return e.find(needle) != std::string::npos; });
}

std::string bounds(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) out += (out.empty() ? "" : ",") + std::to_string(i);
  return out;
}

TEST(histogram_buckets, unset_means_no_named_layouts_and_the_prometheus_default) {
  auto r = load({}, {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.cfg.store.histogram_buckets.empty());
  EXPECT_TRUE(r.cfg.store.histogram_default_buckets.empty());
}

TEST(histogram_buckets, parses_layouts_per_name_and_the_default) {
  auto r = load({{"HISTOGRAM_BUCKETS", " latency_ms=5, 10,25 ; web_vitals_lcp=1000,2500;"},
                 {"HISTOGRAM_DEFAULT_BUCKETS", "0.1,1,1e3"}},
                {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  ASSERT_EQ(r.cfg.store.histogram_buckets.size(), 2u);
  EXPECT_EQ(r.cfg.store.histogram_buckets[0].first, "latency_ms");
  EXPECT_EQ(r.cfg.store.histogram_buckets[0].second, (std::vector<double>{5, 10, 25}));
  EXPECT_EQ(r.cfg.store.histogram_buckets[1].first, "web_vitals_lcp");
  EXPECT_EQ(r.cfg.store.histogram_default_buckets, (std::vector<double>{0.1, 1, 1000}));
  const std::string printed = describe(r.cfg);
  EXPECT_NE(printed.find("latency_ms=5,10,25;web_vitals_lcp=1000,2500"), std::string::npos)
      << printed;
  EXPECT_NE(printed.find("0.1,1,1000"), std::string::npos);
}

TEST(histogram_buckets, sixty_four_bounds_pass_and_sixty_five_fail) {
  auto ok =
      load({{"HISTOGRAM_BUCKETS", "a=" + bounds(64)}, {"HISTOGRAM_DEFAULT_BUCKETS", bounds(64)}},
           {"--env-file=/dev/null"});
  EXPECT_TRUE(ok.errors.empty()) << ok.errors.front();
  EXPECT_EQ(ok.cfg.store.histogram_buckets.at(0).second.size(), 64u);
  auto bad =
      load({{"HISTOGRAM_BUCKETS", "a=" + bounds(65)}, {"HISTOGRAM_DEFAULT_BUCKETS", bounds(65)}},
           {"--env-file=/dev/null"});
  EXPECT_TRUE(has_error_mentioning(bad, "HISTOGRAM_BUCKETS"));
  EXPECT_TRUE(has_error_mentioning(bad, "HISTOGRAM_DEFAULT_BUCKETS"));
  EXPECT_TRUE(has_error_mentioning(bad, "more than 64 bounds"));
}

TEST(histogram_buckets, rejects_malformed_layouts_naming_the_problem) {
  const std::pair<const char*, const char*> cases[] = {
      {"a=1,2,2", "strictly increasing"},
      {"a=2,1", "strictly increasing"},
      {"a=1,inf", "finite"},
      {"a=1,nan", "finite"},
      {"a=1,x", "\"x\" is not a number"},
      {"a=1,,2", "\"\" is not a number"},
      {"a=", "\"\" is not a number"},
      {"=1,2", "expected name=bound"},
      {"a 1,2", "expected name=bound"},
      {"a=1;a=2", "named twice"},
  };
  for (const auto& [value, needle] : cases) {
    auto r = load({{"HISTOGRAM_BUCKETS", value}}, {"--env-file=/dev/null"});
    EXPECT_TRUE(has_error_mentioning(r, needle)) << value;
    EXPECT_TRUE(has_error_mentioning(r, "HISTOGRAM_BUCKETS")) << value;
  }
  auto r = load({{"HISTOGRAM_DEFAULT_BUCKETS", "3,2"}}, {"--env-file=/dev/null"});
  EXPECT_TRUE(has_error_mentioning(r, "HISTOGRAM_DEFAULT_BUCKETS"));
}

}  // namespace
}  // namespace mca::config
