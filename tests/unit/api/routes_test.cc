// The API's handlers against a fake pipeline front, over a real http::server: what each route
// answers (status, body, Retry-After) for what the layers below report.
#include "api/routes.h"

#include <mutex>
#include <optional>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "support/http_client.h"
#include "transport/transport.h"

namespace mca::api {
namespace {

using namespace std::chrono_literals;
namespace bhttp = boost::beast::http;
using field = bhttp::field;
using http::test::make_request;

class fake_front final : public pipeline::front {
 public:
  void submit(std::string_view app_id, pipeline::batch b, pipeline::submit_callback done) override {
    std::lock_guard l(mu);
    submitted_app = std::string(app_id);
    submitted = std::move(b);
    done(answer);
  }
  std::vector<pipeline::series> app_series(std::string_view app_id) const override {
    std::vector<pipeline::series> out;
    for (const auto& s : held) {
      if (s.app_id == app_id) out.push_back(s);
    }
    return out;
  }
  pipeline::consumer_counters counters() const override { return {5, 1, held.size(), 2}; }
  pipeline::components health() override { return parts; }
  pipeline::readiness ready() override { return readiness; }

  std::mutex mu;
  std::optional<std::string> submitted_app;
  std::optional<pipeline::batch> submitted;
  util::result<pipeline::outcome> answer = pipeline::outcome{};
  std::vector<pipeline::series> held;
  pipeline::components parts{{"transport", {true, "ok", {{"kind", "embedded"}}}},
                             {"registry", {true, "ok", {}}},
                             {"consumer", {true, "ok", {}}}};
  pipeline::readiness readiness{true, "ok", true};
};

pipeline::series gauge(std::string app, std::string name, double value) {
  pipeline::series s;
  s.app_id = std::move(app);
  s.exposition_name = "client_metric_" + name;
  s.original_name = name;
  s.value = value;
  s.timestamp_ms = 1000;
  s.profile_id = "p";
  return s;
}

struct fixture : ::testing::Test {
  fake_front front;
  services s{{.max_batch_metrics = 1000, .retry_after = 7s},
             front,
             util::real_clock(),
             [](std::string& out) { out += "# page\n"; },
             nullptr};
  std::optional<http::server> srv;

  void start() {
    http::router r;
    add_routes(r, s);
    http::server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 1;
    srv.emplace(o, std::move(r));
    srv->start();
  }
  void TearDown() override {
    if (srv) srv->stop(10s);
  }
  http::test::client_response call(bhttp::verb v, std::string target, std::string body = {},
                                   std::string_view content_type = "application/json") {
    if (!srv) start();
    http::test::client c(srv->port());
    auto req = make_request(v, std::move(target), std::move(body));
    if (!content_type.empty()) req.set(field::content_type, content_type);
    auto r = c.roundtrip(std::move(req));
    EXPECT_FALSE(r.ec) << r.ec.message();
    return r.res;
  }
};

boost::json::value json(const http::test::client_response& r) {
  return boost::json::parse(r.body());
}

std::string header(const http::test::client_response& r, field f) {
  auto v = r[f];
  return std::string(v.data(), v.size());
}

constexpr char kTwo[] =
    R"({"metrics":[{"name":"a","value":1,"timestamp":5,"profileId":"p","tags":{}},)"
    R"({"name":"b","value":2,"timestamp":5,"profileId":"p","tags":{}}]})";

using routes = fixture;

TEST_F(routes, ingest_hands_the_parsed_batch_to_the_pipeline_and_answers_its_outcome) {
  front.answer = pipeline::outcome{2, {}};
  auto r = call(bhttp::verb::post, "/api/v2/app/web/metrics", kTwo);
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r.body(), R"({"accepted":2,"rejected":[]})");
  ASSERT_TRUE(front.submitted);
  EXPECT_EQ(*front.submitted_app, "web");
  ASSERT_EQ(front.submitted->items.size(), 2u);
  EXPECT_EQ(front.submitted->items[1].second.name, "b");
}

TEST_F(routes, ingest_lists_what_the_pipeline_rejected) {
  front.answer = pipeline::outcome{1, {{1, "series", "over the cap"}}};
  auto r = call(bhttp::verb::post, "/api/v2/app/web/metrics", kTwo);
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r.body(),
            R"({"accepted":1,"rejected":[{"index":1,"field":"series","error":"over the cap"}]})");
}

TEST_F(routes, ingest_answers_503_with_retry_after_when_the_transport_fails) {
  front.answer = util::error(transport::errc::queue_full, "queue full");
  auto r = call(bhttp::verb::post, "/api/v2/app/web/metrics", kTwo);
  EXPECT_EQ(r.result_int(), 503u);
  EXPECT_EQ(header(r, field::retry_after), "7");
  EXPECT_EQ(r.body(), R"({"error":{"code":"unavailable","message":"queue full","details":[]}})");
}

TEST_F(routes, ingest_with_nothing_valid_is_400_no_valid_metrics_with_the_details) {
  front.answer = pipeline::outcome{0, {{0, "name", "must not be empty"}}};
  auto r = call(bhttp::verb::post, "/api/v2/app/web/metrics", kTwo);
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(r.body(),
            R"({"error":{"code":"no_valid_metrics","message":"no metric in the batch is valid",)"
            R"("details":[{"index":0,"field":"name","error":"must not be empty"}]}})");
  EXPECT_EQ(r.count(field::retry_after), 0u);
}

TEST_F(routes, a_malformed_app_id_is_400_and_reaches_nothing) {
  auto r = call(bhttp::verb::post, "/api/v2/app/..%2F/metrics", kTwo);
  EXPECT_EQ(r.result_int(), 400u);
  auto e = json(r).at("error");
  EXPECT_EQ(e.at("code").as_string(), "invalid_app_id");
  EXPECT_EQ(e.at("message").as_string(),
            "app_id must match [A-Za-z0-9._-]{1,64} and not be only dots");
  EXPECT_EQ(
      boost::json::serialize(e.at("details")),
      R"([{"field":"app_id","error":"must match [A-Za-z0-9._-]{1,64} and not be only dots"}])");
  EXPECT_FALSE(front.submitted);
}

TEST_F(routes, an_app_not_allowed_is_404_unknown_app) {
  s.allowed_app_ids = {"web"};
  auto r = call(bhttp::verb::get, "/api/v2/app/other/metrics");
  EXPECT_EQ(r.result_int(), 404u);
  EXPECT_EQ(r.body(), R"({"error":{"code":"unknown_app","message":"app_id \"other\" is not one )"
                      R"(this service takes","details":[{"field":"app_id","error":"not in )"
                      R"(ALLOWED_APP_IDS"}]}})");
}

TEST_F(routes, ingest_refuses_another_content_type_with_415) {
  auto r = call(bhttp::verb::post, "/api/v2/app/web/metrics", kTwo, "text/plain");
  EXPECT_EQ(r.result_int(), 415u);
  EXPECT_EQ(json(r).at("error").at("code").as_string(), "unsupported_media_type");
  EXPECT_FALSE(front.submitted);
}

TEST_F(routes, ingest_refuses_a_batch_over_the_limit_with_413) {
  s.max_batch_metrics = 1;
  auto r = call(bhttp::verb::post, "/api/v2/app/web/metrics", kTwo);
  EXPECT_EQ(r.result_int(), 413u);
  EXPECT_EQ(json(r).at("error").at("code").as_string(), "batch_too_large");
  EXPECT_FALSE(front.submitted);
}

TEST_F(routes, app_metrics_pages_through_the_app_view_in_series_order) {
  front.held = {gauge("web", "c", 3), gauge("web", "a", 1), gauge("other", "x", 9),
                gauge("web", "b", 2)};
  auto first = json(call(bhttp::verb::get, "/api/v2/app/web/metrics?limit=2"));
  const auto& m = first.at("metrics").as_array();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].at("name").as_string(), "a");
  EXPECT_EQ(m[1].at("name").as_string(), "b");
  EXPECT_EQ(boost::json::serialize(first.at("consumer")),
            R"({"consumed_total":5,"decode_errors_total":1,"series":4,"dropped_series_total":2})");
  const std::string cursor(first.at("next_cursor").as_string());
  auto second = json(call(bhttp::verb::get, "/api/v2/app/web/metrics?limit=2&cursor=" + cursor));
  ASSERT_EQ(second.at("metrics").as_array().size(), 1u);
  EXPECT_EQ(second.at("metrics").as_array()[0].at("name").as_string(), "c");
  EXPECT_TRUE(second.at("next_cursor").is_null());
}

TEST_F(routes, app_metrics_refuses_a_bad_limit_naming_the_parameter) {
  auto r = call(bhttp::verb::get, "/api/v2/app/web/metrics?limit=0");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(r.body(), R"({"error":{"code":"invalid_request","message":"limit must be an integer )"
                      R"(from 1 to 1000","details":[{"field":"limit","error":"must be an integer )"
                      R"(from 1 to 1000"}]}})");
}

TEST_F(routes, readiness_follows_the_pipeline_and_says_when_to_retry) {
  auto ok = call(bhttp::verb::get, "/readyz");
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(ok.body(), R"({"status":"ready","transport":"ok","schema_registered":true})");
  front.readiness = {false, "connecting", false};
  auto no = call(bhttp::verb::get, "/readyz");
  EXPECT_EQ(no.result_int(), 503u);
  EXPECT_EQ(header(no, field::retry_after), "7");
  EXPECT_EQ(no.body(),
            R"({"status":"not_ready","transport":"connecting","schema_registered":false})");
}

TEST_F(routes, health_lists_every_component_the_pipeline_reports_in_its_order) {
  front.held = {gauge("web", "a", 1), gauge("web", "b", 2), gauge("other", "a", 3)};
  auto r = call(bhttp::verb::get, "/api/v2/app/web/health");
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(header(r, field::retry_after), "");
  EXPECT_EQ(r.body(),
            R"({"status":"ok","app_id":"web","series":2,"components":{)"
            R"("transport":{"kind":"embedded","ok":true,"status":"ok"},)"
            R"("registry":{"ok":true,"status":"ok"},"consumer":{"ok":true,"status":"ok"}}})");
}

TEST_F(routes, health_is_degraded_when_a_component_is_down) {
  front.held = {gauge("web", "a", 1)};
  front.parts[2].health = {false, "rebalancing", {}};
  auto r = call(bhttp::verb::get, "/api/v2/app/web/health");
  EXPECT_EQ(r.result_int(), 503u);
  EXPECT_EQ(header(r, field::retry_after), "7");
  auto body = json(r);
  EXPECT_EQ(body.at("status").as_string(), "degraded");
  EXPECT_EQ(body.at("series").as_int64(), 1);
  EXPECT_EQ(body.at("components").at("consumer").at("status").as_string(), "rebalancing");
}

TEST_F(routes, prometheus_and_livez_answer_without_the_pipeline) {
  auto page = call(bhttp::verb::get, "/prometheus-metrics");
  EXPECT_EQ(page.result_int(), 200u);
  EXPECT_EQ(page.body(), "# page\n");
  EXPECT_EQ(call(bhttp::verb::get, "/livez").body(), R"({"status":"ok"})");
}

}  // namespace
}  // namespace mca::api
