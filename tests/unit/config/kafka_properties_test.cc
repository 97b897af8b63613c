#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/kafka_properties.h"
#include "support/expect_each.h"
#include "util/error_table.h"

namespace mca::config {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;

kafka_settings plaintext() {
  kafka_settings s;
  s.bootstrap_servers = "broker-1:9092,broker-2:9092";
  return s;
}

// The plaintext settings over `protocol` (KAFKA_SECURITY_PROTOCOL).
kafka_settings over(std::string protocol) {
  auto s = plaintext();
  s.security_protocol = std::move(protocol);
  return s;
}

std::vector<kafka_property> properties_of(const kafka_settings& s) {
  auto r = kafka_properties(s);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : std::vector<kafka_property>{};
}

// True when some error line mentions every one of `words`.
::testing::Matcher<std::vector<std::string>> has_error(const std::string& a,
                                                       const std::string& b = "") {
  return Contains(::testing::AllOf(HasSubstr(a), HasSubstr(b)));
}

// Each of `variables` has an error line that also names `reason`.
void expect_rejected(const kafka_settings& s, const std::string& reason,
                     std::initializer_list<std::string> variables) {
  const auto errors = kafka_settings_errors(s);
  for (const auto& variable : variables) {
    SCOPED_TRACE(variable);
    EXPECT_THAT(errors, has_error(variable, reason));
  }
}

TEST(kafka_properties, plaintext_needs_only_the_bootstrap_servers) {
  EXPECT_THAT(properties_of(plaintext()),
              ElementsAre(Pair("bootstrap.servers", "broker-1:9092,broker-2:9092")));
}

TEST(kafka_properties, requires_bootstrap_servers) {
  EXPECT_THAT(kafka_settings_errors(kafka_settings{}), has_error("KAFKA_BOOTSTRAP_SERVERS"));
}

TEST(kafka_properties, maps_protocol_in_librdkafka_spelling_whatever_the_case) {
  auto s = over("Ssl");
  EXPECT_THAT(properties_of(s), Contains(Pair("security.protocol", "ssl")));
}

TEST(kafka_properties, rejects_an_unknown_protocol) {
  auto s = over("TLS");
  EXPECT_THAT(kafka_settings_errors(s), has_error("KAFKA_SECURITY_PROTOCOL", "\"TLS\""));
}

TEST(kafka_properties, maps_kerberos_settings_for_gssapi) {
  auto s = over("SASL_PLAINTEXT");
  s.sasl_mechanism = "GSSAPI";
  s.service_name = "kafka";
  s.kerberos_keytab = "/etc/krb5/client.keytab";
  s.kerberos_principal = "client@TEST.LOCAL";
  s.kerberos_kinit_cmd = "kinit -k -t /etc/krb5/client.keytab client@TEST.LOCAL";
  EXPECT_THAT(
      properties_of(s),
      ElementsAre(Pair("bootstrap.servers", s.bootstrap_servers),
                  Pair("security.protocol", "sasl_plaintext"), Pair("sasl.mechanisms", "GSSAPI"),
                  Pair("sasl.kerberos.service.name", "kafka"),
                  Pair("sasl.kerberos.keytab", "/etc/krb5/client.keytab"),
                  Pair("sasl.kerberos.principal", "client@TEST.LOCAL"),
                  Pair("sasl.kerberos.kinit.cmd", *s.kerberos_kinit_cmd)));
}

TEST(kafka_properties, spells_out_gssapi_when_a_sasl_protocol_has_no_mechanism) {
  auto s = over("SASL_SSL");
  EXPECT_THAT(properties_of(s), Contains(Pair("sasl.mechanisms", "GSSAPI")));
}

TEST(kafka_properties, rejects_a_keytab_without_a_principal) {
  auto s = over("SASL_PLAINTEXT");
  s.sasl_mechanism = "GSSAPI";
  s.kerberos_keytab = "/etc/krb5/client.keytab";
  EXPECT_THAT(kafka_settings_errors(s), has_error("KAFKA_SASL_KERBEROS_PRINCIPAL"));
}

TEST(kafka_properties, accepts_a_principal_with_a_ticket_cache_and_no_keytab) {
  auto s = over("SASL_PLAINTEXT");
  s.kerberos_principal = "client@TEST.LOCAL";
  EXPECT_THAT(kafka_settings_errors(s), IsEmpty());
}

TEST(kafka_properties, rejects_kerberos_settings_with_another_mechanism) {
  auto s = over("SASL_SSL");
  s.sasl_mechanism = "PLAIN";
  s.sasl_username = "u";
  s.sasl_password = "p";
  s.kerberos_keytab = "/k";
  s.kerberos_principal = "client@TEST.LOCAL";
  expect_rejected(s, "GSSAPI", {"KAFKA_SASL_KERBEROS_KEYTAB", "KAFKA_SASL_KERBEROS_PRINCIPAL"});
}

TEST(kafka_properties, leaves_out_the_service_name_without_gssapi) {
  auto s = plaintext();
  s.service_name = "kafka";
  EXPECT_THAT(properties_of(s), ElementsAre(Pair("bootstrap.servers", s.bootstrap_servers)));
}

TEST(kafka_properties, maps_username_and_password_for_plain_and_scram) {
  for (const std::string mechanism : {"PLAIN", "SCRAM-SHA-256", "scram-sha-512"}) {
    auto s = over("SASL_SSL");
    s.sasl_mechanism = mechanism;
    s.sasl_username = "alice";
    s.sasl_password = "s3cret";
    const auto props = properties_of(s);
    EXPECT_THAT(props, Contains(Pair("sasl.mechanisms", ::testing::StrCaseEq(mechanism))));
    EXPECT_THAT(props, Contains(Pair("sasl.username", "alice")));
    EXPECT_THAT(props, Contains(Pair("sasl.password", "s3cret")));
  }
}

TEST(kafka_properties, rejects_plain_and_scram_without_username_or_password) {
  for (const std::string mechanism : {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}) {
    auto s = over("SASL_PLAINTEXT");
    s.sasl_mechanism = mechanism;
    EXPECT_THAT(kafka_settings_errors(s),
                ElementsAre("KAFKA_SASL_USERNAME is required with SASL mechanism " + mechanism,
                            "KAFKA_SASL_PASSWORD is required with SASL mechanism " + mechanism));
    s.sasl_username = "alice";
    EXPECT_THAT(kafka_settings_errors(s),
                ElementsAre("KAFKA_SASL_PASSWORD is required with SASL mechanism " + mechanism));
    s.sasl_username.clear();
    s.sasl_password = "s3cret";
    EXPECT_THAT(kafka_settings_errors(s),
                ElementsAre("KAFKA_SASL_USERNAME is required with SASL mechanism " + mechanism));
  }
}

TEST(kafka_properties, rejects_username_and_password_without_plain_or_scram) {
  auto s = plaintext();
  s.sasl_username = "alice";
  s.sasl_password = "s3cret";
  expect_rejected(s, "PLAIN", {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"});
}

TEST(kafka_properties, rejects_an_unknown_mechanism) {
  auto s = over("SASL_SSL");
  s.sasl_mechanism = "NTLM";
  EXPECT_THAT(kafka_settings_errors(s), has_error("KAFKA_SASL_MECHANISM", "\"NTLM\""));
}

TEST(kafka_properties, rejects_a_sasl_mechanism_with_a_non_sasl_protocol) {
  for (const std::string protocol : {"", "PLAINTEXT", "SSL"}) {
    auto s = over(protocol);
    s.sasl_mechanism = "OAUTHBEARER";
    EXPECT_THAT(kafka_settings_errors(s), has_error("KAFKA_SASL_MECHANISM", "SASL_SSL"))
        << protocol;
  }
}

TEST(kafka_properties, maps_every_tls_setting) {
  auto s = over("SSL");
  s.ssl_ca_location = "/tls/ca.pem";
  s.ssl_certificate_location = "/tls/client.pem";
  s.ssl_key_location = "/tls/client.key";
  s.ssl_key_password = "keypass";
  s.ssl_endpoint_identification = "none";
  EXPECT_THAT(
      properties_of(s),
      ElementsAre(Pair("bootstrap.servers", s.bootstrap_servers), Pair("security.protocol", "ssl"),
                  Pair("ssl.ca.location", "/tls/ca.pem"),
                  Pair("ssl.certificate.location", "/tls/client.pem"),
                  Pair("ssl.key.location", "/tls/client.key"), Pair("ssl.key.password", "keypass"),
                  Pair("ssl.endpoint.identification.algorithm", "none")));
}

TEST(kafka_properties, rejects_tls_settings_without_a_tls_protocol) {
  auto s = over("SASL_PLAINTEXT");
  s.ssl_ca_location = "/tls/ca.pem";
  s.ssl_endpoint_identification = "https";
  expect_rejected(s, "SSL or SASL_SSL",
                  {"KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_ENDPOINT_IDENTIFICATION"});
}

TEST(kafka_properties, rejects_a_certificate_without_its_key_and_the_reverse) {
  auto cert_only = over("SSL");
  cert_only.ssl_certificate_location = "/tls/client.pem";
  EXPECT_THAT(kafka_settings_errors(cert_only), has_error("KAFKA_SSL_KEY_LOCATION is not"));

  auto key_only = over("SSL");
  key_only.ssl_key_location = "/tls/client.key";
  EXPECT_THAT(kafka_settings_errors(key_only), has_error("KAFKA_SSL_CERTIFICATE_LOCATION is not"));
}

TEST(kafka_properties, rejects_a_key_password_without_a_key) {
  auto s = over("SSL");
  s.ssl_key_password = "keypass";
  EXPECT_THAT(kafka_settings_errors(s),
              has_error("KAFKA_SSL_KEY_PASSWORD", "KAFKA_SSL_KEY_LOCATION"));
}

TEST(kafka_properties, rejects_an_unknown_endpoint_identification) {
  auto s = over("SSL");
  s.ssl_endpoint_identification = "strict";
  EXPECT_THAT(kafka_settings_errors(s),
              has_error("KAFKA_SSL_ENDPOINT_IDENTIFICATION", "\"strict\""));
}

TEST(kafka_properties, appends_pass_through_properties_after_the_mapped_ones) {
  auto s = plaintext();
  s.passthrough = {{"socket.keepalive.enable", "true"}, {"linger.ms", "20"}};
  EXPECT_THAT(properties_of(s),
              ElementsAre(Pair("bootstrap.servers", s.bootstrap_servers),
                          Pair("socket.keepalive.enable", "true"), Pair("linger.ms", "20")));
}

TEST(kafka_properties, rejects_a_pass_through_that_a_dedicated_variable_owns) {
  auto s = plaintext();
  s.passthrough = {{"sasl.password", "x"}};
  EXPECT_THAT(kafka_settings_errors(s), has_error("sasl.password", "KAFKA_SASL_PASSWORD"));
}

TEST(kafka_properties, rejects_a_malformed_pass_through_name) {
  auto s = plaintext();
  s.passthrough = {{"linger..ms", "1"}, {"", "1"}, {"Linger.ms", "1"}};
  EXPECT_THAT(kafka_settings_errors(s), SizeIs(3));
}

TEST(kafka_properties, lists_every_error_in_one_result) {
  kafka_settings s;  // no bootstrap servers
  s.security_protocol = "PLAINTEXT";
  s.sasl_mechanism = "PLAIN";
  s.ssl_ca_location = "/ca";
  auto r = kafka_properties(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, make_error_code(kafka_properties_errc::invalid_settings));
  EXPECT_THAT(r.error().message, HasSubstr("KAFKA_BOOTSTRAP_SERVERS"));
  EXPECT_THAT(r.error().message, HasSubstr("KAFKA_SASL_MECHANISM"));
  EXPECT_THAT(r.error().message, HasSubstr("KAFKA_SSL_CA_LOCATION"));
}

TEST(kafka_properties, never_puts_a_secret_value_in_an_error) {
  auto s = plaintext();
  s.sasl_password = "hunter2-password";
  s.ssl_key_password = "hunter3-password";
  auto r = kafka_properties(s);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, Not(HasSubstr("hunter")));
}

TEST(kafka_properties, names_a_pass_through_variable_as_a_property) {
  EXPECT_EQ(passthrough_property_name("KAFKA_PROPERTY_SOCKET_KEEPALIVE_ENABLE"),
            "socket.keepalive.enable");
  EXPECT_EQ(passthrough_property_name("KAFKA_PROPERTY_LINGER_MS"), "linger.ms");
  EXPECT_EQ(passthrough_property_name("KAFKA_PROPERTY_"), std::nullopt);
  EXPECT_EQ(passthrough_property_name("KAFKA_TOPIC"), std::nullopt);
}

TEST(kafka_properties, treats_every_name_the_secret_rule_names_as_secret) {
  test::expect_accepts(is_secret_property,
                       {"sasl.password", "ssl.key.password", "ssl.keystore.password",
                        "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "ssl.key.pem",
                        "ssl.certificate.pem", "sasl.oauthbearer.token.endpoint.url",
                        "sasl.oauthbearer.client.credentials",
                        // The rule errs towards masking: a key file's path is masked too.
                        "ssl.key.location"});
  test::expect_rejects(is_secret_property, {"sasl.username", "socket.keepalive.enable"});
}

TEST(kafka_properties, masks_url_user_info_in_described_values) {
  auto s = plaintext();
  s.passthrough = {{"ssl.engine.location", "https://eve:pw@engine.example/x"}};
  const auto lines = describe_properties(properties_of(s));
  EXPECT_THAT(lines, Contains("ssl.engine.location=https://****@engine.example/x"));
}

TEST(kafka_properties, masks_secret_values_when_described) {
  auto s = over("SASL_SSL");
  s.sasl_mechanism = "PLAIN";
  s.sasl_username = "alice";
  s.sasl_password = "s3cret";
  s.passthrough = {{"sasl.oauthbearer.config", "principal=x secret=y"},
                   {"ssl.key.pem", "-----BEGIN PRIVATE KEY-----"}};
  const auto lines = describe_properties(properties_of(s));
  EXPECT_THAT(lines, Contains("ssl.key.pem=****"));
  EXPECT_THAT(lines, Contains("sasl.username=alice"));
  EXPECT_THAT(lines, Contains("sasl.password=****"));
  EXPECT_THAT(lines, Contains("sasl.oauthbearer.config=****"));
  for (const auto& line : lines) EXPECT_THAT(line, Not(HasSubstr("s3cret")));
}

TEST(kafka_properties, masks_any_value_to_the_same_text_and_keeps_unset_visible) {
  EXPECT_EQ(masked("a"), "****");
  EXPECT_EQ(masked("a much longer secret value"), "****");
  EXPECT_EQ(masked(""), "");
}

TEST(kafka_properties, its_error_category_is_a_table_with_no_http_answer) {
  const std::error_code code = kafka_properties_errc::invalid_settings;
  const auto* table = dynamic_cast<const util::table_category*>(&code.category());
  ASSERT_NE(table, nullptr) << "kafka_properties is not a util::table_category";
  EXPECT_STREQ(table->name(), "kafka_properties");
  EXPECT_EQ(table->rows().size(), 1u);
  EXPECT_EQ(code.message(), "invalid Kafka settings");
  EXPECT_EQ(std::error_code(999, code.category()).message(), "unknown kafka_properties error");
  EXPECT_EQ(util::answer_for(code), util::error_answer{});  // start-up only: 500 "internal"
}

}  // namespace
}  // namespace mca::config
