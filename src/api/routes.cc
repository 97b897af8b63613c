#include "api/routes.h"

#include <algorithm>
#include <charconv>
#include <tuple>
#include <variant>

#include <boost/beast/http/field.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include "api/errc.h"
#include "api/ingest_parser.h"
#include "api/json_write.h"
#include "http/error_response.h"

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

// Checks the app_id path parameter; answers 400 (malformed) or 404 (not in ALLOWED_APP_IDS) and
// returns false when it cannot be served.
bool check_app_id(std::string_view app_id, const http::request& req, const http::responder& respond,
                  const services& s) {
  if (!model::valid_app_id(app_id)) {
    // The details name the path parameter; there is no item index for it.
    constexpr std::string_view rule = "must match [A-Za-z0-9._-]{1,64} and not be only dots";
    const model::field_error detail{model::kNoIndex, "app_id", std::string(rule)};
    respond(http::error_response({errc::invalid_app_id, "app_id " + std::string(rule)},
                                 {&detail, 1}, s.retry_after));
    return false;
  }
  if (!s.allowed_app_ids.empty() && std::find(s.allowed_app_ids.begin(), s.allowed_app_ids.end(),
                                              app_id) == s.allowed_app_ids.end()) {
    const model::field_error detail{model::kNoIndex, "app_id", "not in ALLOWED_APP_IDS"};
    respond(http::error_response(
        {errc::unknown_app, "app_id \"" + std::string(app_id) + "\" is not one this service takes"},
        {&detail, 1}, s.retry_after));
    return false;
  }
  return true;
}

void post_metrics(services& s, http::request&& req, const http::params& p,
                  http::responder respond) {
  const std::string app_id(p.get("app_id"));
  if (!check_app_id(app_id, req, respond, s)) return;
  if (!is_json_content_type(req[bh::field::content_type])) {
    respond(http::error_response(
        {errc::unsupported_media_type, "Content-Type must be application/json"}, {},
        s.retry_after));
    return;
  }
  std::vector<model::field_error> details;
  auto parsed = parse_ingest_body(req.body(), s.max_batch_metrics, s.clock.now_ms(), &details);
  if (!parsed) {
    respond(http::error_response(parsed.error(), details, s.retry_after));
    return;
  }
  if (s.access && !s.access->admit_metrics(app_id, parsed->items.size() + parsed->rejected.size(),
                                           req, respond)) {
    return;
  }
  const auto retry_after = s.retry_after;
  s.pipeline.submit(
      app_id, std::move(*parsed), [retry_after, respond](util::result<pipeline::outcome> done) {
        if (!done) {
          respond(http::error_response(done.error(), {}, retry_after));
          return;
        }
        if (done->accepted == 0) {
          respond(http::error_response({errc::no_valid_metrics, "no metric in the batch is valid"},
                                       done->rejected, retry_after));
          return;
        }
        std::string body = R"({"accepted":)";
        body += std::to_string(done->accepted);
        body += R"(,"rejected":)";
        body += http::field_errors_json(done->rejected);
        body += '}';
        respond(http::json_response(200, std::move(body)));
      });
}

boost::json::object consumer_counters(const services& s) {
  const auto c = s.pipeline.counters();
  return {{"consumed_total", c.consumed},
          {"decode_errors_total", c.decode_errors},
          {"series", c.series},
          {"dropped_series_total", c.dropped_series}};
}

// Pages of GET /api/v2/app/{app_id}/metrics are in series order, (exposition name, labels); a
// cursor is that key of the last series of a page, so the next page starts strictly after it
// whatever was added or removed meanwhile (keyset pagination): a series present during the whole
// walk is listed exactly once, and no series is listed twice.
using page_key = std::pair<std::string, std::vector<model::tag>>;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kB64[(acc << (6 - bits)) & 63]);
  return out;
}

std::optional<std::string> unbase64url(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const char* p = std::find(kB64, kB64 + 64, c);
    if (p == kB64 + 64) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string encode_cursor(const page_key& k) {
  std::string raw = k.first;
  for (const auto& [label, value] : k.second) {
    raw.push_back('\0');
    raw += label;
    raw.push_back('\0');
    raw += value;
  }
  return base64url(raw);
}

std::optional<page_key> decode_cursor(std::string_view cursor) {
  if (cursor.empty() || cursor.size() > 512 * 1024) return std::nullopt;
  auto raw = unbase64url(cursor);
  if (!raw || !raw->starts_with("client_metric_")) return std::nullopt;
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto nul = raw->find('\0', start);
    parts.push_back(raw->substr(start, nul == std::string::npos ? std::string::npos : nul - start));
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  if (parts.size() % 2 == 0) return std::nullopt;
  page_key k{parts[0], {}};
  for (std::size_t i = 1; i + 1 < parts.size(); i += 2)
    k.second.emplace_back(parts[i], parts[i + 1]);
  return k;
}

// The query of a GET metrics request: limit and cursor. On a bad one, the field error to answer.
struct page_request {
  std::size_t limit = kMaxPageSeries;
  std::optional<page_key> after;
};

std::variant<page_request, model::field_error> read_page_request(std::string_view target) {
  page_request pr;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return model::field_error{model::kNoIndex, "query", "is not a valid query string"};
  bool seen_limit = false, seen_cursor = false;
  for (const auto& param : url->params()) {
    if (param.key == "limit") {
      const std::string limit_rule =
          "must be an integer from 1 to " + std::to_string(kMaxPageSeries);
      if (seen_limit) return model::field_error{model::kNoIndex, "limit", "given twice"};
      seen_limit = true;
      std::size_t n = 0;
      const auto& v = param.value;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > kMaxPageSeries)
        return model::field_error{model::kNoIndex, "limit", limit_rule};
      pr.limit = n;
    } else if (param.key == "cursor") {
      if (seen_cursor) return model::field_error{model::kNoIndex, "cursor", "given twice"};
      seen_cursor = true;
      pr.after = decode_cursor(param.value);
      if (!pr.after)
        return model::field_error{model::kNoIndex, "cursor",
                                  "is not a next_cursor this service gave"};
    }
  }
  return pr;
}

// One series of GET /api/v2/app/{app_id}/metrics.
boost::json::object series_json(const pipeline::series& x) {
  boost::json::object tags;
  for (const auto& [k, v] : x.tags) tags[k] = v;
  boost::json::object item{{"name", x.original_name},
                           {"value", x.value},
                           {"timestamp", x.timestamp_ms},
                           {"tags", std::move(tags)},
                           {"profileId", x.profile_id}};
  // A gauge's item is the seed's, unchanged; aggregates say their type (value: the counter's
  // total or the histogram's sum) and a histogram its count, sum and cumulative buckets.
  if (x.type != model::metric_type::gauge) {
    item["type"] = model::to_string(x.type);
    if (x.type == model::metric_type::histogram) {
      item["count"] = x.count;
      item["sum"] = x.sum;
      boost::json::array buckets;
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < x.buckets.size(); ++i) {
        cumulative += x.buckets[i];
        boost::json::value le = "+Inf";
        if (i < x.bounds.size()) le = x.bounds[i];
        buckets.push_back(boost::json::object{{"le", std::move(le)}, {"count", cumulative}});
      }
      item["buckets"] = std::move(buckets);
    }
  }
  return item;
}

void get_metrics(services& s, http::request&& req, const http::params& p, http::responder respond) {
  const std::string app_id(p.get("app_id"));
  if (!check_app_id(app_id, req, respond, s)) return;
  auto page = read_page_request(req.target());
  if (auto* bad = std::get_if<model::field_error>(&page)) {
    respond(http::error_response({errc::invalid_request, bad->field + " " + bad->error}, {bad, 1},
                                 s.retry_after));
    return;
  }
  const auto& pr = std::get<page_request>(page);

  auto all = s.pipeline.app_series(app_id);
  const auto key_of = [](const pipeline::series& x) {
    return std::tie(x.exposition_name, x.labels);
  };
  std::sort(all.begin(), all.end(), [&](const pipeline::series& a, const pipeline::series& b) {
    return key_of(a) < key_of(b);
  });
  auto first = all.begin();
  if (pr.after) {
    first = std::upper_bound(all.begin(), all.end(), *pr.after,
                             [&](const page_key& k, const pipeline::series& x) {
                               return std::tie(k.first, k.second) < key_of(x);
                             });
  }
  const std::size_t left = static_cast<std::size_t>(all.end() - first);
  const auto last = first + static_cast<std::ptrdiff_t>(std::min(left, pr.limit));

  boost::json::array metrics;
  metrics.reserve(static_cast<std::size_t>(last - first));
  for (auto it = first; it != last; ++it) {
    metrics.push_back(series_json(*it));
  }
  boost::json::value next = nullptr;
  if (last != all.end() && last != first) {
    const auto& tail = *(last - 1);
    next = boost::json::string(encode_cursor({tail.exposition_name, tail.labels}));
  }
  boost::json::object body{{"app_id", app_id},
                           {"metrics", std::move(metrics)},
                           {"next_cursor", std::move(next)},
                           {"consumer", consumer_counters(s)}};
  respond(http::json_response(200, to_json(body)));
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
  bool ok = true;
  boost::json::object components;
  for (auto& c : s.pipeline.health()) {
    ok = ok && c.health.ok;
    components.emplace(c.component, component(std::move(c.health)));
  }
  boost::json::object body{{"status", ok ? "ok" : "degraded"},
                           {"app_id", app_id},
                           {"series", s.pipeline.app_series(app_id).size()},
                           {"components", std::move(components)}};
  auto res = http::json_response(ok ? 200 : 503, to_json(body));
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

void get_livez(services&, http::request&&, const http::params&, http::responder respond) {
  respond(http::json_response(200, R"({"status":"ok"})"));
}

void get_readyz(services& s, http::request&&, const http::params&, http::responder respond) {
  const auto r = s.pipeline.ready();
  boost::json::object body{{"status", r.ready ? "ready" : "not_ready"},
                           {"transport", r.transport},
                           {"schema_registered", r.schema_registered}};
  auto res = http::json_response(r.ready ? 200 : 503, to_json(body));
  if (!r.ready) res.set(bh::field::retry_after, std::to_string(s.retry_after.count()));
  respond(std::move(res));
}

}  // namespace

void add_routes(http::router& r, services& s) {
  using http::verb;
  auto bind = [&s](route_access kind, auto fn) {
    http::handler h = [&s, fn](http::request&& req, const http::params& p,
                               http::responder respond) {
      fn(s, std::move(req), p, std::move(respond));
    };
    return s.access ? guarded(*s.access, kind, std::move(h)) : h;
  };
  using ra = route_access;
  r.add(verb::post, "/api/v2/app/{app_id}/metrics", "ingest", bind(ra::ingest, post_metrics));
  r.add(verb::get, "/api/v2/app/{app_id}/metrics", "app_metrics", bind(ra::read, get_metrics));
  r.add(verb::get, "/api/v2/app/{app_id}/health", "health", bind(ra::open, get_health));
  r.add(verb::get, "/prometheus-metrics", "prometheus", bind(ra::scrape, get_prometheus));
  r.add(verb::get, "/livez", "livez", bind(ra::probe, get_livez));
  r.add(verb::get, "/readyz", "readyz", bind(ra::probe, get_readyz));
  r.enable_cors("/api/v2/app/{app_id}/metrics");
}

}  // namespace mca::api
