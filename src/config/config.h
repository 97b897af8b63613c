// The service's configuration: one struct tree, filled from defaults, a `.env` file, the real
// environment (which wins over `.env`) and command-line flags (which win over both).
//
// Every setting is declared once. Its default is the initialiser of the member it sets: the
// modules' own option structs (http::server_options, model::limits, api::route_options,
// api::access_limits, store::store_limits, exposition::render_options, config::kafka_settings,
// the Kafka producer's and consumer's options, registry::confluent_options) are sections of this
// tree, so their defaults are the service's, and wiring hands a section to its module as is;
// what a module takes from more than one setting is derived here, in one function each
// (make_kafka_clients, registry_options). Its variable name, parser and bounds, description and
// secret flag are config.cc's field table, which binds the name to the member; --help,
// --print-config and the README's tables are derived from that table.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/access.h"
#include "api/routes.h"
#include "avro/metric_codec.h"
#include "config/kafka_properties.h"
#include "exposition/text_format.h"
#include "http/server.h"
#include "model/metric.h"
#include "registry/confluent.h"
#include "store/series_store.h"
#include "transport/kafka/kafka_transport.h"
#include "util/result.h"

namespace mca::config {

enum class environment { production, development };
enum class log_format { json, text };

struct config {
  environment app_env = environment::production;
  std::string log_level = "info";         // trace|debug|info|warn|error (development: debug)
  log_format log_fmt = log_format::json;  // development: text

  // The server's options (host, port, threads, body and time limits, TLS files, CORS origins);
  // wiring adds the callbacks and what it derives (handler timeout, connection cap).
  struct http_settings : http::server_options {
    std::int64_t shutdown_timeout_ms = 10'000;
  } http;

  // Access control's rate limits (api::access_limits); API_KEYS_FILE and TRUSTED_PROXIES are
  // what wiring opens and parses into api::access_options.
  struct access_settings : api::access_limits {
    std::string api_keys_file;                 // empty = no keys: every route open
    std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For is believed
  } access;

  // What a metric may be.
  model::limits ingest;

  // What the API's routes take from the settings (batch size, Retry-After, the apps served).
  api::route_options routes;

  // The store's caps and TTL (store::store_limits; its bucket layouts are built from the two
  // HISTOGRAM_* settings once they are read), and the admission's byte budgets.
  struct store_settings : store::store_limits {
    std::size_t max_series_bytes_per_app = 16 << 20;      // weight of an app's series (admission)
    std::size_t max_series_bytes = std::size_t{1} << 30;  // weight of all series (admission)
    // HISTOGRAM_BUCKETS: per metric name, the upper bounds of its histogram buckets (the
    // built-in web-vitals layouts apply to names not listed here).
    std::vector<std::pair<std::string, std::vector<double>>> histogram_buckets;
    // HISTOGRAM_DEFAULT_BUCKETS: every other histogram's bounds; empty = Prometheus' defaults.
    std::vector<double> histogram_default_buckets;
  } store;

  // The connection and security settings as the property mapping takes them
  // (config::kafka_settings), the topic, and the producer's and the consumer's options as the
  // transport declares them: each KAFKA_* setting binds to the member it sets, so its default is
  // the transport's. What they take from elsewhere -- the librdkafka properties, the topic (one
  // setting, KAFKA_TOPIC, for both: the transport declares no default of its own), the
  // consumer's TTL (METRIC_TTL_SECONDS) -- is filled in by make_kafka_clients(), the one place
  // that builds them; load() fills in the changelog topic (<topic>-aggregates) when unset.
  struct kafka_section : kafka_settings {
    std::string topic = "client-metrics";  // produced to and consumed from
    transport::kafka::producer_options producer;
    transport::kafka::consumer_options consumer;
  } kafka;

  // How the client series are rendered on /prometheus-metrics (the app_id label).
  exposition::render_options exposition;

  // The Schema Registry client's options (registry::confluent_options: URL, credentials,
  // auto-register, CA) and the schema files; registry_options() adds the subject and the schemas.
  struct registry_settings : registry::confluent_options {  // url empty = embedded registry
    std::string schema_file = MCA_DEFAULT_SCHEMA_FILE;  // bundled schemas/metric.avsc (v1, gauges)
    // The bundled schemas/metric.v2.avsc (counters, histograms).
    std::string schema_v2_file = MCA_DEFAULT_SCHEMA_V2_FILE;
  } registry;

  struct embedded_settings {
    std::size_t log_capacity = 100'000;  // records held and not yet consumed
  } embedded;

  bool embedded_transport() const { return kafka.bootstrap_servers.empty(); }
  bool embedded_registry() const { return registry.url.empty(); }
};

// The Kafka producer's and consumer's options for `c`: the kafka section's, with the librdkafka
// properties of its connection settings, the one topic (KAFKA_TOPIC) on both, and the
// consumer's TTL the store's (METRIC_TTL_SECONDS). Fails (kafka_properties_errc) on settings
// kafka_settings_errors rejects; load() has already reported those.
struct kafka_clients {
  transport::kafka::producer_options producer;
  transport::kafka::consumer_options consumer;
};
util::result<kafka_clients> make_kafka_clients(const config& c);

// The Confluent registry client's options for `c`: the registry section's, with the subject of
// the topic's values (<KAFKA_TOPIC>-value, TopicNameStrategy) and the two schemas.
registry::confluent_options registry_options(const config& c, avro::schema schema,
                                             avro::schema typed_schema);

// What the command line asked for besides settings.
struct command {
  bool print_config = false;
  bool list_routes = false;
  bool help = false;
};

struct load_result {
  config cfg;
  command cmd;
  std::vector<std::string> errors;  // every problem found; empty = valid
  // Variables of the .env file that libraries read from the process environment themselves
  // (KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME, ...: Kerberos) and that the real environment does not
  // set. main() exports them before any thread starts.
  std::map<std::string, std::string> exports;
};

// Loads from `env` (the process environment as a map), the `.env` file (the --env-file flag, else
// ./.env when it exists) and `args` (argv without the program name).
load_result load(const std::map<std::string, std::string>& env,
                 const std::vector<std::string>& args);

// The process environment as a map.
std::map<std::string, std::string> process_environment();

// KEY=VALUE lines of the effective configuration, secrets masked, for --print-config.
std::string describe(const config& c);

// The table of settings (name, default, description) for --help and the README; the default is
// the value of the member in a default-constructed config.
std::string usage();

// Parses a .env file's text: KEY=VALUE lines, `#` comments, optional `export `, single or double
// quotes (double quotes understand \n, \" and \\). Returns errors with line numbers.
std::map<std::string, std::string> parse_dotenv(const std::string& text,
                                                std::vector<std::string>& errors);

}  // namespace mca::config
