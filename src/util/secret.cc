#include "util/secret.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace mca::util {

bool is_secret_name(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::array<std::string_view, 6> words = {"password", "secret", "key",
                                                            "pem",      "token",  "credential"};
  for (auto w : words) {
    if (n.find(w) != std::string::npos) return true;
  }
  return n == "sasl.oauthbearer.config" || n == "kafka_property_sasl_oauthbearer_config";
}

std::string mask_url_userinfo(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  std::size_t pos = 0;
  while (pos < value.size()) {
    const auto scheme_end = value.find("://", pos);
    if (scheme_end == std::string_view::npos) break;
    const std::size_t authority = scheme_end + 3;
    // The authority ends at the path, query, fragment, whitespace or a list separator.
    std::size_t end = authority;
    while (end < value.size() && value[end] != '/' && value[end] != '?' && value[end] != '#' &&
           value[end] != ',' && value[end] != ' ' && value[end] != ';') {
      ++end;
    }
    const auto at = value.substr(authority, end - authority).rfind('@');
    out.append(value.substr(pos, authority - pos));
    if (at != std::string_view::npos) {
      out.append("****");
      out.append(value.substr(authority + at, end - authority - at));
    } else {
      out.append(value.substr(authority, end - authority));
    }
    pos = end;
  }
  out.append(value.substr(std::min(pos, value.size())));
  return out;
}

std::string printable_setting(std::string_view name, std::string_view value) {
  if (is_secret_name(name)) return value.empty() ? "" : "****";
  return mask_url_userinfo(value);
}

}  // namespace mca::util
