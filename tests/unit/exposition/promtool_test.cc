// Checks our output with Prometheus' own parser and linter: `promtool check metrics` must accept
// it with no problem at all (exit 0, nothing printed).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "exposition/page.h"
#include "exposition/process_metrics.h"
#include "util/probe.h"

namespace mca::exposition {
namespace {

using util::counter_family;
using util::gauge_family;

constexpr const char* promtool = "/usr/bin/promtool";

struct check_result {
  int exit_code = -1;
  std::string output;
};

check_result promtool_check(const std::string& text) {
  char path[] = "/tmp/mca_promtool_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  {
    std::ofstream file(path, std::ios::binary);
    file << text;
  }
  close(fd);
  check_result r;
  const std::string command = std::string(promtool) + " check metrics < " + path + " 2>&1";
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::filesystem::remove(path);
  return r;
}

model::metric metric_of(std::string name, double value, std::vector<model::tag> tags) {
  return model::metric{std::move(name), value, 1'640'995'200'000, std::move(tags), "p"};
}

struct promtool_fixture : ::testing::Test {
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(promtool)) << promtool << " is required for this test";
  }
  util::manual_clock clock;
  store::series_store store{store::store_limits{}, clock};
  self_metrics self;

  void fill_self_metrics() {
    self.add_collectable(make_process_collectable());
    self.observe_request("/api/v2/app/{app_id}/metrics", "POST", 200, std::chrono::milliseconds(3));
    self.observe_request("/prometheus-metrics", "GET", 200, std::chrono::microseconds(800));
    self.add_collectable(make_collectable([] {
      return std::vector{
          counter_family("kafka_metrics_consumed_total", "Total metrics consumed from Kafka", 3.0),
          counter_family("mca_ingest_metrics_total", "Metrics received, by outcome",
                         {{{{"result", "accepted"}}, 3}, {{{"result", "rejected"}}, 1}}),
          gauge_family("mca_store_series", "Series held in the store", 3.0),
          counter_family(
              "mca_store_dropped_series_total", "New series dropped by a cap",
              {{{{"reason", "max_series"}}, 0}, {{{"reason", "max_series_per_app"}}, 0}}),
          gauge_family("mca_transport_queue_depth", "Messages waiting for delivery", 0.0)};
    }));
  }
};

TEST_F(promtool_fixture, accepts_the_rendered_store_and_self_metrics) {
  store.apply("my-app",
              metric_of("cpu_usage", 75.5, {{"host", "server1"}, {"environment", "production"}}), 0,
              clock.now_ms());
  store.apply("other-app", metric_of("cpu_usage", 12, {{"host", "server2"}}), 0, clock.now_ms());
  store.apply("my-app", metric_of("memory.used-bytes", 1e9, {{"host", "server1"}}), 0,
              clock.now_ms());
  store.apply("my-app", metric_of("queue_depth", 0, {}), 0, clock.now_ms());
  fill_self_metrics();
  for (bool app_id : {true, false}) {
    std::string out;
    render_page(store, self, render_options{.app_id_label = app_id}, out);
    const auto r = promtool_check(out);
    EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- input:\n" << out;
    EXPECT_EQ(r.output, "") << out;
  }
}

TEST_F(promtool_fixture, accepts_hostile_label_values_and_names) {
  store.apply("a",
              metric_of("evil\"} 1\n# HELP x y", 1,
                        {{"k", "x\"} 1\nevil{y=\"2\\"},
                         {"__name__", "spoof"},
                         {"app_id", "spoof"},
                         {"9key", "bad utf8 \xff\xfe end"},
                         {"emoji", "\xf0\x9f\x94\xa5"}}),
              0, clock.now_ms());
  store.apply("b", metric_of("evil\"} 1\n# HELP x y", 2, {{"k", "\\"}}), 0, clock.now_ms());
  std::string out;
  render_page(store, self, {}, out);
  const auto r = promtool_check(out);
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- input:\n" << out;
  EXPECT_EQ(r.output, "") << out;
}

TEST_F(promtool_fixture, accepts_counters_and_histograms_beside_gauges) {
  const auto typed = [](std::string name, model::metric_type type, double v,
                        std::vector<model::tag> tags) {
    auto m = metric_of(std::move(name), v, std::move(tags));
    m.type = type;
    return m;
  };
  for (const char* app : {"web", "shop"}) {
    for (double v : {120.0, 2400.0, 2600.0, 4100.0, 30000.0})
      store.apply(app, typed("web_vitals_lcp", model::metric_type::histogram, v, {{"page", "/"}}),
                  0, clock.now_ms());
    store.apply(app, typed("web_vitals_cls", model::metric_type::histogram, 0.12, {}), 0,
                clock.now_ms());
    store.apply(app, typed("checkout.clicks", model::metric_type::counter, 3, {{"step", "pay"}}), 0,
                clock.now_ms());
    store.apply(app, typed("errors", model::metric_type::counter, 1, {}), 0, clock.now_ms());
    store.apply(app, typed("cart_size", model::metric_type::gauge, 4, {{"page", "/"}}), 0,
                clock.now_ms());
  }
  fill_self_metrics();
  for (bool app_id : {true, false}) {
    std::string out;
    render_page(store, self, render_options{.app_id_label = app_id}, out);
    ASSERT_NE(out.find("client_metric_web_vitals_lcp_bucket"), std::string::npos);
    ASSERT_NE(out.find("# TYPE client_metric_errors_total counter"), std::string::npos);
    const auto r = promtool_check(out);
    EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- input:\n" << out;
    EXPECT_EQ(r.output, "") << out;
  }
}

TEST_F(promtool_fixture, detects_a_broken_exposition) {
  // The checker itself must be able to fail, or the tests above prove nothing.
  const auto r = promtool_check("# TYPE a gauge\na{x=\"1} 1\n");
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace mca::exposition
