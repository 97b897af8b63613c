#include "api/access.h"

#include <spdlog/spdlog.h>
#include <boost/beast/http/field.hpp>
#include <boost/url/parse.hpp>

#include "api/errc.h"
#include "http/error_response.h"

namespace mca::api {
namespace {

namespace bh = boost::beast::http;

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The key a request presents; `query_value` holds the decoded ?api_key= when that is the source.
auth::credential find_credential(const http::request& req, std::string& query_value) {
  // Authorization: Bearer <token> (scheme case-insensitive, RFC 9110 11.1). Another scheme is
  // not ours: look further.
  auto authz = trim(sv(req[bh::field::authorization]));
  if (authz.size() > 6 && iequals(authz.substr(0, 6), "bearer") &&
      (authz[6] == ' ' || authz[6] == '\t')) {
    return {auth::key_source::authorization, trim(authz.substr(7))};
  }
  auto header = trim(sv(req["X-API-Key"]));
  if (!header.empty()) return {auth::key_source::x_api_key, header};
  auto target = req.target();
  auto url = boost::urls::parse_origin_form(std::string_view(target.data(), target.size()));
  if (url && url->has_query()) {
    auto params = url->params();
    auto it = params.find("api_key");
    if (it != params.end()) {
      query_value = (*it).value;
      // Refused on routes other than ingest, so a key in a URL is never silently accepted there.
      return {auth::key_source::query, query_value};
    }
  }
  return {};
}

std::string printable(std::string_view s, std::size_t max = 200) {
  std::string out;
  for (char c : s.substr(0, max)) {
    out += (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) ? '?' : c;
  }
  if (s.size() > max) out += "...";
  return out;
}

http::response refusal(const auth::decision& d, auth::scope needed, std::string_view app_id,
                       std::string_view origin) {
  std::string message;
  std::string_view field = "api_key";
  switch (d.outcome) {
    case auth::verdict::missing_key:
      message = "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>";
      break;
    case auth::verdict::unknown_key:
      message = "the API key is not valid";
      break;
    case auth::verdict::query_key_not_allowed:
      message =
          "the api_key query parameter is accepted only by POST /api/v2/app/{app_id}/metrics; "
          "send the key in Authorization: Bearer <key> or X-API-Key";
      break;
    case auth::verdict::scope:
      message = "the API key does not have the " + std::string(auth::to_string(needed)) + " scope";
      field = "scope";
      break;
    case auth::verdict::app:
      message = "the API key does not cover app " + printable(app_id);
      field = "app_id";
      break;
    case auth::verdict::origin:
      message = "the API key is not accepted from origin " + printable(origin);
      field = "Origin";
      break;
    case auth::verdict::allowed:
      break;
  }
  const bool unauthenticated = auth::is_unauthenticated(d.outcome);
  const util::field_error detail{util::kNoIndex, std::string(field),
                                 std::string(auth::to_string(d.outcome))};
  auto res = http::error_response(
      {unauthenticated ? errc::unauthorized : errc::forbidden, std::move(message)}, {&detail, 1});
  if (unauthenticated) res.set(bh::field::www_authenticate, "Bearer");
  return res;
}

http::response too_many(std::string message, std::string_view field, std::chrono::seconds wait) {
  const util::field_error detail{util::kNoIndex, std::string(field), "rate_limited"};
  return http::error_response({errc::rate_limited, std::move(message)}, {&detail, 1}, wait);
}

std::string rate_text(double r) {
  auto s = std::to_string(r);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

access_control::access_control(access_options o)
    : keys_(std::move(o.keys)), trusted_(std::move(o.trusted_proxies)) {
  const auto& l = o.limits;
  if (l.per_client_rate > 0) clients_.emplace(l.per_client_rate, l.table_size, o.now);
  if (l.per_app_rate > 0) apps_.emplace(l.per_app_rate, l.table_size, o.now);
}

bool access_control::limit_client(const http::request& req, const http::params& p,
                                  const http::responder& respond) {
  if (!clients_) return true;
  std::string forwarded;
  if (!trusted_.empty()) {
    auto [first, last] = req.equal_range("X-Forwarded-For");
    for (auto it = first; it != last; ++it) {
      if (!forwarded.empty()) forwarded += ',';
      forwarded += sv(it->value());
    }
  }
  auto addr = auth::client_address(p.peer, forwarded, trusted_);
  auto admitted = clients_->take(addr ? auth::bucket_key(*addr) : "?" + p.peer);
  if (admitted.admitted) return true;
  limited_client_.fetch_add(1, std::memory_order_relaxed);
  respond(too_many("more than " + rate_text(clients_->rate()) +
                       " requests per second from this client (RATE_LIMIT_PER_CLIENT)",
                   "client", admitted.retry_after));
  return false;
}

bool access_control::admit(route_access kind, const http::request& req, const http::params& p,
                           const http::responder& respond) {
  if (kind == route_access::probe) return true;
  if (!limit_client(req, p, respond)) return false;
  if (!keys_ || kind == route_access::open) return true;

  auth::access_request ar;
  switch (kind) {
    case route_access::ingest:
      ar.needed = auth::scope::ingest;
      break;
    case route_access::read:
      ar.needed = auth::scope::read;
      break;
    default:
      ar.needed = auth::scope::scrape;
      break;
  }
  ar.app_id = p.get("app_id");
  ar.origin = sv(req[bh::field::origin]);
  std::string query_value;
  ar.key = find_credential(req, query_value);
  const auto keys = keys_->current();  // held until the decision is made
  const auto d = auth::authorize(*keys, ar);
  if (d.outcome == auth::verdict::allowed) return true;
  refused_[static_cast<std::size_t>(d.outcome)].fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("access: refused {} {} ({}{}{})", sv(req.method_string()),
                printable(sv(req.target()).substr(0, sv(req.target()).find('?'))),
                auth::to_string(d.outcome), d.key ? ", key id " : "", d.key ? d.key->id : "");
  respond(refusal(d, ar.needed, ar.app_id, ar.origin));
  return false;
}

bool access_control::admit_metrics(std::string_view app_id, std::size_t n, const http::request& req,
                                   const http::responder& respond) {
  if (!apps_ || n == 0) return true;
  auto admitted = apps_->take(app_id, static_cast<double>(n));
  if (admitted.admitted) return true;
  limited_app_.fetch_add(1, std::memory_order_relaxed);
  respond(too_many("more than " + rate_text(apps_->rate()) + " metrics per second for app " +
                       std::string(app_id) + " (RATE_LIMIT_PER_APP)",
                   "app_id", admitted.retry_after));
  return false;
}

access_control::reload_outcome access_control::reload() {
  if (!keys_) {
    spdlog::info("access: SIGHUP: API_KEYS_FILE is not set, no keys to reload");
    return reload_outcome::no_keys_file;
  }
  auto loaded = keys_->reload();
  if (!loaded) {
    reloads_failed_.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("access: keys file refused, keeping the {} keys loaded before: {}",
                  keys_->current()->size(), loaded.error().message);
    return reload_outcome::failure;
  }
  reloads_ok_.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("access: reloaded {} keys from {}", *loaded, keys_->path());
  return reload_outcome::success;
}

access_control::stats access_control::snapshot() const {
  stats s;
  for (std::size_t i = 0; i < s.refused.size(); ++i) {
    s.refused[i] = refused_[i].load(std::memory_order_relaxed);
  }
  s.limited_client = limited_client_.load(std::memory_order_relaxed);
  s.limited_app = limited_app_.load(std::memory_order_relaxed);
  s.reloads_ok = reloads_ok_.load(std::memory_order_relaxed);
  s.reloads_failed = reloads_failed_.load(std::memory_order_relaxed);
  s.keys = keys_ ? keys_->current()->size() : 0;
  if (clients_) {
    s.tracked_clients = clients_->size();
    s.evicted_clients = clients_->evictions();
  }
  if (apps_) {
    s.tracked_apps = apps_->size();
    s.evicted_apps = apps_->evictions();
  }
  return s;
}

http::handler guarded(access_control& access, route_access kind, http::handler h) {
  return [&access, kind, h = std::move(h)](http::request&& req, const http::params& p,
                                           http::responder respond) {
    if (!access.admit(kind, req, p, respond)) return;
    h(std::move(req), p, std::move(respond));
  };
}

}  // namespace mca::api
