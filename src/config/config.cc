#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <tuple>

#include <boost/asio/ip/address.hpp>

#include "model/buckets.h"
#include "util/secret.h"

extern char** environ;

namespace mca::config {
namespace {

// One setting: its variable, description, whether it is a secret, and how to read and print it.
// Its default is the initialiser of the member it sets (config.h): what `get` gives for a
// default-constructed config.
struct field {
  const char* name;
  const char* description;
  bool secret;
  // Parses text into the config; returns an error message or nothing.
  std::function<std::optional<std::string>(config&, const std::string&)> set;
  std::function<std::string(const config&)> get;
};

using error = std::optional<std::string>;

// The member a setting binds: config.*m1.*m2..., through a section into the module struct it
// extends (at(&config::http, &http::server_options::port)).
template <class... Members>
struct member_path {
  std::tuple<Members...> members;
  template <class Config>
  decltype(auto) operator()(Config& c) const {
    return std::apply([&c](auto... m) -> decltype(auto) { return (c.*....*m); }, members);
  }
};

template <class... Members>
member_path<Members...> at(Members... members) {
  return {{members...}};
}

error parse_int(const std::string& text, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return "must be an integer";
  if (v < lo || v > hi) {
    return "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
  }
  out = v;
  return std::nullopt;
}

std::optional<bool> parse_bool(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (text == "1" || text == "true" || text == "yes" || text == "on") return true;
  if (text == "0" || text == "false" || text == "no" || text == "off") return false;
  return std::nullopt;
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ',';
    out += i;
  }
  return out;
}

// Integers are stored as plain numbers or as std::chrono durations.
template <class T>
void assign_count(T& member, std::int64_t n) {
  member = static_cast<T>(n);
}
template <class Rep, class Period>
void assign_count(std::chrono::duration<Rep, Period>& member, std::int64_t n) {
  member = std::chrono::duration<Rep, Period>(n);
}
template <class T>
std::int64_t count_of(const T& member) {
  return static_cast<std::int64_t>(member);
}
template <class Rep, class Period>
std::int64_t count_of(const std::chrono::duration<Rep, Period>& member) {
  return member.count();
}

// Text; an optional member is unset by empty text.
void assign_text(std::string& member, const std::string& v) { member = v; }
void assign_text(std::optional<std::string>& member, const std::string& v) {
  member = v.empty() ? std::nullopt : std::optional(v);
}
std::string text_of(const std::string& member) { return member; }
std::string text_of(const std::optional<std::string>& member) { return member.value_or(""); }

// A text setting; it is secret when `secret` says so or its name does (util/secret.h).
template <class Path>
field text(const char* name, Path path, const char* description, bool secret = false) {
  return {name, description, secret || util::is_secret_name(name),
          [path](config& c, const std::string& v) -> error {
            assign_text(path(c), v);
            return std::nullopt;
          },
          [path](const config& c) { return text_of(path(c)); }};
}

// An integer within [lo, hi] in the variable's unit; `scale` turns it into the member's unit
// (a setting in seconds of a member in milliseconds: 1000).
template <class Path>
field integer(const char* name, Path path, std::int64_t lo, std::int64_t hi,
              const char* description, std::int64_t scale = 1) {
  return {name, description, false,
          [path, lo, hi, scale](config& c, const std::string& v) -> error {
            std::int64_t out = 0;
            if (auto err = parse_int(trim(v), lo, hi, out)) return err;
            assign_count(path(c), out * scale);
            return std::nullopt;
          },
          [path, scale](const config& c) { return std::to_string(count_of(path(c)) / scale); }};
}

template <class Path>
field flag(const char* name, Path path, const char* description) {
  return {name, description, false,
          [path](config& c, const std::string& v) -> error {
            auto b = parse_bool(trim(v));
            if (!b) return "must be true or false";
            path(c) = *b;
            return std::nullopt;
          },
          [path](const config& c) { return std::string(path(c) ? "true" : "false"); }};
}

// One of a few spellings, each standing for a value of the member.
template <class Path, class T>
field choice(const char* name, Path path, std::vector<std::pair<std::string, T>> options,
             const char* description) {
  std::string expected = options.size() == 2 ? "" : "one of ";
  for (std::size_t i = 0; i < options.size(); ++i) {
    expected += (i == 0 ? "" : options.size() == 2 ? " or " : ", ") + options[i].first;
  }
  return {name, description, false,
          [path, options, expected](config& c, const std::string& v) -> error {
            const auto t = trim(v);
            for (const auto& [spelling, value] : options) {
              if (t == spelling) {
                path(c) = value;
                return std::nullopt;
              }
            }
            return "must be " + expected;
          },
          [path, options](const config& c) {
            for (const auto& [spelling, value] : options) {
              if (path(c) == value) return spelling;
            }
            return std::string();
          }};
}

std::vector<std::pair<std::string, std::string>> spellings(std::vector<std::string> names) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(names.size());
  for (auto& n : names) out.emplace_back(n, n);
  return out;
}

// A comma-separated list; `check` may normalise an item and says why one is refused. Empty items
// are skipped, an item given twice is kept once.
template <class Path, class Check>
field list(const char* name, Path path, Check check, const char* description) {
  return {name, description, false,
          [path, check](config& c, const std::string& v) -> error {
            std::vector<std::string>& out = path(c);
            out.clear();
            std::stringstream ss(v);
            std::string item;
            while (std::getline(ss, item, ',')) {
              item = trim(item);
              if (item.empty()) continue;
              if (auto err = check(item)) return err;
              if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
            }
            return std::nullopt;
          },
          [path](const config& c) { return join(path(c)); }};
}

// "192.0.2.0/24", "2001:db8::/32" or a bare address.
bool valid_cidr(const std::string& text) {
  auto slash = text.find('/');
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(text.substr(0, slash), ec);
  if (ec) return false;
  if (slash == std::string::npos) return true;
  std::int64_t bits = 0;
  return !parse_int(text.substr(slash + 1), 0, addr.is_v4() ? 32 : 128, bits);
}

error check_origin(std::string& item) {
  if (item != "*" && item.find("://") == std::string::npos) {
    return "\"" + item + "\" is not an origin (scheme://host[:port]) or *";
  }
  while (!item.empty() && item.back() == '/') item.pop_back();
  return std::nullopt;
}

error check_cidr(const std::string& item) {
  if (valid_cidr(item)) return std::nullopt;
  return "\"" + item + "\" is not an IP address or CIDR block";
}

error check_app_id(const std::string& item) {
  if (model::valid_app_id(item)) return std::nullopt;
  return "\"" + item + "\" is not an app_id ([A-Za-z0-9._-]{1,64}, not only dots)";
}

std::string format_bound(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string format_bounds(const std::vector<double>& bounds) {
  std::string out;
  for (double b : bounds) {
    if (!out.empty()) out += ',';
    out += format_bound(b);
  }
  return out;
}

// "5,10,25": 1..model::kMaxBucketBounds finite numbers, strictly increasing (+Inf is implied).
error parse_bounds(std::string_view text, std::vector<double>& out) {
  out.clear();
  std::size_t pos = 0;
  while (true) {
    const std::size_t comma = text.find(',', pos);
    const std::string item = trim(
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    double v = 0;
    const auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size())
      return "\"" + item + "\" is not a number";
    if (!std::isfinite(v)) return "bounds must be finite (+Inf is implied)";
    if (!out.empty() && !(v > out.back()))
      return "bounds must be strictly increasing (" + format_bound(out.back()) + " then " +
             format_bound(v) + ")";
    out.push_back(v);
    if (out.size() > model::kMaxBucketBounds)
      return "more than " + std::to_string(model::kMaxBucketBounds) + " bounds";
    if (comma == std::string_view::npos) return std::nullopt;
    pos = comma + 1;
  }
}

// HISTOGRAM_BUCKETS: name=b1,b2,...;name=...
error parse_named_bounds(const std::string& v,
                         std::vector<std::pair<std::string, std::vector<double>>>& out) {
  out.clear();
  std::stringstream ss(v);
  std::string entry;
  while (std::getline(ss, entry, ';')) {
    entry = trim(entry);
    if (entry.empty()) continue;
    const auto eq = entry.find('=');
    const std::string name = trim(entry.substr(0, eq));
    if (eq == std::string::npos || name.empty())
      return "\"" + entry + "\": expected name=bound,bound,...";
    for (const auto& [n, _] : out)
      if (n == name) return name + ": named twice";
    std::vector<double> bounds;
    if (auto e = parse_bounds(std::string_view(entry).substr(eq + 1), bounds))
      return name + ": " + *e;
    out.emplace_back(name, std::move(bounds));
  }
  return std::nullopt;
}

std::string format_named_bounds(
    const std::vector<std::pair<std::string, std::vector<double>>>& layouts) {
  std::string out;
  for (const auto& [name, bounds] : layouts)
    out += (out.empty() ? "" : ";") + name + "=" + format_bounds(bounds);
  return out;
}

// Kafka's rule for topic names.
bool valid_topic_name(std::string_view t) {
  if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
  return std::all_of(t.begin(), t.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-';
  });
}

using C = config;
using http::server_options;
using registry::confluent_options;
using store::store_limits;
using transport::kafka::consumer_options;
using transport::kafka::producer_options;
using tls = http::server_options::tls_files;

// A member of the Kafka producer's or consumer's options (the kafka section holds both).
template <class M>
auto producer_at(M producer_options::*member) {
  return at(&C::kafka, &C::kafka_section::producer, member);
}
template <class M>
auto consumer_at(M consumer_options::*member) {
  return at(&C::kafka, &C::kafka_section::consumer, member);
}

const std::vector<field>& fields() {
  static const std::vector<field> table = {
      choice(
          "APP_ENV", at(&C::app_env),
          std::vector<std::pair<std::string, environment>>{
              {"production", environment::production}, {"development", environment::development}},
          "production or development (FLASK_ENV is accepted too): development logs text at "
          "debug level"),
      choice("LOG_LEVEL", at(&C::log_level),
             spellings({"trace", "debug", "info", "warn", "error", "critical", "off"}),
             "trace, debug, info, warn or error (development default: debug)"),
      choice("LOG_FORMAT", at(&C::log_fmt),
             std::vector<std::pair<std::string, log_format>>{{"json", log_format::json},
                                                             {"text", log_format::text}},
             "json or text (development default: text)"),
      text("HOST", at(&C::http, &server_options::host), "address to listen on"),
      integer("PORT", at(&C::http, &server_options::port), 0, 65535,
              "HTTP port (0 = any free port)"),
      integer("HTTP_THREADS", at(&C::http, &server_options::threads), 0, 256,
              "HTTP worker threads (0 = one per core)"),
      integer("MAX_BODY_BYTES", at(&C::http, &server_options::max_body_bytes), 1024, 64 << 20,
              "largest request body, on the wire and after gzip decoding"),
      integer("HTTP_READ_TIMEOUT_MS", at(&C::http, &server_options::read_timeout), 100, 600'000,
              "a whole request must arrive within this"),
      integer("HTTP_IDLE_TIMEOUT_MS", at(&C::http, &server_options::idle_timeout), 100, 3'600'000,
              "idle keep-alive connections close after this"),
      integer("HTTP_WRITE_TIMEOUT_MS", at(&C::http, &server_options::write_timeout), 100, 600'000,
              "a response must be taken by the client within this, or the connection closes"),
      integer("MAX_CONNECTIONS", at(&C::http, &server_options::max_connections), 0, 10'000'000,
              "open HTTP connections at most (0 = the open-files limit minus max(64, 1/8 of it)); "
              "near it the longest-idle connections close, at it new ones get 503"),
      text("TLS_CERT_FILE", at(&C::http, &server_options::tls, &tls::cert_file),
           "PEM certificate (chain) file: with TLS_KEY_FILE, the port serves HTTPS only"),
      text("TLS_KEY_FILE", at(&C::http, &server_options::tls, &tls::key_file),
           "PEM private key file of TLS_CERT_FILE"),
      text("TLS_CLIENT_CA_FILE", at(&C::http, &server_options::tls, &tls::client_ca_file),
           "PEM CA file: clients must present a certificate it signed (mutual TLS)"),
      integer("SHUTDOWN_TIMEOUT_MS", at(&C::http, &C::http_settings::shutdown_timeout_ms), 0,
              600'000, "on SIGTERM: time for in-flight requests and the transport flush"),
      list("CORS_ALLOWED_ORIGINS", at(&C::http, &server_options::cors_allowed_origins),
           check_origin,
           "comma-separated exact origins allowed to POST metrics from a browser (* = any)"),
      text("API_KEYS_FILE", at(&C::access, &C::access_settings::api_keys_file),
           "JSON file of API keys (sha256, scopes, apps, origins); unset = every route open. "
           "SIGHUP reloads it"),
      integer("RATE_LIMIT_PER_CLIENT", at(&C::access, &api::access_limits::per_client_rate), 0,
              1'000'000,
              "requests/s per client address, burst of one second's worth (0 = off); over it: 429"),
      integer("RATE_LIMIT_PER_APP", at(&C::access, &api::access_limits::per_app_rate), 0,
              100'000'000,
              "metrics/s per app_id, burst of one second's worth (0 = off); over it: 429"),
      integer("RATE_LIMIT_TABLE_SIZE", at(&C::access, &api::access_limits::table_size), 1,
              10'000'000,
              "most clients (and, apart, apps) whose rate-limit buckets are held; past it the "
              "least recently seen is forgotten"),
      list("TRUSTED_PROXIES", at(&C::access, &C::access_settings::trusted_proxies), check_cidr,
           "comma-separated CIDRs of proxies whose X-Forwarded-For names the client (rate "
           "limits)"),
      integer("MAX_BATCH_METRICS", at(&C::routes, &api::route_options::max_batch_metrics), 1,
              1'000'000, "most metrics in one POST (more: 413)"),
      integer("MAX_NAME_BYTES", at(&C::ingest, &model::limits::max_name_bytes), 1, 65536,
              "longest metric name"),
      integer("MAX_TAGS", at(&C::ingest, &model::limits::max_tags), 0, 1024,
              "most tags on one metric"),
      integer("MAX_TAG_KEY_BYTES", at(&C::ingest, &model::limits::max_tag_key_bytes), 1, 65536,
              "longest tag key"),
      integer("MAX_TAG_VALUE_BYTES", at(&C::ingest, &model::limits::max_tag_value_bytes), 1,
              1 << 20, "longest tag value"),
      integer("MAX_PROFILE_ID_BYTES", at(&C::ingest, &model::limits::max_profile_id_bytes), 1,
              65536, "longest profileId"),
      integer("MAX_FUTURE_SKEW_SECONDS", at(&C::ingest, &model::limits::max_future_skew), 0,
              10LL * 365 * 86400,
              "timestamps later than receive time + this are rejected; later ones within it are "
              "set to the receive time",
              1000),
      integer("DELIVERY_TIMEOUT_MS", producer_at(&producer_options::delivery_timeout), 100, 300'000,
              "the transport must acknowledge a batch within this, else 503"),
      integer("RETRY_AFTER_SECONDS", at(&C::routes, &api::route_options::retry_after), 1, 3600,
              "Retry-After sent with 503"),
      integer("METRIC_TTL_SECONDS", at(&C::store, &store_limits::ttl_ms), 0, 10LL * 365 * 86400,
              "a series not written for this long is no longer exposed (0 = never)", 1000),
      integer("MAX_SERIES", at(&C::store, &store_limits::max_series), 1, 100'000'000,
              "most series held across all apps (a new series beyond: item rejected, field "
              "series)"),
      integer("MAX_SERIES_PER_APP", at(&C::store, &store_limits::max_series_per_app), 1,
              100'000'000,
              "most series held per app_id (a new series beyond: item rejected, field series)"),
      integer("MAX_SERIES_BYTES_PER_APP",
              at(&C::store, &C::store_settings::max_series_bytes_per_app), 4096,
              std::int64_t{1} << 40,
              "bytes counted for one app's series: key, name, tags, largest profileId and 512 "
              "per series (beyond: item rejected, field series)"),
      integer("MAX_SERIES_BYTES", at(&C::store, &C::store_settings::max_series_bytes), 4096,
              std::int64_t{1} << 44,
              "bytes counted for all series, as MAX_SERIES_BYTES_PER_APP counts them (beyond: "
              "item rejected, field series)"),
      {"HISTOGRAM_BUCKETS",
       "histogram bucket upper bounds per metric name, name=b1,b2,...;name=... (1 to 64 finite, "
       "strictly increasing bounds; +Inf implied); overrides the built-in web_vitals_lcp, _inp, "
       "_fcp, _ttfb and _cls layouts. Every replica needs the same value",
       false,
       [](config& c, const std::string& v) {
         return parse_named_bounds(v, c.store.histogram_buckets);
       },
       [](const config& c) { return format_named_bounds(c.store.histogram_buckets); }},
      {"HISTOGRAM_DEFAULT_BUCKETS",
       "bucket upper bounds of every other histogram, b1,b2,... (as above); unset = Prometheus' "
       "defaults 0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10",
       false,
       [](config& c, const std::string& v) -> error {
         c.store.histogram_default_buckets.clear();
         if (trim(v).empty()) return std::nullopt;
         return parse_bounds(v, c.store.histogram_default_buckets);
       },
       [](const config& c) { return format_bounds(c.store.histogram_default_buckets); }},
      list("ALLOWED_APP_IDS", at(&C::routes, &api::route_options::allowed_app_ids), check_app_id,
           "comma-separated app_ids this service takes (others: 404 unknown_app); unset = any "
           "valid app_id"),
      flag("EXPOSITION_APP_ID_LABEL", at(&C::exposition, &exposition::render_options::app_id_label),
           "add app_id=\"...\" to every client_metric_ series (false: exactly the seed's output)"),
      integer("EMBEDDED_LOG_CAPACITY", at(&C::embedded, &C::embedded_settings::log_capacity), 1,
              100'000'000, "embedded transport: records held before producers get 503"),
      text("KAFKA_BOOTSTRAP_SERVERS", at(&C::kafka, &kafka_settings::bootstrap_servers),
           "Kafka brokers host:port,...; unset = embedded in-process log"),
      text("KAFKA_TOPIC", at(&C::kafka, &C::kafka_section::topic),
           "topic metrics are produced to and consumed from"),
      text("KAFKA_CONSUMER_GROUP", consumer_at(&consumer_options::group_id), "consumer group id"),
      text("KAFKA_GROUP_INSTANCE_ID", consumer_at(&consumer_options::group_instance_id),
           "static group membership (group.instance.id), unique per replica: a replica "
           "restarted within KAFKA_SESSION_TIMEOUT_MS gets its partitions back without a "
           "rebalance"),
      integer("KAFKA_SESSION_TIMEOUT_MS", consumer_at(&consumer_options::session_timeout), 1000,
              3'600'000,
              "a replica that stops heartbeating loses its partitions to the others after this"),
      integer("KAFKA_HEARTBEAT_INTERVAL_MS", consumer_at(&consumer_options::heartbeat_interval),
              100, 1'200'000,
              "consumer heartbeat interval (at most a third of the session timeout)"),
      flag("KAFKA_LEAVE_GROUP_ON_SHUTDOWN", consumer_at(&consumer_options::leave_group_on_stop),
           "static members only: leave the group on SIGTERM (scale-down) instead of keeping the "
           "partitions for a restart"),
      text("KAFKA_DLQ_TOPIC", consumer_at(&consumer_options::dlq_topic),
           "dead-letter topic: consumed records that cannot be decoded or applied are copied "
           "there unchanged, with headers saying why and whence; unset = only counted"),
      text("KAFKA_CHANGELOG_TOPIC", consumer_at(&consumer_options::changelog_topic),
           "compacted topic holding snapshots of the counter and histogram aggregates, read back "
           "when a replica takes over a partition so counts continue instead of resetting; "
           "created when missing (the topic's partition count, cleanup.policy=compact); unset = "
           "<KAFKA_TOPIC>-aggregates"),
      integer("AGGREGATE_SNAPSHOT_INTERVAL_MS", consumer_at(&consumer_options::snapshot_interval),
              100, 3'600'000,
              "how often changed aggregates are written to KAFKA_CHANGELOG_TOPIC (a restart "
              "replays the records since the last snapshot; nothing is counted twice or lost "
              "either way)"),
      text("KAFKA_SECURITY_PROTOCOL", at(&C::kafka, &kafka_settings::security_protocol),
           "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
      text("KAFKA_SASL_MECHANISM", at(&C::kafka, &kafka_settings::sasl_mechanism),
           "GSSAPI, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
      text("KAFKA_SERVICE_NAME", at(&C::kafka, &kafka_settings::service_name),
           "Kerberos service name of the brokers"),
      text("KAFKA_SASL_KERBEROS_KEYTAB", at(&C::kafka, &kafka_settings::kerberos_keytab),
           "keytab file for GSSAPI"),
      text("KAFKA_SASL_KERBEROS_PRINCIPAL", at(&C::kafka, &kafka_settings::kerberos_principal),
           "client principal for GSSAPI"),
      text("KAFKA_SASL_KERBEROS_KINIT_CMD", at(&C::kafka, &kafka_settings::kerberos_kinit_cmd),
           "override librdkafka's kinit command (ticket refresh)"),
      text("KAFKA_SASL_USERNAME", at(&C::kafka, &kafka_settings::sasl_username),
           "username for PLAIN/SCRAM"),
      text("KAFKA_SASL_PASSWORD", at(&C::kafka, &kafka_settings::sasl_password),
           "password for PLAIN/SCRAM (secret)"),
      text("KAFKA_SSL_CA_LOCATION", at(&C::kafka, &kafka_settings::ssl_ca_location),
           "CA certificate file to verify the brokers"),
      text("KAFKA_SSL_CERTIFICATE_LOCATION",
           at(&C::kafka, &kafka_settings::ssl_certificate_location), "client certificate (mTLS)"),
      text("KAFKA_SSL_KEY_LOCATION", at(&C::kafka, &kafka_settings::ssl_key_location),
           "client private key (mTLS)"),
      text("KAFKA_SSL_KEY_PASSWORD", at(&C::kafka, &kafka_settings::ssl_key_password),
           "password of the client key (secret)"),
      text("KAFKA_SSL_ENDPOINT_IDENTIFICATION",
           at(&C::kafka, &kafka_settings::ssl_endpoint_identification),
           "https (verify the broker host name; librdkafka's default) or none"),
      choice("KAFKA_COMPRESSION", producer_at(&producer_options::compression),
             spellings({"none", "lz4", "zstd", "snappy", "gzip"}),
             "producer compression: none, lz4, zstd, snappy or gzip (zstd: ~30% fewer bytes "
             "than lz4 for our records at similar CPU)"),
      {"KAFKA_LINGER_MS",
       "producer linger in ms, fractions allowed (0: send at once; records still batch while "
       "earlier requests are in flight)",
       false,
       [](config& c, const std::string& v) -> error {
         const auto t = trim(v);
         double ms = 0;
         auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), ms);
         if (t.empty() || ec != std::errc() || p != t.data() + t.size() || !(ms >= 0 && ms <= 1000))
           return "must be a number of milliseconds from 0 to 1000 (e.g. 0.5)";
         c.kafka.producer.linger = std::chrono::duration<double, std::milli>(ms);
         return std::nullopt;
       },
       [](const config& c) { return format_bound(c.kafka.producer.linger.count()); }},
      text("SCHEMA_REGISTRY_URL", at(&C::registry, &confluent_options::url),
           "Confluent Schema Registry URL; unset = embedded (bundled schemas as ids 1 and 2)"),
      text("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
           at(&C::registry, &confluent_options::basic_auth_user_info),
           "user:password for the registry (secret)", true),
      flag("SCHEMA_REGISTRY_AUTO_REGISTER", at(&C::registry, &confluent_options::auto_register),
           "register the schemas at start, v1 then v2 (false: only look them up; both must be "
           "registered)"),
      text("SCHEMA_REGISTRY_SSL_CA_LOCATION", at(&C::registry, &confluent_options::ca_location),
           "CA certificate file to verify the registry"),
      text("SCHEMA_FILE", at(&C::registry, &C::registry_settings::schema_file),
           "the Avro schema of Metric"),
      text("SCHEMA_V2_FILE", at(&C::registry, &C::registry_settings::schema_v2_file),
           "the evolved Avro schema of Metric (with type), for counters and histograms"),
  };
  return table;
}

const field* find_field(std::string_view name) {
  for (const auto& f : fields()) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

constexpr std::string_view kPassthroughPrefix = "KAFKA_PROPERTY_";

std::string passthrough_name(std::string_view env_name) {
  std::string out(env_name.substr(kPassthroughPrefix.size()));
  for (auto& ch : out)
    ch = ch == '_' ? '.' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

std::map<std::string, std::string> parse_dotenv(const std::string& text,
                                                std::vector<std::string>& errors) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.rfind("export ", 0) == 0) t = trim(t.substr(7));
    auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0) {
      errors.push_back(".env line " + std::to_string(number) + ": expected KEY=VALUE");
      continue;
    }
    std::string key = trim(t.substr(0, eq));
    std::string value = trim(t.substr(eq + 1));
    if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
      char q = value[0];
      auto close = value.find(q, 1);
      while (q == '"' && close != std::string::npos && value[close - 1] == '\\')
        close = value.find(q, close + 1);
      if (close == std::string::npos) {
        errors.push_back(".env line " + std::to_string(number) + ": unterminated quote");
        continue;
      }
      std::string inner = value.substr(1, close - 1);
      if (q == '"') {
        std::string un;
        for (std::size_t i = 0; i < inner.size(); ++i) {
          if (inner[i] == '\\' && i + 1 < inner.size()) {
            char n = inner[++i];
            un += n == 'n' ? '\n' : n;
          } else {
            un += inner[i];
          }
        }
        inner = un;
      }
      value = inner;
    } else if (auto hash = value.find(" #"); hash != std::string::npos) {
      value = trim(value.substr(0, hash));  // inline comment after an unquoted value
    }
    out[key] = value;
  }
  return out;
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

namespace {

// What argv asked for: commands, the .env file, and settings given as flags.
struct arguments {
  std::optional<std::string> env_file;
  std::map<std::string, std::string> values;  // variable name -> value
};

arguments parse_arguments(const std::vector<std::string>& args, load_result& r) {
  static const std::map<std::string, std::string> flag_to_var = {{"--port", "PORT"},
                                                                 {"--host", "HOST"},
                                                                 {"--log-level", "LOG_LEVEL"},
                                                                 {"--schema-file", "SCHEMA_FILE"}};
  static const std::map<std::string, bool command::*> commands = {
      {"--print-config", &command::print_config},
      {"--list-routes", &command::list_routes},
      {"--help", &command::help},
      {"-h", &command::help}};
  arguments out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value_of = [&](const std::string& flag) -> std::optional<std::string> {
      if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
      if (i + 1 < args.size()) return args[++i];
      r.errors.push_back(flag + " needs a value");
      return std::nullopt;
    };
    auto is = [&a](const std::string& flag) { return a == flag || a.rfind(flag + "=", 0) == 0; };
    if (auto it = commands.find(a); it != commands.end()) {
      r.cmd.*(it->second) = true;
    } else if (is("--env-file")) {
      if (auto v = value_of("--env-file")) out.env_file = *v;
    } else if (is("--set")) {
      if (auto v = value_of("--set")) {
        auto eq = v->find('=');
        if (eq == std::string::npos)
          r.errors.push_back("--set expects NAME=VALUE, got \"" + *v + "\"");
        else
          out.values[v->substr(0, eq)] = v->substr(eq + 1);
      }
    } else if (auto f = std::find_if(flag_to_var.begin(), flag_to_var.end(),
                                     [&](const auto& fv) { return is(fv.first); });
               f != flag_to_var.end()) {
      if (auto v = value_of(f->first)) out.values[f->second] = *v;
    } else {
      r.errors.push_back("unknown argument \"" + a + "\" (see --help)");
    }
  }
  return out;
}

// The variables in force: the .env file (the --env-file, else ./.env when present), the real
// environment over it, the flags over both. FLASK_ENV is the seed's name for APP_ENV, which wins.
std::map<std::string, std::string> merge_sources(const std::map<std::string, std::string>& env,
                                                 const arguments& args, load_result& r) {
  std::map<std::string, std::string> merged;
  const std::string path = args.env_file.value_or(".env");
  if (std::ifstream in(path); in) {
    std::stringstream ss;
    ss << in.rdbuf();
    merged = parse_dotenv(ss.str(), r.errors);
  } else if (args.env_file) {
    r.errors.push_back("--env-file " + path + ": cannot be read");
  }
  for (const auto& [k, v] : merged) {
    if (k.rfind("KRB5", 0) == 0 && !env.count(k)) r.exports[k] = v;
  }
  for (const auto& [k, v] : env) merged[k] = v;
  for (const auto& [k, v] : args.values) merged[k] = v;
  if (!merged.count("APP_ENV") && merged.count("FLASK_ENV"))
    merged["APP_ENV"] = merged["FLASK_ENV"];
  return merged;
}

void set_field(const field& f, const std::map<std::string, std::string>& merged, load_result& r) {
  auto it = merged.find(f.name);
  if (it == merged.end()) return;
  if (auto err = f.set(r.cfg, it->second)) r.errors.push_back(std::string(f.name) + ": " + *err);
}

// The settings over the defaults. APP_ENV goes first: development changes two defaults.
void apply_settings(const std::map<std::string, std::string>& merged, const arguments& args,
                    load_result& r) {
  set_field(*find_field("APP_ENV"), merged, r);
  if (r.cfg.app_env == environment::development) {
    r.cfg.log_level = "debug";
    r.cfg.log_fmt = log_format::text;
  }
  for (const auto& f : fields()) {
    if (std::string_view(f.name) != "APP_ENV") set_field(f, merged, r);
  }
  for (const auto& [k, v] : merged) {
    if (k.rfind(kPassthroughPrefix, 0) == 0 && k.size() > kPassthroughPrefix.size()) {
      r.cfg.kafka.passthrough.emplace_back(passthrough_name(k), v);
    }
  }
  for (const auto& [k, v] : args.values) {
    if (!find_field(k) && k.rfind(kPassthroughPrefix, 0) != 0 && k != "FLASK_ENV") {
      r.errors.push_back("--set " + k + ": unknown setting");
    }
  }
}

// What follows from other settings.
void derive(config& c) {
  auto& consumer = c.kafka.consumer;
  if (consumer.changelog_topic.empty()) consumer.changelog_topic = c.kafka.topic + "-aggregates";
  c.store.buckets =
      model::bucket_layouts(c.store.histogram_buckets, c.store.histogram_default_buckets);
}

std::string exceeds(const char* name, std::size_t value, const char* limit_name,
                    std::size_t limit) {
  return std::string(name) + " (" + std::to_string(value) + ") must not exceed " + limit_name +
         " (" + std::to_string(limit) + ")";
}

// Limits that must fit one another: caps, budgets, TLS files, the embedded log.
void check_limits(const config& c, std::vector<std::string>& errors) {
  const auto& s = c.store;
  if (s.max_series_per_app > s.max_series)
    errors.push_back(
        exceeds("MAX_SERIES_PER_APP", s.max_series_per_app, "MAX_SERIES", s.max_series));
  if (s.max_series_bytes_per_app > s.max_series_bytes)
    errors.push_back(exceeds("MAX_SERIES_BYTES_PER_APP", s.max_series_bytes_per_app,
                             "MAX_SERIES_BYTES", s.max_series_bytes));
  // With a list of apps, every listed app must be able to reach its own caps whatever the others
  // do: then the service-wide caps can never lock one of them out.
  if (const auto apps = c.routes.allowed_app_ids.size(); apps > 0) {
    const std::string listed = "ALLOWED_APP_IDS lists " + std::to_string(apps) + " apps: ";
    if (apps * s.max_series_per_app > s.max_series)
      errors.push_back(listed + exceeds("apps x MAX_SERIES_PER_APP", apps * s.max_series_per_app,
                                        "MAX_SERIES", s.max_series));
    if (apps * s.max_series_bytes_per_app > s.max_series_bytes)
      errors.push_back(listed + exceeds("apps x MAX_SERIES_BYTES_PER_APP",
                                        apps * s.max_series_bytes_per_app, "MAX_SERIES_BYTES",
                                        s.max_series_bytes));
  }
  if (c.http.tls.cert_file.empty() != c.http.tls.key_file.empty())
    errors.push_back("TLS_CERT_FILE and TLS_KEY_FILE must be set together");
  if (!c.http.tls.client_ca_file.empty() && c.http.tls.cert_file.empty())
    errors.push_back("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE");
  // Every full batch would need more room than the log has: 503 forever, never a 200.
  if (c.embedded_transport() && c.embedded.log_capacity < c.routes.max_batch_metrics) {
    errors.push_back("EMBEDDED_LOG_CAPACITY (" + std::to_string(c.embedded.log_capacity) +
                     ") must be at least MAX_BATCH_METRICS (" +
                     std::to_string(c.routes.max_batch_metrics) +
                     "): a full batch could never be accepted");
  }
}

// Kafka and the registry: what the transport and the group need to make sense.
void check_kafka(const config& c, std::vector<std::string>& errors) {
  const auto& k = c.kafka.consumer;
  const auto& topic = c.kafka.topic;
  if (c.embedded_transport() && !c.registry.url.empty()) {
    errors.push_back(
        "SCHEMA_REGISTRY_URL is set but KAFKA_BOOTSTRAP_SERVERS is not: the embedded transport "
        "uses the embedded registry");
  }
  if (topic.empty()) errors.push_back("KAFKA_TOPIC: must not be empty");
  if (!c.embedded_transport()) {
    for (auto& e : kafka_settings_errors(c.kafka)) errors.push_back(std::move(e));
  }
  if (k.group_id.empty()) errors.push_back("KAFKA_CONSUMER_GROUP: must not be empty");
  if (k.heartbeat_interval * 3 > k.session_timeout)
    errors.push_back(
        "KAFKA_HEARTBEAT_INTERVAL_MS: must be at most a third of KAFKA_SESSION_TIMEOUT_MS");
  if (!k.dlq_topic.empty() && k.dlq_topic == topic)
    errors.push_back("KAFKA_DLQ_TOPIC: must differ from KAFKA_TOPIC");
  if (k.changelog_topic == topic || k.changelog_topic == k.dlq_topic)
    errors.push_back("KAFKA_CHANGELOG_TOPIC: must differ from KAFKA_TOPIC and KAFKA_DLQ_TOPIC");
  if (!valid_topic_name(k.changelog_topic))
    errors.push_back("KAFKA_CHANGELOG_TOPIC: " + k.changelog_topic +
                     " is not a Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -, not . or ..)");
}

}  // namespace

load_result load(const std::map<std::string, std::string>& env,
                 const std::vector<std::string>& args) {
  load_result r;  // r.cfg starts from the defaults: the members' initialisers
  const arguments parsed = parse_arguments(args, r);
  const auto merged = merge_sources(env, parsed, r);
  apply_settings(merged, parsed, r);
  derive(r.cfg);
  check_limits(r.cfg, r.errors);
  check_kafka(r.cfg, r.errors);
  return r;
}

std::string describe(const config& c) {
  std::string out;
  for (const auto& f : fields()) {
    // Numbers and booleans are never secrets (MAX_TAG_KEY_BYTES says "key" but is a number);
    // every text setting goes through the one secret rule (util/secret.h).
    std::string v = f.get(c);
    if (f.secret)
      v = v.empty() ? v : "****";
    else
      v = util::mask_url_userinfo(v);
    out += std::string(f.name) + "=" + v + "\n";
  }
  for (const auto& [k, v] : c.kafka.passthrough) {
    std::string env = std::string(kPassthroughPrefix);
    for (char ch : k)
      env += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    out += env + "=" + util::printable_setting(k, v) + "\n";
  }
  return out;
}

std::string usage() {
  std::string out =
      "Usage: metrics-collection-api [--env-file PATH] [--port N] [--host ADDR] [--log-level L]\n"
      "                              [--schema-file PATH] [--set NAME=VALUE]... [--print-config]\n"
      "                              [--list-routes] [--help]\n"
      "       metrics-collection-api keys new --id ID --scopes S[,S...] [--apps APP[,APP...]]\n"
      "                              [--origins URL[,URL...]]\n\n"
      "keys new prints a new random API key once (first line) and the entry to add to the\n"
      "\"keys\" array of API_KEYS_FILE (second line); the service keeps only the key's SHA-256.\n"
      "Scopes: ingest, read, scrape, admin. SIGHUP reloads API_KEYS_FILE.\n\n"
      "Settings come from the environment, then a .env file (./.env or --env-file; the real\n"
      "environment wins), then flags. KAFKA_PROPERTY_<NAME>=V passes <name>=V to librdkafka\n"
      "(lower-cased, '_' becomes '.').\n\n";
  const config defaults;
  for (const auto& f : fields()) {
    const std::string fallback = f.get(defaults);
    out += "  " + std::string(f.name) + " (default: " + (fallback.empty() ? "unset" : fallback) +
           ")\n      " + f.description + "\n";
  }
  return out;
}

util::result<kafka_clients> make_kafka_clients(const config& c) {
  auto properties = kafka_properties(c.kafka);
  if (!properties) return properties.error();
  kafka_clients out{c.kafka.producer, c.kafka.consumer};
  out.producer.properties = *properties;
  out.producer.topic = c.kafka.topic;
  out.consumer.properties = std::move(*properties);
  out.consumer.topic = c.kafka.topic;
  out.consumer.ttl =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(c.store.ttl_ms));
  return out;
}

registry::confluent_options registry_options(const config& c, avro::schema schema,
                                             avro::schema typed_schema) {
  registry::confluent_options out = c.registry;
  out.subject = c.kafka.topic + "-value";
  out.schema = std::move(schema);
  out.typed_schema = std::move(typed_schema);
  return out;
}

}  // namespace mca::config
