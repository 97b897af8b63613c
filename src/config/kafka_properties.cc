#include "config/kafka_properties.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "util/error_table.h"
#include "util/secret.h"

namespace mca::config {
namespace {

// Errors of start-up: none ends a request, so none has an HTTP answer.
constexpr util::error_row kErrors[] = {
    {kafka_properties_errc::invalid_settings, "invalid Kafka settings"},
};

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

constexpr std::array<std::string_view, 4> known_protocols = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT",
                                                             "SASL_SSL"};
constexpr std::array<std::string_view, 5> known_mechanisms = {"GSSAPI", "PLAIN", "SCRAM-SHA-256",
                                                              "SCRAM-SHA-512", "OAUTHBEARER"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& a, std::string_view v) {
  return std::find(a.begin(), a.end(), v) != a.end();
}

// The properties that a dedicated variable sets, so a pass-through of the same property is a
// conflict rather than a silent override.
struct dedicated {
  std::string_view property;
  std::string_view variable;
};
constexpr std::array<dedicated, 14> dedicated_properties = {{
    {"bootstrap.servers", "KAFKA_BOOTSTRAP_SERVERS"},
    {"security.protocol", "KAFKA_SECURITY_PROTOCOL"},
    {"sasl.mechanisms", "KAFKA_SASL_MECHANISM"},
    {"sasl.kerberos.service.name", "KAFKA_SERVICE_NAME"},
    {"sasl.kerberos.keytab", "KAFKA_SASL_KERBEROS_KEYTAB"},
    {"sasl.kerberos.principal", "KAFKA_SASL_KERBEROS_PRINCIPAL"},
    {"sasl.kerberos.kinit.cmd", "KAFKA_SASL_KERBEROS_KINIT_CMD"},
    {"sasl.username", "KAFKA_SASL_USERNAME"},
    {"sasl.password", "KAFKA_SASL_PASSWORD"},
    {"ssl.ca.location", "KAFKA_SSL_CA_LOCATION"},
    {"ssl.certificate.location", "KAFKA_SSL_CERTIFICATE_LOCATION"},
    {"ssl.key.location", "KAFKA_SSL_KEY_LOCATION"},
    {"ssl.key.password", "KAFKA_SSL_KEY_PASSWORD"},
    {"ssl.endpoint.identification.algorithm", "KAFKA_SSL_ENDPOINT_IDENTIFICATION"},
}};

// The protocol and mechanism as librdkafka wants them, after defaults: an unset protocol is
// PLAINTEXT, a SASL protocol without a mechanism is GSSAPI (librdkafka's own defaults).
struct resolved {
  std::string protocol;   // upper case
  std::string mechanism;  // upper case, empty when no SASL
};

resolved resolve(const kafka_settings& s) {
  resolved r{s.security_protocol.empty() ? "PLAINTEXT" : upper(s.security_protocol),
             upper(s.sasl_mechanism)};
  if (r.mechanism.empty() && r.protocol.starts_with("SASL_")) r.mechanism = "GSSAPI";
  return r;
}

}  // namespace

const std::error_category& kafka_properties_category() {
  return util::category_of<kErrors>("kafka_properties");
}

std::vector<std::string> kafka_settings_errors(const kafka_settings& s) {
  std::vector<std::string> errors;
  const resolved r = resolve(s);
  const bool protocol_known = contains(known_protocols, r.protocol);
  const bool sasl = r.protocol.starts_with("SASL_");
  const bool tls = r.protocol == "SSL" || r.protocol == "SASL_SSL";

  if (s.bootstrap_servers.empty()) errors.emplace_back("KAFKA_BOOTSTRAP_SERVERS must be set");
  if (!protocol_known) {
    errors.push_back("KAFKA_SECURITY_PROTOCOL: unknown protocol \"" + s.security_protocol +
                     "\" (expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)");
  }
  if (!r.mechanism.empty() && !contains(known_mechanisms, r.mechanism)) {
    errors.push_back("KAFKA_SASL_MECHANISM: unknown mechanism \"" + s.sasl_mechanism +
                     "\" (expected GSSAPI, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)");
  }
  if (protocol_known && !sasl && !s.sasl_mechanism.empty()) {
    errors.push_back("KAFKA_SASL_MECHANISM is set but KAFKA_SECURITY_PROTOCOL is " + r.protocol +
                     " (use SASL_PLAINTEXT or SASL_SSL)");
  }

  const bool gssapi = sasl && r.mechanism == "GSSAPI";
  const bool user_password =
      sasl && (r.mechanism == "PLAIN" || r.mechanism.starts_with("SCRAM-SHA-"));
  if (!gssapi) {
    for (const auto& [value, variable] :
         {std::pair{!s.kerberos_keytab.empty(), "KAFKA_SASL_KERBEROS_KEYTAB"},
          std::pair{!s.kerberos_principal.empty(), "KAFKA_SASL_KERBEROS_PRINCIPAL"},
          std::pair{s.kerberos_kinit_cmd.has_value(), "KAFKA_SASL_KERBEROS_KINIT_CMD"}}) {
      if (value)
        errors.push_back(std::string(variable) + " is only used with SASL mechanism GSSAPI");
    }
  } else if (!s.kerberos_keytab.empty() && s.kerberos_principal.empty()) {
    // kinit needs to know whose key to take from the keytab.
    errors.emplace_back(
        "KAFKA_SASL_KERBEROS_KEYTAB is set but KAFKA_SASL_KERBEROS_PRINCIPAL is not (GSSAPI with "
        "a keytab needs the principal)");
  }
  if (user_password) {
    if (s.sasl_username.empty())
      errors.push_back("KAFKA_SASL_USERNAME is required with SASL mechanism " + r.mechanism);
    if (s.sasl_password.empty())
      errors.push_back("KAFKA_SASL_PASSWORD is required with SASL mechanism " + r.mechanism);
  } else {
    if (!s.sasl_username.empty())
      errors.emplace_back(
          "KAFKA_SASL_USERNAME is only used with SASL mechanisms PLAIN and SCRAM-*");
    if (!s.sasl_password.empty())
      errors.emplace_back(
          "KAFKA_SASL_PASSWORD is only used with SASL mechanisms PLAIN and SCRAM-*");
  }

  if (protocol_known && !tls) {
    for (const auto& [value, variable] :
         {std::pair{!s.ssl_ca_location.empty(), "KAFKA_SSL_CA_LOCATION"},
          std::pair{!s.ssl_certificate_location.empty(), "KAFKA_SSL_CERTIFICATE_LOCATION"},
          std::pair{!s.ssl_key_location.empty(), "KAFKA_SSL_KEY_LOCATION"},
          std::pair{!s.ssl_key_password.empty(), "KAFKA_SSL_KEY_PASSWORD"},
          std::pair{s.ssl_endpoint_identification.has_value(),
                    "KAFKA_SSL_ENDPOINT_IDENTIFICATION"}}) {
      if (value)
        errors.push_back(std::string(variable) + " is set but KAFKA_SECURITY_PROTOCOL is " +
                         r.protocol + " (use SSL or SASL_SSL)");
    }
  }
  if (!s.ssl_certificate_location.empty() && s.ssl_key_location.empty())
    errors.emplace_back("KAFKA_SSL_CERTIFICATE_LOCATION is set but KAFKA_SSL_KEY_LOCATION is not");
  if (s.ssl_certificate_location.empty() && !s.ssl_key_location.empty())
    errors.emplace_back("KAFKA_SSL_KEY_LOCATION is set but KAFKA_SSL_CERTIFICATE_LOCATION is not");
  if (!s.ssl_key_password.empty() && s.ssl_key_location.empty())
    errors.emplace_back("KAFKA_SSL_KEY_PASSWORD is set but KAFKA_SSL_KEY_LOCATION is not");
  if (s.ssl_endpoint_identification) {
    const std::string v = lower(*s.ssl_endpoint_identification);
    if (v != "https" && v != "none")
      errors.push_back("KAFKA_SSL_ENDPOINT_IDENTIFICATION: unknown value \"" +
                       *s.ssl_endpoint_identification + "\" (expected https or none)");
  }

  for (const auto& [name, value] : s.passthrough) {
    const bool well_formed = !name.empty() && name.front() != '.' && name.back() != '.' &&
                             name.find("..") == std::string::npos &&
                             std::all_of(name.begin(), name.end(), [](unsigned char c) {
                               return std::islower(c) || std::isdigit(c) || c == '.';
                             });
    if (!well_formed) {
      errors.push_back("pass-through property \"" + name +
                       "\" is not a librdkafka property name (lower case words joined by '.')");
      continue;
    }
    for (const auto& d : dedicated_properties) {
      if (d.property == name)
        errors.push_back("pass-through property " + name + " is set by " + std::string(d.variable) +
                         "; use that variable instead");
    }
  }
  return errors;
}

util::result<std::vector<kafka_property>> kafka_properties(const kafka_settings& s) {
  if (auto errors = kafka_settings_errors(s); !errors.empty()) {
    std::string message;
    for (const auto& e : errors) {
      if (!message.empty()) message += "; ";
      message += e;
    }
    return util::error(kafka_properties_errc::invalid_settings, std::move(message));
  }

  const resolved r = resolve(s);
  std::vector<kafka_property> props;
  auto add = [&props](std::string_view name, std::string_view value) {
    if (!value.empty()) props.emplace_back(name, value);
  };
  add("bootstrap.servers", s.bootstrap_servers);
  if (!s.security_protocol.empty()) add("security.protocol", lower(r.protocol));
  add("sasl.mechanisms", r.mechanism);
  // The service name has a harmless default ("kafka") in many env files; it only matters to GSSAPI.
  if (r.mechanism == "GSSAPI") add("sasl.kerberos.service.name", s.service_name);
  add("sasl.kerberos.keytab", s.kerberos_keytab);
  add("sasl.kerberos.principal", s.kerberos_principal);
  // An explicitly empty kinit command disables kinit (a ticket cache managed elsewhere).
  if (s.kerberos_kinit_cmd) props.emplace_back("sasl.kerberos.kinit.cmd", *s.kerberos_kinit_cmd);
  add("sasl.username", s.sasl_username);
  add("sasl.password", s.sasl_password);
  add("ssl.ca.location", s.ssl_ca_location);
  add("ssl.certificate.location", s.ssl_certificate_location);
  add("ssl.key.location", s.ssl_key_location);
  add("ssl.key.password", s.ssl_key_password);
  if (s.ssl_endpoint_identification)
    props.emplace_back("ssl.endpoint.identification.algorithm",
                       lower(*s.ssl_endpoint_identification));
  props.insert(props.end(), s.passthrough.begin(), s.passthrough.end());
  return props;
}

std::optional<std::string> passthrough_property_name(std::string_view env_name) {
  constexpr std::string_view prefix = "KAFKA_PROPERTY_";
  if (!env_name.starts_with(prefix) || env_name.size() == prefix.size()) return std::nullopt;
  std::string name = lower(env_name.substr(prefix.size()));
  std::replace(name.begin(), name.end(), '_', '.');
  return name;
}

bool is_secret_property(std::string_view name) { return util::is_secret_name(name); }

std::string masked(std::string_view value) { return value.empty() ? "" : "****"; }

std::vector<std::string> describe_properties(const std::vector<kafka_property>& properties) {
  std::vector<std::string> lines;
  lines.reserve(properties.size());
  for (const auto& [name, value] : properties)
    lines.push_back(name + "=" + util::printable_setting(name, value));
  return lines;
}

}  // namespace mca::config
