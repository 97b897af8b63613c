// The docs routes: the embedded OpenAPI document and Swagger UI, their headers and caching.
#include "api/docs_routes.h"

#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>

namespace mca::api {
namespace {

namespace bhttp = boost::beast::http;
using field = bhttp::field;

http::request get(std::string target) {
  http::request req{http::verb::get, target, 11};
  req.set(field::host, "localhost");
  return req;
}

std::string header(const http::response& res, field f) {
  auto v = res[f];
  return std::string(v.data(), v.size());
}

TEST(docs_routes, serves_the_openapi_document_as_json) {
  auto res = openapi_response(get("/openapi.json"));
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(header(res, field::content_type), "application/json");
  auto doc = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(doc.at("openapi").as_string(), "3.0.3");
  EXPECT_TRUE(doc.at("paths").as_object().contains("/api/v2/app/{app_id}/metrics"));
}

TEST(docs_routes, openapi_document_keeps_the_seed_example) {
  auto res = openapi_response(get("/openapi.json"));
  auto doc = boost::json::parse(res.body());
  const auto& example = doc.at_pointer(
      "/paths/~1api~1v2~1app~1{app_id}~1metrics/post/requestBody/content/application~1json/"
      "examples/cpu_usage/value/metrics/0");
  EXPECT_EQ(example.at("name").as_string(), "cpu_usage");
  EXPECT_EQ(example.at("value").as_double(), 75.5);
  EXPECT_EQ(example.at("timestamp").to_number<std::int64_t>(), 1640995200000);
  EXPECT_EQ(example.at("tags").at("host").as_string(), "server1");
  EXPECT_EQ(example.at("profileId").as_string(), "user-123");
}

TEST(docs_routes, openapi_document_is_revalidated_on_every_use) {
  auto res = openapi_response(get("/openapi.json"));
  EXPECT_EQ(header(res, field::cache_control), "no-cache");
  EXPECT_FALSE(header(res, field::etag).empty());
}

TEST(docs_routes, answers_304_when_if_none_match_names_the_current_etag) {
  auto etag = header(openapi_response(get("/openapi.json")), field::etag);
  auto req = get("/openapi.json");
  req.set(field::if_none_match, "\"stale\", W/" + etag);
  auto res = openapi_response(req);
  EXPECT_EQ(res.result_int(), 304u);
  EXPECT_TRUE(res.body().empty());
  EXPECT_EQ(header(res, field::etag), etag);
}

TEST(docs_routes, answers_200_when_if_none_match_names_another_etag) {
  auto req = get("/openapi.json");
  req.set(field::if_none_match, "\"stale\"");
  EXPECT_EQ(openapi_response(req).result_int(), 200u);
}

TEST(docs_routes, initializer_loads_the_services_own_document) {
  auto res =
      swagger_ui_response("swagger-initializer.js", get("/swagger-ui/swagger-initializer.js"));
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(header(res, field::content_type), "text/javascript; charset=utf-8");
  EXPECT_EQ(header(res, field::cache_control), "no-cache");
  EXPECT_NE(res.body().find("url: \"/openapi.json\""), std::string::npos);
  EXPECT_EQ(res.body().find("petstore"), std::string::npos);
}

TEST(docs_routes, page_links_only_embedded_files_by_absolute_path) {
  auto page = swagger_ui_response("index.html", get("/swagger-ui"));
  EXPECT_EQ(header(page, field::content_type), "text/html; charset=utf-8");
  std::regex link(R"re((?:href|src)="([^"]*)")re");
  std::set<std::string> linked;
  for (std::sregex_iterator it(page.body().begin(), page.body().end(), link), end; it != end;
       ++it) {
    linked.insert((*it)[1]);
  }
  ASSERT_GE(linked.size(), 6u);  // two stylesheets, two icons, at least two scripts
  for (const auto& target : linked) {
    ASSERT_EQ(target.rfind("/swagger-ui/", 0), 0u) << target;
    auto file = target.substr(std::string("/swagger-ui/").size());
    EXPECT_EQ(swagger_ui_response(file, get(target)).result_int(), 200u) << target;
  }
}

TEST(docs_routes, vendored_assets_may_be_cached_for_a_day) {
  auto res = swagger_ui_response("swagger-ui-bundle.js", get("/swagger-ui/swagger-ui-bundle.js"));
  EXPECT_EQ(header(res, field::cache_control), "public, max-age=86400");
  EXPECT_GT(res.body().size(), 100'000u);
}

TEST(docs_routes, assets_carry_their_content_type) {
  EXPECT_EQ(header(swagger_ui_response("swagger-ui.css", get("/")), field::content_type),
            "text/css; charset=utf-8");
  EXPECT_EQ(header(swagger_ui_response("favicon-32x32.png", get("/")), field::content_type),
            "image/png");
  EXPECT_EQ(std::string(swagger_ui_response("index.css", get("/"))["X-Content-Type-Options"]),
            "nosniff");
}

TEST(docs_routes, png_assets_keep_their_exact_bytes) {
  auto body = swagger_ui_response("favicon-16x16.png", get("/")).body();
  ASSERT_GE(body.size(), 8u);
  EXPECT_EQ(body.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST(docs_routes, unknown_file_is_404_not_found_json) {
  auto res = swagger_ui_response("swagger-ui.js.map", get("/swagger-ui/swagger-ui.js.map"));
  EXPECT_EQ(res.result_int(), 404u);
  auto body = boost::json::parse(res.body());
  EXPECT_EQ(body.at("error").at("code").as_string(), "not_found");
}

TEST(docs_routes, registers_get_routes_for_the_document_the_page_and_its_assets) {
  http::router r;
  add_docs_routes(r);
  std::set<std::string> patterns;
  for (const auto& route : r.routes()) {
    EXPECT_EQ(route.method, http::verb::get);
    patterns.insert(route.pattern);
  }
  EXPECT_EQ(patterns, (std::set<std::string>{"/openapi.json", "/swagger-ui", "/swagger-ui/",
                                             "/swagger-ui/{file}"}));
}

// Through a real server on port 0, so the route table and the {file} parameter name are
// exercised too.
http::response fetch_through_server(const std::string& target) {
  http::router r;
  add_docs_routes(r);
  http::server_options opts;
  opts.host = "127.0.0.1";
  opts.port = 0;
  opts.threads = 1;
  http::server srv(opts, std::move(r));
  srv.start();

  boost::asio::io_context io;
  boost::asio::ip::tcp::socket sock(io);
  sock.connect({boost::asio::ip::make_address("127.0.0.1"), srv.port()});
  auto req = get(target);
  bhttp::write(sock, req);
  boost::beast::flat_buffer buf;
  http::response res;
  bhttp::read(sock, buf, res);
  srv.stop(std::chrono::milliseconds(1000));
  return res;
}

TEST(docs_routes, server_serves_an_asset_by_its_path) {
  auto res = fetch_through_server("/swagger-ui/swagger-initializer.js");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_NE(res.body().find("/openapi.json"), std::string::npos);
}

TEST(docs_routes, server_serves_the_page_with_a_trailing_slash_too) {
  auto res = fetch_through_server("/swagger-ui/");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_NE(res.body().find("<div id=\"swagger-ui\">"), std::string::npos);
}

}  // namespace
}  // namespace mca::api
