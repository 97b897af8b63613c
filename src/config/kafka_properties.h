// The mapping from the service's Kafka settings (KAFKA_* environment variables) to librdkafka
// configuration properties, with validation of the security combinations.
//
// Everything here is a pure function of its arguments: thread-safe, no I/O, no logging. The
// transport receives the resulting property list as is; this is the only place that knows which
// environment variable becomes which librdkafka property.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "util/result.h"

namespace mca::config {

using kafka_property = std::pair<std::string, std::string>;

// The Kafka connection and security settings as the environment spells them. Empty string = not
// set. Values are taken as given (no trimming); protocol and mechanism names are matched without
// regard to case.
struct kafka_settings {
  std::string bootstrap_servers;  // KAFKA_BOOTSTRAP_SERVERS (required here)
  std::string security_protocol;  // KAFKA_SECURITY_PROTOCOL: PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL
  // KAFKA_SASL_MECHANISM: GSSAPI|PLAIN|SCRAM-SHA-256|SCRAM-SHA-512|OAUTHBEARER
  std::string sasl_mechanism;
  std::string service_name = "kafka";  // KAFKA_SERVICE_NAME (the brokers' Kerberos service name)
  std::string kerberos_keytab;         // KAFKA_SASL_KERBEROS_KEYTAB
  std::string kerberos_principal;      // KAFKA_SASL_KERBEROS_PRINCIPAL
  std::optional<std::string> kerberos_kinit_cmd;  // KAFKA_SASL_KERBEROS_KINIT_CMD
  std::string sasl_username;                      // KAFKA_SASL_USERNAME
  std::string sasl_password;                      // KAFKA_SASL_PASSWORD (secret)
  std::string ssl_ca_location;                    // KAFKA_SSL_CA_LOCATION
  std::string ssl_certificate_location;           // KAFKA_SSL_CERTIFICATE_LOCATION
  std::string ssl_key_location;                   // KAFKA_SSL_KEY_LOCATION
  std::string ssl_key_password;                   // KAFKA_SSL_KEY_PASSWORD (secret)
  // KAFKA_SSL_ENDPOINT_IDENTIFICATION: "https" (verify the broker host name) or "none".
  std::optional<std::string> ssl_endpoint_identification;
  // Any other librdkafka property: KAFKA_PROPERTY_<NAME>=value (see passthrough_property_name).
  std::vector<kafka_property> passthrough;
};

enum class kafka_properties_errc { invalid_settings = 1 };
const std::error_category& kafka_properties_category();
inline std::error_code make_error_code(kafka_properties_errc e) {
  return {static_cast<int>(e), kafka_properties_category()};
}

// Every problem with the settings, one human-readable line each, naming the environment
// variables involved (never their secret values). Empty = valid. Checks: bootstrap servers set;
// protocol and mechanism known; a SASL mechanism only with SASL_PLAINTEXT/SASL_SSL; Kerberos
// settings (keytab, principal, kinit command) only with GSSAPI, and a keytab only with a
// principal; PLAIN/SCRAM with both username and password, username/password only with those;
// SSL files only with SSL/SASL_SSL, certificate and key together, key password only with a key;
// endpoint identification "https" or "none"; pass-through names well formed and not also set by
// a dedicated variable. KAFKA_SERVICE_NAME is not checked: without GSSAPI it is simply not used.
std::vector<std::string> kafka_settings_errors(const kafka_settings& s);

// The librdkafka properties for these settings, in a stable order: bootstrap.servers, then the
// security properties that are set, then the pass-through ones as given. A SASL protocol without
// a mechanism gets librdkafka's default, GSSAPI, spelled out. On invalid settings the error
// (kafka_properties_errc::invalid_settings) lists every problem, separated by "; ".
util::result<std::vector<kafka_property>> kafka_properties(const kafka_settings& s);

// "KAFKA_PROPERTY_SOCKET_KEEPALIVE_ENABLE" -> "socket.keepalive.enable"; nullopt for a variable
// that is not a pass-through one (or has nothing after the prefix).
std::optional<std::string> passthrough_property_name(std::string_view env_name);

// True for properties whose value must never be printed or logged: the one secret rule of
// util/secret.h (the name says password, secret, key, pem, token or credential, or is
// sasl.oauthbearer.config).
bool is_secret_property(std::string_view name);

// What is printed instead of a secret value: "****" (whatever its length), or "" when the value
// is empty, so an unset secret still reads as unset.
std::string masked(std::string_view value);

// "name=value" lines for logs and --print-config: secret values masked, and URL user-info masked
// in the others (util::printable_setting).
std::vector<std::string> describe_properties(const std::vector<kafka_property>& properties);

}  // namespace mca::config

template <>
struct std::is_error_code_enum<mca::config::kafka_properties_errc> : std::true_type {};
