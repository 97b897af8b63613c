// The auth module's errors: a keys file that cannot be read or is not valid, a TRUSTED_PROXIES
// entry that is not a CIDR, a `keys new` request that would make an invalid entry. Messages name
// the place (`keys[2].scopes[0]`) and never contain a key or a hash.
#pragma once

#include <system_error>

namespace mca::auth {

enum class errc {
  unreadable_keys_file = 1,  // missing, not a regular file, too large, I/O error
  invalid_keys_file,         // not JSON, or JSON that breaks a rule of the format
  invalid_cidr,
  invalid_key_request,  // `keys new` arguments
};
const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace mca::auth

template <>
struct std::is_error_code_enum<mca::auth::errc> : std::true_type {};
