// Admission counts what the store counts: a histogram is its layout's bounds + 3 Prometheus
// series against MAX_SERIES_PER_APP and MAX_SERIES, a counter one, as store::exposed_series says.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pipeline/admission.h"
#include "store/series_store.h"

namespace mca::pipeline {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;

model::metric typed(std::string name, model::metric_type type, std::string tag = "a") {
  model::metric m{std::move(name), 1, kNow, {{"t", std::move(tag)}}, "p"};
  m.type = type;
  return m;
}

struct one_batch {
  std::vector<model::metric> metrics;
  std::vector<std::string> keys;
  std::vector<series_admission::candidate> candidates;
  explicit one_batch(std::vector<model::metric> ms) : metrics(std::move(ms)) {
    for (auto& m : metrics) keys.push_back(model::series_key("app", m));
    for (std::size_t i = 0; i < metrics.size(); ++i)
      candidates.push_back({i, &metrics[i], keys[i]});
  }
};

admission_limits limits(std::size_t global, std::size_t per_app) {
  admission_limits l;
  l.store.max_series = global;
  l.store.max_series_per_app = per_app;
  l.store.buckets = model::bucket_layouts({{"lat", {1, 2, 3, 4, 5}}}, {1});  // lat: 8 series
  return l;
}

TEST(admission_histograms, a_histogram_counts_its_bounds_plus_three_per_app) {
  series_admission a(limits(1000, 10));
  // lat (8) + counter (1) + gauge (1) = 10 fit; a second histogram (8) and one more counter
  // do not; the refusal says why.
  one_batch b({typed("lat", model::metric_type::histogram), typed("c", model::metric_type::counter),
               typed("g", model::metric_type::gauge),
               typed("lat", model::metric_type::histogram, "b"),
               typed("c", model::metric_type::counter, "b")});
  auto t = a.admit("app", b.candidates, kNow);
  a.settle(t, true);
  EXPECT_EQ(t.admitted, (std::vector<bool>{true, true, true, false, false}));
  ASSERT_EQ(t.refused.size(), 2u);
  EXPECT_EQ(t.refused[0].field, "series");
  EXPECT_NE(t.refused[0].error.find("counts 8 series"), std::string::npos) << t.refused[0].error;
  EXPECT_NE(t.refused[0].error.find("MAX_SERIES_PER_APP"), std::string::npos);
  EXPECT_EQ(a.stats().exposed, 10u);
  EXPECT_EQ(a.stats().series, 3u);
  // Updates of held series cost nothing.
  one_batch again({typed("lat", model::metric_type::histogram)});
  auto u = a.admit("app", again.candidates, kNow);
  EXPECT_TRUE(u.refused.empty());
  a.settle(u, true);
}

TEST(admission_histograms, at_and_past_the_global_cap) {
  // Exactly at the cap: a histogram of 8 with a gauge fills 9.
  series_admission a(limits(9, 100));
  one_batch b({typed("lat", model::metric_type::histogram), typed("g", model::metric_type::gauge),
               typed("g", model::metric_type::gauge, "b")});
  auto t = a.admit("app", b.candidates, kNow);
  EXPECT_EQ(t.admitted, (std::vector<bool>{true, true, false}));
  ASSERT_EQ(t.refused.size(), 1u);
  EXPECT_NE(t.refused[0].error.find("MAX_SERIES"), std::string::npos);
  // Not delivered: the budget comes back.
  a.settle(t, false);
  EXPECT_EQ(a.stats().exposed, 0u);
}

TEST(admission_histograms, agrees_with_the_store_on_the_default_layouts) {
  const model::bucket_layouts l;
  EXPECT_EQ(
      store::exposed_series(model::metric_type::histogram, l.layout_for("web_vitals_lcp").size()),
      l.layout_for("web_vitals_lcp").size() + 3);
  EXPECT_EQ(store::exposed_series(model::metric_type::counter, 0), 1u);
  EXPECT_EQ(store::exposed_series(model::metric_type::gauge, 0), 1u);
}

}  // namespace
}  // namespace mca::pipeline
