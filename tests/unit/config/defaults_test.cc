// Each setting's default is declared once: the initialiser of the member it sets. The modules'
// option structs are sections of the config tree, so what --help and --print-config call the
// default is the module's own default, and a module started without the config gets the same
// limits as the service.
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <type_traits>

#include "api/access.h"
#include "api/routes.h"
#include "config/config.h"
#include "exposition/text_format.h"
#include "http/server.h"
#include "model/metric.h"
#include "registry/confluent.h"
#include "store/series_store.h"
#include "transport/kafka/kafka_transport.h"

namespace mca::config {
namespace {

static_assert(std::is_base_of_v<http::server_options, config::http_settings>);
static_assert(std::is_same_v<decltype(config::ingest), model::limits>);
static_assert(std::is_same_v<decltype(config::routes), api::route_options>);
static_assert(std::is_base_of_v<api::access_limits, config::access_settings>);
static_assert(std::is_base_of_v<registry::confluent_options, config::registry_settings>);
static_assert(std::is_same_v<decltype(config::exposition), exposition::render_options>);
static_assert(std::is_base_of_v<store::store_limits, config::store_settings>);
static_assert(std::is_base_of_v<kafka_settings, config::kafka_section>);
static_assert(
    std::is_same_v<decltype(config::kafka_section::producer), transport::kafka::producer_options>);
static_assert(
    std::is_same_v<decltype(config::kafka_section::consumer), transport::kafka::consumer_options>);

// NAME -> default, as --help lists them ("  NAME (default: X)"; "unset" = empty).
std::map<std::string, std::string> help_defaults() {
  std::map<std::string, std::string> out;
  std::istringstream in(usage());
  std::string line;
  while (std::getline(in, line)) {
    const auto open = line.find(" (default: ");
    if (line.rfind("  ", 0) != 0 || line[2] == ' ' || open == std::string::npos) continue;
    std::string value = line.substr(open + 11, line.size() - open - 12);
    out[line.substr(2, open - 2)] = value == "unset" ? "" : value;
  }
  return out;
}

// NAME -> value, as --print-config prints them.
std::map<std::string, std::string> printed(const config& c) {
  std::map<std::string, std::string> out;
  std::istringstream in(describe(c));
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

TEST(config_defaults, help_shows_the_module_structs_own_defaults) {
  const auto help = help_defaults();
  const http::server_options server;
  const model::limits metric;
  const store::store_limits store;
  const kafka_settings kafka;
  const transport::kafka::producer_options producer;
  const transport::kafka::consumer_options consumer;
  const api::route_options routes;
  const api::access_limits access;
  const registry::confluent_options registry;
  const exposition::render_options exposition;
  const std::map<std::string, std::string> modules = {
      {"HOST", server.host},
      {"PORT", std::to_string(server.port)},
      {"HTTP_THREADS", std::to_string(server.threads)},
      {"MAX_BODY_BYTES", std::to_string(server.max_body_bytes)},
      {"HTTP_READ_TIMEOUT_MS", std::to_string(server.read_timeout.count())},
      {"HTTP_IDLE_TIMEOUT_MS", std::to_string(server.idle_timeout.count())},
      {"HTTP_WRITE_TIMEOUT_MS", std::to_string(server.write_timeout.count())},
      {"MAX_CONNECTIONS", std::to_string(server.max_connections)},
      {"MAX_NAME_BYTES", std::to_string(metric.max_name_bytes)},
      {"MAX_TAGS", std::to_string(metric.max_tags)},
      {"MAX_TAG_KEY_BYTES", std::to_string(metric.max_tag_key_bytes)},
      {"MAX_TAG_VALUE_BYTES", std::to_string(metric.max_tag_value_bytes)},
      {"MAX_PROFILE_ID_BYTES", std::to_string(metric.max_profile_id_bytes)},
      {"MAX_FUTURE_SKEW_SECONDS",
       std::to_string(
           std::chrono::duration_cast<std::chrono::seconds>(metric.max_future_skew).count())},
      {"MAX_SERIES", std::to_string(store.max_series)},
      {"MAX_SERIES_PER_APP", std::to_string(store.max_series_per_app)},
      {"METRIC_TTL_SECONDS", std::to_string(store.ttl_ms / 1000)},
      {"KAFKA_SERVICE_NAME", kafka.service_name},
      {"DELIVERY_TIMEOUT_MS", std::to_string(producer.delivery_timeout.count())},
      {"KAFKA_COMPRESSION", producer.compression},
      {"KAFKA_LINGER_MS", std::to_string(static_cast<int>(producer.linger.count()))},
      {"KAFKA_CONSUMER_GROUP", consumer.group_id},
      {"KAFKA_GROUP_INSTANCE_ID", consumer.group_instance_id},
      {"KAFKA_SESSION_TIMEOUT_MS", std::to_string(consumer.session_timeout.count())},
      {"KAFKA_HEARTBEAT_INTERVAL_MS", std::to_string(consumer.heartbeat_interval.count())},
      {"KAFKA_LEAVE_GROUP_ON_SHUTDOWN", consumer.leave_group_on_stop ? "true" : "false"},
      {"KAFKA_DLQ_TOPIC", consumer.dlq_topic},
      {"AGGREGATE_SNAPSHOT_INTERVAL_MS", std::to_string(consumer.snapshot_interval.count())},
      {"MAX_BATCH_METRICS", std::to_string(routes.max_batch_metrics)},
      {"RETRY_AFTER_SECONDS", std::to_string(routes.retry_after.count())},
      {"ALLOWED_APP_IDS", ""},
      {"RATE_LIMIT_PER_CLIENT", std::to_string(static_cast<int>(access.per_client_rate))},
      {"RATE_LIMIT_PER_APP", std::to_string(static_cast<int>(access.per_app_rate))},
      {"RATE_LIMIT_TABLE_SIZE", std::to_string(access.table_size)},
      {"SCHEMA_REGISTRY_URL", registry.url},
      {"SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", registry.basic_auth_user_info},
      {"SCHEMA_REGISTRY_AUTO_REGISTER", registry.auto_register ? "true" : "false"},
      {"SCHEMA_REGISTRY_SSL_CA_LOCATION", registry.ca_location},
      {"EXPOSITION_APP_ID_LABEL", exposition.app_id_label ? "true" : "false"},
  };
  ASSERT_TRUE(routes.allowed_app_ids.empty());
  for (const auto& [name, value] : modules) {
    ASSERT_TRUE(help.count(name)) << name << " is not in --help";
    EXPECT_EQ(help.at(name), value) << name;
  }
}

TEST(config_defaults, help_and_print_config_agree_on_every_default) {
  // What --help calls the default is what an empty environment loads (development aside, and
  // the changelog topic, which is derived from KAFKA_TOPIC when unset).
  const auto help = help_defaults();
  auto loaded = load({}, {"--env-file=/dev/null"});
  ASSERT_TRUE(loaded.errors.empty());
  const auto values = printed(loaded.cfg);
  ASSERT_EQ(help.size(), values.size());
  for (const auto& [name, value] : values) {
    ASSERT_TRUE(help.count(name)) << name << " is printed but not in --help";
    if (name == "KAFKA_CHANGELOG_TOPIC") {
      EXPECT_EQ(help.at(name), "");
      EXPECT_EQ(value, "client-metrics-aggregates");
    } else {
      EXPECT_EQ(help.at(name), value) << name;
    }
  }
}

TEST(config_defaults, the_module_sections_are_handed_on_with_their_settings) {
  auto r = load({{"MAX_FUTURE_SKEW_SECONDS", "60"},
                 {"METRIC_TTL_SECONDS", "30"},
                 {"HTTP_READ_TIMEOUT_MS", "2500"},
                 {"TLS_CERT_FILE", "c.pem"},
                 {"TLS_KEY_FILE", "k.pem"},
                 {"KAFKA_SASL_KERBEROS_KINIT_CMD", ""},
                 {"HISTOGRAM_DEFAULT_BUCKETS", "1,2"},
                 {"MAX_BATCH_METRICS", "5"},
                 {"RETRY_AFTER_SECONDS", "7"},
                 {"ALLOWED_APP_IDS", "web,shop"},
                 {"RATE_LIMIT_PER_CLIENT", "20"},
                 {"RATE_LIMIT_PER_APP", "300"},
                 {"RATE_LIMIT_TABLE_SIZE", "64"},
                 {"EXPOSITION_APP_ID_LABEL", "false"}},
                {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  const model::limits& metric = r.cfg.ingest;
  EXPECT_EQ(metric.max_future_skew, std::chrono::seconds(60));
  const store::store_limits& store = r.cfg.store;
  EXPECT_EQ(store.ttl_ms, 30'000);
  EXPECT_EQ(store.buckets.default_layout(), (std::vector<double>{1, 2}));
  const http::server_options& server = r.cfg.http;
  EXPECT_EQ(server.read_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(server.tls.cert_file, "c.pem");
  EXPECT_TRUE(server.tls.enabled());
  const kafka_settings& kafka = r.cfg.kafka;
  EXPECT_FALSE(kafka.kerberos_kinit_cmd.has_value()) << "empty text leaves it unset";
  const api::route_options& routes = r.cfg.routes;
  EXPECT_EQ(routes.max_batch_metrics, 5u);
  EXPECT_EQ(routes.retry_after, std::chrono::seconds(7));
  EXPECT_EQ(routes.allowed_app_ids, (std::vector<std::string>{"web", "shop"}));
  const api::access_limits& access = r.cfg.access;
  EXPECT_EQ(access.per_client_rate, 20.0);
  EXPECT_EQ(access.per_app_rate, 300.0);
  EXPECT_EQ(access.table_size, 64u);
  const exposition::render_options& rendering = r.cfg.exposition;
  EXPECT_FALSE(rendering.app_id_label);
  EXPECT_EQ(printed(r.cfg).at("RETRY_AFTER_SECONDS"), "7");
  EXPECT_EQ(printed(r.cfg).at("RATE_LIMIT_PER_CLIENT"), "20");
  EXPECT_EQ(printed(r.cfg).at("MAX_FUTURE_SKEW_SECONDS"), "60");
  EXPECT_EQ(printed(r.cfg).at("METRIC_TTL_SECONDS"), "30");
}

// The Kafka clients get what the settings say, with nothing filled in a second time: the consumer
// starts at the store's TTL (METRIC_TTL_SECONDS), whose default lives in store_limits only.
TEST(config_defaults, the_kafka_clients_take_the_ttl_topic_and_properties_from_the_settings) {
  auto defaults = load({{"KAFKA_BOOTSTRAP_SERVERS", "b:9092"}}, {"--env-file=/dev/null"});
  ASSERT_TRUE(defaults.errors.empty()) << defaults.errors.front();
  auto clients = make_kafka_clients(defaults.cfg);
  ASSERT_TRUE(clients) << clients.error().message;
  EXPECT_EQ(std::chrono::milliseconds(clients->consumer.ttl).count(), store::store_limits{}.ttl_ms);

  auto r = load({{"KAFKA_BOOTSTRAP_SERVERS", "b:9092"},
                 {"METRIC_TTL_SECONDS", "42"},
                 {"KAFKA_TOPIC", "t"},
                 {"DELIVERY_TIMEOUT_MS", "2500"},
                 {"KAFKA_LINGER_MS", "0.5"},
                 {"KAFKA_COMPRESSION", "lz4"},
                 {"KAFKA_SESSION_TIMEOUT_MS", "9000"}},
                {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  clients = make_kafka_clients(r.cfg);
  ASSERT_TRUE(clients) << clients.error().message;
  const auto& [producer, consumer] = *clients;
  EXPECT_EQ(consumer.ttl, std::chrono::seconds(42));
  EXPECT_EQ(consumer.topic, "t");
  EXPECT_EQ(producer.topic, "t");
  EXPECT_EQ(consumer.changelog_topic, "t-aggregates");
  EXPECT_EQ(consumer.session_timeout, std::chrono::milliseconds(9000));
  EXPECT_EQ(producer.delivery_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(producer.linger.count(), 0.5);
  EXPECT_EQ(producer.compression, "lz4");
  const std::vector<kafka_property> properties = {{"bootstrap.servers", "b:9092"}};
  EXPECT_EQ(producer.properties, properties);
  EXPECT_EQ(consumer.properties, properties);
}

// KAFKA_TOPIC is one setting with one default: the transport's option structs declare none, so
// the producer (what the ingest path writes) and the consumer (what feeds the store) cannot
// disagree when the setting is left unset, and the registry subject and the changelog topic are
// derived from the same one.
TEST(config_defaults, the_producer_and_the_consumer_take_the_one_topic_default) {
  EXPECT_EQ(transport::kafka::producer_options{}.topic, "");
  EXPECT_EQ(transport::kafka::consumer_options{}.topic, "");
  auto r = load({{"KAFKA_BOOTSTRAP_SERVERS", "b:9092"}, {"SCHEMA_REGISTRY_URL", "http://r"}},
                {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_EQ(r.cfg.kafka.producer.topic, "") << "the section holds no second topic";
  EXPECT_EQ(r.cfg.kafka.consumer.topic, "") << "the section holds no second topic";
  const std::string topic = help_defaults().at("KAFKA_TOPIC");
  EXPECT_EQ(topic, "client-metrics");
  EXPECT_EQ(printed(r.cfg).at("KAFKA_TOPIC"), topic);
  const auto clients = make_kafka_clients(r.cfg);
  ASSERT_TRUE(clients) << clients.error().message;
  EXPECT_EQ(clients->producer.topic, topic);
  EXPECT_EQ(clients->consumer.topic, topic);
  EXPECT_EQ(clients->consumer.changelog_topic, topic + "-aggregates");
  EXPECT_EQ(registry_options(r.cfg, {}, {}).subject, topic + "-value");
}

// The registry client gets the registry section as is (its defaults are confluent_options'), and
// the subject of the topic's values.
TEST(config_defaults, the_registry_client_takes_its_section_and_the_topics_subject) {
  auto r = load({{"KAFKA_BOOTSTRAP_SERVERS", "b:9092"},
                 {"KAFKA_TOPIC", "t"},
                 {"SCHEMA_REGISTRY_URL", "https://r:8081/prefix"},
                 {"SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "u:p"},
                 {"SCHEMA_REGISTRY_AUTO_REGISTER", "false"},
                 {"SCHEMA_REGISTRY_SSL_CA_LOCATION", "ca.pem"}},
                {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  auto v1 = avro::schema::load_metric_schema(r.cfg.registry.schema_file);
  auto v2 = avro::schema::load_typed_metric_schema(r.cfg.registry.schema_v2_file);
  ASSERT_TRUE(v1 && v2);
  const auto o = registry_options(r.cfg, *v1, *v2);
  EXPECT_EQ(o.url, "https://r:8081/prefix");
  EXPECT_EQ(o.basic_auth_user_info, "u:p");
  EXPECT_FALSE(o.auto_register);
  EXPECT_EQ(o.ca_location, "ca.pem");
  EXPECT_EQ(o.subject, "t-value");
  EXPECT_EQ(o.schema.text(), v1->text());
  EXPECT_EQ(o.typed_schema.text(), v2->text());
  const registry::confluent_options defaults;
  EXPECT_EQ(o.request_timeout, defaults.request_timeout);
  EXPECT_EQ(o.retry_max, defaults.retry_max);
  EXPECT_EQ(printed(r.cfg).at("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"), "****");
}

TEST(config_defaults, the_kafka_clients_are_not_built_from_invalid_settings) {
  config c;
  c.kafka.bootstrap_servers = "b:9092";
  c.kafka.security_protocol = "SASL_SSL";
  c.kafka.sasl_mechanism = "PLAIN";
  const auto clients = make_kafka_clients(c);
  ASSERT_FALSE(clients);
  EXPECT_EQ(clients.error().code, kafka_properties_errc::invalid_settings);
}

}  // namespace
}  // namespace mca::config
