// Errors the HTTP layer produces itself while decoding a request (before any handler runs).
#pragma once

#include <string_view>
#include <system_error>

namespace mca::http {

enum class errc {
  body_too_large = 1,    // wire or decompressed body above server_options::max_body_bytes
  unsupported_encoding,  // a Content-Encoding other than gzip / identity
  bad_gzip,              // the body claims gzip but does not inflate
  bad_tls_files,         // TLS certificate, key or client CA file missing, unreadable or invalid
};

const std::error_category& http_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace mca::http

template <>
struct std::is_error_code_enum<mca::http::errc> : std::true_type {};
