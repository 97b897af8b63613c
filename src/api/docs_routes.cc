#include "api/docs_routes.h"

#include <algorithm>
#include <string>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include "docs_assets.h"
#include "http/errc.h"
#include "http/error_response.h"

namespace mca::api {
namespace {

namespace bhttp = boost::beast::http;
using field = bhttp::field;

constexpr std::string_view revalidate = "no-cache";
constexpr std::string_view cache_a_day = "public, max-age=86400";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view content_type_of(std::string_view name) {
  if (ends_with(name, ".html")) return "text/html; charset=utf-8";
  if (ends_with(name, ".css")) return "text/css; charset=utf-8";
  if (ends_with(name, ".js")) return "text/javascript; charset=utf-8";
  if (ends_with(name, ".json")) return "application/json";
  if (ends_with(name, ".png")) return "image/png";
  return "application/octet-stream";
}

// The page and the initializer name no version, so a cached copy could outlive an upgrade of the
// service; the vendored files change only with the pinned swagger-ui-dist version.
std::string_view cache_control_of(std::string_view name) {
  if (name == "index.html" || name == "swagger-initializer.js" || name == "openapi.json") {
    return revalidate;
  }
  return cache_a_day;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// If-None-Match uses the weak comparison (RFC 9110 13.1.2): "W/" prefixes are ignored.
bool none_match_hits(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    auto comma = header.find(',');
    auto tag = trim(header.substr(0, comma));
    if (tag == "*") return true;
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

http::response serve(const docs_assets::file& f, const http::request& req) {
  http::response res;
  res.version(req.version());
  res.set(field::etag, f.etag);
  res.set(field::cache_control, cache_control_of(f.name));
  auto inm = req[field::if_none_match];
  if (none_match_hits(std::string_view(inm.data(), inm.size()), f.etag)) {
    res.result(bhttp::status::not_modified);
    return res;
  }
  res.result(bhttp::status::ok);
  res.set(field::content_type, content_type_of(f.name));
  res.set("X-Content-Type-Options", "nosniff");
  res.body().assign(f.bytes.data(), f.bytes.size());
  res.prepare_payload();
  return res;
}

}  // namespace

http::response openapi_response(const http::request& req) {
  return serve(docs_assets::openapi_json(), req);
}

http::response swagger_ui_response(std::string_view file, const http::request& req) {
  auto files = docs_assets::swagger_ui_files();
  auto it =
      std::lower_bound(files.begin(), files.end(), file,
                       [](const docs_assets::file& f, std::string_view n) { return f.name < n; });
  if (it == files.end() || it->name != file) {
    return http::error_response(
        {http::errc::not_found, "no Swagger UI file named '" + std::string(file) + "'"});
  }
  return serve(*it, req);
}

void add_docs_routes(http::router& r) {
  r.add(http::verb::get, "/openapi.json", "openapi",
        [](http::request&& req, const http::params&, http::responder respond) {
          respond(openapi_response(req));
        });
  // The page itself, with or without the trailing slash people type; its links are absolute
  // (/swagger-ui/...), see tools/embed_docs.py, so both work without a redirect.
  for (const char* page : {"/swagger-ui", "/swagger-ui/"}) {
    r.add(http::verb::get, page, "swagger_ui",
          [](http::request&& req, const http::params&, http::responder respond) {
            respond(swagger_ui_response("index.html", req));
          });
  }
  r.add(http::verb::get, "/swagger-ui/{file}", "swagger_ui_file",
        [](http::request&& req, const http::params& p, http::responder respond) {
          respond(swagger_ui_response(p.get("file"), req));
        });
}

}  // namespace mca::api
