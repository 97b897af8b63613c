// Errors of the HTTP layer: those it finds decoding a request (before any handler runs), the
// answers the server gives itself, and TLS set-up. Each row of the table in errc.cc says the
// status and `code` a client gets (util/error_table.h); error_response.h builds the body.
#pragma once

#include <system_error>

namespace mca::http {

enum class errc {
  body_too_large = 1,    // 413: wire or decompressed body above server_options::max_body_bytes
  unsupported_encoding,  // 415: a Content-Encoding other than gzip / identity
  bad_gzip,              // 400: the body claims gzip but does not inflate
  bad_tls_files,         // TLS certificate, key or client CA file missing, unreadable or invalid
  bad_request,           // 400: malformed request, faulty framing, Host missing or repeated
  not_found,             // 404: no route for the path
  method_not_allowed,    // 405 (+ Allow)
  request_timeout,       // 408: the request did not arrive within HTTP_READ_TIMEOUT_MS
  length_required,       // 411: a body method without Content-Length or chunked
  uri_too_long,          // 414
  headers_too_large,     // 431: header or trailer section past the limit
  origin_not_allowed,    // 403: CORS preflight from an origin not listed
  not_implemented,       // 501: a transfer coding other than chunked
  unavailable,           // 503 (+ Retry-After): draining, handler timeout, connection cap
  internal,              // 500: the handler threw or dropped its responder
};

const std::error_category& http_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), http_category()};
}

}  // namespace mca::http

template <>
struct std::is_error_code_enum<mca::http::errc> : std::true_type {};
