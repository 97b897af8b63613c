#include "api/routes.h"

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "api/error_map.h"
#include "api/ingest_parser.h"

namespace mca::api {
namespace {

namespace bh = boost::beast::http;

bool is_json_content_type(std::string_view ct) {
  // "application/json", optionally with parameters (charset=utf-8); case-insensitive.
  auto semi = ct.find(';');
  auto type = ct.substr(0, semi);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  constexpr std::string_view want = "application/json";
  if (type.size() != want.size()) return false;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(type[i])) != want[i]) return false;
  }
  return true;
}

// Checks the app_id path parameter; answers 400 and returns false when it is invalid.
bool check_app_id(std::string_view app_id, const http::request& req, const http::responder& respond,
                  const services& s) {
  if (model::valid_app_id(app_id)) return true;
  // The details name the path parameter; there is no item index for it.
  auto res =
      error_response(util::error(errc::invalid_app_id, "app_id must match [A-Za-z0-9._-]{1,64}"),
                     req, s.retry_after);
  res.body() =
      R"({"error":{"code":"invalid_app_id","message":"app_id must match [A-Za-z0-9._-]{1,64}",)"
      R"("details":[{"field":"app_id","error":"must match [A-Za-z0-9._-]{1,64}"}]}})";
  res.prepare_payload();
  respond(std::move(res));
  return false;
}

void post_metrics(services& s, http::request&& req, const http::params& p,
                  http::responder respond) {
  const std::string app_id(p.get("app_id"));
  if (!check_app_id(app_id, req, respond, s)) return;
  if (!is_json_content_type(req[bh::field::content_type])) {
    respond(error_response(
        util::error(errc::unsupported_media_type, "Content-Type must be application/json"), req,
        s.retry_after));
    return;
  }
  auto parsed = parse_ingest_body(req.body(), s.max_batch_metrics, s.clock.now_ms());
  if (!parsed) {
    respond(error_response(parsed.error(), req, s.retry_after));
    return;
  }
  // The request is moved into the callback only for its version and keep-alive flag.
  auto meta = std::make_shared<http::request>(req.method(), req.target(), req.version());
  meta->keep_alive(req.keep_alive());
  const auto retry_after = s.retry_after;
  s.ingest.submit(app_id, std::move(*parsed),
                  [meta, retry_after, respond](util::result<pipeline::outcome> done) {
                    if (!done) {
                      respond(error_response(done.error(), *meta, retry_after));
                      return;
                    }
                    if (done->accepted == 0) {
                      respond(error_response(
                          util::error(errc::no_valid_metrics, "no metric in the batch is valid"),
                          *meta, retry_after, done->rejected));
                      return;
                    }
                    std::string body = R"({"accepted":)" + std::to_string(done->accepted) +
                                       R"(,"rejected":)" + field_errors_json(done->rejected) + "}";
                    respond(json_response(200, std::move(body), *meta));
                  });
}

boost::json::object consumer_counters(const services& s, std::string_view app_id) {
  const auto cs = s.consume.stats();
  const auto ss = s.store.stats();
  return {{"consumed_total", cs.consumed},
          {"decode_errors_total", cs.decode_errors_total()},
          {"series", ss.series},
          {"dropped_series_total", ss.dropped_global + ss.dropped_app}};
}

void get_metrics(services& s, http::request&& req, const http::params& p, http::responder respond) {
  const std::string app_id(p.get("app_id"));
  if (!check_app_id(app_id, req, respond, s)) return;
  boost::json::array metrics;
  for (const auto& series : s.store.app_series(app_id)) {
    boost::json::object tags;
    for (const auto& [k, v] : series.tags) tags[k] = v;
    metrics.push_back(boost::json::object{{"name", series.original_name},
                                          {"value", series.value},
                                          {"timestamp", series.timestamp_ms},
                                          {"tags", std::move(tags)},
                                          {"profileId", series.profile_id}});
  }
  boost::json::object body{{"app_id", app_id},
                           {"metrics", std::move(metrics)},
                           {"consumer", consumer_counters(s, app_id)}};
  respond(json_response(200, boost::json::serialize(body), req));
}

boost::json::object component(util::health h) {
  boost::json::object o = std::move(h.info);
  o["ok"] = h.ok;
  o["status"] = h.status;
  return o;
}

void get_health(services& s, http::request&& req, const http::params& p, http::responder respond) {
  const std::string app_id(p.get("app_id"));
  if (!check_app_id(app_id, req, respond, s)) return;
  auto transport = s.producer.health();
  auto registry = s.registry.health();
  auto consumer = s.consumer.health();
  const bool ok = transport.ok && registry.ok && consumer.ok;
  boost::json::object body{
      {"status", ok ? "ok" : "degraded"},
      {"app_id", app_id},
      {"series", s.store.app_series(app_id).size()},
      {"components", boost::json::object{{"transport", component(std::move(transport))},
                                         {"registry", component(std::move(registry))},
                                         {"consumer", component(std::move(consumer))}}}};
  auto res = json_response(ok ? 200 : 503, boost::json::serialize(body), req);
  if (!ok) res.set(bh::field::retry_after, std::to_string(s.retry_after.count()));
  respond(std::move(res));
}

void get_prometheus(services& s, http::request&& req, const http::params&,
                    http::responder respond) {
  http::response res{bh::status::ok, req.version()};
  res.set(bh::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.set(bh::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  s.render_metrics(res.body());
  res.prepare_payload();
  respond(std::move(res));
}

void get_livez(services&, http::request&& req, const http::params&, http::responder respond) {
  respond(json_response(200, R"({"status":"ok"})", req));
}

void get_readyz(services& s, http::request&& req, const http::params&, http::responder respond) {
  // Ready to accept metrics: the transport takes writes and our schema has an id.
  auto transport = s.producer.health();
  auto id = s.registry.value_schema_id();
  const bool ready = transport.ok && id.has_value();
  boost::json::object body{{"status", ready ? "ready" : "not_ready"},
                           {"transport", transport.status},
                           {"schema_registered", id.has_value()}};
  auto res = json_response(ready ? 200 : 503, boost::json::serialize(body), req);
  if (!ready) res.set(bh::field::retry_after, std::to_string(s.retry_after.count()));
  respond(std::move(res));
}

}  // namespace

void add_routes(http::router& r, services& s) {
  using http::verb;
  auto bind = [&s](auto fn) {
    return [&s, fn](http::request&& req, const http::params& p, http::responder respond) {
      fn(s, std::move(req), p, std::move(respond));
    };
  };
  r.add(verb::post, "/api/v2/app/{app_id}/metrics", "ingest", bind(post_metrics));
  r.add(verb::get, "/api/v2/app/{app_id}/metrics", "app_metrics", bind(get_metrics));
  r.add(verb::get, "/api/v2/app/{app_id}/health", "health", bind(get_health));
  r.add(verb::get, "/prometheus-metrics", "prometheus", bind(get_prometheus));
  r.add(verb::get, "/livez", "livez", bind(get_livez));
  r.add(verb::get, "/readyz", "readyz", bind(get_readyz));
  r.enable_cors("/api/v2/app/{app_id}/metrics");
}

}  // namespace mca::api
