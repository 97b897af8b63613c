#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include <boost/asio/ip/address.hpp>

#include "util/secret.h"

extern char** environ;

namespace mca::config {
namespace {

// One setting: its variable, default (as text), description, and how to read/write it.
struct field {
  const char* name;
  const char* fallback;
  const char* description;
  bool secret;
  // Parses text into the config; returns an error message or nothing.
  std::function<std::optional<std::string>(config&, const std::string&)> set;
  std::function<std::string(const config&)> get;
};

template <class T>
using accessor = T& (*)(config&);

std::optional<std::string> parse_int(const std::string& text, std::int64_t lo, std::int64_t hi,
                                     std::int64_t& out) {
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

template <class T>
field str_field(const char* name, const char* fallback, const char* description, T& (*acc)(config&),
                bool secret = false) {
  return {name,
          fallback,
          description,
          secret || util::is_secret_name(name),
          [acc](config& c, const std::string& v) -> std::optional<std::string> {
            acc(c) = v;
            return std::nullopt;
          },
          [acc](const config& c) { return acc(const_cast<config&>(c)); }};
}

template <class T>
field int_field(const char* name, const char* fallback, const char* description, T& (*acc)(config&),
                std::int64_t lo, std::int64_t hi) {
  return {name,
          fallback,
          description,
          false,
          [acc, lo, hi](config& c, const std::string& v) -> std::optional<std::string> {
            std::int64_t out = 0;
            if (auto err = parse_int(trim(v), lo, hi, out)) return err;
            acc(c) = static_cast<T>(out);
            return std::nullopt;
          },
          [acc](const config& c) { return std::to_string(acc(const_cast<config&>(c))); }};
}

field bool_field(const char* name, const char* fallback, const char* description,
                 bool& (*acc)(config&)) {
  return {name,
          fallback,
          description,
          false,
          [acc](config& c, const std::string& v) -> std::optional<std::string> {
            auto b = parse_bool(trim(v));
            if (!b) return "must be true or false";
            acc(c) = *b;
            return std::nullopt;
          },
          [acc](const config& c) {
            return std::string(acc(const_cast<config&>(c)) ? "true" : "false");
          }};
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

constexpr std::int64_t kMaxI64 = std::numeric_limits<std::int64_t>::max();

// Histogram bucket bounds (model::kMaxBucketBounds; config may not depend on model).
constexpr std::size_t kMaxHistogramBounds = 64;

std::string format_bound(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string format_bounds(const std::vector<double>& bounds) {
  std::string out;
  for (double b : bounds) out += (out.empty() ? "" : ",") + format_bound(b);
  return out;
}

// "5,10,25": 1..64 finite numbers, strictly increasing (+Inf is implied).
std::optional<std::string> parse_bounds(std::string_view text, std::vector<double>& out) {
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
    if (out.size() > kMaxHistogramBounds)
      return "more than " + std::to_string(kMaxHistogramBounds) + " bounds";
    if (comma == std::string_view::npos) return std::nullopt;
    pos = comma + 1;
  }
}

// The app_id rule (model::valid_app_id; config may not depend on model).
bool valid_app_id_text(std::string_view id) {
  if (id.empty() || id.size() > 64 || id.find_first_not_of('.') == std::string_view::npos)
    return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-';
  });
}

// Kafka's rule for topic names.
bool valid_topic_name(std::string_view t) {
  if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
  return std::all_of(t.begin(), t.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-';
  });
}

const std::vector<field>& fields() {
  static const std::vector<field> table = {
      {"APP_ENV", "production",
       "production or development (FLASK_ENV is accepted too): development logs text at debug "
       "level",
       false,
       [](config& c, const std::string& v) -> std::optional<std::string> {
         auto t = trim(v);
         if (t == "production")
           c.app_env = environment::production;
         else if (t == "development")
           c.app_env = environment::development;
         else
           return "must be production or development";
         return std::nullopt;
       },
       [](const config& c) {
         return std::string(c.app_env == environment::development ? "development" : "production");
       }},
      {"LOG_LEVEL", "info", "trace, debug, info, warn or error (development default: debug)", false,
       [](config& c, const std::string& v) -> std::optional<std::string> {
         auto t = trim(v);
         static const char* levels[] = {"trace", "debug",    "info", "warn",
                                        "error", "critical", "off"};
         if (std::none_of(std::begin(levels), std::end(levels),
                          [&](const char* l) { return t == l; })) {
           return "must be one of trace, debug, info, warn, error, critical, off";
         }
         c.log_level = t;
         return std::nullopt;
       },
       [](const config& c) { return c.log_level; }},
      {"LOG_FORMAT", "json", "json or text (development default: text)", false,
       [](config& c, const std::string& v) -> std::optional<std::string> {
         auto t = trim(v);
         if (t == "json")
           c.log_fmt = log_format::json;
         else if (t == "text")
           c.log_fmt = log_format::text;
         else
           return "must be json or text";
         return std::nullopt;
       },
       [](const config& c) {
         return std::string(c.log_fmt == log_format::json ? "json" : "text");
       }},
      str_field(
          "HOST", "0.0.0.0", "address to listen on",
          +[](config& c) -> std::string& { return c.http.host; }),
      int_field(
          "PORT", "5000", "HTTP port (0 = any free port)",
          +[](config& c) -> std::uint16_t& { return c.http.port; }, 0, 65535),
      int_field(
          "HTTP_THREADS", "0", "HTTP worker threads (0 = one per core)",
          +[](config& c) -> unsigned& { return c.http.threads; }, 0, 256),
      int_field(
          "MAX_BODY_BYTES", "1048576", "largest request body, on the wire and after gzip decoding",
          +[](config& c) -> std::size_t& { return c.http.max_body_bytes; }, 1024, 64 << 20),
      int_field(
          "HTTP_READ_TIMEOUT_MS", "10000", "a whole request must arrive within this",
          +[](config& c) -> std::int64_t& { return c.http.read_timeout_ms; }, 100, 600'000),
      int_field(
          "HTTP_IDLE_TIMEOUT_MS", "60000", "idle keep-alive connections close after this",
          +[](config& c) -> std::int64_t& { return c.http.idle_timeout_ms; }, 100, 3'600'000),
      int_field(
          "HTTP_WRITE_TIMEOUT_MS", "10000",
          "a response must be taken by the client within this, or the connection closes",
          +[](config& c) -> std::int64_t& { return c.http.write_timeout_ms; }, 100, 600'000),
      int_field(
          "MAX_CONNECTIONS", "0",
          "open HTTP connections at most (0 = the open-files limit minus max(64, 1/8 of it)); "
          "near it the longest-idle connections close, at it new ones get 503",
          +[](config& c) -> std::size_t& { return c.http.max_connections; }, 0, 10'000'000),
      str_field(
          "TLS_CERT_FILE", "",
          "PEM certificate (chain) file: with TLS_KEY_FILE, the port serves HTTPS only",
          +[](config& c) -> std::string& { return c.http.tls_cert_file; }),
      str_field(
          "TLS_KEY_FILE", "", "PEM private key file of TLS_CERT_FILE",
          +[](config& c) -> std::string& { return c.http.tls_key_file; }),
      str_field(
          "TLS_CLIENT_CA_FILE", "",
          "PEM CA file: clients must present a certificate it signed (mutual TLS)",
          +[](config& c) -> std::string& { return c.http.tls_client_ca_file; }),
      int_field(
          "SHUTDOWN_TIMEOUT_MS", "10000",
          "on SIGTERM: time for in-flight requests and the transport flush",
          +[](config& c) -> std::int64_t& { return c.http.shutdown_timeout_ms; }, 0, 600'000),
      {"CORS_ALLOWED_ORIGINS", "",
       "comma-separated exact origins allowed to POST metrics from a browser (* = any)", false,
       [](config& c, const std::string& v) -> std::optional<std::string> {
         c.http.cors_allowed_origins.clear();
         std::stringstream ss(v);
         std::string item;
         while (std::getline(ss, item, ',')) {
           item = trim(item);
           if (item.empty()) continue;
           if (item != "*" && item.find("://") == std::string::npos) {
             return "\"" + item + "\" is not an origin (scheme://host[:port]) or *";
           }
           while (!item.empty() && item.back() == '/') item.pop_back();
           c.http.cors_allowed_origins.push_back(item);
         }
         return std::nullopt;
       },
       [](const config& c) {
         std::string out;
         for (const auto& o : c.http.cors_allowed_origins) out += (out.empty() ? "" : ",") + o;
         return out;
       }},
      str_field(
          "API_KEYS_FILE", "",
          "JSON file of API keys (sha256, scopes, apps, origins); unset = every route open. "
          "SIGHUP reloads it",
          +[](config& c) -> std::string& { return c.access.api_keys_file; }),
      int_field(
          "RATE_LIMIT_PER_CLIENT", "0",
          "requests/s per client address, burst of one second's worth (0 = off); over it: 429",
          +[](config& c) -> std::int64_t& { return c.access.rate_limit_per_client; }, 0, 1'000'000),
      int_field(
          "RATE_LIMIT_PER_APP", "0",
          "metrics/s per app_id, burst of one second's worth (0 = off); over it: 429",
          +[](config& c) -> std::int64_t& { return c.access.rate_limit_per_app; }, 0, 100'000'000),
      int_field(
          "RATE_LIMIT_TABLE_SIZE", "65536",
          "most clients (and, apart, apps) whose rate-limit buckets are held; past it the least "
          "recently seen is forgotten",
          +[](config& c) -> std::size_t& { return c.access.rate_limit_table_size; }, 1, 10'000'000),
      {"TRUSTED_PROXIES", "",
       "comma-separated CIDRs of proxies whose X-Forwarded-For names the client (rate limits)",
       false,
       [](config& c, const std::string& v) -> std::optional<std::string> {
         c.access.trusted_proxies.clear();
         std::stringstream ss(v);
         std::string item;
         while (std::getline(ss, item, ',')) {
           item = trim(item);
           if (item.empty()) continue;
           if (!valid_cidr(item)) return "\"" + item + "\" is not an IP address or CIDR block";
           c.access.trusted_proxies.push_back(item);
         }
         return std::nullopt;
       },
       [](const config& c) {
         std::string out;
         for (const auto& o : c.access.trusted_proxies) out += (out.empty() ? "" : ",") + o;
         return out;
       }},
      int_field(
          "MAX_BATCH_METRICS", "1000", "most metrics in one POST (more: 413)",
          +[](config& c) -> std::size_t& { return c.ingest.max_batch_metrics; }, 1, 1'000'000),
      int_field(
          "MAX_NAME_BYTES", "200", "longest metric name",
          +[](config& c) -> std::size_t& { return c.ingest.max_name_bytes; }, 1, 65536),
      int_field(
          "MAX_TAGS", "32", "most tags on one metric",
          +[](config& c) -> std::size_t& { return c.ingest.max_tags; }, 0, 1024),
      int_field(
          "MAX_TAG_KEY_BYTES", "100", "longest tag key",
          +[](config& c) -> std::size_t& { return c.ingest.max_tag_key_bytes; }, 1, 65536),
      int_field(
          "MAX_TAG_VALUE_BYTES", "1024", "longest tag value",
          +[](config& c) -> std::size_t& { return c.ingest.max_tag_value_bytes; }, 1, 1 << 20),
      int_field(
          "MAX_PROFILE_ID_BYTES", "256", "longest profileId",
          +[](config& c) -> std::size_t& { return c.ingest.max_profile_id_bytes; }, 1, 65536),
      int_field(
          "MAX_FUTURE_SKEW_SECONDS", "3600",
          "timestamps later than receive time + this are rejected; later ones within it are set "
          "to the receive time",
          +[](config& c) -> std::int64_t& { return c.ingest.max_future_skew_seconds; }, 0,
          10LL * 365 * 86400),
      int_field(
          "DELIVERY_TIMEOUT_MS", "10000",
          "the transport must acknowledge a batch within this, else 503",
          +[](config& c) -> std::int64_t& { return c.ingest.delivery_timeout_ms; }, 100, 300'000),
      int_field(
          "RETRY_AFTER_SECONDS", "1", "Retry-After sent with 503",
          +[](config& c) -> std::int64_t& { return c.ingest.retry_after_seconds; }, 1, 3600),
      int_field(
          "METRIC_TTL_SECONDS", "900",
          "a series not written for this long is no longer exposed (0 = never)",
          +[](config& c) -> std::int64_t& { return c.store.metric_ttl_seconds; }, 0,
          10LL * 365 * 86400),
      int_field(
          "MAX_SERIES", "1000000",
          "most series held across all apps (a new series beyond: item rejected, field series)",
          +[](config& c) -> std::size_t& { return c.store.max_series; }, 1, 100'000'000),
      int_field(
          "MAX_SERIES_PER_APP", "10000",
          "most series held per app_id (a new series beyond: item rejected, field series)",
          +[](config& c) -> std::size_t& { return c.store.max_series_per_app; }, 1, 100'000'000),
      int_field(
          "MAX_SERIES_BYTES_PER_APP", "16777216",
          "bytes counted for one app's series: key, name, tags, largest profileId and 512 per "
          "series (beyond: item rejected, field series)",
          +[](config& c) -> std::size_t& { return c.store.max_series_bytes_per_app; }, 4096,
          std::int64_t{1} << 40),
      int_field(
          "MAX_SERIES_BYTES", "1073741824",
          "bytes counted for all series, as MAX_SERIES_BYTES_PER_APP counts them (beyond: item "
          "rejected, field series)",
          +[](config& c) -> std::size_t& { return c.store.max_series_bytes; }, 4096,
          std::int64_t{1} << 44),
      {"HISTOGRAM_BUCKETS", "",
       "histogram bucket upper bounds per metric name, name=b1,b2,...;name=... (1 to 64 finite, "
       "strictly increasing bounds; +Inf implied); overrides the built-in web_vitals_lcp, _inp, "
       "_fcp, _ttfb and _cls layouts. Every replica needs the same value",
       false,
       [](config& c, const std::string& v) -> std::optional<std::string> {
         c.store.histogram_buckets.clear();
         std::stringstream ss(v);
         std::string entry;
         while (std::getline(ss, entry, ';')) {
           entry = trim(entry);
           if (entry.empty()) continue;
           const auto eq = entry.find('=');
           const std::string name = trim(entry.substr(0, eq));
           if (eq == std::string::npos || name.empty())
             return "\"" + entry + "\": expected name=bound,bound,...";
           for (const auto& [n, _] : c.store.histogram_buckets)
             if (n == name) return name + ": named twice";
           std::vector<double> bounds;
           if (auto e = parse_bounds(std::string_view(entry).substr(eq + 1), bounds))
             return name + ": " + *e;
           c.store.histogram_buckets.emplace_back(name, std::move(bounds));
         }
         return std::nullopt;
       },
       [](const config& c) {
         std::string out;
         for (const auto& [name, bounds] : c.store.histogram_buckets)
           out += (out.empty() ? "" : ";") + name + "=" + format_bounds(bounds);
         return out;
       }},
      {"HISTOGRAM_DEFAULT_BUCKETS", "",
       "bucket upper bounds of every other histogram, b1,b2,... (as above); unset = Prometheus' "
       "defaults 0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10",
       false,
       [](config& c, const std::string& v) -> std::optional<std::string> {
         c.store.histogram_default_buckets.clear();
         if (trim(v).empty()) return std::nullopt;
         return parse_bounds(v, c.store.histogram_default_buckets);
       },
       [](const config& c) { return format_bounds(c.store.histogram_default_buckets); }},
      {"ALLOWED_APP_IDS", "",
       "comma-separated app_ids this service takes (others: 404 unknown_app); unset = any valid "
       "app_id",
       false,
       [](config& c, const std::string& v) -> std::optional<std::string> {
         c.store.allowed_app_ids.clear();
         std::stringstream ss(v);
         std::string item;
         while (std::getline(ss, item, ',')) {
           item = trim(item);
           if (item.empty()) continue;
           if (!valid_app_id_text(item))
             return "\"" + item + "\" is not an app_id ([A-Za-z0-9._-]{1,64}, not only dots)";
           if (std::find(c.store.allowed_app_ids.begin(), c.store.allowed_app_ids.end(), item) ==
               c.store.allowed_app_ids.end())
             c.store.allowed_app_ids.push_back(item);
         }
         return std::nullopt;
       },
       [](const config& c) {
         std::string out;
         for (const auto& a : c.store.allowed_app_ids) out += (out.empty() ? "" : ",") + a;
         return out;
       }},
      bool_field(
          "EXPOSITION_APP_ID_LABEL", "true",
          "add app_id=\"...\" to every client_metric_ series (false: exactly the seed's output)",
          +[](config& c) -> bool& { return c.store.exposition_app_id_label; }),
      int_field(
          "EMBEDDED_LOG_CAPACITY", "100000",
          "embedded transport: records held before producers get 503",
          +[](config& c) -> std::size_t& { return c.embedded.log_capacity; }, 1, 100'000'000),
      str_field(
          "KAFKA_BOOTSTRAP_SERVERS", "",
          "Kafka brokers host:port,...; unset = embedded in-process log",
          +[](config& c) -> std::string& { return c.kafka.bootstrap_servers; }),
      str_field(
          "KAFKA_TOPIC", "client-metrics", "topic metrics are produced to and consumed from",
          +[](config& c) -> std::string& { return c.kafka.topic; }),
      str_field(
          "KAFKA_CONSUMER_GROUP", "metrics-collection-api", "consumer group id",
          +[](config& c) -> std::string& { return c.kafka.consumer_group; }),
      str_field(
          "KAFKA_GROUP_INSTANCE_ID", "",
          "static group membership (group.instance.id), unique per replica: a replica restarted "
          "within KAFKA_SESSION_TIMEOUT_MS gets its partitions back without a rebalance",
          +[](config& c) -> std::string& { return c.kafka.group_instance_id; }),
      int_field(
          "KAFKA_SESSION_TIMEOUT_MS", "6000",
          "a replica that stops heartbeating loses its partitions to the others after this",
          +[](config& c) -> std::int64_t& { return c.kafka.session_timeout_ms; }, 1000, 3'600'000),
      int_field(
          "KAFKA_HEARTBEAT_INTERVAL_MS", "1500",
          "consumer heartbeat interval (at most a third of the session timeout)",
          +[](config& c) -> std::int64_t& { return c.kafka.heartbeat_interval_ms; }, 100,
          1'200'000),
      bool_field(
          "KAFKA_LEAVE_GROUP_ON_SHUTDOWN", "false",
          "static members only: leave the group on SIGTERM (scale-down) instead of keeping the "
          "partitions for a restart",
          +[](config& c) -> bool& { return c.kafka.leave_group_on_shutdown; }),
      str_field(
          "KAFKA_DLQ_TOPIC", "",
          "dead-letter topic: consumed records that cannot be decoded or applied are copied there "
          "unchanged, with headers saying why and whence; unset = only counted",
          +[](config& c) -> std::string& { return c.kafka.dlq_topic; }),
      str_field(
          "KAFKA_CHANGELOG_TOPIC", "",
          "compacted topic holding snapshots of the counter and histogram aggregates, read back "
          "when a replica takes over a partition so counts continue instead of resetting; "
          "created when missing (the topic's partition count, cleanup.policy=compact); unset = "
          "<KAFKA_TOPIC>-aggregates",
          +[](config& c) -> std::string& { return c.kafka.changelog_topic; }),
      int_field(
          "AGGREGATE_SNAPSHOT_INTERVAL_MS", "5000",
          "how often changed aggregates are written to KAFKA_CHANGELOG_TOPIC (a restart replays "
          "the records since the last snapshot; nothing is counted twice or lost either way)",
          +[](config& c) -> std::int64_t& { return c.kafka.snapshot_interval_ms; }, 100, 3'600'000),
      str_field(
          "KAFKA_SECURITY_PROTOCOL", "", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
          +[](config& c) -> std::string& { return c.kafka.security_protocol; }),
      str_field(
          "KAFKA_SASL_MECHANISM", "", "GSSAPI, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
          +[](config& c) -> std::string& { return c.kafka.sasl_mechanism; }),
      str_field(
          "KAFKA_SERVICE_NAME", "kafka", "Kerberos service name of the brokers",
          +[](config& c) -> std::string& { return c.kafka.service_name; }),
      str_field(
          "KAFKA_SASL_KERBEROS_KEYTAB", "", "keytab file for GSSAPI",
          +[](config& c) -> std::string& { return c.kafka.kerberos_keytab; }),
      str_field(
          "KAFKA_SASL_KERBEROS_PRINCIPAL", "", "client principal for GSSAPI",
          +[](config& c) -> std::string& { return c.kafka.kerberos_principal; }),
      str_field(
          "KAFKA_SASL_KERBEROS_KINIT_CMD", "",
          "override librdkafka's kinit command (ticket refresh)",
          +[](config& c) -> std::string& { return c.kafka.kerberos_kinit_cmd; }),
      str_field(
          "KAFKA_SASL_USERNAME", "", "username for PLAIN/SCRAM",
          +[](config& c) -> std::string& { return c.kafka.sasl_username; }),
      str_field(
          "KAFKA_SASL_PASSWORD", "", "password for PLAIN/SCRAM (secret)",
          +[](config& c) -> std::string& { return c.kafka.sasl_password; }, true),
      str_field(
          "KAFKA_SSL_CA_LOCATION", "", "CA certificate file to verify the brokers",
          +[](config& c) -> std::string& { return c.kafka.ssl_ca_location; }),
      str_field(
          "KAFKA_SSL_CERTIFICATE_LOCATION", "", "client certificate (mTLS)",
          +[](config& c) -> std::string& { return c.kafka.ssl_certificate_location; }),
      str_field(
          "KAFKA_SSL_KEY_LOCATION", "", "client private key (mTLS)",
          +[](config& c) -> std::string& { return c.kafka.ssl_key_location; }),
      str_field(
          "KAFKA_SSL_KEY_PASSWORD", "", "password of the client key (secret)",
          +[](config& c) -> std::string& { return c.kafka.ssl_key_password; }, true),
      str_field(
          "KAFKA_SSL_ENDPOINT_IDENTIFICATION", "",
          "https (verify the broker host name; librdkafka's default) or none",
          +[](config& c) -> std::string& { return c.kafka.ssl_endpoint_identification; }),
      {"KAFKA_COMPRESSION", "zstd",
       "producer compression: none, lz4, zstd, snappy or gzip (zstd: ~30% fewer bytes than lz4 for "
       "our records at similar CPU)",
       false,
       [](config& c, const std::string& v) -> std::optional<std::string> {
         auto t = trim(v);
         static const char* codecs[] = {"none", "lz4", "zstd", "snappy", "gzip"};
         if (std::none_of(std::begin(codecs), std::end(codecs),
                          [&](const char* x) { return t == x; })) {
           return "must be one of none, lz4, zstd, snappy, gzip";
         }
         c.kafka.compression = t;
         return std::nullopt;
       },
       [](const config& c) { return c.kafka.compression; }},
      int_field(
          "KAFKA_LINGER_MS", "5", "producer linger (batching delay)",
          +[](config& c) -> std::int64_t& { return c.kafka.linger_ms; }, 0, 1000),
      str_field(
          "SCHEMA_REGISTRY_URL", "",
          "Confluent Schema Registry URL; unset = embedded (bundled schemas as ids 1 and 2)",
          +[](config& c) -> std::string& { return c.registry.url; }),
      str_field(
          "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "", "user:password for the registry (secret)",
          +[](config& c) -> std::string& { return c.registry.basic_auth_user_info; }, true),
      bool_field(
          "SCHEMA_REGISTRY_AUTO_REGISTER", "true",
          "register the schemas at start, v1 then v2 (false: only look them up; both must be "
          "registered)",
          +[](config& c) -> bool& { return c.registry.auto_register; }),
      str_field(
          "SCHEMA_REGISTRY_SSL_CA_LOCATION", "", "CA certificate file to verify the registry",
          +[](config& c) -> std::string& { return c.registry.ssl_ca_location; }),
      str_field(
          "SCHEMA_FILE", MCA_DEFAULT_SCHEMA_FILE, "the Avro schema of Metric",
          +[](config& c) -> std::string& { return c.registry.schema_file; }),
      str_field(
          "SCHEMA_V2_FILE", MCA_DEFAULT_SCHEMA_V2_FILE,
          "the evolved Avro schema of Metric (with type), for counters and histograms",
          +[](config& c) -> std::string& { return c.registry.schema_v2_file; }),
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

load_result load(const std::map<std::string, std::string>& env,
                 const std::vector<std::string>& args) {
  load_result r;
  std::optional<std::string> env_file;
  std::map<std::string, std::string> flag_values;

  static const std::map<std::string, std::string> flag_to_var = {{"--port", "PORT"},
                                                                 {"--host", "HOST"},
                                                                 {"--log-level", "LOG_LEVEL"},
                                                                 {"--schema-file", "SCHEMA_FILE"}};
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value_of = [&](const std::string& flag) -> std::optional<std::string> {
      if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
      if (a == flag) {
        if (i + 1 < args.size()) return args[++i];
        r.errors.push_back(flag + " needs a value");
      }
      return std::nullopt;
    };
    if (a == "--print-config") {
      r.cmd.print_config = true;
      continue;
    }
    if (a == "--list-routes") {
      r.cmd.list_routes = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      r.cmd.help = true;
      continue;
    }
    if (a == "--env-file" || a.rfind("--env-file=", 0) == 0) {
      if (auto v = value_of("--env-file")) env_file = *v;
      continue;
    }
    if (a == "--set" || a.rfind("--set=", 0) == 0) {
      if (auto v = value_of("--set")) {
        auto eq = v->find('=');
        if (eq == std::string::npos)
          r.errors.push_back("--set expects NAME=VALUE, got \"" + *v + "\"");
        else
          flag_values[v->substr(0, eq)] = v->substr(eq + 1);
      }
      continue;
    }
    bool matched = false;
    for (const auto& [flag, var] : flag_to_var) {
      if (a == flag || a.rfind(flag + "=", 0) == 0) {
        if (auto v = value_of(flag)) flag_values[var] = *v;
        matched = true;
        break;
      }
    }
    if (!matched) r.errors.push_back("unknown argument \"" + a + "\" (see --help)");
  }

  // .env: the --env-file, else ./.env when present. The real environment wins over it.
  std::map<std::string, std::string> merged;
  std::string path = env_file.value_or(".env");
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    merged = parse_dotenv(ss.str(), r.errors);
  } else if (env_file) {
    r.errors.push_back("--env-file " + path + ": cannot be read");
  }
  for (const auto& [k, v] : merged) {
    if (k.rfind("KRB5", 0) == 0 && !env.count(k)) r.exports[k] = v;
  }
  for (const auto& [k, v] : env) merged[k] = v;
  for (const auto& [k, v] : flag_values) merged[k] = v;

  // FLASK_ENV is the seed's name; APP_ENV wins when both are set.
  if (!merged.count("APP_ENV") && merged.count("FLASK_ENV"))
    merged["APP_ENV"] = merged["FLASK_ENV"];

  // Defaults first, then given values; development changes two defaults.
  for (const auto& f : fields()) f.set(r.cfg, f.fallback);
  if (auto it = merged.find("APP_ENV"); it != merged.end()) {
    if (auto err = find_field("APP_ENV")->set(r.cfg, it->second))
      r.errors.push_back("APP_ENV: " + *err);
  }
  if (r.cfg.app_env == environment::development) {
    r.cfg.log_level = "debug";
    r.cfg.log_fmt = log_format::text;
  }
  for (const auto& f : fields()) {
    if (std::string_view(f.name) == "APP_ENV") continue;
    auto it = merged.find(f.name);
    if (it == merged.end()) continue;
    if (auto err = f.set(r.cfg, it->second)) r.errors.push_back(std::string(f.name) + ": " + *err);
  }
  for (const auto& [k, v] : merged) {
    if (k.rfind(kPassthroughPrefix, 0) == 0 && k.size() > kPassthroughPrefix.size()) {
      r.cfg.kafka.passthrough.emplace_back(passthrough_name(k), v);
    }
  }
  for (const auto& [k, v] : flag_values) {
    if (!find_field(k) && k.rfind(kPassthroughPrefix, 0) != 0 && k != "FLASK_ENV") {
      r.errors.push_back("--set " + k + ": unknown setting");
    }
  }

  if (r.cfg.kafka.changelog_topic.empty())
    r.cfg.kafka.changelog_topic = r.cfg.kafka.topic + "-aggregates";

  // Cross-field checks.
  const auto& c = r.cfg;
  if (c.embedded_transport() && !c.registry.url.empty()) {
    r.errors.push_back(
        "SCHEMA_REGISTRY_URL is set but KAFKA_BOOTSTRAP_SERVERS is not: the embedded transport "
        "uses the embedded registry");
  }
  if (c.store.max_series_per_app > c.store.max_series) {
    r.errors.push_back("MAX_SERIES_PER_APP (" + std::to_string(c.store.max_series_per_app) +
                       ") must not exceed MAX_SERIES (" + std::to_string(c.store.max_series) + ")");
  }
  if (c.http.tls_cert_file.empty() != c.http.tls_key_file.empty()) {
    r.errors.push_back("TLS_CERT_FILE and TLS_KEY_FILE must be set together");
  }
  if (!c.http.tls_client_ca_file.empty() && c.http.tls_cert_file.empty()) {
    r.errors.push_back("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE");
  }
  if (c.store.max_series_bytes_per_app > c.store.max_series_bytes) {
    r.errors.push_back(
        "MAX_SERIES_BYTES_PER_APP (" + std::to_string(c.store.max_series_bytes_per_app) +
        ") must not exceed MAX_SERIES_BYTES (" + std::to_string(c.store.max_series_bytes) + ")");
  }
  // With a list of apps, every listed app must be able to reach its own caps whatever the others
  // do: then the service-wide caps can never lock one of them out.
  if (const auto apps = c.store.allowed_app_ids.size(); apps > 0) {
    if (apps * c.store.max_series_per_app > c.store.max_series) {
      r.errors.push_back(
          "ALLOWED_APP_IDS lists " + std::to_string(apps) + " apps: apps x MAX_SERIES_PER_APP (" +
          std::to_string(apps * c.store.max_series_per_app) + ") must not exceed MAX_SERIES (" +
          std::to_string(c.store.max_series) + ")");
    }
    if (apps * c.store.max_series_bytes_per_app > c.store.max_series_bytes) {
      r.errors.push_back("ALLOWED_APP_IDS lists " + std::to_string(apps) +
                         " apps: apps x MAX_SERIES_BYTES_PER_APP (" +
                         std::to_string(apps * c.store.max_series_bytes_per_app) +
                         ") must not exceed MAX_SERIES_BYTES (" +
                         std::to_string(c.store.max_series_bytes) + ")");
    }
  }
  // Every full batch would need more room than the log has: 503 forever, never a 200.
  if (c.embedded_transport() && c.embedded.log_capacity < c.ingest.max_batch_metrics) {
    r.errors.push_back("EMBEDDED_LOG_CAPACITY (" + std::to_string(c.embedded.log_capacity) +
                       ") must be at least MAX_BATCH_METRICS (" +
                       std::to_string(c.ingest.max_batch_metrics) +
                       "): a full batch could never be accepted");
  }
  if (c.kafka.topic.empty()) r.errors.push_back("KAFKA_TOPIC: must not be empty");
  if (!c.embedded_transport()) {
    for (auto& e : kafka_settings_errors(to_kafka_settings(c))) r.errors.push_back(std::move(e));
  }
  if (c.kafka.consumer_group.empty()) r.errors.push_back("KAFKA_CONSUMER_GROUP: must not be empty");
  if (c.kafka.heartbeat_interval_ms * 3 > c.kafka.session_timeout_ms)
    r.errors.push_back(
        "KAFKA_HEARTBEAT_INTERVAL_MS: must be at most a third of KAFKA_SESSION_TIMEOUT_MS");
  if (!c.kafka.dlq_topic.empty() && c.kafka.dlq_topic == c.kafka.topic)
    r.errors.push_back("KAFKA_DLQ_TOPIC: must differ from KAFKA_TOPIC");
  if (c.kafka.changelog_topic == c.kafka.topic || c.kafka.changelog_topic == c.kafka.dlq_topic)
    r.errors.push_back("KAFKA_CHANGELOG_TOPIC: must differ from KAFKA_TOPIC and KAFKA_DLQ_TOPIC");
  if (!valid_topic_name(c.kafka.changelog_topic))
    r.errors.push_back("KAFKA_CHANGELOG_TOPIC: " + c.kafka.changelog_topic +
                       " is not a Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -, not . or ..)");
  return r;
}

kafka_settings to_kafka_settings(const config& c) {
  kafka_settings k;
  k.bootstrap_servers = c.kafka.bootstrap_servers;
  k.security_protocol = c.kafka.security_protocol;
  k.sasl_mechanism = c.kafka.sasl_mechanism;
  k.service_name = c.kafka.service_name;
  k.kerberos_keytab = c.kafka.kerberos_keytab;
  k.kerberos_principal = c.kafka.kerberos_principal;
  if (!c.kafka.kerberos_kinit_cmd.empty()) k.kerberos_kinit_cmd = c.kafka.kerberos_kinit_cmd;
  k.sasl_username = c.kafka.sasl_username;
  k.sasl_password = c.kafka.sasl_password;
  k.ssl_ca_location = c.kafka.ssl_ca_location;
  k.ssl_certificate_location = c.kafka.ssl_certificate_location;
  k.ssl_key_location = c.kafka.ssl_key_location;
  k.ssl_key_password = c.kafka.ssl_key_password;
  if (!c.kafka.ssl_endpoint_identification.empty()) {
    k.ssl_endpoint_identification = c.kafka.ssl_endpoint_identification;
  }
  k.passthrough = c.kafka.passthrough;
  return k;
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
  for (const auto& f : fields()) {
    out += "  " + std::string(f.name) + " (default: " + (*f.fallback ? f.fallback : "unset") +
           ")\n      " + f.description + "\n";
  }
  return out;
}

}  // namespace mca::config
