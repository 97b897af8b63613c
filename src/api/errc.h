// The API's own errors: a request body, path or query that cannot be served, and access refused.
// Each row of the table in errc.cc says the status and `code` a client gets
// (util/error_table.h); http::error_response builds the body.
#pragma once

#include <system_error>

namespace mca::api {

enum class errc {
  invalid_json = 1,  // 400: not JSON, invalid UTF-8, too deep, a duplicate key
  invalid_request,   // 400: JSON, but not {"metrics":[...]} with at least one item; a bad query
  invalid_app_id,    // 400
  no_valid_metrics,  // 400: every item rejected
  batch_too_large,   // 413
  unsupported_media_type,  // 415
  unknown_app,             // 404: app_id not in ALLOWED_APP_IDS
  unauthorized,            // 401 (+ WWW-Authenticate): no key, or a key that is not valid
  forbidden,               // 403: the key lacks the scope, the app or the origin
  rate_limited,            // 429 (+ Retry-After): RATE_LIMIT_PER_CLIENT or RATE_LIMIT_PER_APP
};
const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace mca::api

template <>
struct std::is_error_code_enum<mca::api::errc> : std::true_type {};
