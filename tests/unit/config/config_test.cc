#include "config/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace mca::config {
namespace {

bool has_error_mentioning(const load_result& r, const std::string& needle) {
  return std::any_of(r.errors.begin(), r.errors.end(),
                     [&](const std::string& e) { return e.find(needle) != std::string::npos; });
}

TEST(config, defaults_match_the_documented_values) {
  auto r = load({}, {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.cfg.http.port, 5000);
  EXPECT_EQ(r.cfg.http.max_body_bytes, 1u << 20);
  EXPECT_EQ(r.cfg.routes.max_batch_metrics, 1000u);
  EXPECT_EQ(r.cfg.ingest.max_name_bytes, 200u);
  EXPECT_EQ(r.cfg.ingest.max_tags, 32u);
  EXPECT_EQ(r.cfg.ingest.max_tag_key_bytes, 100u);
  EXPECT_EQ(r.cfg.ingest.max_tag_value_bytes, 1024u);
  EXPECT_EQ(r.cfg.store.ttl_ms, 900'000);
  EXPECT_EQ(r.cfg.kafka.topic, "client-metrics");
  EXPECT_EQ(r.cfg.kafka.consumer.group_id, "metrics-collection-api");
  EXPECT_TRUE(r.cfg.embedded_transport());
  EXPECT_TRUE(r.cfg.embedded_registry());
  EXPECT_EQ(r.cfg.app_env, environment::production);
  EXPECT_EQ(r.cfg.log_fmt, log_format::json);
}

TEST(config, lists_every_invalid_setting_not_just_the_first) {
  auto r = load({{"PORT", "70000"},
                 {"MAX_TAGS", "x"},
                 {"APP_ENV", "qa"},
                 {"EXPOSITION_APP_ID_LABEL", "maybe"}},
                {"--env-file=/dev/null"});
  EXPECT_EQ(r.errors.size(), 4u);
  EXPECT_TRUE(has_error_mentioning(r, "PORT"));
  EXPECT_TRUE(has_error_mentioning(r, "MAX_TAGS"));
  EXPECT_TRUE(has_error_mentioning(r, "APP_ENV"));
  EXPECT_TRUE(has_error_mentioning(r, "EXPOSITION_APP_ID_LABEL"));
}

TEST(config, flask_env_development_switches_to_text_logs_at_debug) {
  auto r = load({{"FLASK_ENV", "development"}}, {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.cfg.app_env, environment::development);
  EXPECT_EQ(r.cfg.log_level, "debug");
  EXPECT_EQ(r.cfg.log_fmt, log_format::text);
}

TEST(config, app_env_wins_over_flask_env_and_explicit_log_settings_win_over_the_mode) {
  auto r =
      load({{"FLASK_ENV", "development"}, {"APP_ENV", "production"}}, {"--env-file=/dev/null"});
  EXPECT_EQ(r.cfg.app_env, environment::production);
  r = load({{"APP_ENV", "development"}, {"LOG_FORMAT", "json"}}, {"--env-file=/dev/null"});
  EXPECT_EQ(r.cfg.log_fmt, log_format::json);
}

TEST(config, real_environment_wins_over_dotenv_and_flags_win_over_both) {
  const std::string path = ::testing::TempDir() + "/config_test.env";
  {
    std::ofstream f(path);
    f << "PORT=6000\nKAFKA_TOPIC=dot\nMAX_TAGS=5\n";
  }
  auto r = load({{"KAFKA_TOPIC", "env"}}, {"--env-file", path, "--port", "7000"});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_EQ(r.cfg.http.port, 7000);
  EXPECT_EQ(r.cfg.kafka.topic, "env");
  EXPECT_EQ(r.cfg.ingest.max_tags, 5u);
  std::remove(path.c_str());
}

TEST(config, missing_env_file_given_by_flag_is_an_error) {
  auto r = load({}, {"--env-file", "/nonexistent/x.env"});
  EXPECT_TRUE(has_error_mentioning(r, "--env-file"));
}

TEST(config, dotenv_understands_comments_export_and_quotes) {
  std::vector<std::string> errors;
  auto m = parse_dotenv("# c\nexport A=1\nB=\"two words\\n\"\nC='x # y'\nD=plain # note\nbroken\n",
                        errors);
  EXPECT_EQ(m["A"], "1");
  EXPECT_EQ(m["B"], "two words\n");
  EXPECT_EQ(m["C"], "x # y");
  EXPECT_EQ(m["D"], "plain");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("line 6"), std::string::npos);
}

TEST(config, kafka_property_passthrough_lowercases_and_dots) {
  auto r = load({{"KAFKA_PROPERTY_SOCKET_KEEPALIVE_ENABLE", "true"}}, {"--env-file=/dev/null"});
  ASSERT_EQ(r.cfg.kafka.passthrough.size(), 1u);
  EXPECT_EQ(r.cfg.kafka.passthrough[0].first, "socket.keepalive.enable");
  EXPECT_EQ(r.cfg.kafka.passthrough[0].second, "true");
}

TEST(config, describe_masks_every_secret) {
  auto r = load({{"KAFKA_SASL_PASSWORD", "hunter2"},
                 {"KAFKA_SSL_KEY_PASSWORD", "k3y"},
                 {"SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "u:p4ss"},
                 {"KAFKA_PROPERTY_SASL_OAUTHBEARER_CLIENT_SECRET", "s3cret"}},
                {"--env-file=/dev/null"});
  const auto text = describe(r.cfg);
  for (const char* secret : {"hunter2", "k3y", "p4ss", "s3cret"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(text.find("KAFKA_SASL_PASSWORD=****"), std::string::npos);
  EXPECT_NE(text.find("KAFKA_SSL_KEY_PASSWORD=****"), std::string::npos);
}

TEST(config, describe_masks_url_user_info_and_settings_named_like_keys) {
  auto r = load({{"KAFKA_BOOTSTRAP_SERVERS", "broker:9092"},
                 {"SCHEMA_REGISTRY_URL", "https://user:pw@registry.example:8081/base"},
                 {"KAFKA_PROPERTY_SSL_KEY_PEM", "-----BEGIN PRIVATE KEY-----abc"},
                 {"KAFKA_PROPERTY_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL", "https://t.example/x"}},
                {"--env-file=/dev/null"});
  const auto text = describe(r.cfg);
  EXPECT_EQ(text.find("user:pw"), std::string::npos) << text;
  EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos) << text;
  EXPECT_NE(text.find("SCHEMA_REGISTRY_URL=https://****@registry.example:8081/base"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("KAFKA_PROPERTY_SSL_KEY_PEM=****"), std::string::npos) << text;
  EXPECT_NE(text.find("KAFKA_PROPERTY_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL=****"), std::string::npos)
      << text;
  // Numbers are never secrets, whatever their name says.
  EXPECT_NE(text.find("MAX_TAG_KEY_BYTES=100"), std::string::npos) << text;
}

TEST(config, embedded_log_smaller_than_a_full_batch_is_an_error) {
  auto r = load({{"EMBEDDED_LOG_CAPACITY", "999"}, {"MAX_BATCH_METRICS", "1000"}},
                {"--env-file=/dev/null"});
  EXPECT_TRUE(has_error_mentioning(r,
                                   "EMBEDDED_LOG_CAPACITY (999) must be at least "
                                   "MAX_BATCH_METRICS (1000)"));
  r = load({{"EMBEDDED_LOG_CAPACITY", "1000"}, {"MAX_BATCH_METRICS", "1000"}},
           {"--env-file=/dev/null"});
  EXPECT_TRUE(r.errors.empty());
}

TEST(config, cors_origins_are_parsed_and_checked) {
  auto r = load({{"CORS_ALLOWED_ORIGINS", "http://a.example, https://b.example:8443/"}},
                {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.cfg.http.cors_allowed_origins,
            (std::vector<std::string>{"http://a.example", "https://b.example:8443"}));
  r = load({{"CORS_ALLOWED_ORIGINS", "a.example"}}, {"--env-file=/dev/null"});
  EXPECT_TRUE(has_error_mentioning(r, "CORS_ALLOWED_ORIGINS"));
}

TEST(config, per_app_cap_above_global_cap_is_rejected) {
  auto r = load({{"MAX_SERIES", "10"}, {"MAX_SERIES_PER_APP", "11"}}, {"--env-file=/dev/null"});
  EXPECT_TRUE(has_error_mentioning(r, "MAX_SERIES_PER_APP"));
}

TEST(config, registry_without_kafka_is_rejected) {
  auto r = load({{"SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081"}}, {"--env-file=/dev/null"});
  EXPECT_TRUE(has_error_mentioning(r, "SCHEMA_REGISTRY_URL"));
}

TEST(config, unknown_flags_and_set_names_are_errors) {
  auto r = load({}, {"--env-file=/dev/null", "--bogus", "--set", "NOPE=1"});
  EXPECT_TRUE(has_error_mentioning(r, "--bogus"));
  EXPECT_TRUE(has_error_mentioning(r, "NOPE"));
  r = load({}, {"--env-file=/dev/null", "--set", "MAX_TAGS=3"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.cfg.ingest.max_tags, 3u);
}

}  // namespace
}  // namespace mca::config

namespace mca::config {
namespace {

TEST(config, kafka_security_problems_are_listed_at_load) {
  auto r = load({{"KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"},
                 {"KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
                 {"KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"}},
                {"--env-file=/dev/null"});
  EXPECT_TRUE(has_error_mentioning(r, "KAFKA_SASL_USERNAME"));
  r = load({{"KAFKA_SECURITY_PROTOCOL", "NONSENSE"}}, {"--env-file=/dev/null"});
  EXPECT_TRUE(r.errors.empty()) << "security settings only matter when Kafka is configured";
}

TEST(config, kafka_settings_carry_every_security_variable) {
  auto r = load({{"KAFKA_BOOTSTRAP_SERVERS", "b:9093"},
                 {"KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"},
                 {"KAFKA_SASL_MECHANISM", "GSSAPI"},
                 {"KAFKA_SERVICE_NAME", "kafka"},
                 {"KAFKA_SASL_KERBEROS_KEYTAB", "/k.keytab"},
                 {"KAFKA_SASL_KERBEROS_PRINCIPAL", "metrics@TEST.LOCAL"}},
                {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  auto props = kafka_properties(r.cfg.kafka);
  ASSERT_TRUE(props);
  auto has = [&](const std::string& k, const std::string& v) {
    return std::find(props->begin(), props->end(), kafka_property{k, v}) != props->end();
  };
  EXPECT_TRUE(has("bootstrap.servers", "b:9093"));
  EXPECT_TRUE(has("security.protocol", "sasl_plaintext"));
  EXPECT_TRUE(has("sasl.mechanisms", "GSSAPI"));
  EXPECT_TRUE(has("sasl.kerberos.keytab", "/k.keytab"));
  EXPECT_TRUE(has("sasl.kerberos.principal", "metrics@TEST.LOCAL"));
}

}  // namespace
}  // namespace mca::config

namespace mca::config {
namespace {

TEST(config, kerberos_variables_of_the_dotenv_file_are_exported_unless_already_set) {
  const std::string path = ::testing::TempDir() + "/krb.env";
  {
    std::ofstream f(path);
    f << "KRB5_CONFIG=/etc/krb5-test.conf\nKRB5CCNAME=FILE:/tmp/cc\nKAFKA_TOPIC=t\n";
  }
  auto r = load({{"KRB5CCNAME", "FILE:/real"}}, {"--env-file", path});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.exports,
            (std::map<std::string, std::string>{{"KRB5_CONFIG", "/etc/krb5-test.conf"}}));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mca::config

namespace mca::config {
namespace {

TEST(config_failover, defaults_fail_over_in_seconds_with_dynamic_membership_and_no_dead_letters) {
  auto r = load({}, {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.cfg.kafka.consumer.session_timeout, std::chrono::milliseconds(6000));
  EXPECT_EQ(r.cfg.kafka.consumer.heartbeat_interval, std::chrono::milliseconds(1500));
  EXPECT_EQ(r.cfg.kafka.consumer.group_instance_id, "");
  EXPECT_FALSE(r.cfg.kafka.consumer.leave_group_on_stop);
  EXPECT_EQ(r.cfg.kafka.consumer.dlq_topic, "");
}

TEST(config_failover, reads_the_membership_and_dead_letter_settings) {
  auto r = load({{"KAFKA_GROUP_INSTANCE_ID", "host-1"},
                 {"KAFKA_SESSION_TIMEOUT_MS", "10000"},
                 {"KAFKA_HEARTBEAT_INTERVAL_MS", "3000"},
                 {"KAFKA_LEAVE_GROUP_ON_SHUTDOWN", "true"},
                 {"KAFKA_DLQ_TOPIC", "client-metrics-dlq"}},
                {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.cfg.kafka.consumer.group_instance_id, "host-1");
  EXPECT_EQ(r.cfg.kafka.consumer.session_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(r.cfg.kafka.consumer.heartbeat_interval, std::chrono::milliseconds(3000));
  EXPECT_TRUE(r.cfg.kafka.consumer.leave_group_on_stop);
  EXPECT_EQ(r.cfg.kafka.consumer.dlq_topic, "client-metrics-dlq");
}

TEST(config_failover, heartbeat_must_fit_three_times_into_the_session_at_the_bound) {
  // At the bound: exactly a third.
  EXPECT_TRUE(load({{"KAFKA_SESSION_TIMEOUT_MS", "6000"}, {"KAFKA_HEARTBEAT_INTERVAL_MS", "2000"}},
                   {"--env-file=/dev/null"})
                  .errors.empty());
  // Just past it.
  auto r = load({{"KAFKA_SESSION_TIMEOUT_MS", "6000"}, {"KAFKA_HEARTBEAT_INTERVAL_MS", "2001"}},
                {"--env-file=/dev/null"});
  EXPECT_TRUE(has_error_mentioning(r, "KAFKA_HEARTBEAT_INTERVAL_MS"));
  EXPECT_TRUE(
      has_error_mentioning(load({{"KAFKA_SESSION_TIMEOUT_MS", "999"}}, {"--env-file=/dev/null"}),
                           "KAFKA_SESSION_TIMEOUT_MS"));
}

TEST(config_failover, the_dead_letter_topic_cannot_be_the_topic_itself) {
  auto r = load({{"KAFKA_TOPIC", "m"}, {"KAFKA_DLQ_TOPIC", "m"}}, {"--env-file=/dev/null"});
  EXPECT_TRUE(has_error_mentioning(r, "KAFKA_DLQ_TOPIC"));
}

}  // namespace
}  // namespace mca::config

namespace mca::config {
namespace {

bool mentions(const load_result& r, std::string_view what) {
  for (const auto& e : r.errors)
    if (e.find(what) != std::string::npos) return true;
  return false;
}

TEST(config_changelog, defaults_to_the_topic_with_an_aggregates_suffix_and_five_seconds) {
  auto r = load({{"KAFKA_TOPIC", "m"}}, {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.cfg.kafka.consumer.changelog_topic, "m-aggregates");
  EXPECT_EQ(r.cfg.kafka.consumer.snapshot_interval, std::chrono::milliseconds(5000));
  EXPECT_NE(describe(r.cfg).find("KAFKA_CHANGELOG_TOPIC=m-aggregates\n"), std::string::npos);
  EXPECT_NE(usage().find("AGGREGATE_SNAPSHOT_INTERVAL_MS (default: 5000)"), std::string::npos);
  EXPECT_NE(usage().find("KAFKA_CHANGELOG_TOPIC"), std::string::npos);
}

TEST(config_changelog, reads_the_changelog_settings) {
  auto r = load({{"KAFKA_CHANGELOG_TOPIC", "aggs"}, {"AGGREGATE_SNAPSHOT_INTERVAL_MS", "250"}},
                {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.cfg.kafka.consumer.changelog_topic, "aggs");
  EXPECT_EQ(r.cfg.kafka.consumer.snapshot_interval, std::chrono::milliseconds(250));
}

TEST(config_changelog, the_snapshot_interval_is_bounded_at_both_ends) {
  for (const char* ok : {"100", "3600000"})
    EXPECT_TRUE(
        load({{"AGGREGATE_SNAPSHOT_INTERVAL_MS", ok}}, {"--env-file=/dev/null"}).errors.empty())
        << ok;
  for (const char* bad : {"99", "3600001", "0", "-5", "5s"})
    EXPECT_TRUE(mentions(load({{"AGGREGATE_SNAPSHOT_INTERVAL_MS", bad}}, {"--env-file=/dev/null"}),
                         "AGGREGATE_SNAPSHOT_INTERVAL_MS"))
        << bad;
}

TEST(config_changelog, the_changelog_must_be_another_topic_with_a_kafka_name) {
  EXPECT_TRUE(mentions(
      load({{"KAFKA_TOPIC", "m"}, {"KAFKA_CHANGELOG_TOPIC", "m"}}, {"--env-file=/dev/null"}),
      "KAFKA_CHANGELOG_TOPIC"));
  EXPECT_TRUE(mentions(
      load({{"KAFKA_DLQ_TOPIC", "d"}, {"KAFKA_CHANGELOG_TOPIC", "d"}}, {"--env-file=/dev/null"}),
      "KAFKA_CHANGELOG_TOPIC"));
  EXPECT_TRUE(mentions(load({{"KAFKA_CHANGELOG_TOPIC", "a b"}}, {"--env-file=/dev/null"}),
                       "KAFKA_CHANGELOG_TOPIC"));
  // 249 characters is Kafka's limit; the default derives from KAFKA_TOPIC and may pass it.
  EXPECT_TRUE(load({{"KAFKA_CHANGELOG_TOPIC", std::string(249, 'a')}}, {"--env-file=/dev/null"})
                  .errors.empty());
  EXPECT_TRUE(
      mentions(load({{"KAFKA_CHANGELOG_TOPIC", std::string(250, 'a')}}, {"--env-file=/dev/null"}),
               "KAFKA_CHANGELOG_TOPIC"));
  EXPECT_TRUE(mentions(load({{"KAFKA_TOPIC", std::string(240, 't')}}, {"--env-file=/dev/null"}),
                       "KAFKA_CHANGELOG_TOPIC"));
}

TEST(config, kafka_linger_takes_fractions_of_a_millisecond_from_0_to_1000) {
  auto r = load({}, {"--env-file=/dev/null"});
  EXPECT_EQ(r.cfg.kafka.producer.linger.count(),
            0.0);  // the default, chosen in docs/PERFORMANCE.md
  r = load({{"KAFKA_LINGER_MS", "0.5"}}, {"--env-file=/dev/null"});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.cfg.kafka.producer.linger.count(), 0.5);
  EXPECT_NE(describe(r.cfg).find("KAFKA_LINGER_MS=0.5\n"), std::string::npos);
  for (const char* ok : {"0", "1000", " 2 ", "0.05"}) {
    r = load({{"KAFKA_LINGER_MS", ok}}, {"--env-file=/dev/null"});
    EXPECT_TRUE(r.errors.empty()) << ok;
  }
  for (const char* bad : {"-0.1", "1000.5", "nan", "inf", "1ms", "0x1"}) {
    r = load({{"KAFKA_LINGER_MS", bad}}, {"--env-file=/dev/null"});
    EXPECT_TRUE(has_error_mentioning(r, "KAFKA_LINGER_MS")) << bad;
  }
}

}  // namespace
}  // namespace mca::config
