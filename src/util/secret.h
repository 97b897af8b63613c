// The one rule for what must never be printed or logged, used by --print-config, the logs and the
// Kafka property mapping (and the transport's error messages):
//
// - a setting or property whose name says password, secret, key, pem, token or credential
//   (case-insensitive, anywhere in the name: KAFKA_SSL_KEY_PASSWORD, ssl.key.pem,
//   sasl.oauthbearer.client.secret, API_KEYS_FILE) has its value replaced by "****";
// - in every other value, the user-info of a URL (`https://user:pw@host` -> `https://****@host`)
//   is masked, wherever it appears (a comma-separated list of URLs included).
//
// The rule errs on the side of masking: a file *path* named like a key (KAFKA_SSL_KEY_LOCATION)
// is masked too, which costs a little debugging comfort and never leaks a secret.
// sasl.oauthbearer.config carries client credentials without saying so: it is named explicitly.
//
// Pure functions: thread-safe, no allocation beyond the returned string.
#pragma once

#include <string>
#include <string_view>

namespace mca::util {

// True when a setting or property of this name holds a secret (see above).
bool is_secret_name(std::string_view name);

// `value` with every URL user-info ("scheme://user:pw@host") replaced by "****".
std::string mask_url_userinfo(std::string_view value);

// What may be printed for setting `name` = `value`: "****" for a secret name (or "" when the value
// is empty, so an unset secret still reads as unset), else the value with URL user-info masked.
std::string printable_setting(std::string_view name, std::string_view value);

}  // namespace mca::util
