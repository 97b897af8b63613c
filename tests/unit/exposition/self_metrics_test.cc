#include "exposition/self_metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "util/probe.h"

namespace mca::exposition {
namespace {

using util::counter_family;
using util::gauge_family;

using namespace std::chrono_literals;

std::string render(const self_metrics& m) {
  std::string out;
  m.render(out);
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(self_metrics, counts_requests_by_route_method_and_status) {
  self_metrics m;
  m.observe_request("/api/v2/app/{app_id}/metrics", "POST", 200, 3ms);
  m.observe_request("/api/v2/app/{app_id}/metrics", "POST", 200, 4ms);
  m.observe_request("/api/v2/app/{app_id}/metrics", "POST", 400, 1ms);
  const std::string out = render(m);
  EXPECT_TRUE(contains(out, "# TYPE mca_http_requests_total counter\n")) << out;
  EXPECT_TRUE(contains(out,
                       "mca_http_requests_total{method=\"POST\",route=\"/api/v2/app/{app_id}/"
                       "metrics\",status=\"200\"} 2\n"))
      << out;
  EXPECT_TRUE(contains(out,
                       "mca_http_requests_total{method=\"POST\",route=\"/api/v2/app/{app_id}/"
                       "metrics\",status=\"400\"} 1\n"))
      << out;
}

TEST(self_metrics, counts_exactly_from_many_threads_through_the_instrument_cache) {
  self_metrics m;
  constexpr int threads = 4;
  constexpr int each = 5000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&m, t] {
      for (int i = 0; i < each; ++i) {
        m.observe_request("ingest", i % 2 ? "POST" : "GET", t % 2 ? 200 : 503, 1ms);
      }
    });
  }
  for (auto& w : workers) w.join();
  const std::string out = render(m);
  for (const char* method : {"GET", "POST"}) {
    for (const char* status : {"200", "503"}) {
      EXPECT_TRUE(contains(out, std::string("mca_http_requests_total{method=\"") + method +
                                    "\",route=\"ingest\",status=\"" + status + "\"} 5000\n"))
          << method << " " << status << "\n"
          << out;
    }
  }
  EXPECT_TRUE(contains(out, "mca_http_request_duration_seconds_count{route=\"ingest\"} 20000\n"))
      << out;
  EXPECT_EQ(m.request_cache_size(), 4u);
}

TEST(self_metrics, the_instrument_cache_stops_growing_at_its_limit_and_still_counts) {
  self_metrics m;
  const auto limit = self_metrics::request_cache_limit;
  for (std::size_t i = 0; i < limit + 10; ++i) {
    m.observe_request("route" + std::to_string(i), "GET", 200, 1ms);
  }
  EXPECT_EQ(m.request_cache_size(), limit);
  // Past the limit the registry is asked every time: nothing is lost.
  m.observe_request("route" + std::to_string(limit + 5), "GET", 200, 1ms);
  const std::string out = render(m);
  EXPECT_TRUE(contains(out, "mca_http_requests_total{method=\"GET\",route=\"route" +
                                std::to_string(limit + 5) + "\",status=\"200\"} 2\n"));
  EXPECT_TRUE(contains(out, "mca_http_requests_total{method=\"GET\",route=\"route" +
                                std::to_string(limit - 1) + "\",status=\"200\"} 1\n"));
  EXPECT_EQ(m.request_cache_size(), limit);
}

TEST(self_metrics, observes_durations_in_a_seconds_histogram) {
  self_metrics m;
  m.observe_request("/livez", "GET", 200, 300us);
  m.observe_request("/livez", "GET", 200, 20s);
  const std::string out = render(m);
  EXPECT_TRUE(contains(out, "# TYPE mca_http_request_duration_seconds histogram\n")) << out;
  EXPECT_TRUE(
      contains(out, "mca_http_request_duration_seconds_bucket{route=\"/livez\",le=\"0.0005\"} 1\n"))
      << out;
  EXPECT_TRUE(
      contains(out, "mca_http_request_duration_seconds_bucket{route=\"/livez\",le=\"10\"} 1\n"))
      << out;
  EXPECT_TRUE(
      contains(out, "mca_http_request_duration_seconds_bucket{route=\"/livez\",le=\"+Inf\"} 2\n"))
      << out;
  EXPECT_TRUE(contains(out, "mca_http_request_duration_seconds_count{route=\"/livez\"} 2\n"))
      << out;
}

TEST(self_metrics, duration_buckets_span_half_a_millisecond_to_ten_seconds) {
  const auto& b = self_metrics::duration_buckets();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 0.0005);
  EXPECT_DOUBLE_EQ(b.back(), 10);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
}

TEST(self_metrics, renders_collectables_evaluated_at_scrape_time) {
  self_metrics m;
  std::atomic<std::uint64_t> consumed{1};
  m.add_collectable(make_collectable([&] {
    return std::vector{counter_family("kafka_metrics_consumed_total",
                                      "Total metrics consumed from Kafka",
                                      static_cast<double>(consumed.load()))};
  }));
  EXPECT_TRUE(contains(render(m),
                       "# HELP kafka_metrics_consumed_total Total metrics consumed from Kafka\n"
                       "# TYPE kafka_metrics_consumed_total counter\n"
                       "kafka_metrics_consumed_total 1\n"));
  consumed = 5;
  EXPECT_TRUE(contains(render(m), "kafka_metrics_consumed_total 5\n"));
}

TEST(self_metrics, helpers_build_labelled_counter_and_gauge_families) {
  self_metrics m;
  m.add_collectable(make_collectable([] {
    return std::vector{
        counter_family("mca_ingest_metrics_total", "Metrics received, by outcome",
                       {{{{"result", "accepted"}}, 7}, {{{"result", "rejected"}}, 2}}),
        gauge_family("mca_store_series", "Series held", 3.0),
        gauge_family("mca_transport_queue_depth", "Messages waiting", {{{}, 4}})};
  }));
  const std::string out = render(m);
  EXPECT_TRUE(contains(out, "mca_ingest_metrics_total{result=\"accepted\"} 7\n")) << out;
  EXPECT_TRUE(contains(out, "mca_ingest_metrics_total{result=\"rejected\"} 2\n")) << out;
  EXPECT_TRUE(contains(out, "# TYPE mca_store_series gauge\nmca_store_series 3\n")) << out;
  EXPECT_TRUE(contains(out, "mca_transport_queue_depth 4\n")) << out;
}

TEST(self_metrics, records_and_renders_from_many_threads) {
  self_metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        m.observe_request("/r", "GET", 200, 1ms);
        if (i % 100 == 0) {
          std::string out;
          m.render(out);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(contains(
      render(m), "mca_http_requests_total{method=\"GET\",route=\"/r\",status=\"200\"} 2000\n"));
}

}  // namespace
}  // namespace mca::exposition
