// Each setting's default is declared once: the initialiser of the member it sets. The modules'
// option structs are sections of the config tree, so what --help and --print-config call the
// default is the module's own default, and a module started without the config gets the same
// limits as the service.
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <type_traits>

#include "config/config.h"
#include "http/server.h"
#include "model/metric.h"
#include "store/series_store.h"
#include "transport/kafka/kafka_transport.h"

namespace mca::config {
namespace {

static_assert(std::is_base_of_v<http::server_options, config::http_settings>);
static_assert(std::is_base_of_v<model::limits, config::ingest_settings>);
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
      {"KAFKA_TOPIC", consumer.topic},
      {"KAFKA_CONSUMER_GROUP", consumer.group_id},
      {"KAFKA_GROUP_INSTANCE_ID", consumer.group_instance_id},
      {"KAFKA_SESSION_TIMEOUT_MS", std::to_string(consumer.session_timeout.count())},
      {"KAFKA_HEARTBEAT_INTERVAL_MS", std::to_string(consumer.heartbeat_interval.count())},
      {"KAFKA_LEAVE_GROUP_ON_SHUTDOWN", consumer.leave_group_on_stop ? "true" : "false"},
      {"KAFKA_DLQ_TOPIC", consumer.dlq_topic},
      {"AGGREGATE_SNAPSHOT_INTERVAL_MS", std::to_string(consumer.snapshot_interval.count())},
  };
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
                 {"HISTOGRAM_DEFAULT_BUCKETS", "1,2"}},
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
  EXPECT_EQ(clients->producer.topic, transport::kafka::consumer_options{}.topic);

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
