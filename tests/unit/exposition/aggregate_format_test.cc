// Counters and histograms in the text format: family names and TYPE lines, cumulative `le`
// buckets spelled as Prometheus' client libraries spell them, _sum and _count, with and without
// the app_id label; gauges around them print exactly as before.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "exposition/text_format.h"
#include "support/expect_each.h"

namespace mca::exposition {
namespace {

model::metric typed(std::string name, model::metric_type type, double value,
                    std::vector<model::tag> tags = {}) {
  model::metric m{std::move(name), value, 1'640'995'200'000, std::move(tags), "p"};
  m.type = type;
  return m;
}

store::store_limits limits() {
  store::store_limits l;
  l.buckets = model::bucket_layouts({{"lat", {0.5, 1, 2500}}}, {1});
  return l;
}

struct aggregate_format : ::testing::Test {
  util::manual_clock clock;
  store::series_store store{limits(), clock};
  std::string render(bool app_id_label = true) {
    std::string out;
    render_series(store, render_options{.app_id_label = app_id_label}, out);
    return out;
  }
};

TEST_F(aggregate_format, a_counter_is_a_total_family) {
  store.apply("a", typed("page.views", model::metric_type::counter, 3, {{"page", "/"}}), 0,
              clock.now_ms());
  store.apply("a", typed("page.views", model::metric_type::counter, 4, {{"page", "/"}}), 0,
              clock.now_ms());
  EXPECT_EQ(render(),
            "# HELP client_metric_page_views_total Client metric: page.views\n"
            "# TYPE client_metric_page_views_total counter\n"
            "client_metric_page_views_total{app_id=\"a\",page=\"/\"} 7\n");
}

TEST_F(aggregate_format, a_histogram_has_cumulative_buckets_sum_and_count) {
  for (double v : {0.25, 0.5, 2.0, 3000.0})
    store.apply("a", typed("lat", model::metric_type::histogram, v, {{"page", "/x"}}), 0,
                clock.now_ms());
  EXPECT_EQ(render(),
            "# HELP client_metric_lat Client metric: lat\n"
            "# TYPE client_metric_lat histogram\n"
            "client_metric_lat_bucket{app_id=\"a\",page=\"/x\",le=\"0.5\"} 2\n"
            "client_metric_lat_bucket{app_id=\"a\",page=\"/x\",le=\"1\"} 2\n"
            "client_metric_lat_bucket{app_id=\"a\",page=\"/x\",le=\"2500\"} 3\n"
            "client_metric_lat_bucket{app_id=\"a\",page=\"/x\",le=\"+Inf\"} 4\n"
            "client_metric_lat_sum{app_id=\"a\",page=\"/x\"} 3002.75\n"
            "client_metric_lat_count{app_id=\"a\",page=\"/x\"} 4\n");
}

TEST_F(aggregate_format, without_the_app_id_label_an_unlabelled_histogram_has_bare_sum) {
  store.apply("a", typed("h", model::metric_type::histogram, 0.5), 0, clock.now_ms());
  EXPECT_EQ(render(false),
            "# HELP client_metric_h Client metric: h\n"
            "# TYPE client_metric_h histogram\n"
            "client_metric_h_bucket{le=\"1\"} 1\n"
            "client_metric_h_bucket{le=\"+Inf\"} 1\n"
            "client_metric_h_sum 0.5\n"
            "client_metric_h_count 1\n");
}

TEST_F(aggregate_format, without_the_app_id_label_the_newest_series_of_two_apps_is_kept_whole) {
  auto older = typed("c", model::metric_type::counter, 1);
  auto newer = typed("c", model::metric_type::counter, 5);
  newer.timestamp_ms += 10;
  store.apply("a", older, 0, clock.now_ms());
  store.apply("b", newer, 0, clock.now_ms());
  EXPECT_EQ(render(false),
            "# HELP client_metric_c_total Client metric: c\n"
            "# TYPE client_metric_c_total counter\n"
            "client_metric_c_total 5\n");
}

TEST_F(aggregate_format, gauges_beside_aggregates_print_as_before) {
  store.apply("a", typed("g", model::metric_type::gauge, 1.5, {{"k", "v"}}), 0, clock.now_ms());
  store.apply("a", typed("c", model::metric_type::counter, 2), 0, clock.now_ms());
  EXPECT_EQ(render(),
            "# HELP client_metric_c_total Client metric: c\n"
            "# TYPE client_metric_c_total counter\n"
            "client_metric_c_total{app_id=\"a\"} 2\n"
            "# HELP client_metric_g Client metric: g\n"
            "# TYPE client_metric_g gauge\n"
            "client_metric_g{app_id=\"a\",k=\"v\"} 1.5\n");
}

std::string le(double v) {
  std::string out;
  append_le(v, out);
  return out;
}

TEST(append_le, spells_bounds_as_go_formatfloat_g_does) {
  test::expect_spellings(le, {{0.005, "0.005"},
                              {0.1, "0.1"},
                              {1, "1"},
                              {2.5, "2.5"},
                              {2500, "2500"},
                              {100000, "100000"},
                              {1e6, "1e+06"},
                              {1234567, "1.234567e+06"},
                              {0.0001, "0.0001"},
                              {0.00001, "1e-05"},
                              {-3, "-3"},
                              {0, "0"},
                              {1e300, "1e+300"},
                              {std::numeric_limits<double>::infinity(), "+Inf"}});
}

}  // namespace
}  // namespace mca::exposition
